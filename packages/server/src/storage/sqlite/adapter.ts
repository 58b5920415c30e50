import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { TemporarilyUnavailableError } from '../../core/errors.ts';
import type {
  AccessTokenRecord,
  ApplicationRecord,
  AuthorizationCodeRecord,
  ExchangeOutcome,
  GrantRecord,
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
import { GroupCommitter } from './group-commit.ts';
import { SQLITE_MIGRATIONS } from './migrations.ts';

type Row = Record<string, unknown>;

export interface SqliteStorageOptions {
  /** File path, or ':memory:' for tests that need no durability. */
  path: string;
}

/** SQLite error codes that mean "the storage is busy or broken", not "the request is wrong". */
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|CORRUPT|NOTADB|PROTOCOL)/;

function unavailable(error: unknown): never {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.test(code)) {
    throw new TemporarilyUnavailableError('the token store is busy or unavailable; retry shortly', 1, {
      cause: error,
      detail: code,
    });
  }
  throw error;
}

const toUser = (r: Row): UserRecord => ({
  id: r.id as number,
  email: r.email as string,
  nickname: r.nickname as string,
  siteId: r.site_id as string,
  passwordHash: (r.password_hash as string | null) ?? null,
  createdAt: r.created_at as number,
});

const toWebhookEvent = (r: Row): WebhookEventRecord => ({
  id: r.id as number,
  clientId: r.client_id as string,
  userId: r.user_id as number,
  action: r.action as WebhookEventRecord['action'],
  url: r.url as string,
  createdAt: r.created_at as number,
  status: r.status as WebhookStatus,
  attempts: r.attempts as number,
  nextAttemptAt: r.next_attempt_at as number,
  leaseUntil: (r.lease_until as number | null) ?? null,
  lastAttemptAt: (r.last_attempt_at as number | null) ?? null,
  lastStatus: (r.last_status as number | null) ?? null,
  lastError: (r.last_error as string | null) ?? null,
  deliveredAt: (r.delivered_at as number | null) ?? null,
});

function prepareStatements(db: Database.Database) {
  const p = (sql: string) => db.prepare(sql);
  return {
    insertUser: p(
      'INSERT INTO users (email, nickname, site_id, password_hash, created_at) VALUES (?, ?, ?, ?, ?) RETURNING *',
    ),
    userById: p('SELECT * FROM users WHERE id = ?'),
    userByEmail: p('SELECT * FROM users WHERE email = ?'),
    insertApplication: p(
      `INSERT INTO applications (client_id, name, owner_user_id, redirect_uris, scope, pkce_required,
       notification_url, webhook_secret_sealed, owner_public_key, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertSecret: p(
      'INSERT INTO client_secrets (client_id, secret_hash, created_at, expires_at) VALUES (?, ?, ?, NULL)',
    ),
    applicationById: p('SELECT * FROM applications WHERE client_id = ?'),
    applicationsByOwner: p('SELECT client_id FROM applications WHERE owner_user_id = ? ORDER BY created_at'),
    secretsOf: p('SELECT secret_hash, expires_at FROM client_secrets WHERE client_id = ?'),
    endCurrentSecrets: p(
      'UPDATE client_secrets SET expires_at = ? WHERE client_id = ? AND (expires_at IS NULL OR expires_at > ?)',
    ),
    upsertGrant: p(
      `INSERT INTO grants (client_id, user_id, scope, public_key, created_at, updated_at, revoked_at)
     VALUES (?, ?, ?, ?, ?, ?, NULL)
     ON CONFLICT (client_id, user_id) DO UPDATE SET
       scope = excluded.scope, updated_at = excluded.updated_at, revoked_at = NULL,
       created_at = CASE WHEN grants.revoked_at IS NULL THEN grants.created_at ELSE excluded.created_at END
     RETURNING id`,
    ),
    grantOf: p('SELECT * FROM grants WHERE client_id = ? AND user_id = ?'),
    insertCode: p(
      `INSERT INTO authorization_codes (code_hash, grant_id, client_id, user_id, redirect_uri, scope,
       code_challenge, code_challenge_method, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    codeById: p('SELECT * FROM authorization_codes WHERE id = ?'),
    useCode: p('UPDATE authorization_codes SET used_at = ? WHERE id = ? AND used_at IS NULL'),
    codeFamily: p('SELECT family_id, grant_id FROM authorization_codes WHERE id = ?'),
    setCodeFamily: p('UPDATE authorization_codes SET family_id = ? WHERE id = ?'),
    liveGrantById: p('SELECT id, scope, public_key FROM grants WHERE id = ? AND revoked_at IS NULL'),
    insertFamily: p(
      'INSERT INTO token_families (grant_id, scope, live_mode, created_at) VALUES (?, ?, ?, ?)',
    ),
    revokeFamily: p('UPDATE token_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    insertRefresh: p(
      'INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) VALUES (?, ?, ?, ?)',
    ),
    insertAccess: p(
      `INSERT INTO access_tokens (token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    refreshById: p(
      `SELECT r.id, r.token_hash, r.family_id, r.issued_at, r.expires_at, r.rotated_at, r.revoked_at,
            f.scope, f.live_mode, f.revoked_at AS family_revoked_at,
            g.client_id, g.user_id, g.public_key
     FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id JOIN grants g ON g.id = f.grant_id
     WHERE r.id = ?`,
    ),
    rotationState: p(
      `SELECT r.rotated_at, r.revoked_at, r.family_id, r.successor_refresh_id, r.successor_access_id, r.replay_seal,
            f.revoked_at AS family_revoked_at, f.live_mode, g.client_id, g.user_id
     FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id JOIN grants g ON g.id = f.grant_id
     WHERE r.id = ?`,
    ),
    markRotated: p(
      `UPDATE refresh_tokens SET rotated_at = ?, successor_refresh_id = ?, successor_access_id = ?, replay_seal = ?
     WHERE id = ? AND rotated_at IS NULL`,
    ),
    successorState: p('SELECT rotated_at, revoked_at FROM refresh_tokens WHERE id = ?'),
    accessIssue: p('SELECT scope, issued_at, expires_at FROM access_tokens WHERE id = ?'),
    accessById: p(
      `SELECT a.*, f.revoked_at AS family_revoked_at
     FROM access_tokens a LEFT JOIN token_families f ON f.id = a.family_id WHERE a.id = ?`,
    ),
    revokeAccess: p('UPDATE access_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    revokeGrant: p(
      'UPDATE grants SET revoked_at = ? WHERE client_id = ? AND user_id = ? AND revoked_at IS NULL RETURNING id',
    ),
    revokeFamiliesOfGrant: p(
      'UPDATE token_families SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL',
    ),
    purgeCodes: p(
      'DELETE FROM authorization_codes WHERE id IN (SELECT id FROM authorization_codes WHERE expires_at < ? ORDER BY expires_at LIMIT ?)',
    ),
    purgeAccess: p(
      'DELETE FROM access_tokens WHERE id IN (SELECT id FROM access_tokens WHERE expires_at < ? ORDER BY expires_at LIMIT ?)',
    ),
    purgeRefresh: p(
      'DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens WHERE expires_at < ? ORDER BY expires_at LIMIT ?)',
    ),
    grantState: p('SELECT revoked_at FROM grants WHERE client_id = ? AND user_id = ?'),
    activeGrantsOfUser: p(
      `SELECT g.client_id, a.name, g.scope, g.created_at, g.updated_at
     FROM grants g JOIN applications a ON a.client_id = g.client_id
     WHERE g.user_id = ? AND g.revoked_at IS NULL ORDER BY g.updated_at DESC, g.id DESC`,
    ),
    insertWebhookEvent: p(
      `INSERT INTO webhook_events (client_id, user_id, action, url, created_at, next_attempt_at)
     VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    claimWebhookEvents: p(
      `UPDATE webhook_events SET lease_until = @leaseUntil
     WHERE id IN (
       SELECT id FROM webhook_events
       WHERE status = 'pending' AND next_attempt_at <= @now AND (lease_until IS NULL OR lease_until <= @now)
       ORDER BY next_attempt_at, id LIMIT @limit)
     RETURNING *`,
    ),
    recordWebhookAttempt: p(
      `UPDATE webhook_events SET attempts = attempts + 1, last_attempt_at = @at, last_status = @httpStatus,
       last_error = @error, lease_until = NULL, status = @status,
       next_attempt_at = COALESCE(@nextAttemptAt, next_attempt_at),
       delivered_at = CASE WHEN @status = 'delivered' THEN @at ELSE delivered_at END
     WHERE id = @id AND status = 'pending'`,
    ),
    webhookEvents: p('SELECT * FROM webhook_events ORDER BY id DESC LIMIT ?'),
    webhookEventsByStatus: p('SELECT * FROM webhook_events WHERE status = ? ORDER BY id DESC LIMIT ?'),
    retryWebhookEvent: p(
      `UPDATE webhook_events SET status = 'pending', next_attempt_at = ?, lease_until = NULL
     WHERE id = ? AND status IN ('pending', 'dead')`,
    ),
    insertSession: p(
      'INSERT INTO seller_sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)',
    ),
    deleteExpiredSessions: p('DELETE FROM seller_sessions WHERE expires_at <= ?'),
    sessionByHash: p('SELECT user_id, expires_at FROM seller_sessions WHERE id_hash = ? AND expires_at > ?'),
    deleteSession: p('DELETE FROM seller_sessions WHERE id_hash = ?'),
    ping: p('SELECT 1'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/**
 * The embedded SQLite adapter: WAL, `synchronous=FULL`, writes group-committed (see
 * group-commit.ts). Reads run directly on the same connection between batches and see only
 * committed rows; every single-use decision is re-taken inside the write step.
 */
export class SqliteStorage implements StoragePort {
  readonly db: Database.Database;
  readonly #writes: GroupCommitter;
  #statements: Statements | undefined;

  constructor(options: SqliteStorageOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.#writes = new GroupCommitter(this.db);
  }

  get commitStats(): { batches: number; steps: number } {
    return this.#writes.stats;
  }

  async migrate(): Promise<void> {
    const db = this.db;
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    // BEGIN IMMEDIATE serializes concurrent starters on one file: the second waits, then sees the
    // versions the first applied.
    db.transaction(() => {
      const applied = new Set(
        (db.prepare('SELECT version FROM schema_migrations').all() as Row[]).map((r) => r.version as number),
      );
      for (const migration of SQLITE_MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        db.exec(migration.sql);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
          migration.version,
          migration.name,
          Date.now(),
        );
      }
    }).immediate();
    this.#statements = prepareStatements(db);
  }

  private get s(): Statements {
    if (!this.#statements) throw new Error('SqliteStorage.migrate() must run before use');
    return this.#statements;
  }

  /** A group-committed write; storage failures become 503 `temporarily_unavailable`. */
  #write<T>(step: () => T): Promise<T> {
    return this.#writes.run(step).catch(unavailable);
  }

  /** A direct read; storage failures become 503 `temporarily_unavailable`. */
  #read<T>(query: () => T): Promise<T> {
    try {
      return Promise.resolve(query());
    } catch (error) {
      return Promise.reject(error).catch(unavailable);
    }
  }

  async ping(): Promise<void> {
    await this.#read(() => this.s.ping.get());
  }

  async close(): Promise<void> {
    // Let any batch already scheduled commit first.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.db.open) this.db.close();
  }

  createUser(user: NewUser): Promise<UserRecord> {
    return this.#write(() =>
      toUser(
        this.s.insertUser.get(
          user.email,
          user.nickname,
          user.siteId,
          user.passwordHash,
          user.createdAt,
        ) as Row,
      ),
    );
  }

  findUserById(id: number): Promise<UserRecord | null> {
    return this.#read(() => {
      const row = this.s.userById.get(id) as Row | undefined;
      return row ? toUser(row) : null;
    });
  }

  findUserByEmail(email: string): Promise<UserRecord | null> {
    return this.#read(() => {
      const row = this.s.userByEmail.get(email) as Row | undefined;
      return row ? toUser(row) : null;
    });
  }

  createApplication(app: NewApplication): Promise<void> {
    return this.#write(() => {
      this.s.insertApplication.run(
        app.clientId,
        app.name,
        app.ownerUserId,
        JSON.stringify(app.redirectUris),
        app.scope,
        app.pkceRequired ? 1 : 0,
        app.notificationUrl,
        app.webhookSecretSealed,
        app.ownerPublicKey,
        app.createdAt,
      );
      this.s.insertSecret.run(app.clientId, app.secretHash, app.createdAt);
    });
  }

  findApplication(clientId: string): Promise<ApplicationRecord | null> {
    return this.#read(() => {
      const row = this.s.applicationById.get(clientId) as Row | undefined;
      if (!row) return null;
      const secrets = (this.s.secretsOf.all(clientId) as Row[]).map((s) => ({
        hash: s.secret_hash as Buffer,
        expiresAt: (s.expires_at as number | null) ?? null,
      }));
      return {
        clientId: row.client_id as string,
        name: row.name as string,
        ownerUserId: row.owner_user_id as number,
        redirectUris: JSON.parse(row.redirect_uris as string) as string[],
        scope: row.scope as string,
        pkceRequired: row.pkce_required === 1,
        notificationUrl: (row.notification_url as string | null) ?? null,
        ownerPublicKey: row.owner_public_key as string,
        createdAt: row.created_at as number,
        secrets,
        webhookSecretSealed: row.webhook_secret_sealed as Buffer,
      };
    });
  }

  async listApplicationsByOwner(ownerUserId: number): Promise<ApplicationRecord[]> {
    const ids = await this.#read(() => this.s.applicationsByOwner.all(ownerUserId) as Row[]);
    const apps = await Promise.all(ids.map((r) => this.findApplication(r.client_id as string)));
    return apps.filter((a): a is ApplicationRecord => a !== null);
  }

  rotateClientSecret(clientId: string, hash: Buffer, overlapUntil: number, now: number): Promise<boolean> {
    return this.#write(() => {
      if (!this.s.applicationById.get(clientId)) return false;
      this.s.endCurrentSecrets.run(overlapUntil, clientId, overlapUntil);
      this.s.insertSecret.run(clientId, hash, now);
      return true;
    });
  }

  recordConsent(
    code: NewAuthorizationCode,
    onNewGrant?: NewWebhookEvent,
  ): Promise<{ codeId: number; grantCreated: boolean }> {
    return this.#write(() => {
      // Read and upsert inside one write step: no other step runs in between.
      const before = this.s.grantState.get(code.clientId, code.userId) as Row | undefined;
      const grantCreated = before === undefined || before.revoked_at != null;
      const grant = this.s.upsertGrant.get(
        code.clientId,
        code.userId,
        code.scope,
        code.publicKey,
        code.createdAt,
        code.createdAt,
      ) as Row;
      const info = this.s.insertCode.run(
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
      );
      if (grantCreated && onNewGrant) this.#appendWebhookEvent(onNewGrant);
      return { codeId: Number(info.lastInsertRowid), grantCreated };
    });
  }

  findAuthorizationCode(id: number): Promise<AuthorizationCodeRecord | null> {
    return this.#read(() => {
      const row = this.s.codeById.get(id) as Row | undefined;
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
    });
  }

  exchangeAuthorizationCode(args: {
    codeId: number;
    now: number;
    liveMode: boolean;
    access: NewAccessToken;
    refresh: NewRefreshToken;
  }): Promise<ExchangeOutcome> {
    return this.#write((): ExchangeOutcome => {
      const s = this.s;
      // The single-use guard: one conditional write; exactly one caller sees a changed row.
      if (s.useCode.run(args.now, args.codeId).changes !== 1) {
        const used = s.codeFamily.get(args.codeId) as Row | undefined;
        if (used?.family_id != null) s.revokeFamily.run(args.now, used.family_id);
        return { outcome: 'code_reused' };
      }
      const code = s.codeFamily.get(args.codeId) as Row;
      const codeRow = s.codeById.get(args.codeId) as Row;
      const grant = s.liveGrantById.get(code.grant_id) as Row | undefined;
      if (!grant) return { outcome: 'grant_revoked' };
      const familyId = Number(
        s.insertFamily.run(code.grant_id, codeRow.scope, args.liveMode ? 1 : 0, args.now).lastInsertRowid,
      );
      s.setCodeFamily.run(familyId, args.codeId);
      const { accessTokenId, refreshTokenId } = this.#insertPair(
        familyId,
        codeRow.client_id as string,
        codeRow.user_id as number,
        args.liveMode,
        args.access,
        args.refresh,
      );
      return {
        outcome: 'issued',
        familyId,
        accessTokenId,
        refreshTokenId,
        publicKey: grant.public_key as string,
      };
    });
  }

  #insertPair(
    familyId: number,
    clientId: string,
    userId: number,
    liveMode: boolean,
    access: NewAccessToken,
    refresh: NewRefreshToken,
  ): { accessTokenId: number; refreshTokenId: number } {
    const accessTokenId = Number(
      this.s.insertAccess.run(
        access.hash,
        familyId,
        clientId,
        userId,
        access.scope,
        liveMode ? 1 : 0,
        access.issuedAt,
        access.expiresAt,
      ).lastInsertRowid,
    );
    const refreshTokenId = Number(
      this.s.insertRefresh.run(refresh.hash, familyId, refresh.issuedAt, refresh.expiresAt).lastInsertRowid,
    );
    return { accessTokenId, refreshTokenId };
  }

  findRefreshToken(id: number): Promise<RefreshTokenRecord | null> {
    return this.#read(() => {
      const row = this.s.refreshById.get(id) as Row | undefined;
      if (!row) return null;
      return {
        id: row.id as number,
        hash: row.token_hash as Buffer,
        familyId: row.family_id as number,
        clientId: row.client_id as string,
        userId: row.user_id as number,
        scope: row.scope as string,
        liveMode: row.live_mode === 1,
        publicKey: row.public_key as string,
        issuedAt: row.issued_at as number,
        expiresAt: row.expires_at as number,
        rotatedAt: (row.rotated_at as number | null) ?? null,
        revoked: row.revoked_at != null || row.family_revoked_at != null,
      };
    });
  }

  rotateRefreshToken(args: RotateRefreshToken): Promise<RotateOutcome> {
    return this.#write((): RotateOutcome => {
      const s = this.s;
      const state = s.rotationState.get(args.refreshTokenId) as Row | undefined;
      if (!state || state.revoked_at != null || state.family_revoked_at != null)
        return { outcome: 'revoked' };
      const familyId = state.family_id as number;

      if (state.rotated_at == null) {
        const pair = this.#insertPair(
          familyId,
          state.client_id as string,
          state.user_id as number,
          state.live_mode === 1,
          args.access,
          args.refresh,
        );
        // Conditional on rotated_at IS NULL: the single-use guard holds even if this step ever ran
        // outside the serialized batch.
        const changed = s.markRotated.run(
          args.now,
          pair.refreshTokenId,
          pair.accessTokenId,
          args.replaySeal,
          args.refreshTokenId,
        ).changes;
        if (changed !== 1) throw new Error('refresh token rotated concurrently inside one transaction');
        return {
          outcome: 'rotated',
          ...pair,
          access: {
            scope: args.access.scope,
            issuedAt: args.access.issuedAt,
            expiresAt: args.access.expiresAt,
          },
        };
      }

      // Already rotated. A replay is allowed only inside the window and only while the successor
      // has not been used itself (CONTRACT §4.2); anything else is reuse (RFC 9700 §4.14.2).
      const successor = s.successorState.get(state.successor_refresh_id) as Row | undefined;
      const insideWindow = args.graceMs > 0 && args.now - (state.rotated_at as number) <= args.graceMs;
      if (insideWindow && successor && successor.rotated_at == null && successor.revoked_at == null) {
        const access = s.accessIssue.get(state.successor_access_id) as Row;
        return {
          outcome: 'replayed',
          replaySeal: state.replay_seal as Buffer,
          accessTokenId: state.successor_access_id as number,
          refreshTokenId: state.successor_refresh_id as number,
          access: {
            scope: access.scope as string,
            issuedAt: access.issued_at as number,
            expiresAt: access.expires_at as number,
          },
        };
      }
      s.revokeFamily.run(args.now, familyId);
      return { outcome: 'reused', familyId };
    });
  }

  issueClientCredentialsToken(token: NewClientCredentialsToken): Promise<{ accessTokenId: number }> {
    return this.#write(() => ({
      accessTokenId: Number(
        this.s.insertAccess.run(
          token.hash,
          null,
          token.clientId,
          token.userId,
          token.scope,
          token.liveMode ? 1 : 0,
          token.issuedAt,
          token.expiresAt,
        ).lastInsertRowid,
      ),
    }));
  }

  findAccessToken(id: number): Promise<AccessTokenRecord | null> {
    return this.#read(() => {
      const row = this.s.accessById.get(id) as Row | undefined;
      if (!row) return null;
      return {
        id: row.id as number,
        hash: row.token_hash as Buffer,
        clientId: row.client_id as string,
        userId: row.user_id as number,
        scope: row.scope as string,
        liveMode: row.live_mode === 1,
        kind: row.family_id == null ? 'client_credentials' : 'user',
        issuedAt: row.issued_at as number,
        expiresAt: row.expires_at as number,
        revoked: row.revoked_at != null || row.family_revoked_at != null,
      };
    });
  }

  async revokeAccessToken(id: number, now: number): Promise<void> {
    await this.#write(() => this.s.revokeAccess.run(now, id));
  }

  async revokeFamily(familyId: number, now: number): Promise<void> {
    await this.#write(() => this.s.revokeFamily.run(now, familyId));
  }

  revokeGrant(clientId: string, userId: number, now: number, event?: NewWebhookEvent): Promise<boolean> {
    return this.#write(() => {
      const grant = this.s.revokeGrant.get(now, clientId, userId) as Row | undefined;
      if (!grant) return false;
      this.s.revokeFamiliesOfGrant.run(now, grant.id);
      if (event) this.#appendWebhookEvent(event);
      return true;
    });
  }

  /** Called only inside a write step, so the event commits (or not) with the change it reports. */
  #appendWebhookEvent(event: NewWebhookEvent): void {
    this.s.insertWebhookEvent.run(
      event.clientId,
      event.userId,
      event.action,
      event.url,
      event.createdAt,
      event.createdAt,
    );
  }

  listActiveGrantsOfUser(userId: number): Promise<SellerGrantRecord[]> {
    return this.#read(() =>
      (this.s.activeGrantsOfUser.all(userId) as Row[]).map((r) => ({
        clientId: r.client_id as string,
        applicationName: r.name as string,
        scope: r.scope as string,
        createdAt: r.created_at as number,
        updatedAt: r.updated_at as number,
      })),
    );
  }

  async createSellerSession(session: NewSellerSession): Promise<void> {
    await this.#write(() => {
      this.s.deleteExpiredSessions.run(session.createdAt);
      this.s.insertSession.run(session.hash, session.userId, session.createdAt, session.expiresAt);
    });
  }

  findSellerSession(hash: Buffer, now: number): Promise<{ userId: number; expiresAt: number } | null> {
    return this.#read(() => {
      const row = this.s.sessionByHash.get(hash, now) as Row | undefined;
      return row ? { userId: row.user_id as number, expiresAt: row.expires_at as number } : null;
    });
  }

  async deleteSellerSession(hash: Buffer): Promise<void> {
    await this.#write(() => this.s.deleteSession.run(hash));
  }

  claimDueWebhookEvents(args: {
    now: number;
    leaseMs: number;
    limit: number;
  }): Promise<WebhookEventRecord[]> {
    return this.#write(() =>
      (
        this.s.claimWebhookEvents.all({
          now: args.now,
          leaseUntil: args.now + args.leaseMs,
          limit: args.limit,
        }) as Row[]
      )
        .map(toWebhookEvent)
        .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id),
    );
  }

  recordWebhookAttempt(attempt: WebhookAttempt): Promise<boolean> {
    const status: WebhookStatus =
      attempt.outcome === 'delivered' ? 'delivered' : attempt.outcome === 'dead' ? 'dead' : 'pending';
    return this.#write(
      () =>
        this.s.recordWebhookAttempt.run({
          id: attempt.id,
          at: attempt.at,
          httpStatus: attempt.httpStatus,
          error: attempt.error,
          status,
          nextAttemptAt: attempt.outcome === 'retry' ? (attempt.nextAttemptAt ?? attempt.at) : null,
        }).changes === 1,
    );
  }

  listWebhookEvents(args: { status?: WebhookStatus; limit: number }): Promise<WebhookEventRecord[]> {
    return this.#read(() =>
      (args.status === undefined
        ? (this.s.webhookEvents.all(args.limit) as Row[])
        : (this.s.webhookEventsByStatus.all(args.status, args.limit) as Row[])
      ).map(toWebhookEvent),
    );
  }

  retryWebhookEvent(id: number, now: number): Promise<boolean> {
    return this.#write(() => this.s.retryWebhookEvent.run(now, id).changes === 1);
  }

  findGrant(clientId: string, userId: number): Promise<GrantRecord | null> {
    return this.#read(() => {
      const row = this.s.grantOf.get(clientId, userId) as Row | undefined;
      if (!row) return null;
      return {
        clientId: row.client_id as string,
        userId: row.user_id as number,
        scope: row.scope as string,
        createdAt: row.created_at as number,
        updatedAt: row.updated_at as number,
        revokedAt: (row.revoked_at as number | null) ?? null,
      };
    });
  }

  purgeExpired(args: PurgeExpired): Promise<PurgeResult> {
    // Through the group-commit writer, one bounded DELETE per table: the write lock is held for a
    // few thousand row deletions at most, between batches of requests, never across an await.
    return this.#write((): PurgeResult => {
      const codes = this.s.purgeCodes.run(args.now - args.codeGraceMs, args.limit).changes;
      const accessTokens = this.s.purgeAccess.run(args.now, args.limit).changes;
      const refreshTokens = this.s.purgeRefresh.run(args.now, args.limit).changes;
      return {
        codes,
        accessTokens,
        refreshTokens,
        more: codes === args.limit || accessTokens === args.limit || refreshTokens === args.limit,
      };
    });
  }
}
