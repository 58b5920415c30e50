import pg from 'pg';
import { TemporarilyUnavailableError } from '../../core/errors.ts';
import type {
  AccessTokenRecord,
  ApplicationRecord,
  AuthorizationCodeRecord,
  ExchangeOutcome,
  GrantRecord,
  GrantType,
  NewAccessToken,
  NewApplication,
  NewAuthorizationCode,
  NewClientCredentialsToken,
  NewRefreshToken,
  NewSellerSession,
  NewUser,
  NewWebhookEvent,
  PurgeExpired,
  PurgeResult,
  RefreshTokenRecord,
  RotateOutcome,
  RotateRefreshToken,
  SellerGrantRecord,
  StoragePort,
  UserRecord,
  WebhookAttempt,
  WebhookEventRecord,
  WebhookStatus,
} from '../contract.ts';
import { ALL_GRANT_TYPES, type Row, toGrantTypes, toUser, toWebhookEvent } from '../rows.ts';
import { PG_MIGRATIONS } from './migrations.ts';

export interface PostgresStorageOptions {
  connectionString: string;
  /** Schema to work in (search_path); the default is the database's (`public`). Tests isolate with it. */
  schema?: string;
  /** Connections per instance (default: RENOVA_PG_POOL_MAX, then 16). */
  poolMax?: number;
  /** How long a request may wait for a free connection before it is answered 503 (ms). */
  connectionTimeoutMs?: number;
  /** Client-side bound on one statement, so a silent network cut cannot hang requests (ms). */
  queryTimeoutMs?: number;
  /** Attempts for a step that hit a serialization failure or deadlock (40001, 40P01). */
  maxAttempts?: number;
  /**
   * Where the one LISTEN connection goes (default: RENOVA_PG_LISTEN_URL, then `connectionString`).
   * Behind a transaction-mode PgBouncer LISTEN does not work: point this at PostgreSQL directly.
   */
  listenConnectionString?: string;
}

/** `pg` returns BIGINT as text; every BIGINT here (ids < 2^53, epoch ms) fits a JS number. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** Key of the advisory lock that serializes migrations across instances ("renova" in ASCII). */
const MIGRATION_LOCK = 0x72656e6f7661;

/**
 * The notification channel of client secret changes: `rotateClientSecret` notifies in its own
 * transaction (delivered on COMMIT, never for a rolled-back rotation), every instance listens.
 */
export const CLIENT_SECRETS_CHANNEL = 'renova_client_secrets';

/** How long the listening connection waits before it reconnects after losing the database. */
const WATCH_RECONNECT_MS = 1_000;

/** SQLSTATEs after which the same step may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']);

/**
 * SQLSTATE classes and codes that mean "the database is away or overloaded", not "the request is
 * wrong": 08 connection exception, 57P01-57P03 shutdown / cannot connect now, 53 insufficient
 * resources (too many connections, disk full), 57014 statement cancelled (our timeout).
 */
function unavailableSqlState(code: string): boolean {
  return (
    code.startsWith('08') ||
    code.startsWith('53') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    code === '57014' ||
    code === '58030'
  );
}

const NODE_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Errors `pg` raises without a SQLSTATE when the socket or the pool gives up. */
const PG_DRIVER_MESSAGES =
  /Connection terminated|connection error|timeout exceeded when trying to connect|Query read timeout|not queryable|Connection ended|Client was closed/i;

export function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && RETRYABLE.has(code);
}

/** True when the error says the connection (not the statement) failed. */
export function isConnectionFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NODE_NETWORK_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return unavailableSqlState(code);
  }
  return PG_DRIVER_MESSAGES.test(error.message);
}

/**
 * SQLSTATEs of a database that is up but cannot write now: 25006 read_only_sql_transaction (a
 * standby, a failover in progress, `default_transaction_read_only`), 55P03 lock_not_available.
 */
const CANNOT_WRITE_NOW = new Set(['25006', '55P03']);

function toUnavailable(error: unknown, detail: string): TemporarilyUnavailableError {
  return new TemporarilyUnavailableError('the token store is busy or unavailable; retry shortly', 1, {
    cause: error,
    detail,
  });
}

/**
 * The adapter's error classification: storage that is away, overloaded, read-only or contended
 * after retries becomes 503 `temporarily_unavailable` (CONTRACT §4.3); anything else propagates as
 * is (a bug, answered 500 and logged).
 */
export function toStorageError(error: unknown): unknown {
  if (error instanceof TemporarilyUnavailableError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const sqlState = typeof code === 'string' ? ` (SQLSTATE ${code})` : '';
  if (isRetryable(error)) return toUnavailable(error, `serialization retries exhausted${sqlState}`);
  if (typeof code === 'string' && CANNOT_WRITE_NOW.has(code))
    return toUnavailable(error, `the database cannot write now: ${(error as Error).message}${sqlState}`);
  if (isConnectionFailure(error)) return toUnavailable(error, `${(error as Error).message}${sqlState}`);
  return error;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Querier {
  query(config: pg.QueryConfig): Promise<pg.QueryResult<Row>>;
}

/** A named statement: `pg` prepares it once per connection and reuses the plan. */
const q = (name: string, text: string, values: unknown[]): pg.QueryConfig => ({ name, text, values });

const APPLICATION_COLUMNS = `a.*, (
  SELECT coalesce(json_agg(json_build_object('i', s.id, 'h', encode(s.secret_hash, 'hex'), 'c', s.created_at, 'e', s.expires_at) ORDER BY s.id), '[]')
  FROM client_secrets s WHERE s.client_id = a.client_id
) AS secrets`;

function toApplication(row: Row): ApplicationRecord {
  const secrets = row.secrets as { i: number; h: string; c: number; e: number | null }[];
  return {
    clientId: row.client_id as string,
    name: row.name as string,
    ownerUserId: row.owner_user_id as number,
    redirectUris: JSON.parse(row.redirect_uris as string) as string[],
    scope: row.scope as string,
    pkceRequired: row.pkce_required as boolean,
    notificationUrl: (row.notification_url as string | null) ?? null,
    grantTypes: toGrantTypes(row.grant_types),
    ownerPublicKey: row.owner_public_key as string,
    createdAt: row.created_at as number,
    webhookSecretSealed: row.webhook_secret_sealed as Buffer,
    secrets: secrets.map((s) => ({
      id: Number(s.i),
      hash: Buffer.from(s.h, 'hex'),
      createdAt: Number(s.c),
      expiresAt: s.e === null || s.e === undefined ? null : Number(s.e),
    })),
  };
}

const insertWebhookEvent = (event: NewWebhookEvent) =>
  q(
    'insert_webhook_event',
    `INSERT INTO webhook_events (client_id, user_id, action, url, created_at, next_attempt_at)
     VALUES ($1, $2, $3, $4, $5, $5)`,
    [event.clientId, event.userId, event.action, event.url, event.createdAt],
  );

/**
 * The PostgreSQL adapter: many Renova instances on one database behave as one. Every single-use
 * step is one conditional statement or one short READ COMMITTED transaction whose decisive write
 * checks its row count (`UPDATE … WHERE used_at IS NULL`, `… WHERE rotated_at IS NULL`), so the
 * guarantees rest on row locks, not on isolation levels (GUIDE.md, hydra#1719, CVE-2026-1035).
 * Serialization failures and deadlocks are retried a bounded number of times, then answered 503.
 */
export class PostgresStorage implements StoragePort {
  readonly pool: pg.Pool;
  readonly #maxAttempts: number;
  /** Counters for metrics and the benchmark's "where time goes". */
  readonly stats = { retries: 0, unavailable: 0 };
  /** The LISTEN connection's configuration. */
  readonly #connection: pg.ClientConfig;
  readonly #secretWatchers: ((clientId: string | null) => void)[] = [];
  #listener: pg.Client | undefined;
  #reconnect: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: PostgresStorageOptions) {
    if (options.schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(options.schema))
      throw new Error('schema must be a lower-case SQL identifier');
    const poolMax = options.poolMax ?? Number(process.env.RENOVA_PG_POOL_MAX || 16);
    this.#maxAttempts = options.maxAttempts ?? 4;
    const connection: pg.ClientConfig = {
      connectionString: options.connectionString,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 2_000,
      keepAlive: true,
      application_name: 'renova',
      types,
      ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
    };
    this.#connection = {
      ...connection,
      connectionString:
        options.listenConnectionString ?? (process.env.RENOVA_PG_LISTEN_URL || options.connectionString),
    };
    this.pool = new pg.Pool({
      ...connection,
      max: poolMax,
      query_timeout: options.queryTimeoutMs ?? 10_000,
      idleTimeoutMillis: 30_000,
    });

    // An idle connection that dies (database restart, network cut) emits 'error' on the pool; the
    // pool already discards it. Without a listener Node would treat it as fatal.
    this.pool.on('error', () => {});
  }

  /** One statement (atomic on its own), retried on serialization failures. */
  async #run(config: pg.QueryConfig): Promise<pg.QueryResult<Row>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.pool.query<Row>(config);
      } catch (error) {
        if (isRetryable(error) && attempt < this.#maxAttempts) {
          this.stats.retries += 1;
          await sleep(attempt * 2 + Math.random() * 5);
          continue;
        }
        const mapped = toStorageError(error);
        if (mapped instanceof TemporarilyUnavailableError) this.stats.unavailable += 1;
        throw mapped;
      }
    }
  }

  /**
   * One short transaction. `work` must not await anything but its own queries. A connection that
   * failed is destroyed, not returned to the pool; a rejected promise means nothing was committed
   * (an error on COMMIT itself is the one ambiguous case, see docs/postgres.md).
   */
  async #tx<T>(work: (db: Querier) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (error) {
        this.stats.unavailable += 1;
        throw toStorageError(error);
      }
      try {
        await client.query('BEGIN');
        const result = await work(client as Querier);
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (error) {
        let broken = isConnectionFailure(error);
        if (!broken) {
          try {
            await client.query('ROLLBACK');
          } catch {
            broken = true;
          }
        }
        client.release(broken ? (error as Error) : undefined);
        if (isRetryable(error) && attempt < this.#maxAttempts) {
          this.stats.retries += 1;
          await sleep(attempt * 2 + Math.random() * 5);
          continue;
        }
        const mapped = toStorageError(error);
        if (mapped instanceof TemporarilyUnavailableError) this.stats.unavailable += 1;
        throw mapped;
      }
    }
  }

  async migrate(): Promise<void> {
    await this.#tx(async (db) => {
      // Transaction-scoped: released at COMMIT/ROLLBACK, also if this instance dies midway. A second
      // instance starting at the same moment waits here, then finds every version applied.
      await db.query({ text: 'SELECT pg_advisory_xact_lock($1)', values: [MIGRATION_LOCK] });
      await db.query({
        text: 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
      });
      const applied = new Set(
        (await db.query({ text: 'SELECT version FROM schema_migrations' })).rows.map(
          (r) => r.version as number,
        ),
      );
      for (const migration of PG_MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        await db.query({ text: migration.sql });
        await db.query({
          text: 'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
          values: [migration.version, migration.name, Date.now()],
        });
      }
    });
  }

  /** Ready only while a write can succeed (CONTRACT §4.4): a read-only database is not. */
  async ping(): Promise<void> {
    const { rows } = await this.#run({
      text: "SELECT current_setting('transaction_read_only') AS read_only",
    });
    if (rows[0]?.read_only === 'on') {
      throw toUnavailable(
        undefined,
        'the database is read-only (standby, failover or default_transaction_read_only)',
      );
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#reconnect) clearTimeout(this.#reconnect);
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.end().catch(() => {});
    await this.pool.end();
  }

  watchClientSecrets(onChange: (clientId: string | null) => void): void {
    this.#secretWatchers.push(onChange);
    if (this.#secretWatchers.length === 1) void this.#listen();
  }

  #notifyWatchers(clientId: string | null): void {
    for (const watcher of this.#secretWatchers) watcher(clientId);
  }

  /**
   * One connection outside the pool, LISTENing on CLIENT_SECRETS_CHANNEL. When it is lost, changes
   * may be missed until it is back: the watchers hear `null` then and again once it listens anew, so
   * they drop what they cached in between. (Behind a transaction-pooling PgBouncer LISTEN does not
   * work: set RENOVA_PG_LISTEN_URL to PostgreSQL itself.)
   */
  async #listen(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client(this.#connection);
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      if (this.#listener === client) this.#listener = undefined;
      client.end().catch(() => {});
      if (this.#closed) return;
      this.#notifyWatchers(null);
      this.#reconnect = setTimeout(() => void this.#listen(), WATCH_RECONNECT_MS);
      this.#reconnect.unref();
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (message) => {
      if (message.channel === CLIENT_SECRETS_CHANNEL && message.payload)
        this.#notifyWatchers(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CLIENT_SECRETS_CHANNEL}`);
    } catch {
      onLost();
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#listener = client;
    // Whatever changed while nobody listened is forgotten now.
    this.#notifyWatchers(null);
  }

  async createUser(user: NewUser): Promise<UserRecord | null> {
    // A conditional insert: two concurrent sign-ups with one email leave one row and one null.
    const { rows } = await this.#run(
      q(
        'insert_user',
        `INSERT INTO users (email, nickname, site_id, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING RETURNING *`,
        [user.email, user.nickname, user.siteId, user.passwordHash, user.createdAt],
      ),
    );
    return rows[0] ? toUser(rows[0] as Row) : null;
  }

  async findUserById(id: number): Promise<UserRecord | null> {
    const { rows } = await this.#run(q('user_by_id', 'SELECT * FROM users WHERE id = $1', [id]));
    return rows[0] ? toUser(rows[0]) : null;
  }

  async findUserByEmail(email: string): Promise<UserRecord | null> {
    const { rows } = await this.#run(
      q('user_by_email', 'SELECT * FROM users WHERE lower(email) = lower($1)', [email]),
    );
    return rows[0] ? toUser(rows[0]) : null;
  }

  async updatePasswordHash(userId: number, previousHash: string, newHash: string): Promise<boolean> {
    // Conditional on the old hash: a concurrent password change wins over a rehash.
    const result = await this.#run(
      q('update_password_hash', 'UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3', [
        newHash,
        userId,
        previousHash,
      ]),
    );
    return result.rowCount === 1;
  }

  async createApplication(app: NewApplication): Promise<void> {
    // One statement: the application and its first secret exist together or not at all.
    await this.#run(
      q(
        'insert_application',
        `WITH a AS (
           INSERT INTO applications (client_id, name, owner_user_id, redirect_uris, scope, pkce_required,
             notification_url, webhook_secret_sealed, owner_public_key, created_at, grant_types)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12) RETURNING client_id)
         INSERT INTO client_secrets (client_id, secret_hash, created_at, expires_at)
         SELECT client_id, $11, $10, NULL FROM a`,
        [
          app.clientId,
          app.name,
          app.ownerUserId,
          JSON.stringify(app.redirectUris),
          app.scope,
          app.pkceRequired,
          app.notificationUrl,
          app.webhookSecretSealed,
          app.ownerPublicKey,
          app.createdAt,
          app.secretHash,
          (app.grantTypes ?? ALL_GRANT_TYPES).join(' '),
        ],
      ),
    );
  }

  async findApplication(clientId: string): Promise<ApplicationRecord | null> {
    const { rows } = await this.#run(
      q('application_by_id', `SELECT ${APPLICATION_COLUMNS} FROM applications a WHERE a.client_id = $1`, [
        clientId,
      ]),
    );
    return rows[0] ? toApplication(rows[0]) : null;
  }

  async listApplicationsByOwner(ownerUserId: number): Promise<ApplicationRecord[]> {
    const { rows } = await this.#run(
      q(
        'applications_by_owner',
        `SELECT ${APPLICATION_COLUMNS} FROM applications a WHERE a.owner_user_id = $1 ORDER BY a.created_at, a.client_id`,
        [ownerUserId],
      ),
    );
    return rows.map(toApplication);
  }

  rotateClientSecret(clientId: string, hash: Buffer, overlapUntil: number, now: number): Promise<boolean> {
    return this.#tx(async (db) => {
      // The application row lock serializes two rotations of one application.
      const app = await db.query(
        q('lock_application', 'SELECT 1 FROM applications WHERE client_id = $1 FOR UPDATE', [clientId]),
      );
      if (app.rowCount !== 1) return false;
      await db.query(
        q(
          'end_current_secrets',
          'UPDATE client_secrets SET expires_at = $1 WHERE client_id = $2 AND (expires_at IS NULL OR expires_at > $1)',
          [overlapUntil, clientId],
        ),
      );
      await db.query(
        q(
          'insert_secret',
          'INSERT INTO client_secrets (client_id, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, NULL)',
          [clientId, hash, now],
        ),
      );
      // Delivered at COMMIT to every instance, which drops its cached secrets of this client: a
      // secret rotated out with no overlap stops working everywhere at once.
      await db.query(q('notify_secrets', 'SELECT pg_notify($1, $2)', [CLIENT_SECRETS_CHANNEL, clientId]));
      return true;
    });
  }

  async updateApplicationGrantTypes(clientId: string, grantTypes: GrantType[]): Promise<boolean> {
    const result = await this.#run(
      // The other instances drop their cached record, as after a secret rotation (one statement:
      // the notification is delivered at its commit).
      q(
        'update_grant_types',
        `WITH u AS (UPDATE applications SET grant_types = $1 WHERE client_id = $2 RETURNING client_id)
         SELECT pg_notify($3, client_id) FROM u`,
        [grantTypes.join(' '), clientId, CLIENT_SECRETS_CHANNEL],
      ),
    );
    return result.rowCount === 1;
  }

  async replaceWebhookSecret(clientId: string, sealed: Buffer): Promise<boolean> {
    const result = await this.#run(
      q('replace_webhook_secret', 'UPDATE applications SET webhook_secret_sealed = $1 WHERE client_id = $2', [
        sealed,
        clientId,
      ]),
    );
    return result.rowCount === 1;
  }

  recordConsent(
    code: NewAuthorizationCode,
    onNewGrant?: NewWebhookEvent,
  ): Promise<{ codeId: number; grantCreated: boolean }> {
    return this.#tx(async (db) => {
      // Lock the grant row if it exists, so "was it active before?" and the upsert are one decision.
      const before = await db.query(
        q('lock_grant', 'SELECT revoked_at FROM grants WHERE client_id = $1 AND user_id = $2 FOR UPDATE', [
          code.clientId,
          code.userId,
        ]),
      );
      const upserted = await db.query(
        q(
          'upsert_grant',
          `INSERT INTO grants (client_id, user_id, scope, public_key, created_at, updated_at, revoked_at)
           VALUES ($1, $2, $3, $4, $5, $5, NULL)
           ON CONFLICT (client_id, user_id) DO UPDATE SET
             scope = excluded.scope, updated_at = excluded.updated_at, revoked_at = NULL,
             created_at = CASE WHEN grants.revoked_at IS NULL THEN grants.created_at ELSE excluded.created_at END
           RETURNING id, (xmax = 0) AS inserted`,
          [code.clientId, code.userId, code.scope, code.publicKey, code.createdAt],
        ),
      );
      const grant = upserted.rows[0] as Row;
      // Without a prior row, only the caller whose INSERT won created the grant; a concurrent
      // caller that fell into ON CONFLICT re-consented to a grant that was just created.
      const prior = before.rows[0];
      const grantCreated = prior ? prior.revoked_at != null : grant.inserted === true;
      const inserted = await db.query(
        q(
          'insert_code',
          `INSERT INTO authorization_codes (code_hash, grant_id, client_id, user_id, redirect_uri, scope,
             code_challenge, code_challenge_method, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
          [
            code.hash,
            grant.id,
            code.clientId,
            code.userId,
            code.redirectUri,
            code.scope,
            code.codeChallenge,
            code.codeChallengeMethod,
            code.createdAt,
            code.expiresAt,
          ],
        ),
      );
      if (grantCreated && onNewGrant) await db.query(insertWebhookEvent(onNewGrant));
      return { codeId: (inserted.rows[0] as Row).id as number, grantCreated };
    });
  }

  async findAuthorizationCode(id: number): Promise<AuthorizationCodeRecord | null> {
    const { rows } = await this.#run(
      q('code_by_id', 'SELECT * FROM authorization_codes WHERE id = $1', [id]),
    );
    const row = rows[0];
    if (!row) return null;
    return {
      id: row.id as number,
      hash: row.code_hash as Buffer,
      clientId: row.client_id as string,
      userId: row.user_id as number,
      redirectUri: row.redirect_uri as string,
      scope: row.scope as string,
      codeChallenge: (row.code_challenge as string | null) ?? null,
      codeChallengeMethod: (row.code_challenge_method as 'S256' | 'plain' | null) ?? null,
      expiresAt: row.expires_at as number,
    };
  }

  exchangeAuthorizationCode(args: {
    codeId: number;
    now: number;
    liveMode: boolean;
    access: NewAccessToken;
    refresh: NewRefreshToken;
  }): Promise<ExchangeOutcome> {
    return this.#tx(async (db): Promise<ExchangeOutcome> => {
      // The single-use guard: one conditional write. A concurrent exchanger blocks on the row lock,
      // then re-checks `used_at IS NULL` against the committed row and changes nothing.
      const used = await db.query(
        q(
          'use_code',
          'UPDATE authorization_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL RETURNING grant_id, client_id, user_id, scope',
          [args.now, args.codeId],
        ),
      );
      const code = used.rows[0];
      if (!code) {
        // RFC 6749 §4.1.2: "If an authorization code is used more than once, the authorization
        // server MUST deny the request and SHOULD revoke (when possible) all tokens previously
        // issued based on that authorization code." A new statement sees the first exchange's family.
        const prior = await db.query(
          q('code_family', 'SELECT family_id FROM authorization_codes WHERE id = $1', [args.codeId]),
        );
        const familyId = prior.rows[0]?.family_id;
        // Used but with no family: revokeGrant killed it (or an earlier exchange found the grant
        // revoked). Nothing was issued from it, so there is nothing to revoke either. (An exchange
        // sets used_at and family_id in one transaction, so a committed use always shows both.)
        if (prior.rows[0] && familyId == null) return { outcome: 'grant_revoked' };
        if (familyId != null) {
          await db.query(
            q(
              'revoke_family_of_code',
              'UPDATE token_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
              [args.now, familyId],
            ),
          );
        }
        return { outcome: 'code_reused' };
      }
      // FOR SHARE conflicts with revokeGrant's UPDATE of this row: either the revocation waits for
      // this family to exist and then revokes it, or this exchange sees the revocation.
      const grant = await db.query(
        q(
          'share_live_grant',
          'SELECT public_key FROM grants WHERE id = $1 AND revoked_at IS NULL FOR SHARE',
          [code.grant_id],
        ),
      );
      const live = grant.rows[0];
      if (!live) return { outcome: 'grant_revoked' };
      const issued = await db.query(
        q(
          'open_family',
          `WITH f AS (
             INSERT INTO token_families (grant_id, scope, live_mode, created_at) VALUES ($1, $2, $3, $4) RETURNING id),
           c AS (UPDATE authorization_codes SET family_id = (SELECT id FROM f) WHERE id = $5),
           a AS (
             INSERT INTO access_tokens (token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at)
             SELECT $6, f.id, $7, $8, $9, $3, $10, $11 FROM f RETURNING id),
           r AS (
             INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at)
             SELECT $12, f.id, $13, $14 FROM f RETURNING id)
           SELECT f.id AS family_id, a.id AS access_id, r.id AS refresh_id FROM f, a, r`,
          [
            code.grant_id,
            code.scope,
            args.liveMode,
            args.now,
            args.codeId,
            args.access.hash,
            code.client_id,
            code.user_id,
            args.access.scope,
            args.access.issuedAt,
            args.access.expiresAt,
            args.refresh.hash,
            args.refresh.issuedAt,
            args.refresh.expiresAt,
          ],
        ),
      );
      const ids = issued.rows[0] as Row;
      return {
        outcome: 'issued',
        familyId: ids.family_id as number,
        accessTokenId: ids.access_id as number,
        refreshTokenId: ids.refresh_id as number,
        publicKey: live.public_key as string,
      };
    });
  }

  async findRefreshToken(id: number): Promise<RefreshTokenRecord | null> {
    const { rows } = await this.#run(
      q(
        'refresh_by_id',
        `SELECT r.id, r.token_hash, r.family_id, r.issued_at, r.expires_at, r.rotated_at, r.revoked_at,
                f.scope, f.live_mode, f.revoked_at AS family_revoked_at,
                g.client_id, g.user_id, g.public_key
         FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id JOIN grants g ON g.id = f.grant_id
         WHERE r.id = $1`,
        [id],
      ),
    );
    const row = rows[0];
    if (!row) return null;
    return {
      id: row.id as number,
      hash: row.token_hash as Buffer,
      familyId: row.family_id as number,
      clientId: row.client_id as string,
      userId: row.user_id as number,
      scope: row.scope as string,
      liveMode: row.live_mode as boolean,
      publicKey: row.public_key as string,
      issuedAt: row.issued_at as number,
      expiresAt: row.expires_at as number,
      rotatedAt: (row.rotated_at as number | null) ?? null,
      revoked: row.revoked_at != null || row.family_revoked_at != null,
    };
  }

  async rotateRefreshToken(args: RotateRefreshToken): Promise<RotateOutcome> {
    // One round trip: the preconditions and the decision tree run inside the database
    // (renova_rotate_refresh, 13 arguments, migration 3), in the statement's own transaction,
    // holding the token's row lock only for a rotation.
    const { rows } = await this.#run(
      q(
        'rotate_refresh',
        'SELECT * FROM renova_rotate_refresh($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)',
        [
          args.refreshTokenId,
          args.presentedHash,
          args.clientId,
          args.requestedScope,
          args.now,
          args.graceMs,
          args.access.hash,
          args.access.issuedAt,
          args.access.expiresAt,
          args.refresh.hash,
          args.refresh.issuedAt,
          args.refresh.expiresAt,
          args.replaySeal,
        ],
      ),
    );
    const r = rows[0] as Row;
    const issued = () => ({
      accessTokenId: r.access_id as number,
      refreshTokenId: r.refresh_id as number,
      access: {
        scope: r.access_scope as string,
        issuedAt: r.access_issued as number,
        expiresAt: r.access_expires as number,
      },
      userId: r.grant_user as number,
      liveMode: r.grant_live as boolean,
      publicKey: r.grant_key as string,
    });
    switch (r.outcome) {
      case 'rotated':
        return { outcome: 'rotated', ...issued() };
      case 'replayed':
        return { outcome: 'replayed', replaySeal: r.seal as Buffer, ...issued() };
      case 'reused':
        return { outcome: 'reused', familyId: r.family_id as number };
      case 'invalid':
        return { outcome: 'invalid', reason: r.reason as 'unknown' | 'other_client' | 'expired' };
      case 'not_refreshable':
        return { outcome: 'not_refreshable' };
      case 'scope_not_granted':
        return { outcome: 'scope_not_granted', grantScope: r.grant_scope as string };
      default:
        return { outcome: 'revoked' };
    }
  }

  async issueClientCredentialsToken(token: NewClientCredentialsToken): Promise<{ accessTokenId: number }> {
    const { rows } = await this.#run(
      q(
        'insert_cc_token',
        `INSERT INTO access_tokens (token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at,
           issuing_secret_id)
         VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
        [
          token.hash,
          token.clientId,
          token.userId,
          token.scope,
          token.liveMode,
          token.issuedAt,
          token.expiresAt,
          token.issuingSecretId ?? null,
        ],
      ),
    );
    return { accessTokenId: (rows[0] as Row).id as number };
  }

  async findAccessToken(id: number): Promise<AccessTokenRecord | null> {
    const { rows } = await this.#run(
      q(
        'access_by_id',
        `SELECT a.*, f.revoked_at AS family_revoked_at
         FROM access_tokens a LEFT JOIN token_families f ON f.id = a.family_id WHERE a.id = $1`,
        [id],
      ),
    );
    const row = rows[0];
    if (!row) return null;
    return {
      id: row.id as number,
      hash: row.token_hash as Buffer,
      clientId: row.client_id as string,
      userId: row.user_id as number,
      scope: row.scope as string,
      liveMode: row.live_mode as boolean,
      kind: row.family_id == null ? 'client_credentials' : 'user',
      issuedAt: row.issued_at as number,
      expiresAt: row.expires_at as number,
      revoked: row.revoked_at != null || row.family_revoked_at != null,
      issuingSecretId: (row.issuing_secret_id as number | null) ?? null,
    };
  }

  async revokeAccessToken(id: number, now: number): Promise<void> {
    await this.#run(
      q('revoke_access', 'UPDATE access_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [
        now,
        id,
      ]),
    );
  }

  async revokeFamily(familyId: number, now: number): Promise<void> {
    await this.#run(
      q('revoke_family', 'UPDATE token_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [
        now,
        familyId,
      ]),
    );
  }

  revokeGrant(clientId: string, userId: number, now: number, event?: NewWebhookEvent): Promise<boolean> {
    // Two statements, not one CTE: under READ COMMITTED the second statement takes a fresh snapshot
    // after the grant's row lock was granted, so it also sees a family that an exchange holding
    // FOR SHARE on the grant committed meanwhile (a single statement would miss it).
    return this.#tx(async (db) => {
      const grant = await db.query(
        q(
          'revoke_grant',
          'UPDATE grants SET revoked_at = $1 WHERE client_id = $2 AND user_id = $3 AND revoked_at IS NULL RETURNING id',
          [now, clientId, userId],
        ),
      );
      const row = grant.rows[0];
      if (!row) return false;
      await db.query(
        q(
          'revoke_families_of_grant',
          'UPDATE token_families SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL',
          [now, row.id],
        ),
      );
      // The grant's unused codes die with it: marked used, with no family (security review #5).
      // SKIP LOCKED: a code row locked now belongs to an exchange that has already marked it used
      // and waits for this transaction on the grant (FOR SHARE); after this commits it sees the
      // grant revoked and answers grant_revoked. Waiting for that row here would be a deadlock
      // (the exchange locks code then grant, this grant then code).
      await db.query(
        q(
          'use_codes_of_grant',
          `UPDATE authorization_codes SET used_at = $1 WHERE id IN (
             SELECT id FROM authorization_codes WHERE grant_id = $2 AND used_at IS NULL FOR UPDATE SKIP LOCKED)`,
          [now, row.id],
        ),
      );
      // The outbox row commits with the revocation or not at all (CONTRACT §4.6).
      if (event) await db.query(insertWebhookEvent(event));
      return true;
    });
  }

  async findGrant(clientId: string, userId: number): Promise<GrantRecord | null> {
    const { rows } = await this.#run(
      q('grant_of', 'SELECT * FROM grants WHERE client_id = $1 AND user_id = $2', [clientId, userId]),
    );
    const row = rows[0];
    if (!row) return null;
    return {
      clientId: row.client_id as string,
      userId: row.user_id as number,
      scope: row.scope as string,
      createdAt: row.created_at as number,
      updatedAt: row.updated_at as number,
      revokedAt: (row.revoked_at as number | null) ?? null,
    };
  }

  async listActiveGrantsOfUser(userId: number): Promise<SellerGrantRecord[]> {
    const { rows } = await this.#run(
      q(
        'active_grants_of_user',
        `SELECT g.client_id, a.name, g.scope, g.created_at, g.updated_at
         FROM grants g JOIN applications a ON a.client_id = g.client_id
         WHERE g.user_id = $1 AND g.revoked_at IS NULL ORDER BY g.updated_at DESC, g.id DESC`,
        [userId],
      ),
    );
    return rows.map((r) => ({
      clientId: r.client_id as string,
      applicationName: r.name as string,
      scope: r.scope as string,
      createdAt: r.created_at as number,
      updatedAt: r.updated_at as number,
    }));
  }

  async createSellerSession(session: NewSellerSession): Promise<void> {
    await this.#run(
      q(
        'insert_session',
        `WITH expired AS (DELETE FROM seller_sessions WHERE expires_at <= $3)
         INSERT INTO seller_sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
        [session.hash, session.userId, session.createdAt, session.expiresAt],
      ),
    );
  }

  async findSellerSession(hash: Buffer, now: number): Promise<{ userId: number; expiresAt: number } | null> {
    const { rows } = await this.#run(
      q(
        'session_by_hash',
        'SELECT user_id, expires_at FROM seller_sessions WHERE id_hash = $1 AND expires_at > $2',
        [hash, now],
      ),
    );
    const row = rows[0];
    return row ? { userId: row.user_id as number, expiresAt: row.expires_at as number } : null;
  }

  async deleteSellerSession(hash: Buffer): Promise<void> {
    await this.#run(q('delete_session', 'DELETE FROM seller_sessions WHERE id_hash = $1', [hash]));
  }

  async claimDueWebhookEvents(args: {
    now: number;
    leaseMs: number;
    limit: number;
  }): Promise<WebhookEventRecord[]> {
    // SKIP LOCKED: dispatchers on several instances take disjoint events without waiting on each
    // other; the lease condition is re-checked on the locked, current row.
    const { rows } = await this.#run(
      q(
        'claim_webhook_events',
        `UPDATE webhook_events SET lease_until = $2
         WHERE id IN (
           SELECT id FROM webhook_events
           WHERE status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
           ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING *`,
        [args.now, args.now + args.leaseMs, args.limit],
      ),
    );
    return rows.map(toWebhookEvent).sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id);
  }

  async recordWebhookAttempt(attempt: WebhookAttempt): Promise<boolean> {
    const status: WebhookStatus =
      attempt.outcome === 'delivered' ? 'delivered' : attempt.outcome === 'dead' ? 'dead' : 'pending';
    const result = await this.#run(
      q(
        'record_webhook_attempt',
        `UPDATE webhook_events SET attempts = attempts + 1, last_attempt_at = $2, last_status = $3,
           last_error = $4, lease_until = NULL, status = $5,
           next_attempt_at = COALESCE($6, next_attempt_at),
           delivered_at = CASE WHEN $5 = 'delivered' THEN $2 ELSE delivered_at END
         WHERE id = $1 AND status = 'pending'`,
        [
          attempt.id,
          attempt.at,
          attempt.httpStatus,
          attempt.error,
          status,
          attempt.outcome === 'retry' ? (attempt.nextAttemptAt ?? attempt.at) : null,
        ],
      ),
    );
    return result.rowCount === 1;
  }

  async listWebhookEvents(args: { status?: WebhookStatus; limit: number }): Promise<WebhookEventRecord[]> {
    const { rows } =
      args.status === undefined
        ? await this.#run(
            q('webhook_events', 'SELECT * FROM webhook_events ORDER BY id DESC LIMIT $1', [args.limit]),
          )
        : await this.#run(
            q(
              'webhook_events_by_status',
              'SELECT * FROM webhook_events WHERE status = $1 ORDER BY id DESC LIMIT $2',
              [args.status, args.limit],
            ),
          );
    return rows.map(toWebhookEvent);
  }

  async retryWebhookEvent(id: number, now: number): Promise<boolean> {
    const result = await this.#run(
      q(
        'retry_webhook_event',
        `UPDATE webhook_events SET status = 'pending', next_attempt_at = $1, lease_until = NULL
         WHERE id = $2 AND status IN ('pending', 'dead')`,
        [now, id],
      ),
    );
    return result.rowCount === 1;
  }

  async purgeExpired(args: PurgeExpired): Promise<PurgeResult> {
    // One bounded DELETE per table. SKIP LOCKED: a row a request is working on is left for the next
    // round, so housekeeping never waits on (or blocks) the token endpoint, and instances purging at
    // the same moment split the work instead of queueing on each other.
    const purge = async (name: string, table: string, before: number): Promise<number> => {
      const result = await this.#run(
        q(
          `purge_${name}`,
          `DELETE FROM ${table} WHERE id IN (
             SELECT id FROM ${table} WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
          [before, args.limit],
        ),
      );
      return result.rowCount ?? 0;
    };
    const codes = await purge('codes', 'authorization_codes', args.now - args.codeGraceMs);
    const accessTokens = await purge('access', 'access_tokens', args.now);
    const refreshTokens = await purge('refresh', 'refresh_tokens', args.now);
    let webhookEvents = 0;
    if (args.webhookRetentionMs !== undefined) {
      const result = await this.#run(
        q(
          'purge_webhook_events',
          `DELETE FROM webhook_events WHERE id IN (
             SELECT id FROM webhook_events WHERE status IN ('delivered', 'dead') AND created_at < $1
             ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)`,
          [args.now - args.webhookRetentionMs, args.limit],
        ),
      );
      webhookEvents = result.rowCount ?? 0;
    }
    return {
      codes,
      accessTokens,
      refreshTokens,
      webhookEvents,
      more: [codes, accessTokens, refreshTokens, webhookEvents].some((n) => n === args.limit),
    };
  }
}
