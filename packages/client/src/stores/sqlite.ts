/**
 * SQLite {@link TokenStore} on `better-sqlite3` (^12). WAL mode with `synchronous=FULL`: every
 * write is on disk when its promise resolves. Several processes on one machine may share the file;
 * SQLite's locking plus the conditional writes make the compare-and-swap and the lease safe. The
 * driver is loaded on first use, so importing this package never requires it.
 *
 * better-sqlite3 is synchronous: a write blocks its thread for the fsync of its COMMIT. By default
 * the writes therefore run in a worker thread that owns its own connection (`sqlite-worker.ts`), and
 * the writes that arrive while one commits are committed together (group commit: one fsync for the
 * batch). Reads (`get`, `journalList`, `now`) stay on the calling thread's connection: with WAL
 * they never wait for the writer and cost microseconds.
 *
 * @module
 */

import type BetterSqlite3 from 'better-sqlite3';
import { StoreError } from '../errors.ts';
import {
  assertDistinctSellers,
  type CompareAndSwapRequest,
  type JournalEntry,
  type StoredToken,
  type TokenData,
  type TokenPage,
  type TokenStore,
} from '../store.ts';
import { loadDriver } from './driver.ts';
import { checkPrefix, rowToJournal, rowToToken } from './sql-rows.ts';
import {
  configure,
  createSchema,
  prepareStatements,
  type Statements,
  type StepArgs,
  type StepResult,
  type WriteStepName,
  writeSteps,
} from './sqlite-steps.ts';
import { SqliteWriterThread } from './sqlite-writer.ts';

/** Options of {@link SqliteTokenStore}. */
export interface SqliteTokenStoreOptions {
  /** Database file (created if missing). */
  path: string;
  /** Prefix of the table names. Default `renova_`. */
  tablePrefix?: string;
  /** How long a writer waits for another process's lock, in ms. Default 10 000. */
  busyTimeoutMs?: number;
  /**
   * Write in a worker thread with group commit (default `true`). `false` writes on the calling
   * thread, one transaction per write: each write then blocks the event loop for its fsync
   * (about 1-2 ms on SSDs, far more on network disks), which caps throughput and delays everything
   * else the process does. Use `false` only where worker threads are not available.
   */
  writerThread?: boolean;
}

interface Opened {
  db: BetterSqlite3.Database;
  s: Statements;
  writer: SqliteWriterThread | undefined;
}

/** A {@link TokenStore} in a SQLite file. */
export class SqliteTokenStore implements TokenStore {
  readonly #options: SqliteTokenStoreOptions;
  readonly #prefix: string;
  readonly #busyTimeoutMs: number;
  #ready: Promise<Opened> | undefined;

  /** @param options - the file path and table prefix */
  constructor(options: SqliteTokenStoreOptions) {
    if (typeof options?.path !== 'string' || options.path === '') {
      throw new TypeError('SqliteTokenStore needs a path: new SqliteTokenStore({ path: "tokens.db" })');
    }
    this.#options = options;
    this.#prefix = checkPrefix(options.tablePrefix ?? 'renova_');
    this.#busyTimeoutMs = options.busyTimeoutMs ?? 10_000;
  }

  #open(): Promise<Opened> {
    this.#ready ??= (async () => {
      const { default: Database } = await loadDriver(
        'SqliteTokenStore',
        'better-sqlite3',
        '^12',
        () => import('better-sqlite3'),
      );
      const db = new Database(this.#options.path);
      try {
        configure(db, this.#busyTimeoutMs);
        createSchema(db, this.#prefix);
        const s = prepareStatements(db, this.#prefix);
        // An in-memory database is private to its connection: a writer thread would see another one.
        const threaded = this.#options.writerThread !== false && !db.memory;
        const writer = threaded
          ? new SqliteWriterThread({
              path: this.#options.path,
              prefix: this.#prefix,
              busyTimeoutMs: this.#busyTimeoutMs,
            })
          : undefined;
        return { db, s, writer };
      } catch (error) {
        db.close();
        throw error;
      }
    })();
    this.#ready.catch(() => {
      this.#ready = undefined;
    });
    return this.#ready;
  }

  async #opened(what: string): Promise<Opened> {
    try {
      return await this.#open();
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new StoreError(`SQLite ${what} failed: ${(error as Error).message}`, error);
    }
  }

  /** A read on the calling thread's connection. */
  async #read<T>(what: string, fn: (s: Statements) => T): Promise<T> {
    const { s } = await this.#opened(what);
    try {
      return fn(s);
    } catch (error) {
      throw new StoreError(`SQLite ${what} failed: ${(error as Error).message}`, error);
    }
  }

  /** A write step: in the writer thread (group-committed) or in its own transaction here. */
  async #write<K extends WriteStepName>(what: string, name: K, args: StepArgs<K>): Promise<StepResult<K>> {
    const { db, s, writer } = await this.#opened(what);
    try {
      if (writer !== undefined) return await writer.run(name, args);
      const step = writeSteps[name] as (s: Statements, a: StepArgs<K>) => StepResult<K>;
      return db.transaction(() => step(s, args)).immediate();
    } catch (error) {
      throw new StoreError(`SQLite ${what} failed: ${(error as Error).message}`, error);
    }
  }

  /** {@inheritDoc TokenStore.get} */
  get(userId: number): Promise<StoredToken | null> {
    return this.#read('get', (s) => {
      const row = s.get.get(userId);
      return row === undefined ? null : rowToToken(row);
    });
  }

  /** {@inheritDoc TokenStore.put} */
  put(token: TokenData): Promise<StoredToken> {
    return this.#write('put', 'put', { token, now: Date.now() });
  }

  /** {@inheritDoc TokenStore.compareAndSwap} */
  compareAndSwap(
    userId: number,
    expectedVersion: number,
    next: TokenData,
    journalId?: string,
  ): Promise<StoredToken | null> {
    const request: CompareAndSwapRequest = { userId, expectedVersion, next };
    if (journalId !== undefined) request.journalId = journalId;
    return this.#write('compare-and-swap', 'compareAndSwap', { request, now: Date.now() });
  }

  /** {@inheritDoc TokenStore.compareAndSwapMany} */
  async compareAndSwapMany(requests: readonly CompareAndSwapRequest[]): Promise<(StoredToken | null)[]> {
    assertDistinctSellers(requests);
    if (requests.length === 0) return [];
    return this.#write('compare-and-swap', 'compareAndSwapMany', {
      requests: [...requests],
      now: Date.now(),
    });
  }

  /** {@inheritDoc TokenStore.markReauthorizationRequired} */
  markReauthorizationRequired(userId: number, expectedVersion: number, reason: string): Promise<boolean> {
    return this.#write('mark', 'mark', { userId, expectedVersion, reason, now: Date.now() });
  }

  /** {@inheritDoc TokenStore.acquireLease} */
  acquireLease(userId: number, owner: string, ttlMs: number): Promise<boolean> {
    return this.#write('lease', 'lease', { userId, owner, ttl: Math.ceil(ttlMs) });
  }

  /** {@inheritDoc TokenStore.releaseLease} */
  async releaseLease(userId: number, owner: string): Promise<void> {
    await this.#write('release', 'release', { userId, owner });
  }

  /** {@inheritDoc TokenStore.releaseLeases} */
  async releaseLeases(owner: string, userIds: readonly number[]): Promise<void> {
    if (userIds.length === 0) return;
    await this.#write('release', 'releaseMany', { owner, userIds: [...userIds] });
  }

  /** {@inheritDoc TokenStore.claimDue} */
  claimDue(owner: string, limit: number, ttlMs: number): Promise<StoredToken[]> {
    return this.#write('claim', 'claim', {
      owner,
      limit: Math.max(0, Math.floor(limit)),
      ttl: Math.ceil(ttlMs),
    });
  }

  /** {@inheritDoc TokenStore.journalAppend} */
  async journalAppend(entry: JournalEntry): Promise<void> {
    await this.#write('journal append', 'journalAppend', { entries: [entry] });
  }

  /** {@inheritDoc TokenStore.journalAppendMany} */
  async journalAppendMany(entries: readonly JournalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.#write('journal append', 'journalAppend', { entries: [...entries] });
  }

  /** {@inheritDoc TokenStore.journalList} */
  journalList(userId?: number): Promise<JournalEntry[]> {
    return this.#read('journal list', (s) =>
      (userId === undefined ? s.jListAll.all() : s.jListUser.all(userId)).map(rowToJournal),
    );
  }

  /** {@inheritDoc TokenStore.journalListMany} */
  journalListMany(userIds: readonly number[]): Promise<JournalEntry[]> {
    if (userIds.length === 0) return Promise.resolve([]);
    return this.#read('journal list', (s) => s.jListUsers.all(JSON.stringify(userIds)).map(rowToJournal));
  }

  /** {@inheritDoc TokenStore.journalDelete} */
  async journalDelete(id: string): Promise<void> {
    await this.#write('journal delete', 'journalDelete', { id });
  }

  /** {@inheritDoc TokenStore.scanTokens} */
  scanTokens(cursor: string | null, limit: number): Promise<TokenPage> {
    const size = Math.max(1, Math.floor(limit));
    return this.#read('scan', (s) => {
      // user_id is the primary key: keyset paging on it is an index range scan, never an OFFSET.
      const rows = s.scan.all(cursor === null ? Number.MIN_SAFE_INTEGER : Number(cursor), size);
      const last = rows.at(-1);
      return {
        tokens: rows.map(rowToToken),
        cursor: rows.length === size && last !== undefined ? String(last.user_id) : null,
      };
    });
  }

  /** {@inheritDoc TokenStore.rewriteTokens} */
  rewriteTokens(
    userId: number,
    expectedVersion: number,
    accessToken: string,
    refreshToken: string | null,
  ): Promise<boolean> {
    return this.#write('rewrite', 'rewrite', { userId, expectedVersion, accessToken, refreshToken });
  }

  /** {@inheritDoc TokenStore.delete} */
  async delete(userId: number): Promise<void> {
    await this.#write('delete', 'delete', { userId });
  }

  /** {@inheritDoc TokenStore.now} */
  now(): Promise<number> {
    return this.#read('now', (s) => (s.now.get() as { now: number }).now);
  }

  /** {@inheritDoc TokenStore.close} */
  async close(): Promise<void> {
    const ready = this.#ready;
    this.#ready = undefined;
    if (ready === undefined) return;
    const opened = await ready.catch(() => undefined);
    if (opened === undefined) return;
    await opened.writer?.close();
    opened.db.close();
  }
}
