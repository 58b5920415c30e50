import type { GrantUse, StoragePort } from '../storage/contract.ts';
import type { Clock } from './ports.ts';

/** "Last used" is coarse: to the hour (issue 11). */
export const LAST_USED_COARSE_MS = 3_600_000;

export interface GrantUseTrackerOptions {
  storage: StoragePort;
  clock: Clock;
  /** A grant is written at most once per this many ms. Default one hour. */
  coarseMs?: number;
  /** How often the pending uses are written, in one batch. Default 60 s. */
  flushMs?: number;
  /** A batch this large is written at once, without waiting for the timer. Default 1000. */
  maxPending?: number;
  /** Told when a batch could not be written (it is kept and tried again at the next flush). */
  onFlushError?: (error: unknown) => void;
}

/**
 * Records when each grant was last used (a code exchange, a refresh, a bearer call to
 * `/users/me`) without a write per request on the hot path (docs/design.md "Last used").
 *
 * `seen()` costs one Map lookup and writes nothing: a grant already recorded by this process in
 * the last `coarseMs` is ignored; otherwise it joins the pending batch. `flush()` writes the whole
 * batch with ONE storage call (`touchGrantsLastUsed`: one transaction, one fsync on SQLite, one
 * statement on PostgreSQL), off the request path, on a timer. The storage's own condition
 * (`last_used_at <= at - coarseMs`) keeps several instances from writing one grant more than once
 * an hour between them. So the cost is at most one row write per active grant per hour, plus one
 * commit per flush interval when anything was used: with 10,000 sellers each refreshing hourly,
 * ≈ 2.8 row updates/s spread over 60 commits an hour, against the thousands of token writes/s
 * the refresh path sustains.
 *
 * What is pending when the process dies is lost: "last used" may then lag by up to the flush
 * interval (by at most an hour, as it does by design anyway).
 */
export class GrantUseTracker {
  readonly #storage: StoragePort;
  readonly #clock: Clock;
  readonly #coarseMs: number;
  readonly #flushMs: number;
  readonly #maxPending: number;
  readonly #onFlushError: (error: unknown) => void;
  /** grant key → when this process last queued it; entries older than coarseMs are pruned. */
  readonly #recorded = new Map<string, number>();
  #pending = new Map<string, GrantUse>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  constructor(options: GrantUseTrackerOptions) {
    this.#storage = options.storage;
    this.#clock = options.clock;
    this.#coarseMs = options.coarseMs ?? LAST_USED_COARSE_MS;
    this.#flushMs = options.flushMs ?? 60_000;
    this.#maxPending = options.maxPending ?? 1000;
    this.#onFlushError = options.onFlushError ?? (() => {});
  }

  /** The grant (application, seller) was just used. Never throws, never waits. */
  seen(clientId: string, userId: number): void {
    const key = `${clientId}:${userId}`;
    const now = this.#clock.now();
    const last = this.#recorded.get(key);
    if (last !== undefined && now - last < this.#coarseMs) return;
    this.#recorded.set(key, now);
    this.#pending.set(key, { clientId, userId, at: now });
    if (this.#pending.size >= this.#maxPending) void this.flush();
  }

  /** How many uses wait for the next flush (for tests and metrics). */
  get pending(): number {
    return this.#pending.size;
  }

  /** Writes the pending uses in one batch; concurrent calls share one write. */
  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    if (this.#pending.size === 0) return Promise.resolve();
    const batch = this.#pending;
    this.#pending = new Map();
    this.#flushing = this.#storage
      .touchGrantsLastUsed([...batch.values()], this.#coarseMs)
      .catch((error: unknown) => {
        // Kept for the next flush (newer uses of the same grant win).
        for (const [key, use] of batch) if (!this.#pending.has(key)) this.#pending.set(key, use);
        this.#onFlushError(error);
      })
      .finally(() => {
        this.#flushing = undefined;
        this.#prune();
      });
    return this.#flushing;
  }

  /** Flushes every `flushMs` until `stop()`; the timer does not keep the process alive. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.flush(), this.#flushMs);
    this.#timer.unref();
  }

  /** Stops the timer and writes what is pending. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#flushing;
    await this.flush();
  }

  /** Forgets grants not queued for coarseMs, so the map holds only the last hour's grants. */
  #prune(): void {
    const horizon = this.#clock.now() - this.#coarseMs;
    for (const [key, at] of this.#recorded) if (at <= horizon) this.#recorded.delete(key);
  }
}
