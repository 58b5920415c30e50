/**
 * `TokenKeeper`: keeps many sellers' access tokens fresh without ever losing a rotated refresh
 * token.
 *
 * The order of a refresh is fixed:
 * 1. take the seller's lease in the store (owner id + expiry, store clock); if another process has
 *    it, wait and adopt its result;
 * 2. send the refresh; the moment the answer arrives, append it to the store's journal;
 * 3. compare-and-swap the token row on the version the refresh started from (this, not the lease,
 *    is the real guard: a stale holder cannot overwrite, and the loser adopts the winner's token);
 * 4. await the `rotated` hooks, then hand the access token to the callers.
 *
 * A crash between 2 and 3 is finished from the journal by whoever reads the seller next; a crash
 * before 2 is recovered by presenting the old refresh token again inside the server's replay window
 * (docs/api.md §4.2), which answers with the same pair.
 *
 * @module
 */

import { StoreBatcher } from './batcher.ts';
import {
  ClientHaltedError,
  ConnectionError,
  InvalidClientError,
  InvalidGrantError,
  InvalidResponseError,
  LeaseTimeoutError,
  OAuthError,
  ReauthorizationRequiredError,
  RefreshOutcomeUnknownError,
  RetryableHttpError,
  ServerError,
  StoreError,
  TokenNotFoundError,
  UnauthorizedClientError,
} from './errors.ts';
import { backoffDelay, clampDelay, MAX_TIMER_MS, sleep, TokenBucket } from './limiter.ts';
import type { OAuth, OAuthResponse } from './oauth.ts';
import { SealingTokenStore } from './sealed-store.ts';
import { type SealedField, TokenSealer, type TokenSealingOptions } from './sealing.ts';
import {
  createPrometheusMetrics,
  type KeeperPrometheusMetrics,
  type KeeperStats,
  type PrometheusOptions,
  StatsRecorder,
  timedStore,
} from './stats.ts';
import type { CompareAndSwapRequest, JournalEntry, StoredToken, TokenData, TokenStore } from './store.ts';
import {
  bodyDigest,
  DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
  type MpConnectNotification,
  parseMpConnectBody,
  ReplayGuard,
  verifyWebhookSignature,
  type WebhookHeaders,
} from './webhooks.ts';

/** Retry policy for transient refresh failures. */
export interface RetryOptions {
  /** Total attempts per refresh, including the first. Default 5. */
  attempts?: number;
  /** First backoff step in ms. Default 250. */
  baseDelayMs?: number;
  /** Backoff cap in ms; also the longest `Retry-After` honoured before giving up. Default 30 000. */
  maxDelayMs?: number;
}

/** Background refresh settings (see {@link TokenKeeper.start}). */
export interface SchedulerOptions {
  /** How often to look for due tokens when none were left over, in ms (jittered ±20 %). Default 30 000. */
  intervalMs?: number;
  /**
   * Most tokens claimed (and held, queued or refreshing) at a time. Default: what the rate allows
   * within half a lease, at most {@link MAX_DEFAULT_BATCH}.
   */
  batchSize?: number;
  /** Most refreshes in flight at once. Default 8. */
  concurrency?: number;
  /** Most refresh requests per second started by the scheduler (token bucket). Default 20. */
  ratePerSecond?: number;
  /** Bucket size: how many requests may start back to back. Default 1 (evenly spaced). */
  burst?: number;
  /**
   * Most refreshes started, and most resumed after a store write, per event-loop turn (1–64).
   * Default 2: the integrator's event loop first. Larger slices make larger
   * store batches, so more sellers/s for less CPU, at the price of longer loop turns
   * (docs/client-guide.md, "Throughput and the event loop": 8 against 2 gave +22–27 % sellers/s on
   * PostgreSQL and Redis and +1–1.6 ms of event-loop p99 on a 2-vCPU machine).
   */
  perTurn?: number;
}

/** Options of {@link TokenKeeper}. */
export interface TokenKeeperOptions {
  /** The OAuth client that talks to the token endpoint. */
  oauth: OAuth;
  /** The application id. */
  clientId: string;
  /** The application secret. */
  clientSecret: string;
  /** Where tokens, leases and the journal live. */
  store: TokenStore;
  /**
   * Seal tokens at rest (AES-256-GCM envelopes under a key ring; docs/client-guide.md). Strongly
   * recommended: without it the store holds every seller's tokens in plaintext. On whenever keys
   * are given.
   */
  sealing?: TokenSealingOptions;
  /** Settings of {@link TokenKeeper.handleNotification}. */
  webhooks?: WebhookOptions;
  /** Refresh when less than this many seconds are left. Default: when less than 20 % of the lifetime is left. */
  refreshBeforeSeconds?: number;
  /** Spread refreshes earlier by up to this fraction of the lifetime, at random. Default 0.05. */
  refreshJitterRatio?: number;
  /** Lease length in ms; longer than one request plus a save. Default max(30 000, 3 × the OAuth timeout). */
  leaseMs?: number;
  /** The server's refresh replay window in seconds (`RENOVA_REFRESH_GRACE_SECONDS`). 0 = never re-present a refresh token whose outcome is unknown. Default 60. */
  replayWindowSeconds?: number;
  /** Retry policy for transient failures. */
  retry?: RetryOptions;
  /** How long `getAccessToken` waits for another process's refresh before giving up, in ms. Default leaseMs + 5 000. */
  waitTimeoutMs?: number;
  /** Poll period while another process refreshes, in ms. Default 50. */
  pollIntervalMs?: number;
  /** This keeper's lease owner id. Default a random UUID. A stable id per worker lets a restarted worker take back its own leases at once; never share one between live processes. */
  ownerId?: string;
  /** Background refresh settings. */
  scheduler?: SchedulerOptions;
  /** Local clock in ms (tests). Default `Date.now`. */
  clock?: () => number;
  /** Random source in [0, 1) (tests). Default `Math.random`. */
  random?: () => number;
}

/** Settings of {@link TokenKeeper.handleNotification}. */
export interface WebhookOptions {
  /** The application's webhook secret (`webhook_secret`); during a rotation, the new and the old. */
  secret: string | readonly string[];
  /** Clock-skew tolerance of the signature's `ts`, in seconds. Default 300. */
  toleranceSeconds?: number;
}

/** The request {@link TokenKeeper.handleNotification} checks: framework-neutral. */
export interface NotificationRequest {
  /** The request headers. */
  headers: WebhookHeaders;
  /** The raw body, exactly as received (a string or the bytes). */
  body: string | Uint8Array;
  /** The request URL or path with its query (`req.url`); its `data.id` is the one that was signed. */
  url?: string;
}

/** What {@link TokenKeeper.handleNotification} did; answer the request with `status` and `body` as JSON. */
export interface NotificationResult {
  /** 200 handled (or a duplicate); 400 not a notification; 401 not signed by Renova; 503 store unavailable, retry. */
  status: 200 | 400 | 401 | 503;
  /** The JSON to answer with (`{error, message, status, cause}` on failure). */
  body: Record<string, unknown>;
  /** The checked notification, when the signature was valid. */
  notification?: MpConnectNotification;
  /** For `application.deauthorized`: what happened to the stored token. */
  outcome?: 'marked' | 'already_marked' | 'not_stored' | 'newer_authorization' | 'reported' | 'duplicate';
}

/** Payload of the `notification` event. */
export interface NotificationEvent {
  /** The checked notification. */
  notification: MpConnectNotification;
  /** What the keeper did about it. */
  outcome: NonNullable<NotificationResult['outcome']>;
}

/** Payload of the `rotated` event. */
export interface RotatedEvent {
  /** The seller. */
  userId: number;
  /** The token as now stored. */
  token: StoredToken;
  /** `refresh`: this keeper got it from the server; `journal`: finished from a journaled answer after a crash. */
  source: 'refresh' | 'journal';
}

/** Payload of the `reauthorization_required` event. */
export interface ReauthorizationRequiredEvent {
  /** The seller. */
  userId: number;
  /** Why. */
  reason: string;
  /** The error `getAccessToken` throws for this seller from now on. */
  error: ReauthorizationRequiredError;
}

/** Payload of the `error` event. */
export interface KeeperErrorEvent {
  /** The seller, when the error concerns one. */
  userId?: number;
  /** What went wrong. */
  error: unknown;
  /** Where: `refresh`, `scheduler`, `hook`, `lease`, `journal`, `save`, `notification`. */
  during: string;
}

/** The events of {@link TokenKeeper} and their payloads. */
export interface KeeperEvents {
  /** A rotated token is durably stored. Listeners are awaited before the access token is handed out. */
  rotated: RotatedEvent;
  /** A seller's grant is gone; ask the seller to authorize again. */
  reauthorization_required: ReauthorizationRequiredEvent;
  /** Something failed; the keeper carries on. */
  error: KeeperErrorEvent;
  /** A signed mp-connect notification arrived (`application.authorized` / `.deauthorized`). */
  notification: NotificationEvent;
}

/** A listener of a {@link KeeperEvents} event. May be async; `rotated` listeners are awaited. */
export type KeeperListener<K extends keyof KeeperEvents> = (event: KeeperEvents[K]) => void | Promise<void>;

/** Counters for metrics (monotonic since the keeper was created, except the gauges noted). */
export interface KeeperMetrics {
  /** Refresh requests sent to the server (retries included). */
  refreshRequests: number;
  /** Rotations this keeper stored. */
  rotations: number;
  /** Times this keeper adopted a token another process stored instead of its own answer. */
  adopted: number;
  /** Journaled answers finished after a crash. */
  journalRecovered: number;
  /** Sellers marked as needing re-authorization. */
  reauthorizationRequired: number;
  /** Retries after transient failures. */
  retries: number;
  /** Requests whose outcome was unknown (timeout or reset after sending). */
  unknownOutcomes: number;
  /** Times a caller waited for another process's lease. */
  leaseWaits: number;
  /** Refreshes that ended in an error. */
  failures: number;
  /** `getAccessToken` calls answered with the current, still valid, access token after a refresh failed. */
  staleServed: number;
  /** Failed compare-and-swaps (another writer got there first). */
  casConflicts: number;
  /** Times refreshing was halted for the whole application (`invalid_client`). */
  clientHalts: number;
  /** Tokens the scheduler claimed. */
  scheduledClaimed: number;
  /** Claimed tokens the scheduler refreshed. */
  scheduledRefreshed: number;
  /** Claimed tokens that turned out not to need a refresh any more. */
  scheduledSkipped: number;
  /** Gauge: refreshes in flight in this process. */
  inFlight: number;
  /** Gauge: claimed tokens waiting in the scheduler's queue. */
  queued: number;
}

/** What {@link TokenKeeper.rotateKey} did. */
export interface KeyRotationResult {
  /** The key id every row is now sealed with. */
  keyId: string;
  /** Token rows looked at. */
  scanned: number;
  /** Rows re-sealed under the current key. */
  resealed: number;
  /** Rows that already were. */
  alreadyCurrent: number;
  /** Journal entries re-sealed. */
  journalResealed: number;
  /** Pages read from the store. */
  pages: number;
}

/** Options of {@link TokenKeeper.rotateKey}. */
export interface RotateKeyOptions {
  /** Rows per page (one store read and at most that many rewrites at a time). Default 100. */
  batchSize?: number;
  /** Stops between pages (the rows already re-sealed stay re-sealed; run again to finish). */
  signal?: AbortSignal;
}

/**
 * The default `batchSize` cap (unless `concurrency` is larger). A larger claim only makes claimed
 * rows wait longer under their lease, and it is processed in few long loop turns: on Redis, one
 * claim of 1,000 rows (a Lua script, then 1,000 replies decoded together) pushed the event-loop
 * p99 from about 8.5 to 13.5 ms and cost more CPU per seller than claims of 256.
 */
const MAX_DEFAULT_BATCH = 256;

/**
 * The default of {@link SchedulerOptions.perTurn}: most refreshes the scheduler starts in one loop
 * turn (the rest start in the next turns), and most a written store batch resumes per turn
 * (batcher.ts). Two, not sixteen: a turn of 16 starts (each builds a request, reads the store,
 * seals) ran for several milliseconds on a slow machine. With two the event loop's p99 fell from
 * 14.4 to 8.4 ms on SQLite at the same sellers/s; on PostgreSQL and Redis it fell by a fifth, at
 * the price of smaller store batches (docs/client-guide.md, sizing).
 */
const DEFAULT_PER_TURN = 2;

/** The largest {@link SchedulerOptions.perTurn}. */
const MAX_PER_TURN = 64;

/** `perTurn` checked: an integer from 1 to {@link MAX_PER_TURN}, or the default. */
function perTurnOf(value: number | undefined): number {
  if (value === undefined) return DEFAULT_PER_TURN;
  if (!Number.isInteger(value) || value < 1 || value > MAX_PER_TURN) {
    throw new RangeError(
      `scheduler.perTurn must be an integer from 1 to ${MAX_PER_TURN}, got ${String(value)}`,
    );
  }
  return value;
}

/** Signals that the lease was lost while retrying; the refresh loop starts over. */
class LeaseLost extends Error {}

/** A token the scheduler claimed (leased) with `claimDue`, and when (local monotonic clock). */
interface Claimed {
  token: StoredToken;
  claimedAt: number;
  /** Whether the journal holds answers for it (then it takes the full path, which recovers them). */
  journaled: boolean;
}

type Flow = {
  force: boolean;
  fromVersion?: number;
  scheduled: boolean;
  /** The claimed row, leased to this keeper: the first round may skip re-reading and re-leasing. */
  claimed?: Claimed;
};

/** Whether this keeper still holds the seller's lease (the batched compare-and-swap releases it). */
type LeaseState = { released: boolean };

const isTransient = (e: unknown): boolean =>
  e instanceof RetryableHttpError ||
  e instanceof ServerError ||
  (e instanceof ConnectionError && e.requestSent === false) ||
  e instanceof StoreError;

const isUnknownOutcome = (e: unknown): boolean =>
  e instanceof OAuthError && 'requestSent' in e && (e as { requestSent: unknown }).requestSent === 'unknown';

/**
 * Keeps sellers' tokens fresh. See the module documentation for the guarantees.
 *
 * @example
 * ```ts
 * const keeper = new TokenKeeper({ oauth, clientId, clientSecret, store: new SqliteTokenStore({ path }) });
 * await keeper.save(userId, await oauth.create({ body: { client_id, client_secret, code, redirect_uri } }));
 * const accessToken = await keeper.getAccessToken(userId);
 * keeper.start(); // background refresh
 * ```
 */
export class TokenKeeper {
  /** The lease owner id of this keeper. */
  readonly ownerId: string;
  readonly #oauth: OAuth;
  readonly #store: SealingTokenStore;
  readonly #sealer: TokenSealer;
  readonly #batcher: StoreBatcher;
  #clientId: string;
  #clientSecret: string;
  readonly #refreshBeforeMs: number | undefined;
  readonly #jitterRatio: number;
  readonly #leaseMs: number;
  readonly #replayWindowMs: number;
  readonly #attempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #waitTimeoutMs: number;
  readonly #pollMs: number;
  readonly #clock: () => number;
  readonly #random: () => number;
  readonly #inflight = new Map<number, Promise<StoredToken>>();
  readonly #listeners: { [K in keyof KeeperEvents]: Set<KeeperListener<K>> } = {
    rotated: new Set(),
    reauthorization_required: new Set(),
    error: new Set(),
    notification: new Set(),
  };
  readonly #webhooks: WebhookOptions | undefined;
  readonly #replays = new ReplayGuard();
  readonly #stats = new StatsRecorder();
  readonly #metrics: KeeperMetrics = {
    refreshRequests: 0,
    rotations: 0,
    adopted: 0,
    journalRecovered: 0,
    reauthorizationRequired: 0,
    retries: 0,
    unknownOutcomes: 0,
    leaseWaits: 0,
    failures: 0,
    staleServed: 0,
    casConflicts: 0,
    clientHalts: 0,
    scheduledClaimed: 0,
    scheduledRefreshed: 0,
    scheduledSkipped: 0,
    inFlight: 0,
    queued: 0,
  };
  #halted: InvalidClientError | null = null;
  // scheduler state
  readonly #sched: Required<Omit<SchedulerOptions, 'batchSize'>> & { batchSize: number };
  #running: AbortController | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #queue: Claimed[] = [];
  #active = new Set<Promise<void>>();
  #bucket: TokenBucket;
  #ticking = false;
  #moreDue = false;
  /** Refreshes the scheduler started in this loop turn (at most `#sched.perTurn`). */
  #turnStarts = 0;

  /** @param options - see {@link TokenKeeperOptions} */
  constructor(options: TokenKeeperOptions) {
    this.#oauth = options.oauth;
    this.#webhooks = options.webhooks;
    this.#sealer = new TokenSealer(options.sealing, options.clientId);
    this.#store = new SealingTokenStore(
      timedStore(options.store, this.#stats),
      this.#sealer,
      (userId, error) => {
        void this.#emit('error', { userId, error, during: 'scheduler' });
      },
    );
    const perTurn = perTurnOf(options.scheduler?.perTurn);
    this.#batcher = new StoreBatcher(this.#store, perTurn, undefined, this.#store.getEach);
    this.#clientId = options.clientId;
    this.#clientSecret = options.clientSecret;
    this.#refreshBeforeMs =
      options.refreshBeforeSeconds === undefined
        ? undefined
        : Math.max(0, options.refreshBeforeSeconds * 1000);
    this.#jitterRatio = Math.min(0.3, Math.max(0, options.refreshJitterRatio ?? 0.05));
    this.#leaseMs = clampDelay(options.leaseMs ?? Math.max(30_000, 3 * options.oauth.timeout));
    this.#replayWindowMs = Math.max(0, (options.replayWindowSeconds ?? 60) * 1000);
    this.#attempts = Math.max(1, options.retry?.attempts ?? 5);
    this.#baseDelayMs = Math.max(1, options.retry?.baseDelayMs ?? 250);
    this.#maxDelayMs = Math.max(this.#baseDelayMs, options.retry?.maxDelayMs ?? 30_000);
    this.#waitTimeoutMs = options.waitTimeoutMs ?? this.#leaseMs + 5_000;
    this.#pollMs = Math.max(1, options.pollIntervalMs ?? 50);
    this.#clock = options.clock ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.ownerId = options.ownerId ?? globalThis.crypto.randomUUID();
    const s = options.scheduler ?? {};
    const ratePerSecond = s.ratePerSecond ?? 20;
    this.#sched = {
      intervalMs: clampDelay(s.intervalMs ?? 30_000),
      concurrency: Math.max(1, s.concurrency ?? 8),
      ratePerSecond,
      burst: Math.max(1, s.burst ?? 1),
      perTurn,
      batchSize: 1,
    };
    this.#sched.batchSize = Math.max(
      1,
      s.batchSize ??
        Math.min(
          Math.max(MAX_DEFAULT_BATCH, this.#sched.concurrency),
          Math.floor((ratePerSecond * this.#leaseMs) / 2000) + this.#sched.concurrency,
        ),
    );
    this.#bucket = new TokenBucket(ratePerSecond, this.#sched.burst);
  }

  // ---------------------------------------------------------------- events and metrics

  /**
   * Adds a listener. `rotated` listeners are awaited (in order) after the rotated token is stored
   * and before any caller receives the new access token; a throwing listener is reported as an
   * `error` event and does not undo the rotation.
   *
   * @returns a function that removes the listener
   */
  on<K extends keyof KeeperEvents>(event: K, listener: KeeperListener<K>): () => void {
    (this.#listeners[event] as Set<KeeperListener<K>>).add(listener);
    return () => this.off(event, listener);
  }

  /** Removes a listener added with {@link TokenKeeper.on}. */
  off<K extends keyof KeeperEvents>(event: K, listener: KeeperListener<K>): void {
    (this.#listeners[event] as Set<KeeperListener<K>>).delete(listener);
  }

  async #emit<K extends keyof KeeperEvents>(event: K, payload: KeeperEvents[K]): Promise<void> {
    for (const listener of [...(this.#listeners[event] as Set<KeeperListener<K>>)]) {
      try {
        await listener(payload);
      } catch (error) {
        if (event !== 'error')
          await this.#emit('error', { error, during: 'hook', userId: (payload as RotatedEvent).userId });
      }
    }
  }

  /**
   * The observability numbers, for those who do not use Prometheus: refreshes due, refreshed,
   * failed, re-authorizations, and latency histograms of refresh requests and store calls.
   */
  stats(): KeeperStats {
    return this.#stats.snapshot();
  }

  /**
   * Registers this keeper's metrics with prom-client (an optional peer dependency, imported only
   * now): `<prefix>refresh_due_total`, `refreshed_total`, `refresh_failed_total`,
   * `reauthorization_required_total`, `refresh_duration_seconds`,
   * `store_operation_duration_seconds{operation}` and `refreshes_in_flight`. Counters start at the
   * totals so far, histograms from now: call it once, at startup.
   *
   * @throws {StoreError} prom-client is not installed (the message says how to install it)
   */
  prometheus(options: PrometheusOptions = {}): Promise<KeeperPrometheusMetrics> {
    return createPrometheusMetrics(this.#stats, () => this.#metrics.inFlight, options);
  }

  /** A snapshot of the counters. */
  metrics(): KeeperMetrics {
    return { ...this.#metrics, queued: this.#queue.length };
  }

  // ---------------------------------------------------------------- public API

  /**
   * Stores a fresh authorization (the answer of `OAuth.create`, or any token answer) for a seller,
   * unconditionally: it replaces whatever was stored and clears a `reauthorization_required` mark.
   *
   * @param userId - the seller; must match `response.user_id` when present
   * @param response - the token answer
   * @returns the stored token
   */
  async save(
    userId: number,
    response: Omit<OAuthResponse, 'api_response'> | OAuthResponse,
  ): Promise<StoredToken> {
    if (typeof response.user_id === 'number' && response.user_id !== userId) {
      throw new TypeError(`token answer is for seller ${response.user_id}, not ${userId}`);
    }
    return this.#store.put(this.#toData(userId, response, this.#clock(), null));
  }

  /**
   * Returns a valid access token for the seller, refreshing first when it is due. Concurrent calls
   * for one seller share one refresh in this process, and processes sharing the store share one
   * refresh through the lease. If the refresh fails for a reason other than a lost grant and the
   * current access token has not expired, that token is returned (and the failure emitted as `error`).
   *
   * @throws {@link TokenNotFoundError} nothing stored for the seller
   * @throws {@link ReauthorizationRequiredError} the grant is gone
   * @throws {@link OAuthError} the refresh failed and the stored access token has expired
   */
  async getAccessToken(userId: number): Promise<string> {
    return (await this.getToken(userId)).accessToken;
  }

  /** Like {@link TokenKeeper.getAccessToken}, but returns the whole stored token. */
  async getToken(userId: number): Promise<StoredToken> {
    const rec = await this.#store.get(userId);
    if (rec === null) throw new TokenNotFoundError(userId);
    this.#throwIfReauth(rec);
    if (!this.#isDue(rec)) return rec;
    try {
      return await this.#singleFlight(userId, { force: false, scheduled: false });
    } catch (error) {
      if (error instanceof ReauthorizationRequiredError || error instanceof TokenNotFoundError) throw error;
      if (rec.expiresAt > this.#clock()) {
        this.#metrics.staleServed++;
        await this.#emit('error', { userId, error, during: 'refresh' });
        return rec;
      }
      throw error;
    }
  }

  /**
   * Refreshes the seller's token now, whether due or not (single-flight; if another process
   * rotated it meanwhile, that result is returned instead of refreshing again).
   */
  async refresh(userId: number): Promise<StoredToken> {
    const rec = await this.#store.get(userId);
    if (rec === null) throw new TokenNotFoundError(userId);
    this.#throwIfReauth(rec);
    return this.#singleFlight(userId, { force: true, fromVersion: rec.version, scheduled: false });
  }

  /** Deletes the seller's tokens from the store (after the seller revoked the application, say). */
  forget(userId: number): Promise<void> {
    return this.#store.delete(userId);
  }

  /**
   * Finishes every journaled rotation whose compare-and-swap never happened (a crash between the
   * server's answer and the save) and drops obsolete journal entries. Called by {@link start};
   * `getAccessToken` also does it per seller on demand.
   *
   * @returns how many rotations were finished
   */
  async recover(): Promise<number> {
    let n = 0;
    const entries = await this.#store.journalList();
    const users = [...new Set(entries.map((e) => e.userId))];
    for (const userId of users) {
      const rec = await this.#store.get(userId);
      if (rec === null) {
        for (const e of entries) if (e.userId === userId) await this.#store.journalDelete(e.id);
        continue;
      }
      if ((await this.#recoverUser(rec)) !== null) n++;
    }
    return n;
  }

  /**
   * Re-seals every stored row (and journal entry) that is not sealed with the current key: after a
   * new key became `sealing.currentKeyId`, or to seal plaintext rows once `sealing.acceptUnsealed`
   * is set. Walks the store in pages of `batchSize`; each row is rewritten on its version without
   * bumping it, so refreshes running meanwhile are neither blocked nor disturbed (a row they
   * rewrite is sealed with the current key anyway). Idempotent: run it again after an interruption.
   * When it returns, the old key can leave the ring.
   *
   * @throws {@link TokenSealingError} a row that does not open (unknown key id, wrong key): fix the ring and run again
   */
  async rotateKey(options: RotateKeyOptions = {}): Promise<KeyRotationResult> {
    const keyId = this.#sealer.currentKeyId;
    if (keyId === undefined) {
      throw new TypeError(
        'rotateKey() needs a key ring: pass sealing: { keys, currentKeyId } to the TokenKeeper',
      );
    }
    const batchSize = Math.max(1, Math.floor(options.batchSize ?? 100));
    const raw = this.#store.inner;
    const isCurrent = (value: string | null): boolean => {
      if (value === null) return true;
      const state = this.#sealer.inspect(value);
      return state.sealed && state.keyId === keyId;
    };
    const open = (userId: number, field: SealedField, value: string | null) =>
      this.#sealer.unsealNullable(userId, field, value);
    const result: KeyRotationResult = {
      keyId,
      scanned: 0,
      resealed: 0,
      alreadyCurrent: 0,
      journalResealed: 0,
      pages: 0,
    };
    let cursor: string | null = null;
    do {
      options.signal?.throwIfAborted();
      const page = await raw.scanTokens(cursor, batchSize);
      result.pages++;
      for (let row of page.tokens) {
        result.scanned++;
        if (isCurrent(row.accessToken) && isCurrent(row.refreshToken)) {
          result.alreadyCurrent++;
          continue;
        }
        // A concurrent write moves the version on (and seals with the current key): re-read, retry.
        for (let attempt = 1; ; attempt++) {
          const accessToken = (await open(row.userId, 'access', row.accessToken)) as string;
          const refreshToken = await open(row.userId, 'refresh', row.refreshToken);
          if (await this.#store.rewriteTokens(row.userId, row.version, accessToken, refreshToken)) {
            result.resealed++;
            break;
          }
          const again = await raw.get(row.userId);
          if (again === null || (isCurrent(again.accessToken) && isCurrent(again.refreshToken))) {
            result.alreadyCurrent++;
            break;
          }
          if (attempt >= 5) {
            throw new StoreError(
              `rotateKey: seller ${row.userId} kept changing during 5 attempts; run rotateKey() again`,
            );
          }
          row = again;
        }
      }
      cursor = page.cursor;
    } while (cursor !== null);
    for (const entry of await raw.journalList()) {
      if (isCurrent(entry.token.accessToken) && isCurrent(entry.token.refreshToken)) continue;
      const token = {
        ...entry.token,
        accessToken: (await open(entry.userId, 'access', entry.token.accessToken)) as string,
        refreshToken: await open(entry.userId, 'refresh', entry.token.refreshToken),
      };
      // Re-appending under the same id replaces the entry; if a swap consumed it meanwhile, the
      // copy has an old fromVersion and the next recovery drops it.
      await this.#store.journalAppend({ ...entry, token });
      result.journalResealed++;
    }
    return result;
  }

  /**
   * Handles a webhook request from Renova: checks the signature (`x-signature`, CONTRACT.md §4.6)
   * with `webhooks.secret`, the body, that it is for this application, and that the request id was
   * not seen with another body; then, for `application.deauthorized`, marks the seller
   * `reauthorization_required` at once (no refresh is wasted to find out; `getAccessToken` throws
   * {@link ReauthorizationRequiredError} and `reauthorization_required` is emitted), and for
   * `application.authorized` reports it. Either way a `notification` event is emitted.
   * Framework-neutral: pass the headers, the raw body and the URL; answer with the result's
   * `status` and `body` (a non-2xx makes Renova retry). Never throws for what the request carries.
   *
   * A deauthorization older than the stored token's last write is not applied (`newer_authorization`):
   * the seller authorized again after revoking and the deliveries arrived out of order.
   *
   * @throws {TypeError} when the keeper was built without `webhooks.secret`
   */
  async handleNotification(request: NotificationRequest): Promise<NotificationResult> {
    const config = this.#webhooks;
    if (config === undefined) {
      throw new TypeError('handleNotification needs webhooks: { secret } in the TokenKeeper options');
    }
    const reject = (status: 400 | 401 | 503, error: string, message: string): NotificationResult => ({
      status,
      body: { error, error_description: message, message, status, cause: [] },
    });
    if (typeof request?.body !== 'string' && !(request?.body instanceof Uint8Array)) {
      throw new TypeError(
        'handleNotification needs the raw body (a string or a Buffer), not a parsed object',
      );
    }
    const parsed = parseMpConnectBody(request.body);
    if (typeof parsed === 'string')
      return reject(400, 'invalid_request', `not a Renova notification: ${parsed}`);
    // Mercado Pago signs data.id as the query string carries it; the body must agree with it.
    let dataId = parsed.dataId;
    if (request.url !== undefined) {
      let query: URLSearchParams;
      try {
        query = new URL(request.url, 'http://receiver.invalid').searchParams;
      } catch {
        return reject(400, 'invalid_request', 'the request URL is malformed');
      }
      const ids = query.getAll('data.id');
      if (ids.length > 1)
        return reject(400, 'invalid_request', 'data.id appears more than once in the query');
      if (ids.length === 1) {
        if (ids[0] !== parsed.dataId) {
          return reject(400, 'invalid_request', 'data.id of the query does not match data.id of the body');
        }
        dataId = ids[0] as string;
      }
    }
    const tolerance = config.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
    const now = this.#clock();
    const verdict = await verifyWebhookSignature({
      secret: config.secret,
      headers: request.headers,
      dataId,
      toleranceSeconds: tolerance,
      now,
    });
    if (!verdict.valid) return reject(401, 'invalid_signature', `webhook refused: ${verdict.reason}`);
    if (parsed.applicationId !== this.#clientId) {
      return reject(
        400,
        'invalid_request',
        `the notification is for application ${parsed.applicationId}, this keeper serves ${this.#clientId}`,
      );
    }
    // The signature covers data.id, the request id and ts, not the body: remember each request id
    // for as long as its signature is fresh, so a captured request cannot come back with another
    // action while it would still verify.
    const replay = this.#replays.check(
      verdict.requestId,
      await bodyDigest(request.body),
      now,
      2 * tolerance * 1000 + 1000,
    );
    if (replay === 'tampered') {
      return reject(
        401,
        'invalid_signature',
        'webhook refused: this x-request-id was already used with another body',
      );
    }
    const notification = parsed;
    let outcome: NonNullable<NotificationResult['outcome']>;
    if (replay === 'duplicate') {
      outcome = 'duplicate';
    } else if (notification.action === 'application.authorized') {
      outcome = 'reported';
    } else {
      try {
        outcome = await this.#applyDeauthorization(notification);
      } catch (error) {
        await this.#emit('error', { userId: notification.userId, error, during: 'notification' });
        // Let Renova deliver it again (its outbox retries until a 2xx), from a fresh request id.
        return reject(503, 'temporarily_unavailable', 'the token store is unavailable; deliver again later');
      }
    }
    await this.#emit('notification', { notification, outcome });
    return {
      status: 200,
      body: { received: true, action: notification.action, outcome },
      notification,
      outcome,
    };
  }

  async #applyDeauthorization(
    n: MpConnectNotification,
  ): Promise<'marked' | 'already_marked' | 'not_stored' | 'newer_authorization'> {
    // The raw store: marking needs the version, not the tokens, so a row this keeper cannot unseal
    // is still marked.
    const raw = this.#store.inner;
    for (let attempt = 1; ; attempt++) {
      const row = await raw.get(n.userId);
      if (row === null) return 'not_stored';
      if (row.status === 'reauthorization_required') return 'already_marked';
      if (row.updatedAt > n.dateCreated) return 'newer_authorization';
      const reason = 'application.deauthorized: the seller revoked the application (webhook)';
      if (await raw.markReauthorizationRequired(n.userId, row.version, reason)) {
        this.#metrics.reauthorizationRequired++;
        this.#stats.inc('reauthorizationRequired');
        const err = new ReauthorizationRequiredError(n.userId, reason, undefined, this.#clock());
        await this.#emit('reauthorization_required', { userId: n.userId, reason, error: err });
        return 'marked';
      }
      if (attempt >= 5)
        throw new StoreError(`seller ${n.userId} kept changing while applying a deauthorization`);
    }
  }

  /**
   * Replaces the application credentials (after a secret rotation) and lifts an `invalid_client` halt.
   */
  setClientCredentials(clientId: string, clientSecret: string): void {
    this.#clientId = clientId;
    this.#clientSecret = clientSecret;
    this.#halted = null;
  }

  /** Lifts an `invalid_client` halt without changing credentials. */
  resume(): void {
    this.#halted = null;
  }

  /** The `invalid_client` error that halted refreshing, or `null`. */
  get halted(): InvalidClientError | null {
    return this.#halted;
  }

  // ---------------------------------------------------------------- refresh machinery

  #isDue(rec: StoredToken): boolean {
    if (rec.refreshAt === null) return false;
    return this.#clock() >= rec.refreshAt;
  }

  #throwIfReauth(rec: StoredToken): void {
    if (rec.status === 'reauthorization_required') {
      throw new ReauthorizationRequiredError(
        rec.userId,
        rec.reason ?? 'the grant was rejected',
        undefined,
        rec.updatedAt,
      );
    }
    if (rec.refreshAt === null && rec.expiresAt <= this.#clock()) {
      throw new ReauthorizationRequiredError(
        rec.userId,
        'the access token expired and there is no refresh token',
      );
    }
  }

  #toData(
    userId: number,
    r: Omit<OAuthResponse, 'api_response'>,
    sentAt: number,
    previous: TokenData | null,
  ): TokenData {
    const lifetimeMs = Math.max(0, r.expires_in * 1000);
    const expiresAt = sentAt + lifetimeMs;
    const refreshToken = r.refresh_token ?? previous?.refreshToken ?? null;
    let refreshAt: number | null = null;
    if (refreshToken !== null) {
      const margin = Math.min(this.#refreshBeforeMs ?? lifetimeMs * 0.2, lifetimeMs);
      const jitter = this.#random() * this.#jitterRatio * lifetimeMs;
      // Never schedule a refresh in the first half of a lifetime because of the margin+jitter alone,
      // unless the caller's margin itself asks for it (prevents refresh loops on short tokens).
      refreshAt = Math.max(
        expiresAt - margin - jitter,
        Math.min(sentAt + lifetimeMs / 2, expiresAt - margin),
      );
    }
    return {
      userId,
      accessToken: r.access_token,
      refreshToken,
      tokenType: r.token_type ?? 'Bearer',
      scope: r.scope ?? '',
      publicKey: r.public_key ?? previous?.publicKey ?? null,
      liveMode: r.live_mode ?? previous?.liveMode ?? true,
      expiresAt,
      refreshAt,
    };
  }

  #singleFlight(userId: number, flow: Flow): Promise<StoredToken> {
    const existing = this.#inflight.get(userId);
    if (existing !== undefined) return existing;
    this.#metrics.inFlight++;
    const p = this.#refreshFlow(userId, flow).finally(() => {
      this.#inflight.delete(userId);
      this.#metrics.inFlight--;
    });
    this.#inflight.set(userId, p);
    return p;
  }

  #needsWork(rec: StoredToken, flow: Flow): boolean {
    if (flow.force) return flow.fromVersion === undefined || rec.version === flow.fromVersion;
    return this.#isDue(rec);
  }

  async #refreshFlow(userId: number, flow: Flow): Promise<StoredToken> {
    const started = this.#clock();
    // A claimed row is leased to us: while the lease has at least half of its time left (the claim
    // took it for leaseMs) and the journal had nothing for it, the first round skips the journal
    // read and the lease renewal. It still reads the row: the claim may have read it before a
    // rotation of ours committed (a claim also returns rows this keeper already holds), and a stale
    // row would present a spent refresh token. Any other round reads, recovers and leases as usual.
    let claimed =
      flow.claimed !== undefined &&
      !flow.claimed.journaled &&
      performance.now() - flow.claimed.claimedAt < this.#leaseMs / 2
        ? flow.claimed.token
        : undefined;
    try {
      for (;;) {
        if (this.#halted !== null) throw new ClientHaltedError(this.#halted);
        let held: StoredToken | undefined;
        if (claimed !== undefined) {
          // Batched: the scheduler starts its refreshes in groups, and so re-reads them together.
          const fresh = await this.#batcher.get(userId);
          if (fresh !== null && fresh.version === claimed.version) held = fresh;
          claimed = undefined;
        }
        if (held === undefined) {
          const rec = await this.#store.get(userId);
          if (rec === null) throw new TokenNotFoundError(userId);
          this.#throwIfReauth(rec);
          if (!this.#needsWork(rec, flow)) {
            if (flow.scheduled) this.#metrics.scheduledSkipped++;
            if (flow.claimed !== undefined) await this.#release(userId);
            return rec;
          }
          const recovered = await this.#recoverUser(rec);
          if (recovered !== null) {
            if (flow.claimed !== undefined) await this.#release(userId);
            return recovered;
          }
          if (!(await this.#store.acquireLease(userId, this.ownerId, this.#leaseMs))) {
            this.#metrics.leaseWaits++;
            const other = await this.#waitForOther(userId, rec.version, started);
            if (other !== null) {
              this.#throwIfReauth(other);
              this.#metrics.adopted++;
              return other;
            }
            continue;
          }
        }
        const lease: LeaseState = { released: false };
        try {
          const cur = held ?? (await this.#store.get(userId));
          if (cur === null) throw new TokenNotFoundError(userId);
          this.#throwIfReauth(cur);
          if (!this.#needsWork(cur, flow)) {
            if (held !== undefined && flow.scheduled) this.#metrics.scheduledSkipped++;
            return cur;
          }
          const out = await this.#rotate(cur, flow, lease);
          if (flow.scheduled) this.#metrics.scheduledRefreshed++;
          return out;
        } catch (error) {
          if (error instanceof LeaseLost) continue;
          throw error;
        } finally {
          if (!lease.released) await this.#release(userId);
        }
      }
    } catch (error) {
      this.#metrics.failures++;
      if (!(error instanceof ReauthorizationRequiredError)) this.#stats.inc('failed');
      throw error;
    }
  }

  /** Releases this keeper's lease on the seller; a failure is reported, not thrown (it expires). */
  async #release(userId: number): Promise<void> {
    await this.#store.releaseLease(userId, this.ownerId).catch((error: unknown) => {
      void this.#emit('error', { userId, error, during: 'lease' });
    });
  }

  /** Polls until another process's refresh lands (returns it) or its lease is free (returns null). */
  async #waitForOther(userId: number, version: number, started: number): Promise<StoredToken | null> {
    for (;;) {
      if (this.#clock() - started > this.#waitTimeoutMs)
        throw new LeaseTimeoutError(userId, this.#clock() - started);
      await sleep(this.#pollMs * (0.5 + this.#random()));
      const rec = await this.#store.get(userId);
      if (rec === null) throw new TokenNotFoundError(userId);
      if (rec.version !== version) return rec;
      if (await this.#store.acquireLease(userId, this.ownerId, this.#leaseMs)) return null;
    }
  }

  /** Finishes a journaled answer for this exact version, if there is one. */
  async #recoverUser(rec: StoredToken): Promise<StoredToken | null> {
    let entries: JournalEntry[];
    try {
      entries = await this.#store.journalList(rec.userId);
    } catch (error) {
      await this.#emit('error', { userId: rec.userId, error, during: 'journal' });
      return null;
    }
    let recovered: StoredToken | null = null;
    for (const e of entries) {
      if (e.fromVersion !== rec.version) continue;
      recovered = await this.#store.compareAndSwap(rec.userId, rec.version, e.token, e.id);
      if (recovered !== null) break;
    }
    const version = recovered?.version ?? rec.version;
    for (const e of entries) {
      if (e.fromVersion < version) await this.#store.journalDelete(e.id);
    }
    if (recovered === null) return null;
    this.#metrics.journalRecovered++;
    await this.#emit('rotated', { userId: rec.userId, token: recovered, source: 'journal' });
    return recovered;
  }

  async #rotate(rec: StoredToken, flow: Flow, lease: LeaseState): Promise<StoredToken> {
    const userId = rec.userId;
    let firstUnknownAt: number | undefined;
    let attempt = 0;
    this.#stats.inc('due');
    for (;;) {
      attempt++;
      if (flow.scheduled && this.#running !== null) await this.#bucket.take();
      const sentAt = this.#clock();
      let response: OAuthResponse;
      try {
        this.#metrics.refreshRequests++;
        const requestStarted = performance.now();
        try {
          response = await this.#oauth.refresh({
            body: {
              client_id: this.#clientId,
              client_secret: this.#clientSecret,
              refresh_token: rec.refreshToken ?? '',
            },
          });
        } finally {
          this.#stats.refresh((performance.now() - requestStarted) / 1000);
        }
      } catch (error) {
        if (error instanceof InvalidGrantError || error instanceof UnauthorizedClientError) {
          return this.#onGrantRejected(rec, error);
        }
        if (error instanceof InvalidClientError) {
          if (this.#halted === null) {
            this.#halted = error;
            this.#metrics.clientHalts++;
          }
          throw new ClientHaltedError(error);
        }
        let delay: number;
        if (isUnknownOutcome(error)) {
          this.#metrics.unknownOutcomes++;
          firstUnknownAt ??= sentAt;
          delay = backoffDelay(attempt, this.#baseDelayMs, this.#maxDelayMs, this.#random);
        } else if (isTransient(error)) {
          const retryAfter = error instanceof RetryableHttpError ? error.retryAfter : undefined;
          delay =
            retryAfter === undefined
              ? backoffDelay(attempt, this.#baseDelayMs, this.#maxDelayMs, this.#random)
              : retryAfter * 1000 + this.#random() * this.#baseDelayMs;
          if (delay > this.#maxDelayMs) throw error;
        } else {
          throw error;
        }
        if (firstUnknownAt !== undefined) {
          // The server may have rotated already: only re-present the old refresh token while its
          // replay window surely still answers with the same pair.
          const deadline = firstUnknownAt + this.#replayWindowMs - this.#oauth.timeout - 1_000;
          if (this.#clock() + delay >= deadline) throw new RefreshOutcomeUnknownError(userId, error);
        } else if (attempt >= this.#attempts) {
          throw error;
        }
        this.#metrics.retries++;
        await sleep(delay);
        if (!(await this.#store.acquireLease(userId, this.ownerId, this.#leaseMs))) throw new LeaseLost();
        continue;
      }
      return this.#commit(rec, response, sentAt, lease);
    }
  }

  async #commit(
    rec: StoredToken,
    response: OAuthResponse,
    sentAt: number,
    lease: LeaseState,
  ): Promise<StoredToken> {
    const userId = rec.userId;
    if (response.user_id !== userId) {
      throw new InvalidResponseError(
        'invalid_response',
        `refresh for seller ${userId} answered with tokens of seller ${response.user_id}`,
        { status: response.api_response.status },
      );
    }
    const next = this.#toData(userId, response, sentAt, rec);
    const entry: JournalEntry = {
      id: globalThis.crypto.randomUUID(),
      userId,
      fromVersion: rec.version,
      token: next,
      receivedAt: this.#clock(),
    };
    let journaled = true;
    try {
      await this.#batcher.journalAppend(entry);
    } catch (error) {
      journaled = false;
      await this.#emit('error', { userId, error, during: 'journal' });
    }
    let stored: StoredToken | null = null;
    for (let attempt = 1; ; attempt++) {
      try {
        const request: CompareAndSwapRequest = { userId, expectedVersion: rec.version, next };
        if (journaled) request.journalId = entry.id;
        // With a batching store the swap also releases our lease: one write fewer per seller.
        if (this.#batcher.batched) request.releaseLeaseOf = this.ownerId;
        stored = await this.#batcher.compareAndSwap(request);
        if (this.#batcher.batched) lease.released = true;
        break;
      } catch (error) {
        if (attempt >= this.#attempts) throw error;
        await this.#emit('error', { userId, error, during: 'save' });
        await sleep(backoffDelay(attempt, this.#baseDelayMs, this.#maxDelayMs, this.#random));
      }
    }
    if (stored === null) {
      // Someone else stored a newer token for this seller first: adopt it.
      this.#metrics.casConflicts++;
      if (journaled) await this.#store.journalDelete(entry.id).catch(() => {});
      const cur = await this.#store.get(userId);
      if (cur === null) throw new TokenNotFoundError(userId);
      this.#throwIfReauth(cur);
      this.#metrics.adopted++;
      return cur;
    }
    this.#metrics.rotations++;
    this.#stats.inc('refreshed');
    await this.#emit('rotated', { userId, token: stored, source: 'refresh' });
    return stored;
  }

  async #onGrantRejected(rec: StoredToken, error: OAuthError): Promise<StoredToken> {
    const userId = rec.userId;
    // Maybe another process rotated meanwhile (our token was already spent): adopt its token.
    const cur = await this.#store.get(userId);
    if (cur === null) throw new TokenNotFoundError(userId);
    if (cur.version !== rec.version) {
      this.#throwIfReauth(cur);
      this.#metrics.adopted++;
      return cur;
    }
    const recovered = await this.#recoverUser(cur);
    if (recovered !== null) return recovered;
    const reason = error.description ?? error.message;
    const marked = await this.#store.markReauthorizationRequired(
      userId,
      rec.version,
      `${error.error}: ${reason}`,
    );
    if (!marked) {
      const again = await this.#store.get(userId);
      if (again !== null && again.status === 'active') {
        this.#metrics.adopted++;
        return again;
      }
    }
    this.#metrics.reauthorizationRequired++;
    this.#stats.inc('reauthorizationRequired');
    const err = new ReauthorizationRequiredError(userId, `${error.error}: ${reason}`, error, this.#clock());
    await this.#emit('reauthorization_required', { userId, reason: err.reason, error: err });
    throw err;
  }

  // ---------------------------------------------------------------- scheduler

  /**
   * Starts background refresh: finishes journaled rotations, then repeatedly claims due tokens from
   * the store (by the store's clock, under a lease, earliest first) and refreshes them with at most
   * `concurrency` in flight and at most `ratePerSecond` requests per second. Idempotent.
   */
  start(): void {
    if (this.#running !== null) return;
    this.#running = new AbortController();
    this.#bucket = new TokenBucket(this.#sched.ratePerSecond, this.#sched.burst);
    const signal = this.#running.signal;
    void this.recover()
      .catch((error: unknown) => this.#emit('error', { error, during: 'journal' }))
      .then(() => {
        if (!signal.aborted) void this.#tick();
      });
  }

  /**
   * Stops background refresh: no new claims, queued tokens are released, and the returned promise
   * resolves once refreshes already in flight have finished (they are never cut off mid-rotation).
   */
  async stop(): Promise<void> {
    const running = this.#running;
    if (running === null) return;
    this.#running = null;
    running.abort();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const queued = this.#queue;
    this.#queue = [];
    await this.#releaseAll(queued.map((c) => c.token.userId));
    await Promise.allSettled([...this.#active]);
  }

  /** Whether the scheduler is running. */
  get running(): boolean {
    return this.#running !== null;
  }

  #scheduleTick(delayMs: number): void {
    if (this.#running === null) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () => {
        this.#timer = null;
        void this.#tick();
      },
      Math.min(clampDelay(delayMs), MAX_TIMER_MS),
    );
  }

  async #tick(): Promise<void> {
    if (this.#running === null || this.#ticking) return;
    this.#ticking = true;
    let claimed = 0;
    let want = 0;
    try {
      if (this.#halted === null) {
        want = this.#sched.batchSize - this.#queue.length - this.#active.size;
        if (want > 0) {
          // A claim also returns the sellers this keeper holds already (queued or refreshing; they
          // are due and leased to it), earliest first: ask for that many more, and leave them out.
          // They are being handled, and a second refresh would only waste a request.
          const held = new Set(this.#queue.map((c) => c.token.userId));
          for (const userId of this.#inflight.keys()) held.add(userId);
          const due = await this.#store.claimDue(this.ownerId, want + held.size, this.#leaseMs);
          const claimedAt = performance.now();
          const fresh = due.filter((t) => !held.has(t.userId) && !this.#inflight.has(t.userId));
          claimed = fresh.length;
          this.#metrics.scheduledClaimed += claimed;
          if (this.#running === null) {
            await this.#releaseAll(fresh.map((t) => t.userId));
            return;
          }
          const journaled = await this.#journaledAmong(fresh);
          for (const token of fresh) {
            this.#queue.push({ token, claimedAt, journaled: journaled?.has(token.userId) ?? true });
          }
        }
      }
    } catch (error) {
      await this.#emit('error', { error, during: 'scheduler' });
    } finally {
      this.#ticking = false;
    }
    // More may be due when the claim came back full (or there was no room): look again soon.
    this.#moreDue = want <= 0 || claimed >= want;
    this.#pump();
    const jittered = this.#sched.intervalMs * (0.8 + 0.4 * this.#random());
    this.#scheduleTick(this.#moreDue ? Math.min(jittered, 250) : jittered);
  }

  #pump(): void {
    while (this.#running !== null && this.#active.size < this.#sched.concurrency && this.#queue.length > 0) {
      // At most `perTurn` starts per loop turn: the rest start in the next turns, so that a claim
      // (or a batch of finished refreshes) does not start `concurrency` refreshes in one turn.
      if (this.#turnStarts >= this.#sched.perTurn) return;
      if (this.#turnStarts++ === 0) {
        setImmediate(() => {
          this.#turnStarts = 0;
          this.#pump();
        });
      }
      const claimed = this.#queue.shift() as Claimed;
      const task: Promise<void> = this.#runScheduled(claimed).finally(() => {
        this.#active.delete(task);
        this.#pump();
        if (this.#moreDue && this.#queue.length === 0 && this.#running !== null && !this.#ticking) {
          this.#scheduleTick(0);
        }
      });
      this.#active.add(task);
    }
  }

  async #runScheduled(claimed: Claimed): Promise<void> {
    const userId = claimed.token.userId;
    try {
      await this.#singleFlight(userId, { force: false, scheduled: true, claimed });
    } catch (error) {
      if (!(error instanceof ReauthorizationRequiredError)) {
        await this.#emit('error', { userId, error, during: 'scheduler' });
      }
    }
  }

  /**
   * Which of the claimed sellers have journal entries, in one read when the store can
   * (`journalListMany`); `undefined` when it cannot or the read failed (then every claimed seller
   * takes the full path, which reads its journal itself).
   */
  async #journaledAmong(due: StoredToken[]): Promise<Set<number> | undefined> {
    if (due.length === 0 || this.#store.journalListMany === undefined) return undefined;
    try {
      const entries = await this.#store.journalListMany(due.map((t) => t.userId));
      return new Set(entries.map((e) => e.userId));
    } catch (error) {
      await this.#emit('error', { error, during: 'journal' });
      return undefined;
    }
  }

  /** Releases this keeper's leases on the sellers (one call when the store can). */
  async #releaseAll(userIds: number[]): Promise<void> {
    if (userIds.length === 0) return;
    if (this.#store.releaseLeases !== undefined) {
      await this.#store.releaseLeases(this.ownerId, userIds).catch((error: unknown) => {
        void this.#emit('error', { error, during: 'lease' });
      });
      return;
    }
    await Promise.allSettled(userIds.map((userId) => this.#store.releaseLease(userId, this.ownerId)));
  }
}
