import type { AuditContext, StoragePort, WebhookEventRecord, WebhookStatus } from '../storage/contract.ts';
import { InvalidRequestError, NotFoundError } from './errors.ts';
import { isClientId } from './identifiers.ts';
import type { Clock } from './ports.ts';
import { webhookEventFor } from './webhooks.ts';

/** Largest page of `listForApplication`. */
export const WEBHOOK_PAGE_MAX = 100;

/**
 * The webhook outbox (docs/api.md §4.6) as operators and application owners see it: list events,
 * retry a dead one, and (owners) send a test event.
 */
export class WebhookOutbox {
  readonly #storage: StoragePort;
  readonly #clock: Clock;
  readonly #enqueued: () => void;

  constructor(
    storage: StoragePort,
    clock: Clock,
    /** Called after an event was committed to the outbox, to wake the dispatcher. */
    onEnqueued: () => void = () => {},
  ) {
    this.#storage = storage;
    this.#clock = clock;
    this.#enqueued = onEnqueued;
  }

  /** Operators: every application's events, newest first. */
  list(args: { status?: WebhookStatus | undefined; limit: number }): Promise<WebhookEventRecord[]> {
    return this.#storage.listWebhookEvents(args.status === undefined ? { limit: args.limit } : args);
  }

  /** Operators: makes a dead (or pending) event due now; false when it is unknown or already delivered. */
  retry(id: number, audit?: AuditContext): Promise<boolean> {
    return this.#storage.retryWebhookEvent(id, this.#clock.now(), undefined, audit);
  }

  /**
   * One application's deliveries, newest first: status, attempts, last error, next retry.
   * `before` is the smallest id of the previous page (keyset pagination).
   */
  async listForApplication(
    clientId: string,
    options: {
      limit?: number | undefined;
      before?: number | undefined;
      status?: WebhookStatus | undefined;
    } = {},
  ): Promise<WebhookEventRecord[]> {
    await this.#requireApplication(clientId);
    const limit = options.limit ?? 50;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > WEBHOOK_PAGE_MAX) {
      throw new InvalidRequestError(`limit must be a whole number from 1 to ${WEBHOOK_PAGE_MAX}`);
    }
    if (options.before !== undefined && (!Number.isSafeInteger(options.before) || options.before < 1)) {
      throw new InvalidRequestError('before must be the id of an event (a positive whole number)');
    }
    return this.#storage.listWebhookEvents({
      clientId,
      limit,
      before: options.before,
      status: options.status,
    });
  }

  /**
   * An owner's retry: makes the application's dead (or pending) event due now. Another
   * application's event is answered exactly like an unknown one. `audit`: who asked (the owner,
   * from the portal), recorded with the retry.
   */
  async retryForApplication(clientId: string, eventId: number, audit?: AuditContext): Promise<void> {
    await this.#requireApplication(clientId);
    if (!Number.isSafeInteger(eventId) || eventId < 1) {
      throw new NotFoundError('no such webhook event');
    }
    if (!(await this.#storage.retryWebhookEvent(eventId, this.#clock.now(), clientId, audit))) {
      throw new NotFoundError(
        `webhook event ${eventId} of application ${clientId} does not exist or was already delivered`,
      );
    }
    this.#enqueued();
  }

  /**
   * "Send test event": a real delivery through the outbox and the dispatcher, signed like any
   * other, to the application's notification_url. Its body is an `application.authorized` for the
   * application's owner with `live_mode: false`, so receivers can tell it from a real consent.
   */
  async sendTestEvent(clientId: string): Promise<WebhookEventRecord> {
    const app = isClientId(clientId) ? await this.#storage.findApplication(clientId) : null;
    if (!app) throw new NotFoundError(`application ${clientId} does not exist`);
    const now = this.#clock.now();
    const event = webhookEventFor(app, app.ownerUserId, 'application.authorized', now);
    if (!event) {
      throw new InvalidRequestError(
        'this application has no notification_url: set one first, then send a test event',
      );
    }
    const id = await this.#storage.enqueueTestWebhookEvent({ ...event, test: true });
    if (id === null) throw new NotFoundError(`application ${clientId} does not exist`);
    this.#enqueued();
    return {
      ...event,
      id,
      test: true,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      leaseUntil: null,
      lastAttemptAt: null,
      lastStatus: null,
      lastError: null,
      deliveredAt: null,
    };
  }

  async #requireApplication(clientId: string): Promise<void> {
    if (!isClientId(clientId) || !(await this.#storage.findApplication(clientId))) {
      throw new NotFoundError(
        isClientId(clientId) ? `application ${clientId} does not exist` : 'client_id must be 16 digits',
      );
    }
  }
}
