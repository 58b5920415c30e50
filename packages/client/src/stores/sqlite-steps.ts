/**
 * The SQLite store's schema, statements and write steps, shared by the calling thread (reads, and
 * writes when the store runs without a writer thread) and the writer thread (`sqlite-worker.ts`).
 * A step runs inside a transaction its caller opened; it never opens one itself, so the writer
 * thread can run many callers' steps in one transaction (group commit) and the inline mode one
 * step per transaction.
 *
 * @module
 */

import type BetterSqlite3 from 'better-sqlite3';
import type { CompareAndSwapRequest, JournalEntry, StoredToken, TokenData } from '../store.ts';
import { type JournalRow, rowToToken, type TokenRow } from './sql-rows.ts';

/** The store clock: SQLite's, in ms since the epoch. */
const NOW = "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

/** Sets the connection up: lock wait, WAL and `synchronous=FULL` (a committed write is on disk). */
export function configure(db: BetterSqlite3.Database, busyTimeoutMs: number): void {
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
}

/** Creates the tables and indexes if missing (prefix already checked by `checkPrefix`). */
export function createSchema(db: BetterSqlite3.Database, p: string): void {
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
}

type Statement<P extends unknown[] = unknown[], R = unknown> = BetterSqlite3.Statement<P, R>;

/** Prepared statements of one connection (spelled out: declaration files must name them). */
export interface Statements {
  get: Statement<[number], TokenRow>;
  put: Statement;
  cas: Statement;
  mark: Statement;
  lease: Statement;
  release: Statement;
  claim: Statement<[string, number, string, number], TokenRow>;
  jAppend: Statement;
  jListAll: Statement<[], JournalRow>;
  jListUser: Statement<[number], JournalRow>;
  jListUsers: Statement<[string], JournalRow>;
  jDelete: Statement;
  jDeleteUser: Statement;
  del: Statement;
  scan: Statement<[number, number], TokenRow>;
  rewrite: Statement<[string, string | null, number, number]>;
  now: Statement<[], { now: number }>;
}

/** Prepares every statement of the store on `db`. */
export function prepareStatements(db: BetterSqlite3.Database, p: string): Statements {
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
         version = ${t}.version + 1, status = 'active', reason = NULL, updated_at = excluded.updated_at
       RETURNING *`,
    ),
    cas: db.prepare(
      `UPDATE ${t} SET access_token = @accessToken, refresh_token = @refreshToken, token_type = @tokenType,
         scope = @scope, public_key = @publicKey, live_mode = @liveMode, expires_at = @expiresAt,
         refresh_at = @refreshAt, version = version + 1, status = 'active', reason = NULL, updated_at = @now
       WHERE user_id = @userId AND version = @expectedVersion
       RETURNING *`,
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
    // One statement leases the whole batch: the subquery picks the due rows, earliest first.
    claim: db.prepare<[string, number, string, number], TokenRow>(
      `UPDATE ${t} SET lease_owner = ?, lease_until = ${NOW} + ?
       WHERE user_id IN (
         SELECT user_id FROM ${t} WHERE status = 'active' AND refresh_at IS NOT NULL AND refresh_at <= ${NOW}
           AND (lease_owner IS NULL OR lease_owner = ? OR lease_until <= ${NOW})
         ORDER BY refresh_at LIMIT ?)
       RETURNING *`,
    ),
    jAppend: db.prepare(
      `INSERT OR REPLACE INTO ${j} (id, user_id, from_version, token, received_at) VALUES (?, ?, ?, ?, ?)`,
    ),
    jListAll: db.prepare<[], JournalRow>(`SELECT * FROM ${j} ORDER BY received_at`),
    jListUser: db.prepare<[number], JournalRow>(`SELECT * FROM ${j} WHERE user_id = ? ORDER BY received_at`),
    // json_each turns one JSON array parameter into a set, so any number of sellers is one statement.
    jListUsers: db.prepare<[string], JournalRow>(
      `SELECT * FROM ${j} WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY received_at`,
    ),
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

function swap(s: Statements, r: CompareAndSwapRequest, now: number): StoredToken | null {
  const row = s.cas.get({
    ...params({ ...r.next, userId: r.userId }, now),
    expectedVersion: r.expectedVersion,
  }) as TokenRow | undefined;
  if (row !== undefined && r.journalId !== undefined) s.jDelete.run(r.journalId);
  if (r.releaseLeaseOf !== undefined) s.release.run(r.userId, r.releaseLeaseOf);
  return row === undefined ? null : rowToToken(row);
}

/**
 * The write steps, by name. Each runs inside its caller's transaction and returns plain data (it
 * crosses the thread boundary as a structured clone).
 */
export const writeSteps = {
  put: (s: Statements, a: { token: TokenData; now: number }): StoredToken =>
    rowToToken(s.put.get(params(a.token, a.now)) as TokenRow),
  compareAndSwap: (s: Statements, a: { request: CompareAndSwapRequest; now: number }): StoredToken | null =>
    swap(s, a.request, a.now),
  compareAndSwapMany: (
    s: Statements,
    a: { requests: CompareAndSwapRequest[]; now: number },
  ): (StoredToken | null)[] => a.requests.map((r) => swap(s, r, a.now)),
  mark: (
    s: Statements,
    a: { userId: number; expectedVersion: number; reason: string; now: number },
  ): boolean => s.mark.run(a.reason, a.now, a.userId, a.expectedVersion).changes === 1,
  lease: (s: Statements, a: { userId: number; owner: string; ttl: number }): boolean =>
    s.lease.run(a).changes === 1,
  release: (s: Statements, a: { userId: number; owner: string }): null => {
    s.release.run(a.userId, a.owner);
    return null;
  },
  releaseMany: (s: Statements, a: { userIds: number[]; owner: string }): null => {
    for (const userId of a.userIds) s.release.run(userId, a.owner);
    return null;
  },
  claim: (s: Statements, a: { owner: string; limit: number; ttl: number }): StoredToken[] =>
    s.claim
      .all(a.owner, a.ttl, a.owner, a.limit)
      .map(rowToToken)
      .sort((x, y) => (x.refreshAt ?? 0) - (y.refreshAt ?? 0)),
  journalAppend: (s: Statements, a: { entries: JournalEntry[] }): null => {
    for (const e of a.entries)
      s.jAppend.run(e.id, e.userId, e.fromVersion, JSON.stringify(e.token), e.receivedAt);
    return null;
  },
  journalDelete: (s: Statements, a: { id: string }): null => {
    s.jDelete.run(a.id);
    return null;
  },
  delete: (s: Statements, a: { userId: number }): null => {
    s.del.run(a.userId);
    s.jDeleteUser.run(a.userId);
    return null;
  },
  rewrite: (
    s: Statements,
    a: { userId: number; expectedVersion: number; accessToken: string; refreshToken: string | null },
  ): boolean => s.rewrite.run(a.accessToken, a.refreshToken, a.userId, a.expectedVersion).changes === 1,
  /** Nothing: proves the thread is up and the file writable (BEGIN IMMEDIATE took the write lock). */
  probe: (_s: Statements, _a: null): null => null,
};

/** The name of a write step. */
export type WriteStepName = keyof typeof writeSteps;
/** The arguments of a write step. */
export type StepArgs<K extends WriteStepName> = Parameters<(typeof writeSteps)[K]>[1];
/** The result of a write step. */
export type StepResult<K extends WriteStepName> = ReturnType<(typeof writeSteps)[K]>;

/** One message item from the store to its writer thread. */
export interface WriterRequest {
  /** Correlates the reply. */
  id: number;
  /** The step. */
  name: WriteStepName;
  /** Its arguments. */
  args: unknown;
}

/** One reply item from the writer thread. */
export interface WriterReply {
  /** The request's id. */
  id: number;
  /** Whether the step committed. */
  ok: boolean;
  /** The step's result. */
  value?: unknown;
  /** Why it failed. */
  error?: { message: string; code?: string };
}

/** Data the writer thread is started with. */
export interface WriterData {
  /** Database file. */
  path: string;
  /** Checked table prefix. */
  prefix: string;
  /** Lock wait in ms. */
  busyTimeoutMs: number;
}

/**
 * Group commit: runs many steps in ONE `BEGIN IMMEDIATE … COMMIT` (one fsync for all of them with
 * `synchronous=FULL`), each inside its own SAVEPOINT so that a failing step rolls back alone.
 * Results are returned only after the COMMIT: a step reported ok is on disk.
 */
export function commitGroup(
  db: BetterSqlite3.Database,
  s: Statements,
  batch: readonly WriterRequest[],
): WriterReply[] {
  const fail = (error: unknown): WriterReply[] =>
    batch.map((r) => ({ id: r.id, ok: false, error: describe(error) }));
  try {
    db.exec('BEGIN IMMEDIATE');
  } catch (error) {
    return fail(error);
  }
  const replies: WriterReply[] = [];
  try {
    for (const r of batch) {
      db.exec('SAVEPOINT step');
      try {
        const step = writeSteps[r.name] as (s: Statements, a: unknown) => unknown;
        replies.push({ id: r.id, ok: true, value: step(s, r.args) });
        db.exec('RELEASE step');
      } catch (error) {
        db.exec('ROLLBACK TO step');
        db.exec('RELEASE step');
        replies.push({ id: r.id, ok: false, error: describe(error) });
      }
    }
    db.exec('COMMIT');
  } catch (error) {
    // The COMMIT failed: nothing of this batch is on disk, every caller hears it.
    if (db.inTransaction) db.exec('ROLLBACK');
    return fail(error);
  }
  return replies;
}

function describe(error: unknown): { message: string; code?: string } {
  const e = error as { message?: unknown; code?: unknown };
  const out: { message: string; code?: string } = { message: String(e?.message ?? error) };
  if (typeof e?.code === 'string') out.code = e.code;
  return out;
}
