import type { PurgeResult, StoragePort } from './contract.ts';

export interface HousekeepingOptions {
  storage: StoragePort;
  /** Mean time between purge rounds (ms); each round is jittered ±25 % so instances spread out. */
  intervalMs?: number;
  /** Rows per DELETE. */
  batchSize?: number;
  /** Upper bound on batches per round, so one round never runs unbounded. */
  maxBatchesPerRound?: number;
  codeGraceMs?: number;
  /** Delivered and dead webhook events are kept this long (default 30 days). */
  webhookRetentionMs?: number;
  /**
   * Audit events are kept this long (RENOVA_AUDIT_RETENTION_DAYS); omitted, the housekeeper leaves
   * the audit trail alone (an embedder that archives it elsewhere).
   */
  auditRetentionMs?: number;
  /**
   * Retention of rows that no longer serve any request (docs/operations.md "Retention and
   * sizing"); each omitted or 0 keeps those rows. See PurgeExpired for why each is safe.
   */
  retention?: { familyMs?: number; revokedGrantMs?: number; sessionMs?: number };
  now?: () => number;
  onError?: (error: unknown) => void;
  onRound?: (totals: HousekeepingTotals) => void;
}

/** What one round deleted; `auditEvents` only when an audit retention is set. */
export type HousekeepingTotals = Omit<PurgeResult, 'more'> & { auditEvents?: number };

/**
 * Purges expired codes and tokens, and old delivered or dead webhook events, in bounded batches. Each batch is one short write
 * (one DELETE of at most `batchSize` rows per table); between batches the loop yields to the event
 * loop, so requests interleave with housekeeping instead of waiting behind it.
 */
export class Housekeeper {
  readonly #options: Required<
    Omit<HousekeepingOptions, 'onError' | 'onRound' | 'auditRetentionMs' | 'retention'>
  > &
    Pick<HousekeepingOptions, 'onError' | 'onRound' | 'auditRetentionMs' | 'retention'>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;

  constructor(options: HousekeepingOptions) {
    this.#options = {
      intervalMs: 60_000,
      batchSize: 1_000,
      maxBatchesPerRound: 100,
      codeGraceMs: 60_000,
      webhookRetentionMs: 30 * 86_400_000,
      now: Date.now,
      ...options,
    };
  }

  start(): void {
    this.#stopped = false;
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #schedule(): void {
    if (this.#stopped) return;
    const jitter = 0.75 + Math.random() * 0.5;
    this.#timer = setTimeout(() => {
      this.#running = this.runOnce()
        .then(() => undefined)
        .catch((error: unknown) => this.#options.onError?.(error))
        .finally(() => {
          this.#running = undefined;
          this.#schedule();
        });
    }, this.#options.intervalMs * jitter);
    // Housekeeping alone must not keep the process alive.
    this.#timer.unref();
  }

  /** One round: batches until nothing is left or the round's bound is reached. */
  async runOnce(): Promise<HousekeepingTotals> {
    const totals: HousekeepingTotals = { codes: 0, accessTokens: 0, refreshTokens: 0, webhookEvents: 0 };
    const o = this.#options;
    const kept = (ms: number | undefined) => (ms === undefined || ms <= 0 ? undefined : ms);
    const familyRetentionMs = kept(o.retention?.familyMs);
    const revokedGrantRetentionMs = kept(o.retention?.revokedGrantMs);
    const sessionRetentionMs = o.retention?.sessionMs;
    for (let batch = 0; batch < o.maxBatchesPerRound; batch++) {
      const result = await o.storage.purgeExpired({
        now: o.now(),
        codeGraceMs: o.codeGraceMs,
        webhookRetentionMs: o.webhookRetentionMs,
        ...(familyRetentionMs === undefined ? {} : { familyRetentionMs }),
        ...(revokedGrantRetentionMs === undefined ? {} : { revokedGrantRetentionMs }),
        ...(sessionRetentionMs === undefined ? {} : { sessionRetentionMs }),
        limit: o.batchSize,
      });
      totals.codes += result.codes;
      totals.accessTokens += result.accessTokens;
      totals.refreshTokens += result.refreshTokens;
      totals.webhookEvents += result.webhookEvents;
      for (const key of ['families', 'grants', 'sessions'] as const) {
        const n = result[key];
        if (n !== undefined) totals[key] = (totals[key] ?? 0) + n;
      }
      if (!result.more) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (o.auditRetentionMs !== undefined) totals.auditEvents = await this.#purgeAudit(o.auditRetentionMs);
    o.onRound?.(totals);
    return totals;
  }

  /**
   * Audit retention, in the same bounded batches: one DELETE of at most `batchSize` of the oldest
   * events per batch, yielding between batches, at most `maxBatchesPerRound` per round.
   */
  async #purgeAudit(retentionMs: number): Promise<number> {
    const o = this.#options;
    let deleted = 0;
    for (let batch = 0; batch < o.maxBatchesPerRound; batch++) {
      const n = await o.storage.purgeAuditEvents({ before: o.now() - retentionMs, limit: o.batchSize });
      deleted += n;
      if (n < o.batchSize) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return deleted;
  }
}
