import type { LookupFunction } from 'node:net';
import type { Logger } from 'pino';
import { Agent, fetch as undiciFetch } from 'undici';
import { TemporarilyUnavailableError } from '../core/errors.ts';
import type { ProtocolEvents } from '../core/events.ts';
import type { Clock, RandomSource } from '../core/ports.ts';
import type { Sealer } from '../core/sealing.ts';
import {
  forbiddenHostRule,
  STRICT_WEBHOOK_TARGETS,
  vettedLookup,
  WebhookTargetError,
  type WebhookTargetPolicy,
} from '../core/webhook-targets.ts';
import {
  nextRetryDelay,
  signWebhook,
  type WebhookPolicy,
  webhookBody,
  webhookSecretPurpose,
} from '../core/webhooks.ts';
import type { StoragePort, WebhookEventRecord } from '../storage/contract.ts';

export interface DispatcherDeps {
  storage: StoragePort;
  sealer: Sealer;
  clock: Clock;
  random: RandomSource;
  policy: WebhookPolicy;
  logger?: Pick<Logger, 'info' | 'warn' | 'error'> | undefined;
  /** Each attempt's outcome, for the metrics. */
  events?: ProtocolEvents | undefined;
  /** Injected for tests; defaults to undici's fetch through the vetting agent below. */
  fetch?: typeof fetch;
  /** Which targets may be connected to (default: public addresses only). */
  targets?: WebhookTargetPolicy | undefined;
  /** Injected for tests: the DNS lookup the delivery sockets use (default: dns.lookup). */
  lookup?: LookupFunction | undefined;
}

/** Events delivered concurrently per round; a slow receiver cannot hold up the others for long. */
const BATCH = 16;

/**
 * Delivers the webhook outbox (docs/api.md §4.6). Each round leases the due events (so several server
 * processes sharing a database never send the same event at once), POSTs them with a timeout,
 * and records each attempt: delivered on a 2xx, otherwise retried with exponential backoff and
 * jitter, and `dead` after `maxAttempts`. Delivery is at least once: a process that dies after the
 * receiver answered but before the attempt was recorded sends again when the lease expires.
 */
export class WebhookDispatcher {
  readonly #deps: DispatcherDeps;
  readonly #fetch: typeof fetch;
  readonly #logger: DispatcherDeps['logger'];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = true;

  readonly #targets: WebhookTargetPolicy;
  /**
   * Every delivery's connection: the socket resolves the name through `vettedLookup`, so it can
   * only connect to an address checked in that same resolution (DNS rebinding, review #8).
   */
  readonly #agent: Agent;

  constructor(deps: DispatcherDeps) {
    this.#deps = deps;
    this.#targets = deps.targets ?? STRICT_WEBHOOK_TARGETS;
    const lookup = deps.lookup ?? undefined;
    this.#agent = new Agent({
      connect: { lookup: this.#targets.allowPrivate ? lookup : vettedLookup(lookup) },
    });
    this.#fetch = deps.fetch ?? ((input, init) => undiciFetch(input as string, init as never) as never);
    this.#logger = deps.logger;
  }

  /** The lease outlives the request timeout, so a live dispatcher keeps its events. */
  get #leaseMs(): number {
    return this.#deps.policy.timeoutMs * 2 + 5_000;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.nudge();
  }

  /** Stops polling and waits for the round in flight; pending events stay in the outbox. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Runs a round now (after the current one), e.g. right after an event was committed. */
  nudge(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#again) {
      this.#again = false;
      this.nudge();
      return;
    }
    this.#timer = setTimeout(() => this.nudge(), this.#deps.policy.pollMs);
    this.#timer.unref();
  }

  async #loop(): Promise<void> {
    try {
      // Keep going while full batches come back: a backlog drains without waiting for the poll.
      while (!this.#stopped && (await this.runOnce()) === BATCH) {}
    } catch (error) {
      // A storage outage is logged once per episode (services.availability), not every round.
      if (!(error instanceof TemporarilyUnavailableError))
        this.#logger?.error({ err: error }, 'webhook dispatcher round failed; will retry');
    }
  }

  /** One round: claims due events and delivers them. Resolves to how many were claimed. */
  async runOnce(): Promise<number> {
    const { storage, clock } = this.#deps;
    const events = await storage.claimDueWebhookEvents({
      now: clock.now(),
      leaseMs: this.#leaseMs,
      limit: BATCH,
    });
    await Promise.all(events.map((event) => this.#deliver(event)));
    return events.length;
  }

  async #deliver(event: WebhookEventRecord): Promise<void> {
    const { storage, sealer, clock, random, policy } = this.#deps;
    const logger = this.#logger;
    let httpStatus: number | null = null;
    let error: string | null = null;
    try {
      const app = await storage.findApplication(event.clientId);
      if (!app) throw new Error(`application ${event.clientId} no longer exists`);
      const secret = sealer.open(webhookSecretPurpose(event.clientId), app.webhookSecretSealed);
      const body = webhookBody(event);
      // Each attempt is its own request with its own x-request-id, as Mercado Pago does; the body's
      // id stays the same so receivers can dedupe.
      const requestId = random.uuid();
      const ts = Math.floor(clock.now() / 1000);
      // IP literals connect without a lookup: checked here, on every attempt, so an event queued
      // before this check existed (or an application registered before) is refused as well.
      const rule = this.#targets.allowPrivate ? undefined : forbiddenHostRule(new URL(event.url).hostname);
      if (rule) {
        throw new WebhookTargetError(
          `refused: notification_url points at a ${rule} address; webhooks go to public addresses only (RENOVA_WEBHOOK_ALLOW_PRIVATE=true allows it in development)`,
        );
      }
      const response = await this.#fetch(event.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Renova-Webhooks/1.0',
          'x-request-id': requestId,
          'x-signature': signWebhook(secret, body.data.id, requestId, ts),
        },
        body: JSON.stringify(body),
        // A redirect is a failure: following it would send a signed request somewhere unregistered.
        redirect: 'manual',
        signal: AbortSignal.timeout(policy.timeoutMs),
        dispatcher: this.#agent,
      } as RequestInit);
      httpStatus = response.status;
      // Drain the body so the connection can be reused; its content does not matter.
      await response.arrayBuffer().catch(() => undefined);
      if (response.status < 200 || response.status > 299) error = `receiver answered HTTP ${response.status}`;
    } catch (caught) {
      error = describe(caught);
    }
    const at = clock.now();
    const attempts = event.attempts + 1;
    if (error === null) {
      await storage.recordWebhookAttempt({ id: event.id, at, httpStatus, error, outcome: 'delivered' });
      this.#deps.events?.webhookAttempt('delivered');
      logger?.info({ webhook: event.id, action: event.action, attempts }, 'webhook delivered');
      return;
    }
    if (attempts >= policy.maxAttempts) {
      await storage.recordWebhookAttempt({ id: event.id, at, httpStatus, error, outcome: 'dead' });
      this.#deps.events?.webhookAttempt('dead');
      logger?.error(
        { webhook: event.id, action: event.action, attempts, error },
        'webhook given up; see `renova webhooks list --status dead`',
      );
      return;
    }
    const delay = nextRetryDelay(policy, attempts, random.bytes(4).readUInt32BE(0) / 2 ** 32);
    await storage.recordWebhookAttempt({
      id: event.id,
      at,
      httpStatus,
      error,
      outcome: 'retry',
      nextAttemptAt: at + delay,
    });
    this.#deps.events?.webhookAttempt('retry');
    logger?.warn({ webhook: event.id, attempts, error, retryInMs: delay }, 'webhook delivery failed');
  }
}

function describe(error: unknown): string {
  if (error instanceof WebhookTargetError) return error.message;
  const reason = (error as { cause?: unknown }).cause;
  if (reason instanceof WebhookTargetError) return reason.message;
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'timed out';
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ? `${error.message}: ${cause.code}` : error.message;
  }
  return String(error);
}
