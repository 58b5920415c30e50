/**
 * PostgreSQL {@link TokenStore} on `pg` (^8). Every method is one statement (or one transaction),
 * so it is atomic across any number of processes and hosts; the clock is the database's
 * (`clock_timestamp()`). `claimDue` uses `FOR UPDATE SKIP LOCKED`, so several schedulers split the
 * due sellers between them instead of fighting over them. The driver is loaded on first use.
 *
 * @module
 */

import type { Pool, PoolConfig } from 'pg';
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
import { checkPrefix, type JournalRow, rowToJournal, rowToToken, type TokenRow } from './sql-rows.ts';

/** Options of {@link PostgresTokenStore}. */
export interface PostgresTokenStoreOptions {
  /** `postgres://user@host:port/db`. Ignored when `pool` is given. */
  connectionString?: string;
  /** An existing `pg` pool (not closed by {@link PostgresTokenStore.close}). */
  pool?: Pool;
  /** Extra pool settings (`max`, SSL, …). */
  poolConfig?: PoolConfig;
  /** Schema of the tables (created if missing). Default `public`. */
  schema?: string;
  /** Prefix of the table names. Default `renova_`. */
  tablePrefix?: string;
}

const NOW = '(extract(epoch from clock_timestamp()) * 1000)::bigint';
const COLS = `user_id, access_token, refresh_token, token_type, scope, public_key, live_mode, expires_at, refresh_at,
  version, status, reason, updated_at`;

function values(t: TokenData): unknown[] {
  return [
    t.userId,
    t.accessToken,
    t.refreshToken,
    t.tokenType,
    t.scope,
    t.publicKey,
    t.liveMode,
    Math.round(t.expiresAt),
    t.refreshAt === null ? null : Math.round(t.refreshAt),
  ];
}

/** A {@link TokenStore} in PostgreSQL. */
export class PostgresTokenStore implements TokenStore {
  readonly #options: PostgresTokenStoreOptions;
  readonly #t: string;
  readonly #j: string;
  readonly #schema: string;
  readonly #prefix: string;
  #ready: Promise<Pool> | undefined;
  #ownsPool = false;

  /** @param options - connection and table names */
  constructor(options: PostgresTokenStoreOptions) {
    if (options.pool === undefined && options.connectionString === undefined) {
      throw new TypeError('PostgresTokenStore needs a connectionString or a pool');
    }
    this.#options = options;
    this.#schema = checkPrefix(options.schema ?? 'public');
    this.#prefix = checkPrefix(options.tablePrefix ?? 'renova_');
    this.#t = `"${this.#schema}"."${this.#prefix}tokens"`;
    this.#j = `"${this.#schema}"."${this.#prefix}journal"`;
  }

  #open(): Promise<Pool> {
    this.#ready ??= (async () => {
      let pool = this.#options.pool;
      if (pool === undefined) {
        const pg = await loadDriver('PostgresTokenStore', 'pg', '^8', () => import('pg'));
        pool = new pg.default.Pool({
          connectionString: this.#options.connectionString,
          ...this.#options.poolConfig,
        });
        this.#ownsPool = true;
      }
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`renova-client:${this.#schema}`]);
        await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.#schema}"`);
        await client.query(`
          CREATE TABLE IF NOT EXISTS ${this.#t} (
            user_id bigint PRIMARY KEY, access_token text NOT NULL, refresh_token text, token_type text NOT NULL,
            scope text NOT NULL, public_key text, live_mode boolean NOT NULL, expires_at bigint NOT NULL,
            refresh_at bigint, version bigint NOT NULL, status text NOT NULL, reason text,
            updated_at bigint NOT NULL, lease_owner text, lease_until bigint)`);
        await client.query(`CREATE INDEX IF NOT EXISTS "${this.#prefix}tokens_due" ON ${this.#t} (refresh_at)
          WHERE status = 'active' AND refresh_at IS NOT NULL`);
        await client.query(`
          CREATE TABLE IF NOT EXISTS ${this.#j} (
            id text PRIMARY KEY, user_id bigint NOT NULL, from_version bigint NOT NULL, token text NOT NULL,
            received_at bigint NOT NULL)`);
        await client.query(
          `CREATE INDEX IF NOT EXISTS "${this.#prefix}journal_user" ON ${this.#j} (user_id)`,
        );
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
      return pool;
    })();
    this.#ready.catch(() => {
      this.#ready = undefined;
    });
    return this.#ready;
  }

  async #query<R extends object>(what: string, sql: string, args: unknown[] = []): Promise<R[]> {
    let pool: Pool;
    try {
      pool = await this.#open();
    } catch (error) {
      // A missing driver already says what to install.
      if (error instanceof StoreError) throw error;
      throw new StoreError(`PostgreSQL connect failed: ${(error as Error).message}`, error);
    }
    try {
      return (await pool.query<R>(sql, args)).rows;
    } catch (error) {
      throw new StoreError(`PostgreSQL ${what} failed: ${(error as Error).message}`, error);
    }
  }

  /** {@inheritDoc TokenStore.get} */
  async get(userId: number): Promise<StoredToken | null> {
    const rows = await this.#query<TokenRow>('get', `SELECT * FROM ${this.#t} WHERE user_id = $1`, [userId]);
    return rows[0] === undefined ? null : rowToToken(rows[0]);
  }

  /** {@inheritDoc TokenStore.getMany} (one statement) */
  async getMany(userIds: readonly number[]): Promise<(StoredToken | null)[]> {
    if (userIds.length === 0) return [];
    const rows = await this.#query<TokenRow>(
      'get',
      `SELECT * FROM ${this.#t} WHERE user_id = ANY($1::bigint[])`,
      [[...userIds]],
    );
    const byUser = new Map(rows.map((row) => [Number(row.user_id), row]));
    return userIds.map((userId) => {
      const row = byUser.get(userId);
      return row === undefined ? null : rowToToken(row);
    });
  }

  /** {@inheritDoc TokenStore.put} */
  async put(token: TokenData): Promise<StoredToken> {
    const rows = await this.#query<TokenRow>(
      'put',
      `INSERT INTO ${this.#t} AS t (${COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, 'active', NULL, $10)
       ON CONFLICT (user_id) DO UPDATE SET access_token = excluded.access_token, refresh_token = excluded.refresh_token,
         token_type = excluded.token_type, scope = excluded.scope, public_key = excluded.public_key,
         live_mode = excluded.live_mode, expires_at = excluded.expires_at, refresh_at = excluded.refresh_at,
         version = t.version + 1, status = 'active', reason = NULL, updated_at = excluded.updated_at
       RETURNING *`,
      [...values(token), Date.now()],
    );
    return rowToToken(rows[0] as TokenRow);
  }

  /** {@inheritDoc TokenStore.compareAndSwap} */
  async compareAndSwap(
    userId: number,
    expectedVersion: number,
    next: TokenData,
    journalId?: string,
  ): Promise<StoredToken | null> {
    const rows = await this.#query<TokenRow>(
      'compare-and-swap',
      `WITH u AS (
         UPDATE ${this.#t} SET access_token = $2, refresh_token = $3, token_type = $4, scope = $5, public_key = $6,
           live_mode = $7, expires_at = $8, refresh_at = $9, version = version + 1, status = 'active', reason = NULL,
           updated_at = $10
         WHERE user_id = $1 AND version = $11 RETURNING *),
       d AS (DELETE FROM ${this.#j} WHERE id = $12 AND EXISTS (SELECT 1 FROM u))
       SELECT * FROM u`,
      [...values({ ...next, userId }), Date.now(), expectedVersion, journalId ?? null],
    );
    return rows[0] === undefined ? null : rowToToken(rows[0]);
  }

  /**
   * {@inheritDoc TokenStore.compareAndSwapMany}
   *
   * One statement for the whole batch: the items travel as parallel arrays (`unnest`), the UPDATE
   * swaps every row whose version still matches and releases the lease on it, and two more
   * data-modifying CTEs delete the swapped rows' journal entries and release the leases of the
   * rows that did not swap (disjoint rows, so the CTEs never touch one row twice).
   */
  async compareAndSwapMany(requests: readonly CompareAndSwapRequest[]): Promise<(StoredToken | null)[]> {
    assertDistinctSellers(requests);
    if (requests.length === 0) return [];
    const col = <T>(f: (r: CompareAndSwapRequest) => T): T[] => requests.map(f);
    const rows = await this.#query<TokenRow & { journal_id: string | null }>(
      'compare-and-swap',
      `WITH v AS (
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
           $8::boolean[], $9::bigint[], $10::bigint[], $11::text[], $12::text[])
           AS v(user_id, expected, access_token, refresh_token, token_type, scope, public_key, live_mode, expires_at,
             refresh_at, journal_id, lease_owner)),
       u AS (
         UPDATE ${this.#t} AS t SET access_token = v.access_token, refresh_token = v.refresh_token,
           token_type = v.token_type, scope = v.scope, public_key = v.public_key, live_mode = v.live_mode,
           expires_at = v.expires_at, refresh_at = v.refresh_at, version = t.version + 1, status = 'active',
           reason = NULL, updated_at = $13,
           lease_owner = CASE WHEN t.lease_owner = v.lease_owner THEN NULL ELSE t.lease_owner END,
           lease_until = CASE WHEN t.lease_owner = v.lease_owner THEN NULL ELSE t.lease_until END
         FROM v WHERE t.user_id = v.user_id AND t.version = v.expected
         RETURNING t.*, v.journal_id),
       d AS (DELETE FROM ${this.#j} WHERE id IN (SELECT journal_id FROM u WHERE journal_id IS NOT NULL)),
       r AS (
         UPDATE ${this.#t} AS t SET lease_owner = NULL, lease_until = NULL FROM v
         WHERE t.user_id = v.user_id AND t.lease_owner = v.lease_owner AND t.version <> v.expected)
       SELECT * FROM u`,
      [
        col((r) => r.userId),
        col((r) => r.expectedVersion),
        col((r) => r.next.accessToken),
        col((r) => r.next.refreshToken),
        col((r) => r.next.tokenType),
        col((r) => r.next.scope),
        col((r) => r.next.publicKey),
        col((r) => r.next.liveMode),
        col((r) => Math.round(r.next.expiresAt)),
        col((r) => (r.next.refreshAt === null ? null : Math.round(r.next.refreshAt))),
        col((r) => r.journalId ?? null),
        col((r) => r.releaseLeaseOf ?? null),
        Date.now(),
      ],
    );
    const byUser = new Map(rows.map((row) => [Number(row.user_id), rowToToken(row)]));
    return requests.map((r) => byUser.get(r.userId) ?? null);
  }

  /** {@inheritDoc TokenStore.markReauthorizationRequired} */
  async markReauthorizationRequired(
    userId: number,
    expectedVersion: number,
    reason: string,
  ): Promise<boolean> {
    const rows = await this.#query<{ user_id: string }>(
      'mark',
      `UPDATE ${this.#t} SET status = 'reauthorization_required', reason = $3, refresh_at = NULL,
         version = version + 1, updated_at = $4 WHERE user_id = $1 AND version = $2 RETURNING user_id`,
      [userId, expectedVersion, reason, Date.now()],
    );
    return rows.length === 1;
  }

  /** {@inheritDoc TokenStore.acquireLease} */
  async acquireLease(userId: number, owner: string, ttlMs: number): Promise<boolean> {
    const rows = await this.#query<{ user_id: string }>(
      'lease',
      `UPDATE ${this.#t} SET lease_owner = $2, lease_until = ${NOW} + $3
       WHERE user_id = $1 AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until <= ${NOW}) RETURNING user_id`,
      [userId, owner, Math.ceil(ttlMs)],
    );
    return rows.length === 1;
  }

  /** {@inheritDoc TokenStore.releaseLease} */
  async releaseLease(userId: number, owner: string): Promise<void> {
    await this.#query(
      'release',
      `UPDATE ${this.#t} SET lease_owner = NULL, lease_until = NULL WHERE user_id = $1 AND lease_owner = $2`,
      [userId, owner],
    );
  }

  /** {@inheritDoc TokenStore.releaseLeases} */
  async releaseLeases(owner: string, userIds: readonly number[]): Promise<void> {
    if (userIds.length === 0) return;
    await this.#query(
      'release',
      `UPDATE ${this.#t} SET lease_owner = NULL, lease_until = NULL
       WHERE user_id = ANY($1::bigint[]) AND lease_owner = $2`,
      [[...userIds], owner],
    );
  }

  /** {@inheritDoc TokenStore.claimDue} */
  async claimDue(owner: string, limit: number, ttlMs: number): Promise<StoredToken[]> {
    const rows = await this.#query<TokenRow>(
      'claim',
      `UPDATE ${this.#t} SET lease_owner = $1, lease_until = ${NOW} + $3
       WHERE user_id IN (
         SELECT user_id FROM ${this.#t}
         WHERE status = 'active' AND refresh_at IS NOT NULL AND refresh_at <= ${NOW}
           AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until <= ${NOW})
         ORDER BY refresh_at LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [owner, Math.max(0, Math.floor(limit)), Math.ceil(ttlMs)],
    );
    return rows.map(rowToToken).sort((a, b) => (a.refreshAt ?? 0) - (b.refreshAt ?? 0));
  }

  /** {@inheritDoc TokenStore.journalAppend} */
  async journalAppend(entry: JournalEntry): Promise<void> {
    await this.#query(
      'journal append',
      `INSERT INTO ${this.#j} (id, user_id, from_version, token, received_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET token = excluded.token`,
      [entry.id, entry.userId, entry.fromVersion, JSON.stringify(entry.token), entry.receivedAt],
    );
  }

  /** {@inheritDoc TokenStore.journalAppendMany} */
  async journalAppendMany(entries: readonly JournalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.#query(
      'journal append',
      `INSERT INTO ${this.#j} (id, user_id, from_version, token, received_at)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[])
       ON CONFLICT (id) DO UPDATE SET token = excluded.token`,
      [
        entries.map((e) => e.id),
        entries.map((e) => e.userId),
        entries.map((e) => e.fromVersion),
        entries.map((e) => JSON.stringify(e.token)),
        entries.map((e) => e.receivedAt),
      ],
    );
  }

  /** {@inheritDoc TokenStore.journalListMany} */
  async journalListMany(userIds: readonly number[]): Promise<JournalEntry[]> {
    if (userIds.length === 0) return [];
    const rows = await this.#query<JournalRow>(
      'journal list',
      `SELECT * FROM ${this.#j} WHERE user_id = ANY($1::bigint[]) ORDER BY received_at`,
      [[...userIds]],
    );
    return rows.map(rowToJournal);
  }

  /** {@inheritDoc TokenStore.journalList} */
  async journalList(userId?: number): Promise<JournalEntry[]> {
    const rows =
      userId === undefined
        ? await this.#query<JournalRow>('journal list', `SELECT * FROM ${this.#j} ORDER BY received_at`)
        : await this.#query<JournalRow>(
            'journal list',
            `SELECT * FROM ${this.#j} WHERE user_id = $1 ORDER BY received_at`,
            [userId],
          );
    return rows.map(rowToJournal);
  }

  /** {@inheritDoc TokenStore.journalDelete} */
  async journalDelete(id: string): Promise<void> {
    await this.#query('journal delete', `DELETE FROM ${this.#j} WHERE id = $1`, [id]);
  }

  /** {@inheritDoc TokenStore.scanTokens} */
  async scanTokens(cursor: string | null, limit: number): Promise<TokenPage> {
    const size = Math.max(1, Math.floor(limit));
    // Keyset paging on the primary key: each page is an index range scan, never an OFFSET.
    const rows = await this.#query<TokenRow>(
      'scan',
      `SELECT * FROM ${this.#t} WHERE user_id > $1 ORDER BY user_id LIMIT $2`,
      [cursor === null ? Number.MIN_SAFE_INTEGER : Number(cursor), size],
    );
    const last = rows.at(-1);
    return {
      tokens: rows.map(rowToToken),
      cursor: rows.length === size && last !== undefined ? String(last.user_id) : null,
    };
  }

  /** {@inheritDoc TokenStore.rewriteTokens} */
  async rewriteTokens(
    userId: number,
    expectedVersion: number,
    accessToken: string,
    refreshToken: string | null,
  ): Promise<boolean> {
    const rows = await this.#query<{ user_id: string }>(
      'rewrite',
      `UPDATE ${this.#t} SET access_token = $3, refresh_token = $4 WHERE user_id = $1 AND version = $2
       RETURNING user_id`,
      [userId, expectedVersion, accessToken, refreshToken],
    );
    return rows.length === 1;
  }

  /** {@inheritDoc TokenStore.delete} */
  async delete(userId: number): Promise<void> {
    await this.#query(
      'delete',
      `WITH a AS (DELETE FROM ${this.#j} WHERE user_id = $1) DELETE FROM ${this.#t} WHERE user_id = $1`,
      [userId],
    );
  }

  /** {@inheritDoc TokenStore.now} */
  async now(): Promise<number> {
    const rows = await this.#query<{ now: string }>('now', `SELECT ${NOW} AS now`);
    return Number(rows[0]?.now);
  }

  /** {@inheritDoc TokenStore.close} */
  async close(): Promise<void> {
    const ready = this.#ready;
    this.#ready = undefined;
    if (ready === undefined) return;
    const pool = await ready.catch(() => undefined);
    if (pool !== undefined && this.#ownsPool) await pool.end();
  }
}
