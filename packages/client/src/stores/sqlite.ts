/**
 * SQLite {@link TokenStore} on `better-sqlite3` (^12). WAL mode with `synchronous=FULL`: every
 * write is on disk when its promise resolves. Several processes on one machine may share the file;
 * SQLite's locking plus the conditional writes make the compare-and-swap and the lease safe. The
 * driver is loaded on first use, so importing this package never requires it.
 *
 * @module
 */

import type BetterSqlite3 from 'better-sqlite3';
import { StoreError } from '../errors.ts';
import type { JournalEntry, StoredToken, TokenData, TokenPage, TokenStore } from '../store.ts';
import { loadDriver } from './driver.ts';
import { checkPrefix, type JournalRow, rowToJournal, rowToToken, type TokenRow } from './sql-rows.ts';

/** Options of {@link SqliteTokenStore}. */
export interface SqliteTokenStoreOptions {
  /** Database file (created if missing). */
  path: string;
  /** Prefix of the table names. Default `renova_`. */
  tablePrefix?: string;
  /** How long a writer waits for another process's lock, in ms. Default 10 000. */
  busyTimeoutMs?: number;
}

const NOW = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

type Statements = ReturnType<typeof prepare>;

function prepare(db: BetterSqlite3.Database, p: string) {
  const t = `${p}tokens`;
  const j = `${p}journal`;
  return {
    get: db.prepare<[number], TokenRow>(`SELECT * FROM ${t} WHERE user_id = ?`),
    put: db.prepare(
      `INSERT INTO ${t} (user_id, access_token, refresh_token, token_type, scope, public_key, live_mode, expires_at,
         refresh_at, version, status, reason, updated_at)
       VALUES (@userId, @accessToken, @refreshToken, @tokenType, @scope, @publicKey, @liveMode, @expiresAt,
         @refreshAt, 1, 'active', NULL, @now)
       ON CONFLICT(user_id) DO UPDATE SET access_token = excluded.access_token, refresh_token = excluded.refresh_token,
         token_type = excluded.token_type, scope = excluded.scope, public_key = excluded.public_key,
         live_mode = excluded.live_mode, expires_at = excluded.expires_at, refresh_at = excluded.refresh_at,
         version = ${t}.version + 1, status = 'active', reason = NULL, updated_at = excluded.updated_at`,
    ),
    cas: db.prepare(
      `UPDATE ${t} SET access_token = @accessToken, refresh_token = @refreshToken, token_type = @tokenType,
         scope = @scope, public_key = @publicKey, live_mode = @liveMode, expires_at = @expiresAt,
         refresh_at = @refreshAt, version = version + 1, status = 'active', reason = NULL, updated_at = @now
       WHERE user_id = @userId AND version = @expectedVersion`,
    ),
    mark: db.prepare(
      `UPDATE ${t} SET status = 'reauthorization_required', reason = ?, refresh_at = NULL, version = version + 1,
         updated_at = ? WHERE user_id = ? AND version = ?`,
    ),
    lease: db.prepare(
      `UPDATE ${t} SET lease_owner = @owner, lease_until = ${NOW} + @ttl
       WHERE user_id = @userId AND (lease_owner IS NULL OR lease_owner = @owner OR lease_until <= ${NOW})`,
    ),
    release: db.prepare(
      `UPDATE ${t} SET lease_owner = NULL, lease_until = NULL WHERE user_id = ? AND lease_owner = ?`,
    ),
    due: db.prepare<[string, number], TokenRow>(
      `SELECT * FROM ${t} WHERE status = 'active' AND refresh_at IS NOT NULL AND refresh_at <= ${NOW}
         AND (lease_owner IS NULL OR lease_owner = ? OR lease_until <= ${NOW})
       ORDER BY refresh_at LIMIT ?`,
    ),
    claim: db.prepare(`UPDATE ${t} SET lease_owner = ?, lease_until = ${NOW} + ? WHERE user_id = ?`),
    jAppend: db.prepare(
      `INSERT OR REPLACE INTO ${j} (id, user_id, from_version, token, received_at) VALUES (?, ?, ?, ?, ?)`,
    ),
    jListAll: db.prepare<[], JournalRow>(`SELECT * FROM ${j} ORDER BY received_at`),
    jListUser: db.prepare<[number], JournalRow>(`SELECT * FROM ${j} WHERE user_id = ? ORDER BY received_at`),
    jDelete: db.prepare(`DELETE FROM ${j} WHERE id = ?`),
    jDeleteUser: db.prepare(`DELETE FROM ${j} WHERE user_id = ?`),
    del: db.prepare(`DELETE FROM ${t} WHERE user_id = ?`),
    scan: db.prepare<[number, number], TokenRow>(
      `SELECT * FROM ${t} WHERE user_id > ? ORDER BY user_id LIMIT ?`,
    ),
    rewrite: db.prepare(
      `UPDATE ${t} SET access_token = ?, refresh_token = ? WHERE user_id = ? AND version = ?`,
    ),
    now: db.prepare<[], { now: number }>(`SELECT ${NOW} AS now`),
  };
}

function params(t: TokenData, now: number) {
  return {
    userId: t.userId,
    accessToken: t.accessToken,
    refreshToken: t.refreshToken,
    tokenType: t.tokenType,
    scope: t.scope,
    publicKey: t.publicKey,
    liveMode: t.liveMode ? 1 : 0,
    expiresAt: Math.round(t.expiresAt),
    refreshAt: t.refreshAt === null ? null : Math.round(t.refreshAt),
    now,
  };
}

/** A {@link TokenStore} in a SQLite file. */
export class SqliteTokenStore implements TokenStore {
  readonly #options: SqliteTokenStoreOptions;
  readonly #prefix: string;
  #ready: Promise<{ db: BetterSqlite3.Database; s: Statements }> | undefined;

  /** @param options - the file path and table prefix */
  constructor(options: SqliteTokenStoreOptions) {
    this.#options = options;
    this.#prefix = checkPrefix(options.tablePrefix ?? 'renova_');
  }

  #open(): Promise<{ db: BetterSqlite3.Database; s: Statements }> {
    this.#ready ??= (async () => {
      const { default: Database } = await loadDriver(
        'SqliteTokenStore',
        'better-sqlite3',
        '^12',
        () => import('better-sqlite3'),
      );
      const db = new Database(this.#options.path);
      db.pragma(`busy_timeout = ${this.#options.busyTimeoutMs ?? 10_000}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      const p = this.#prefix;
      db.exec(`
        CREATE TABLE IF NOT EXISTS ${p}tokens (
          user_id INTEGER PRIMARY KEY, access_token TEXT NOT NULL, refresh_token TEXT, token_type TEXT NOT NULL,
          scope TEXT NOT NULL, public_key TEXT, live_mode INTEGER NOT NULL, expires_at INTEGER NOT NULL,
          refresh_at INTEGER, version INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT,
          updated_at INTEGER NOT NULL, lease_owner TEXT, lease_until INTEGER);
        CREATE INDEX IF NOT EXISTS ${p}tokens_due ON ${p}tokens (refresh_at)
          WHERE status = 'active' AND refresh_at IS NOT NULL;
        CREATE TABLE IF NOT EXISTS ${p}journal (
          id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, from_version INTEGER NOT NULL, token TEXT NOT NULL,
          received_at INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS ${p}journal_user ON ${p}journal (user_id);
      `);
      return { db, s: prepare(db, p) };
    })();
    return this.#ready;
  }

  async #run<T>(what: string, fn: (db: BetterSqlite3.Database, s: Statements) => T): Promise<T> {
    const { db, s } = await this.#open();
    try {
      return fn(db, s);
    } catch (error) {
      throw new StoreError(`SQLite ${what} failed: ${(error as Error).message}`, error);
    }
  }

  /** {@inheritDoc TokenStore.get} */
  get(userId: number): Promise<StoredToken | null> {
    return this.#run('get', (_db, s) => {
      const row = s.get.get(userId);
      return row === undefined ? null : rowToToken(row);
    });
  }

  /** {@inheritDoc TokenStore.put} */
  put(token: TokenData): Promise<StoredToken> {
    return this.#run('put', (db, s) =>
      db
        .transaction(() => {
          s.put.run(params(token, Date.now()));
          return rowToToken(s.get.get(token.userId) as TokenRow);
        })
        .immediate(),
    );
  }

  /** {@inheritDoc TokenStore.compareAndSwap} */
  compareAndSwap(
    userId: number,
    expectedVersion: number,
    next: TokenData,
    journalId?: string,
  ): Promise<StoredToken | null> {
    return this.#run('compare-and-swap', (db, s) =>
      db
        .transaction(() => {
          const changed = s.cas.run({ ...params({ ...next, userId }, Date.now()), expectedVersion }).changes;
          if (changed !== 1) return null;
          if (journalId !== undefined) s.jDelete.run(journalId);
          return rowToToken(s.get.get(userId) as TokenRow);
        })
        .immediate(),
    );
  }

  /** {@inheritDoc TokenStore.markReauthorizationRequired} */
  markReauthorizationRequired(userId: number, expectedVersion: number, reason: string): Promise<boolean> {
    return this.#run(
      'mark',
      (_db, s) => s.mark.run(reason, Date.now(), userId, expectedVersion).changes === 1,
    );
  }

  /** {@inheritDoc TokenStore.acquireLease} */
  acquireLease(userId: number, owner: string, ttlMs: number): Promise<boolean> {
    return this.#run(
      'lease',
      (_db, s) => s.lease.run({ userId, owner, ttl: Math.ceil(ttlMs) }).changes === 1,
    );
  }

  /** {@inheritDoc TokenStore.releaseLease} */
  async releaseLease(userId: number, owner: string): Promise<void> {
    await this.#run('release', (_db, s) => s.release.run(userId, owner));
  }

  /** {@inheritDoc TokenStore.claimDue} */
  claimDue(owner: string, limit: number, ttlMs: number): Promise<StoredToken[]> {
    return this.#run('claim', (db, s) =>
      db
        .transaction(() => {
          const rows = s.due.all(owner, Math.max(0, Math.floor(limit)));
          for (const r of rows) s.claim.run(owner, Math.ceil(ttlMs), r.user_id);
          return rows.map(rowToToken);
        })
        .immediate(),
    );
  }

  /** {@inheritDoc TokenStore.journalAppend} */
  async journalAppend(entry: JournalEntry): Promise<void> {
    await this.#run('journal append', (_db, s) =>
      s.jAppend.run(entry.id, entry.userId, entry.fromVersion, JSON.stringify(entry.token), entry.receivedAt),
    );
  }

  /** {@inheritDoc TokenStore.journalList} */
  journalList(userId?: number): Promise<JournalEntry[]> {
    return this.#run('journal list', (_db, s) =>
      (userId === undefined ? s.jListAll.all() : s.jListUser.all(userId)).map(rowToJournal),
    );
  }

  /** {@inheritDoc TokenStore.journalDelete} */
  async journalDelete(id: string): Promise<void> {
    await this.#run('journal delete', (_db, s) => s.jDelete.run(id));
  }

  /** {@inheritDoc TokenStore.scanTokens} */
  scanTokens(cursor: string | null, limit: number): Promise<TokenPage> {
    const size = Math.max(1, Math.floor(limit));
    return this.#run('scan', (_db, s) => {
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
    return this.#run(
      'rewrite',
      (_db, s) => s.rewrite.run(accessToken, refreshToken, userId, expectedVersion).changes === 1,
    );
  }

  /** {@inheritDoc TokenStore.delete} */
  async delete(userId: number): Promise<void> {
    await this.#run('delete', (db, s) =>
      db.transaction(() => {
        s.del.run(userId);
        s.jDeleteUser.run(userId);
      })(),
    );
  }

  /** {@inheritDoc TokenStore.now} */
  now(): Promise<number> {
    return this.#run('now', (_db, s) => (s.now.get() as { now: number }).now);
  }

  /** {@inheritDoc TokenStore.close} */
  async close(): Promise<void> {
    if (this.#ready === undefined) return;
    const { db } = await this.#ready;
    db.close();
    this.#ready = undefined;
  }
}
