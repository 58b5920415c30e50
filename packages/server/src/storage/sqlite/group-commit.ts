import type Database from 'better-sqlite3';

/**
 * Group commit for better-sqlite3 (docs/design.md "Durable and fast on SQLite").
 *
 * With `synchronous=FULL` every COMMIT waits for an fsync of the WAL (~0.8 ms on these machines),
 * which would cap one-commit-per-request far below what the token endpoint can otherwise do. Writes
 * that arrive within one turn of the event loop are therefore run in ONE transaction, each inside its
 * own SAVEPOINT so that one failing step rolls back alone, and the batch is committed once. Only
 * after that COMMIT returns are the callers' promises settled: a resolved write is on disk.
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

export class GroupCommitter {
  readonly #db: Database.Database;
  readonly #maxBatch: number;
  readonly #sql: Record<
    'begin' | 'savepoint' | 'release' | 'rollbackTo' | 'commit' | 'rollback',
    Database.Statement
  >;
  #queue: PendingWrite[] = [];
  #scheduled = false;

  constructor(db: Database.Database, maxBatch = 512) {
    this.#db = db;
    this.#maxBatch = maxBatch;
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

  #commit(batch: PendingWrite[]): void {
    const db = this.#db;
    const sql = this.#sql;
    const results: { ok: boolean; value: unknown }[] = [];
    try {
      sql.begin.run();
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    try {
      for (const pending of batch) {
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
      sql.commit.run();
    } catch (error) {
      // The COMMIT (or the journal) failed: nothing of this batch is on disk; every caller hears it.
      if (db.inTransaction) sql.rollback.run();
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, i) => {
      const result = results[i];
      if (result?.ok) pending.resolve(result.value);
      else pending.reject(result?.value);
    });
  }
}
