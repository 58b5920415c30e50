import type Database from 'better-sqlite3';

/**
 * Group commit for better-sqlite3 (docs/design.md "Durable and fast on SQLite").
 *
 * With `synchronous=FULL` every COMMIT waits for an fsync of the WAL (~0.8 ms on these machines),
 * which would cap one-commit-per-request far below what the token endpoint can otherwise do. Writes
 * that arrive within one turn of the event loop are therefore run in ONE transaction and committed
 * once; a step that fails rolls back alone (the batch then runs again, each step inside its own
 * SAVEPOINT). Only after that COMMIT returns are the callers' promises settled: a resolved write is
 * on disk.
 *
 * Each step runs synchronously inside the transaction, so a step's reads and conditional writes are
 * atomic with respect to every other step, in this process and (through SQLite's write lock, taken
 * up front by BEGIN IMMEDIATE) in every other process sharing the file.
 */
interface PendingWrite {
  // biome-ignore lint/suspicious/noExplicitAny: the queue holds steps of every result type.
  step: () => any;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** What one step of a committed batch gave: its value, or what it threw. */
interface StepOutcome {
  ok: boolean;
  value: unknown;
}

/**
 * Slots of the group-commit statistics (a Float64Array, over a SharedArrayBuffer when the
 * committer runs in the writer thread, so the main thread reads them on a metrics scrape without
 * a message). Written by the committer's thread alone; the maxima are reset by the reader.
 */
export const COMMIT_STATS = {
  batches: 0,
  writes: 1,
  /** Seconds from a batch's first enqueued step to the end of its COMMIT, summed. */
  waitSeconds: 2,
  /** The largest batch, and the longest wait, since the reader last reset them. */
  maxBatch: 3,
  maxWaitSeconds: 4,
  length: 5,
} as const;

export function newCommitStats(): Float64Array {
  return new Float64Array(new SharedArrayBuffer(COMMIT_STATS.length * Float64Array.BYTES_PER_ELEMENT));
}

export class GroupCommitter {
  readonly #db: Database.Database;
  readonly #maxBatch: number;
  readonly #sql: Record<
    'begin' | 'savepoint' | 'release' | 'rollbackTo' | 'commit' | 'rollback',
    Database.Statement
  >;
  #queue: PendingWrite[] = [];
  #scheduled = false;
  readonly #stats: Float64Array | undefined;
  /** When the first step of the batch being collected was queued (performance.now()). */
  #queuedAt = 0;

  constructor(db: Database.Database, maxBatch = 512, stats?: Float64Array) {
    this.#db = db;
    this.#maxBatch = maxBatch;
    this.#stats = stats;
    // Prepared once: parsing these six statements again for every step showed up in profiles.
    this.#sql = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      savepoint: db.prepare('SAVEPOINT step'),
      release: db.prepare('RELEASE step'),
      rollbackTo: db.prepare('ROLLBACK TO step'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
    };
  }

  run<T>(step: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ step, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // Measured per batch, not per step: two clock reads for the whole batch.
        if (this.#stats) this.#queuedAt = performance.now();
        // setImmediate runs after the I/O callbacks of this loop turn: every request whose bytes
        // arrived together joins the same batch.
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      this.#commit(batch);
    }
  }

  /** The committed batch's size and wait, for the metrics (docs/operations.md). */
  #record(size: number): void {
    const stats = this.#stats;
    if (!stats) return;
    const wait = (performance.now() - this.#queuedAt) / 1000;
    stats[COMMIT_STATS.batches] = (stats[COMMIT_STATS.batches] ?? 0) + 1;
    stats[COMMIT_STATS.writes] = (stats[COMMIT_STATS.writes] ?? 0) + size;
    stats[COMMIT_STATS.waitSeconds] = (stats[COMMIT_STATS.waitSeconds] ?? 0) + wait;
    if (size > (stats[COMMIT_STATS.maxBatch] ?? 0)) stats[COMMIT_STATS.maxBatch] = size;
    if (wait > (stats[COMMIT_STATS.maxWaitSeconds] ?? 0)) stats[COMMIT_STATS.maxWaitSeconds] = wait;
  }

  /** Steps queued for the next batch. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * Runs the batch without a savepoint per step first: a SAVEPOINT and a RELEASE around every step
   * cost about as much as a small step itself (the writer's CPU per refresh fell 110 → 99 µs
   * without them), and a step that throws is rare (refusals are return values; a throw is a fault
   * or a broken invariant). If one does throw, its partial writes sit in the transaction with the
   * others': the transaction is rolled back and the batch runs again, each step in its own
   * savepoint. Running a step twice is safe: a step is a function of the database and its
   * arguments alone, and the first run's writes are gone.
   */
  #commit(batch: PendingWrite[]): void {
    let outcome = this.#transaction(batch, false);
    if (outcome === 'again') outcome = this.#transaction(batch, true);
    // (A run with savepoints never asks for another.)
    if (outcome === 'rejected' || outcome === 'again') return;
    this.#record(batch.length);
    batch.forEach((pending, i) => {
      const result = outcome[i];
      if (result?.ok) pending.resolve(result.value);
      else pending.reject(result?.value);
    });
  }

  /**
   * One transaction over the batch. With `savepoints`, a failing step rolls back alone and the
   * others commit; without, a failing step rolls everything back and 'again' is returned. On a
   * failure of the transaction itself every caller is rejected here ('rejected').
   */
  #transaction(batch: PendingWrite[], savepoints: boolean): StepOutcome[] | 'again' | 'rejected' {
    const sql = this.#sql;
    const rejectAll = (error: unknown) => {
      for (const pending of batch) pending.reject(error);
      return 'rejected' as const;
    };
    try {
      sql.begin.run();
    } catch (error) {
      return rejectAll(error);
    }
    const results: StepOutcome[] = [];
    try {
      for (const pending of batch) {
        if (!savepoints) {
          results.push({ ok: true, value: pending.step() });
          continue;
        }
        sql.savepoint.run();
        try {
          results.push({ ok: true, value: pending.step() });
          sql.release.run();
        } catch (error) {
          sql.rollbackTo.run();
          sql.release.run();
          results.push({ ok: false, value: error });
        }
      }
    } catch (error) {
      // Without savepoints: a step threw. With them: the savepoint statements themselves failed.
      try {
        if (this.#db.inTransaction) sql.rollback.run();
      } catch (rollbackError) {
        // The connection could not even roll back: no step can be trusted to run on it now.
        return rejectAll(rollbackError);
      }
      return savepoints ? rejectAll(error) : 'again';
    }
    try {
      sql.commit.run();
    } catch (error) {
      // The COMMIT (or the journal) failed: nothing of this batch is on disk; every caller hears it.
      if (this.#db.inTransaction) sql.rollback.run();
      return rejectAll(error);
    }
    return results;
  }
}
