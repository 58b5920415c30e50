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
import type { JournalEntry, StoredToken, TokenData, TokenPage, TokenStore } from '../store.ts';
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
