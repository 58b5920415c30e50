import type {
  AccessTokenRecord,
  ApplicationGrantsPage,
  ApplicationPatch,
  ApplicationRecord,
  AuthorizationCodeRecord,
  CreateTestUserOutcome,
  ExchangeOutcome,
  GrantRecord,
  GrantType,
  GrantUse,
  ListGrantsOfApplication,
  ListWebhookEvents,
  NewAccessToken,
  NewApplication,
  NewAuthorizationCode,
  NewClientCredentialsToken,
  NewRefreshToken,
  NewSellerSession,
  NewTestUser,
  NewUser,
  NewWebhookEvent,
  PurgeExpired,
  PurgeResult,
  RefreshTokenRecord,
  RotateOutcome,
  RotateRefreshToken,
  SellerGrantRecord,
  StoragePort,
  TestUserRecord,
  UserRecord,
  WebhookAttempt,
  WebhookEventRecord,
  WebhookStatus,
} from '../contract.ts';
import {
  type AccessTokenRow,
  type ApplicationGrantRow,
  type ApplicationRow,
  type AuthorizationCodeRow,
  bool,
  type DbBool,
  type GrantRow,
  type RefreshTokenRow,
  type SellerGrantRow,
  type SellerSessionRow,
  type TestUserRow,
  toAccessToken,
  toApplication,
  toApplicationGrant,
  toAuthorizationCode,
  toGrant,
  toRefreshToken,
  toSellerGrant,
  toSellerSession,
  toTestUser,
  toUser,
  toWebhookEvent,
  type UserRow,
  type WebhookEventRow,
} from '../rows.ts';
import { PostgresClient, type PostgresClientOptions } from './client.ts';
import { toUnavailable } from './errors.ts';
import { PG_MIGRATIONS } from './migrations.ts';
import * as Q from './queries.ts';

export type PostgresStorageOptions = PostgresClientOptions;

/** `APPLICATION_COLUMNS` (queries.ts): the row with its secrets as a JSON array. */
type ApplicationWithSecretsRow = ApplicationRow & {
  secrets: { i: number; h: string; c: number; e: number | null }[];
};

const toApplicationWithSecrets = (row: ApplicationWithSecretsRow): ApplicationRecord =>
  toApplication(
    row,
    // json_agg carries BIGINTs as JSON numbers and BYTEA as hex (no type parser runs inside JSON).
    row.secrets.map((s) => ({
      id: Number(s.i),
      hash: Buffer.from(s.h, 'hex'),
      createdAt: Number(s.c),
      expiresAt: s.e === null || s.e === undefined ? null : Number(s.e),
    })),
  );

/** What `renova_rotate_refresh` returns (postgres/migrations.ts): one row, the outcome's columns set. */
interface RotationResultRow {
  outcome: RotateOutcome['outcome'];
  reason: 'unknown' | 'other_client' | 'expired' | null;
  grant_scope: string | null;
  family_id: number | null;
  access_id: number;
  refresh_id: number;
  access_scope: string;
  access_issued: number;
  access_expires: number;
  grant_user: number;
  grant_live: DbBool;
  grant_key: string;
  seal: Buffer;
}

type IdRow = { id: number };

/**
 * The PostgreSQL adapter: many Renova instances on one database behave as one. Every single-use
 * step is one conditional statement or one short READ COMMITTED transaction whose decisive write
 * checks its row count (`UPDATE … WHERE used_at IS NULL`, `… WHERE rotated_at IS NULL`), so the
 * guarantees rest on row locks, not on isolation levels (docs/design.md, hydra#1719, CVE-2026-1035).
 * Serialization failures and deadlocks are retried a bounded number of times (client.ts), then
 * answered StorageUnavailableError (errors.ts); the statements are in queries.ts.
 */
export class PostgresStorage implements StoragePort {
  readonly #db: PostgresClient;

  constructor(options: PostgresStorageOptions) {
    this.#db = new PostgresClient(options);
  }

  get pool() {
    return this.#db.pool;
  }

  async migrate(): Promise<void> {
    await this.#db.tx(async (db) => {
      // Transaction-scoped: released at COMMIT/ROLLBACK, also if this instance dies midway. A second
      // instance starting at the same moment waits here, then finds every version applied.
      await db.query(Q.migrationLock());
      await db.query(Q.createMigrationsTable());
      const applied = new Set(
        (await db.query<{ version: number }>(Q.appliedMigrations())).rows.map((r) => r.version),
      );
      for (const migration of PG_MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        await db.query({ text: migration.sql });
        await db.query(Q.recordMigration(migration.version, migration.name, Date.now()));
      }
    });
  }

  /** Ready only while a write can succeed (docs/api.md §4.4): a read-only database is not. */
  async ping(): Promise<void> {
    const { rows } = await this.#db.run<{ read_only: string }>(Q.readOnly());
    if (rows[0]?.read_only === 'on') {
      throw toUnavailable(
        undefined,
        'the database is read-only (standby, failover or default_transaction_read_only)',
      );
    }
  }

  close(): Promise<void> {
    return this.#db.close();
  }

  /** LISTEN/NOTIFY on CLIENT_SECRETS_CHANNEL; `null` whenever changes may have been missed. */
  watchClientSecrets(onChange: (clientId: string | null) => void): void {
    this.#db.listen(Q.CLIENT_SECRETS_CHANNEL, onChange);
  }

  async createUser(user: NewUser): Promise<UserRecord | null> {
    // A conditional insert: two concurrent sign-ups with one email leave one row and one null.
    const { rows } = await this.#db.run<UserRow>(Q.insertUser(user));
    return rows[0] ? toUser(rows[0]) : null;
  }

  async findUserById(id: number): Promise<UserRecord | null> {
    const { rows } = await this.#db.run<UserRow>(Q.userById(id));
    return rows[0] ? toUser(rows[0]) : null;
  }

  async findUserByEmail(email: string): Promise<UserRecord | null> {
    const { rows } = await this.#db.run<UserRow>(Q.userByEmail(email));
    return rows[0] ? toUser(rows[0]) : null;
  }

  async updatePasswordHash(userId: number, previousHash: string, newHash: string): Promise<boolean> {
    // Conditional on the old hash: a concurrent password change wins over a rehash.
    return (await this.#db.run(Q.updatePasswordHash(userId, previousHash, newHash))).rowCount === 1;
  }

  async createApplication(app: NewApplication): Promise<void> {
    await this.#db.run(Q.insertApplication(app));
  }

  async findApplication(clientId: string): Promise<ApplicationRecord | null> {
    const { rows } = await this.#db.run<ApplicationWithSecretsRow>(Q.applicationById(clientId));
    return rows[0] ? toApplicationWithSecrets(rows[0]) : null;
  }

  async listApplicationsByOwner(ownerUserId: number): Promise<ApplicationRecord[]> {
    const { rows } = await this.#db.run<ApplicationWithSecretsRow>(Q.applicationsByOwner(ownerUserId));
    return rows.map(toApplicationWithSecrets);
  }

  rotateClientSecret(clientId: string, hash: Buffer, overlapUntil: number, now: number): Promise<boolean> {
    return this.#db.tx(async (db) => {
      if ((await db.query(Q.lockApplication(clientId))).rowCount !== 1) return false;
      await db.query(Q.endCurrentSecrets(clientId, overlapUntil));
      await db.query(Q.insertSecret(clientId, hash, now));
      // A secret rotated out with no overlap stops working on every instance at once.
      await db.query(Q.notifySecrets(clientId));
      return true;
    });
  }

  async updateApplicationGrantTypes(clientId: string, grantTypes: GrantType[]): Promise<boolean> {
    return (await this.#db.run(Q.updateGrantTypes(clientId, grantTypes))).rowCount === 1;
  }

  async replaceWebhookSecret(clientId: string, sealed: Buffer): Promise<boolean> {
    return (await this.#db.run(Q.replaceWebhookSecret(clientId, sealed))).rowCount === 1;
  }

  async updateApplication(clientId: string, patch: ApplicationPatch): Promise<ApplicationRecord | null> {
    const updated = await this.#db.tx(async (db) => {
      // The row lock makes read-merge-write one step against a concurrent update.
      const row = (await db.query<ApplicationRow>(Q.lockApplication(clientId))).rows[0];
      if (!row) return false;
      await db.query(Q.updateApplication(clientId, row, patch));
      // Other instances drop their cached record (grant types, redirect URIs), as after a rotation.
      await db.query(Q.notifySecrets(clientId));
      return true;
    });
    return updated ? this.findApplication(clientId) : null;
  }

  deleteApplication(clientId: string, now: number): Promise<boolean> {
    return this.#db.tx(async (db) => {
      if ((await db.query(Q.markApplicationDeleted(clientId, now))).rowCount !== 1) return false;
      // Separate statements, in the order of revokeGrant: each takes a fresh READ COMMITTED snapshot
      // after the grants' row locks were granted, so a family an exchange committed meanwhile is
      // revoked too.
      await db.query(Q.revokeGrantsOfClient(clientId, now));
      await db.query(Q.revokeFamiliesOfClient(clientId, now));
      await db.query(Q.useCodesOfClient(clientId, now));
      await db.query(Q.revokeClientCredentialsTokensOfClient(clientId, now));
      await db.query(Q.endCurrentSecrets(clientId, now));
      await db.query(Q.killPendingEventsOfClient(clientId));
      await db.query(Q.notifySecrets(clientId));
      return true;
    });
  }

  listGrantsOfApplication(args: ListGrantsOfApplication): Promise<ApplicationGrantsPage> {
    // REPEATABLE READ is not needed for a listing; one transaction keeps the two reads on one
    // connection, close in time.
    return this.#db.tx(async (db) => {
      const rows = (await db.query<ApplicationGrantRow>(Q.grantsOfApplication(args))).rows;
      const totals = (await db.query<{ real: number; test: number }>(Q.grantTotalsOfApplication(args)))
        .rows[0] ?? { real: 0, test: 0 };
      const page = rows.slice(0, args.limit);
      return {
        items: page.map(toApplicationGrant),
        nextCursor: rows.length > args.limit ? Number(page[page.length - 1]?.id ?? 0) || null : null,
        totals: { real: totals.real, test: totals.test },
      };
    });
  }

  async touchGrantsLastUsed(uses: GrantUse[], coarseMs: number): Promise<void> {
    if (uses.length === 0) return;
    await this.#db.run(Q.touchGrantsLastUsed(uses, coarseMs));
  }

  createTestUser(args: NewTestUser): Promise<CreateTestUserOutcome> {
    return this.#db.tx(async (db): Promise<CreateTestUserOutcome> => {
      // The application's row lock serializes concurrent creations: the count and the insert are
      // one decision, so N parallel calls never pass the cap.
      if ((await db.query(Q.lockApplication(args.clientId))).rowCount !== 1) {
        return { outcome: 'unknown_application' };
      }
      const count = (await db.query<{ n: number }>(Q.countTestUsersOf(args.clientId))).rows[0]?.n ?? 0;
      if (count >= args.limit) return { outcome: 'limit_reached', count };
      const row = (await db.query<UserRow>(Q.insertTestUser(args))).rows[0];
      return row ? { outcome: 'created', user: toUser(row) } : { outcome: 'email_taken' };
    });
  }

  async listTestUsers(clientId: string): Promise<TestUserRecord[]> {
    return (await this.#db.run<TestUserRow>(Q.testUsersOf(clientId))).rows.map(toTestUser);
  }

  async enqueueTestWebhookEvent(event: NewWebhookEvent): Promise<number | null> {
    const row = (await this.#db.run<IdRow>(Q.insertTestWebhookEvent(event))).rows[0];
    return row ? row.id : null;
  }

  recordConsent(
    code: NewAuthorizationCode,
    onNewGrant?: NewWebhookEvent,
  ): Promise<{ codeId: number; grantCreated: boolean }> {
    return this.#db.tx(async (db) => {
      const before = await db.query<{ revoked_at: number | null }>(Q.lockGrant(code.clientId, code.userId));
      const upserted = await db.query<{ id: number; inserted: boolean }>(Q.upsertGrant(code));
      const grant = upserted.rows[0] as { id: number; inserted: boolean };
      // Without a prior row, only the caller whose INSERT won created the grant; a concurrent
      // caller that fell into ON CONFLICT re-consented to a grant that was just created.
      const prior = before.rows[0];
      const grantCreated = prior ? prior.revoked_at != null : grant.inserted === true;
      const inserted = await db.query<IdRow>(Q.insertCode(code, grant.id));
      // The outbox row commits with the consent or not at all (docs/api.md §4.6).
      if (grantCreated && onNewGrant) await db.query(Q.insertWebhookEvent(onNewGrant));
      return { codeId: (inserted.rows[0] as IdRow).id, grantCreated };
    });
  }

  async findAuthorizationCode(id: number): Promise<AuthorizationCodeRecord | null> {
    const { rows } = await this.#db.run<AuthorizationCodeRow>(Q.codeById(id));
    return rows[0] ? toAuthorizationCode(rows[0]) : null;
  }

  exchangeAuthorizationCode(args: {
    codeId: number;
    now: number;
    liveMode: boolean;
    access: NewAccessToken;
    refresh: NewRefreshToken;
  }): Promise<ExchangeOutcome> {
    return this.#db.tx(async (db): Promise<ExchangeOutcome> => {
      const used = await db.query<{ grant_id: number; client_id: string; user_id: number; scope: string }>(
        Q.useCode(args.codeId, args.now),
      );
      const code = used.rows[0];
      if (!code) {
        // RFC 6749 §4.1.2: "If an authorization code is used more than once, the authorization
        // server MUST deny the request and SHOULD revoke (when possible) all tokens previously
        // issued based on that authorization code." A new statement sees the first exchange's family.
        const prior = await db.query<{ family_id: number | null }>(Q.codeFamily(args.codeId));
        const familyId = prior.rows[0]?.family_id;
        // Used but with no family: revokeGrant killed it (or an earlier exchange found the grant
        // revoked). Nothing was issued from it, so there is nothing to revoke either. (An exchange
        // sets used_at and family_id in one transaction, so a committed use always shows both.)
        if (prior.rows[0] && familyId == null) return { outcome: 'grant_revoked' };
        if (familyId != null) await db.query(Q.revokeFamilyOfCode(familyId, args.now));
        return { outcome: 'code_reused' };
      }
      const live = (await db.query<{ public_key: string }>(Q.shareLiveGrant(code.grant_id))).rows[0];
      if (!live) return { outcome: 'grant_revoked' };
      const issued = await db.query<{ family_id: number; access_id: number; refresh_id: number }>(
        Q.openFamily(code, args),
      );
      const ids = issued.rows[0] as { family_id: number; access_id: number; refresh_id: number };
      return {
        outcome: 'issued',
        familyId: ids.family_id,
        accessTokenId: ids.access_id,
        refreshTokenId: ids.refresh_id,
        publicKey: live.public_key,
      };
    });
  }

  async findRefreshToken(id: number): Promise<RefreshTokenRecord | null> {
    const { rows } = await this.#db.run<RefreshTokenRow>(Q.refreshById(id));
    return rows[0] ? toRefreshToken(rows[0]) : null;
  }

  async rotateRefreshToken(args: RotateRefreshToken): Promise<RotateOutcome> {
    const { rows } = await this.#db.run<RotationResultRow>(Q.rotateRefresh(args));
    const r = rows[0] as RotationResultRow;
    const issued = () => ({
      accessTokenId: r.access_id,
      refreshTokenId: r.refresh_id,
      access: { scope: r.access_scope, issuedAt: r.access_issued, expiresAt: r.access_expires },
      userId: r.grant_user,
      liveMode: bool(r.grant_live),
      publicKey: r.grant_key,
    });
    switch (r.outcome) {
      case 'rotated':
        return { outcome: 'rotated', ...issued() };
      case 'replayed':
        return { outcome: 'replayed', replaySeal: r.seal, ...issued() };
      case 'reused':
        return { outcome: 'reused', familyId: r.family_id as number };
      case 'invalid':
        return { outcome: 'invalid', reason: r.reason ?? 'unknown' };
      case 'not_refreshable':
        return { outcome: 'not_refreshable' };
      case 'scope_not_granted':
        return { outcome: 'scope_not_granted', grantScope: r.grant_scope ?? '' };
      default:
        return { outcome: 'revoked' };
    }
  }

  async issueClientCredentialsToken(token: NewClientCredentialsToken): Promise<{ accessTokenId: number }> {
    const { rows } = await this.#db.run<IdRow>(Q.insertClientCredentialsToken(token));
    return { accessTokenId: (rows[0] as IdRow).id };
  }

  async findAccessToken(id: number): Promise<AccessTokenRecord | null> {
    const { rows } = await this.#db.run<AccessTokenRow>(Q.accessById(id));
    return rows[0] ? toAccessToken(rows[0]) : null;
  }

  async revokeAccessToken(id: number, now: number): Promise<void> {
    await this.#db.run(Q.revokeAccess(id, now));
  }

  async revokeFamily(familyId: number, now: number): Promise<void> {
    await this.#db.run(Q.revokeFamily(familyId, now));
  }

  revokeGrant(clientId: string, userId: number, now: number, event?: NewWebhookEvent): Promise<boolean> {
    // Separate statements, not one CTE: under READ COMMITTED the second statement takes a fresh
    // snapshot after the grant's row lock was granted, so it also sees a family that an exchange
    // holding FOR SHARE on the grant committed meanwhile (a single statement would miss it).
    return this.#db.tx(async (db) => {
      const grant = (await db.query<IdRow>(Q.revokeGrant(clientId, userId, now))).rows[0];
      if (!grant) return false;
      await db.query(Q.revokeFamiliesOfGrant(grant.id, now));
      await db.query(Q.useCodesOfGrant(grant.id, now));
      // The outbox row commits with the revocation or not at all (docs/api.md §4.6).
      if (event) await db.query(Q.insertWebhookEvent(event));
      return true;
    });
  }

  async findGrant(clientId: string, userId: number): Promise<GrantRecord | null> {
    const { rows } = await this.#db.run<GrantRow>(Q.grantOf(clientId, userId));
    return rows[0] ? toGrant(rows[0]) : null;
  }

  async listActiveGrantsOfUser(userId: number): Promise<SellerGrantRecord[]> {
    const { rows } = await this.#db.run<SellerGrantRow>(Q.activeGrantsOfUser(userId));
    return rows.map(toSellerGrant);
  }

  async createSellerSession(session: NewSellerSession): Promise<void> {
    await this.#db.run(Q.insertSession(session));
  }

  async findSellerSession(hash: Buffer, now: number): Promise<{ userId: number; expiresAt: number } | null> {
    const { rows } = await this.#db.run<SellerSessionRow>(Q.sessionByHash(hash, now));
    return rows[0] ? toSellerSession(rows[0]) : null;
  }

  async deleteSellerSession(hash: Buffer): Promise<void> {
    await this.#db.run(Q.deleteSession(hash));
  }

  async claimDueWebhookEvents(args: {
    now: number;
    leaseMs: number;
    limit: number;
  }): Promise<WebhookEventRecord[]> {
    const { rows } = await this.#db.run<WebhookEventRow>(Q.claimWebhookEvents(args));
    return rows.map(toWebhookEvent).sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id);
  }

  async recordWebhookAttempt(attempt: WebhookAttempt): Promise<boolean> {
    const status: WebhookStatus =
      attempt.outcome === 'delivered' ? 'delivered' : attempt.outcome === 'dead' ? 'dead' : 'pending';
    return (await this.#db.run(Q.recordWebhookAttempt(attempt, status))).rowCount === 1;
  }

  async listWebhookEvents(args: ListWebhookEvents): Promise<WebhookEventRecord[]> {
    const { rows } = await this.#db.run<WebhookEventRow>(Q.webhookEvents(args));
    return rows.map(toWebhookEvent);
  }

  async retryWebhookEvent(id: number, now: number, clientId?: string): Promise<boolean> {
    return (await this.#db.run(Q.retryWebhookEvent(id, now, clientId))).rowCount === 1;
  }

  async purgeExpired(args: PurgeExpired): Promise<PurgeResult> {
    const purge = async (query: ReturnType<typeof Q.purgeExpired>) =>
      (await this.#db.run(query)).rowCount ?? 0;
    const codes = await purge(
      Q.purgeExpired('codes', 'authorization_codes', args.now - args.codeGraceMs, args.limit),
    );
    const accessTokens = await purge(Q.purgeExpired('access', 'access_tokens', args.now, args.limit));
    const refreshTokens = await purge(Q.purgeExpired('refresh', 'refresh_tokens', args.now, args.limit));
    const webhookEvents =
      args.webhookRetentionMs === undefined
        ? 0
        : await purge(Q.purgeWebhookEvents(args.now - args.webhookRetentionMs, args.limit));
    return {
      codes,
      accessTokens,
      refreshTokens,
      webhookEvents,
      more: [codes, accessTokens, refreshTokens, webhookEvents].some((n) => n === args.limit),
    };
  }
}
