import { type AuditEventRow, auditEvent, toAuditEvent } from '../audit.ts';
import type {
  AccessTokenRecord,
  ApplicationGrantsPage,
  ApplicationPatch,
  ApplicationRecord,
  AuditContext,
  AuditEventRecord,
  AuditQuery,
  AuthorizationCodeRecord,
  CreateTestUserOutcome,
  ExchangeOutcome,
  GrantRecord,
  GrantType,
  GrantUse,
  ListedGrant,
  ListGrantsOfApplication,
  ListWebhookEvents,
  NewApplication,
  NewAuditEvent,
  NewAuthorizationCode,
  NewClientCredentialsToken,
  NewSellerSession,
  NewTestUser,
  NewUser,
  NewWebhookEvent,
  Page,
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
  WebhookQueueStats,
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
  toListedGrant,
  toRefreshToken,
  toSellerGrant,
  toSellerSession,
  toTestUser,
  toUser,
  toWebhookEvent,
  type UserRow,
  type WebhookEventRow,
  withRetention,
} from '../rows.ts';
import type { BatchedRotation } from './audit.ts';
import * as A from './audit.ts';
import { PostgresClient, type PostgresClientOptions } from './client.ts';
import { toUnavailable } from './errors.ts';
import { PG_MIGRATIONS } from './migrations.ts';
import * as Q from './queries.ts';
import { TurnBatch } from './turn-batch.ts';

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

/** A rotation's answer row as the contract's outcome. */
function toRotateOutcome(r: RotationResultRow | undefined): RotateOutcome {
  if (r === undefined) throw new Error('renova_rotate_refresh answered no row');
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

/** What `renova_exchange_code` returns (migration 9): one row, the outcome's columns set. */
interface ExchangeResultRow {
  outcome: ExchangeOutcome['outcome'];
  family_id: number | null;
  access_id: number | null;
  refresh_id: number | null;
  public_key: string | null;
}

function toExchangeOutcome(r: ExchangeResultRow | undefined): ExchangeOutcome {
  if (r === undefined) throw new Error('renova_exchange_code answered no row');
  if (r.outcome !== 'issued') return { outcome: r.outcome } as ExchangeOutcome;
  return {
    outcome: 'issued',
    familyId: r.family_id as number,
    accessTokenId: r.access_id as number,
    refreshTokenId: r.refresh_id as number,
    publicKey: r.public_key as string,
  };
}

/** The audit context of a code exchange: who asked (its type and subject come from the function). */
const exchangeEvent = (audit: AuditContext | undefined): A.CodeExchange['event'] => {
  const { actor, actorId, requestId, remoteAddress } = auditEvent('code.exchanged', undefined, audit, {});
  return { actor, actorId, requestId, remoteAddress };
};

/** The audit context of a refresh (its type comes from the outcome, in the statement). */
const rotationEvent = (args: RotateRefreshToken): BatchedRotation['event'] =>
  auditEvent('refresh.rotated', args.now, args.audit, { clientId: args.clientId });

/**
 * Most steps in one statement. More waiting in one turn go as several statements, in parallel on
 * the pool; at 16 a refresh already costs PostgreSQL ~90 µs, most of it the rotation's own work.
 */
const MAX_BATCH = 64;

/**
 * Statements of one kind (rotations, exchanges, client tokens) an instance has in flight at once;
 * what arrives meanwhile waits and goes as one statement when one returns. Against no limit, two
 * instances on one database, 15 alternating rounds on a noisy 2-core host (docs/performance.md,
 * sixth session): p99 lower in 10, throughput median ×1.04–1.07, Renova's CPU per refresh median
 * ×0.93–0.94. One or four in flight, tried in two rounds each, were no better than two.
 */
const MAX_STATEMENTS_IN_FLIGHT = 2;

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
  /**
   * The token endpoint's three steps, group-committed per loop turn (turn-batch.ts). Rotations and
   * exchanges are written in token / code id order, so that concurrent batches (of this instance
   * or another) take their row locks in one order; a deadlock left (a reuse revoking a family
   * another batch is rotating in) is retried by `run` like any other.
   */
  readonly #rotations: TurnBatch<BatchedRotation, RotateOutcome>;
  readonly #clientTokens: TurnBatch<A.BatchedClientToken, { accessTokenId: number }>;
  readonly #exchanges: TurnBatch<A.CodeExchange, ExchangeOutcome>;

  constructor(options: PostgresStorageOptions) {
    const db = new PostgresClient(options);
    this.#db = db;
    this.#rotations = new TurnBatch({
      max: MAX_BATCH,
      maxInFlight: MAX_STATEMENTS_IN_FLIGHT,
      order: (a, b) => a.args.refreshTokenId - b.args.refreshTokenId,
      one: async ({ args, event }) =>
        toRotateOutcome((await db.run<RotationResultRow>(A.rotateRefreshAudited(args, event))).rows[0]),
      many: async (rotations) => {
        const { rows } = await db.run<RotationResultRow & { ord: number }>(
          A.rotateRefreshBatchAudited(rotations),
        );
        return rotations.map((_, i) =>
          rows[i]?.ord === i + 1 ? toRotateOutcome(rows[i]) : new Error(`no answer for rotation ${i + 1}`),
        );
      },
    });
    this.#exchanges = new TurnBatch({
      max: MAX_BATCH,
      maxInFlight: MAX_STATEMENTS_IN_FLIGHT,
      // Codes in id order, so that concurrent batches take the codes' and grants' locks alike.
      order: (a, b) => a.args.codeId - b.args.codeId,
      one: async (exchange) =>
        toExchangeOutcome((await db.run<ExchangeResultRow>(A.exchangeCode(exchange))).rows[0]),
      many: async (exchanges) => {
        const { rows } = await db.run<ExchangeResultRow & { ord: number }>(A.exchangeCodes(exchanges));
        return exchanges.map((_, i) =>
          rows[i]?.ord === i + 1 ? toExchangeOutcome(rows[i]) : new Error(`no answer for exchange ${i + 1}`),
        );
      },
    });
    this.#clientTokens = new TurnBatch({
      max: MAX_BATCH,
      maxInFlight: MAX_STATEMENTS_IN_FLIGHT,
      one: async ({ token, event }) => {
        const { rows } = await db.run<IdRow>(A.withAuditEvent(Q.insertClientCredentialsToken(token), event));
        return { accessTokenId: (rows[0] as IdRow).id };
      },
      many: async (tokens) => {
        const { rows } = await db.run<IdRow & { ord: number }>(A.insertClientTokensAudited(tokens));
        return tokens.map((_, i) =>
          rows[i]?.ord === i + 1
            ? { accessTokenId: rows[i].id }
            : new Error(`no answer for client_credentials token ${i + 1}`),
        );
      },
    });
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

  createUser(user: NewUser, audit?: AuditContext): Promise<UserRecord | null> {
    return this.#db.tx(async (db) => {
      // A conditional insert: two concurrent sign-ups with one email leave one row and one null.
      const { rows } = await db.query<UserRow>(Q.insertUser(user));
      if (!rows[0]) return null;
      const created = toUser(rows[0]);
      await db.query(
        A.insertAuditEvent(auditEvent('user.created', user.createdAt, audit, { userId: created.id })),
      );
      return created;
    });
  }

  async findUserById(id: number): Promise<UserRecord | null> {
    const { rows } = await this.#db.run<UserRow>(Q.userById(id));
    return rows[0] ? toUser(rows[0]) : null;
  }

  async findUserByEmail(email: string): Promise<UserRecord | null> {
    const { rows } = await this.#db.run<UserRow>(Q.userByEmail(email));
    return rows[0] ? toUser(rows[0]) : null;
  }

  async listUsers(page: Page<number>): Promise<UserRecord[]> {
    const { rows } = await this.#db.run<UserRow>(Q.usersAfter(page.after ?? 0, page.limit));
    return rows.map(toUser);
  }

  updatePasswordHash(
    userId: number,
    previousHash: string,
    newHash: string,
    audit?: AuditContext,
  ): Promise<boolean> {
    // Conditional on the old hash: a concurrent password change wins over a rehash.
    return this.#changed(
      Q.updatePasswordHash(userId, previousHash, newHash),
      auditEvent('seller.password_rehashed', undefined, audit, { userId }),
    );
  }

  async createApplication(app: NewApplication, audit?: AuditContext): Promise<void> {
    await this.#changed(
      Q.insertApplication(app),
      auditEvent('application.created', app.createdAt, audit, {
        userId: app.ownerUserId,
        clientId: app.clientId,
      }),
    );
  }

  /**
   * One statement and its audit event in one transaction: the event is written if and only if the
   * statement changed a row; resolves whether it did.
   */
  #changed(query: ReturnType<typeof Q.insertUser>, event: NewAuditEvent): Promise<boolean> {
    return this.#db.tx(async (db) => {
      if (((await db.query(query)).rowCount ?? 0) === 0) return false;
      await db.query(A.insertAuditEvent(event));
      return true;
    });
  }

  async findApplication(clientId: string): Promise<ApplicationRecord | null> {
    const { rows } = await this.#db.run<ApplicationWithSecretsRow>(Q.applicationById(clientId));
    return rows[0] ? toApplicationWithSecrets(rows[0]) : null;
  }

  async listApplications(page: Page<string>): Promise<ApplicationRecord[]> {
    const { rows } = await this.#db.run<ApplicationWithSecretsRow>(
      Q.applicationsAfter(page.after ?? '', page.limit),
    );
    return rows.map(toApplicationWithSecrets);
  }

  async listApplicationsByOwner(ownerUserId: number): Promise<ApplicationRecord[]> {
    const { rows } = await this.#db.run<ApplicationWithSecretsRow>(Q.applicationsByOwner(ownerUserId));
    return rows.map(toApplicationWithSecrets);
  }

  rotateClientSecret(
    clientId: string,
    hash: Buffer,
    overlapUntil: number,
    now: number,
    audit?: AuditContext,
  ): Promise<boolean> {
    return this.#db.tx(async (db) => {
      if ((await db.query(Q.lockApplication(clientId))).rowCount !== 1) return false;
      await db.query(Q.endCurrentSecrets(clientId, overlapUntil));
      await db.query(Q.insertSecret(clientId, hash, now));
      await db.query(A.insertAuditEvent(auditEvent('client_secret.rotated', now, audit, { clientId })));
      // A secret rotated out with no overlap stops working on every instance at once.
      await db.query(Q.notifySecrets(clientId));
      return true;
    });
  }

  updateApplicationGrantTypes(
    clientId: string,
    grantTypes: GrantType[],
    audit?: AuditContext,
  ): Promise<boolean> {
    return this.#changed(
      Q.updateGrantTypes(clientId, grantTypes),
      auditEvent('application.changed', undefined, audit, { clientId }, 'grant_types'),
    );
  }

  replaceWebhookSecret(clientId: string, sealed: Buffer, audit?: AuditContext): Promise<boolean> {
    return this.#changed(
      Q.replaceWebhookSecret(clientId, sealed),
      auditEvent('webhook_secret.rotated', undefined, audit, { clientId }),
    );
  }

  async updateApplication(
    clientId: string,
    patch: ApplicationPatch,
    audit?: AuditContext,
  ): Promise<ApplicationRecord | null> {
    const updated = await this.#db.tx(async (db) => {
      // The row lock makes read-merge-write one step against a concurrent update.
      const row = (await db.query<ApplicationRow>(Q.lockApplication(clientId))).rows[0];
      if (!row) return false;
      await db.query(Q.updateApplication(clientId, row, patch));
      // `detail`: which settings changed (their names, never their values).
      const fields = Object.keys(patch).sort().join(',');
      await db.query(
        A.insertAuditEvent(auditEvent('application.changed', undefined, audit, { clientId }, fields)),
      );
      // Other instances drop their cached record (grant types, redirect URIs), as after a rotation.
      await db.query(Q.notifySecrets(clientId));
      return true;
    });
    return updated ? this.findApplication(clientId) : null;
  }

  deleteApplication(clientId: string, now: number, audit?: AuditContext): Promise<boolean> {
    return this.#db.tx(async (db) => {
      if ((await db.query(Q.markApplicationDeleted(clientId, now))).rowCount !== 1) return false;
      await db.query(A.insertAuditEvent(auditEvent('application.deleted', now, audit, { clientId })));
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

  createTestUser(args: NewTestUser, audit?: AuditContext): Promise<CreateTestUserOutcome> {
    return this.#db.tx(async (db): Promise<CreateTestUserOutcome> => {
      // The application's row lock serializes concurrent creations: the count and the insert are
      // one decision, so N parallel calls never pass the cap.
      if ((await db.query(Q.lockApplication(args.clientId))).rowCount !== 1) {
        return { outcome: 'unknown_application' };
      }
      const count = (await db.query<{ n: number }>(Q.countTestUsersOf(args.clientId))).rows[0]?.n ?? 0;
      if (count >= args.limit) return { outcome: 'limit_reached', count };
      const row = (await db.query<UserRow>(Q.insertTestUser(args))).rows[0];
      if (!row) return { outcome: 'email_taken' };
      const created = toUser(row);
      await db.query(
        A.insertAuditEvent(
          auditEvent(
            'user.created',
            args.user.createdAt,
            audit,
            { userId: created.id, clientId: args.clientId },
            'test_user',
          ),
        ),
      );
      return { outcome: 'created', user: created };
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
    audit?: AuditContext,
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
      await db.query(
        A.insertAuditEvent(
          auditEvent('consent.granted', code.createdAt, audit, {
            userId: code.userId,
            clientId: code.clientId,
          }),
        ),
      );
      return { codeId: (inserted.rows[0] as IdRow).id, grantCreated };
    });
  }

  async findAuthorizationCode(id: number): Promise<AuthorizationCodeRecord | null> {
    const { rows } = await this.#db.run<AuthorizationCodeRow>(Q.codeById(id));
    return rows[0] ? toAuthorizationCode(rows[0]) : null;
  }

  /**
   * RFC 6749 §4.1.3 (storage/contract.ts): `renova_exchange_code` (migration 9), the exchanges of
   * one loop turn in one statement (turn-batch.ts).
   */
  exchangeAuthorizationCode(args: A.CodeExchange['args']): Promise<ExchangeOutcome> {
    return this.#exchanges.add({ args, event: exchangeEvent(args.audit) });
  }

  async findRefreshToken(id: number): Promise<RefreshTokenRecord | null> {
    const { rows } = await this.#db.run<RefreshTokenRow>(Q.refreshById(id));
    return rows[0] ? toRefreshToken(rows[0]) : null;
  }

  /**
   * RFC 6749 §6 rotation (storage/contract.ts RotateRefreshToken). The rotations asked for in one
   * loop turn are written together, as one statement (turn-batch.ts); each is still atomic and
   * answered only once committed.
   */
  rotateRefreshToken(args: RotateRefreshToken): Promise<RotateOutcome> {
    return this.#rotations.add({ args, event: rotationEvent(args) });
  }

  issueClientCredentialsToken(
    token: NewClientCredentialsToken,
    audit?: AuditContext,
  ): Promise<{ accessTokenId: number }> {
    const event = auditEvent('client_credentials.issued', token.issuedAt, audit, {
      userId: token.userId,
      clientId: token.clientId,
    });
    return this.#clientTokens.add({ token, event });
  }

  async findAccessToken(id: number): Promise<AccessTokenRecord | null> {
    const { rows } = await this.#db.run<AccessTokenRow>(Q.accessById(id));
    return rows[0] ? toAccessToken(rows[0]) : null;
  }

  revokeAccessToken(id: number, now: number, audit?: AuditContext): Promise<void> {
    return this.#db.tx(async (db) => {
      const revoked = (
        await db.query<{ client_id: string; user_id: number; family_id: number | null }>(
          A.revokeAccessReturning(id, now),
        )
      ).rows[0];
      if (!revoked) return;
      await db.query(
        A.insertAuditEvent(
          auditEvent('token.revoked', now, audit, {
            userId: revoked.user_id,
            clientId: revoked.client_id,
            familyId: revoked.family_id,
          }),
        ),
      );
    });
  }

  revokeFamily(familyId: number, now: number, audit?: AuditContext): Promise<void> {
    return this.#db.tx(async (db) => {
      const owner = (
        await db.query<{ client_id: string; user_id: number }>(A.revokeFamilyReturning(familyId, now))
      ).rows[0];
      if (!owner) return;
      await db.query(
        A.insertAuditEvent(
          auditEvent('family.revoked', now, audit, {
            userId: owner.user_id,
            clientId: owner.client_id,
            familyId,
          }),
        ),
      );
    });
  }

  revokeGrant(
    clientId: string,
    userId: number,
    now: number,
    event?: NewWebhookEvent,
    audit?: AuditContext,
  ): Promise<boolean> {
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
      await db.query(A.insertAuditEvent(auditEvent('grant.revoked', now, audit, { userId, clientId })));
      return true;
    });
  }

  async findGrant(clientId: string, userId: number): Promise<GrantRecord | null> {
    const { rows } = await this.#db.run<GrantRow>(Q.grantOf(clientId, userId));
    return rows[0] ? toGrant(rows[0]) : null;
  }

  async listGrants(
    filter: { clientId?: string | undefined; userId?: number | undefined } & Page<number>,
  ): Promise<ListedGrant[]> {
    const { rows } = await this.#db.run<GrantRow>(Q.grantsAfter(filter, filter.after ?? 0, filter.limit));
    return rows.map(toListedGrant);
  }

  async listActiveGrantsOfUser(userId: number): Promise<SellerGrantRecord[]> {
    const { rows } = await this.#db.run<SellerGrantRow>(Q.activeGrantsOfUser(userId));
    return rows.map(toSellerGrant);
  }

  async createSellerSession(session: NewSellerSession, audit?: AuditContext): Promise<void> {
    // A successful sign-in is the session it opens: recorded with it.
    await this.#changed(
      Q.insertSession(session),
      auditEvent('seller.signed_in', session.createdAt, audit, { userId: session.userId }),
    );
  }

  async findSellerSession(hash: Buffer, now: number): Promise<{ userId: number; expiresAt: number } | null> {
    const { rows } = await this.#db.run<SellerSessionRow>(Q.sessionByHash(hash, now));
    return rows[0] ? toSellerSession(rows[0]) : null;
  }

  deleteSellerSession(hash: Buffer, audit?: AuditContext): Promise<void> {
    return this.#db.tx(async (db) => {
      const deleted = (await db.query<{ user_id: number }>(A.deleteSessionReturning(hash))).rows[0];
      if (!deleted) return;
      await db.query(
        A.insertAuditEvent(auditEvent('seller.signed_out', undefined, audit, { userId: deleted.user_id })),
      );
    });
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

  async webhookQueueStats(): Promise<WebhookQueueStats> {
    const { rows } = await this.#db.run<{ pending: number; oldest: string | number | null; dead: number }>(
      Q.webhookQueueStats(),
    );
    const row = rows[0] ?? { pending: 0, oldest: null, dead: 0 };
    return {
      pending: row.pending,
      oldestPendingCreatedAt: row.oldest === null ? null : Number(row.oldest),
      dead: row.dead,
    };
  }

  async listWebhookEvents(args: ListWebhookEvents): Promise<WebhookEventRecord[]> {
    const { rows } = await this.#db.run<WebhookEventRow>(Q.webhookEvents(args));
    return rows.map(toWebhookEvent);
  }

  retryWebhookEvent(id: number, now: number, clientId?: string, audit?: AuditContext): Promise<boolean> {
    return this.#db.tx(async (db) => {
      const retried = (
        await db.query<{ client_id: string; user_id: number }>(
          A.retryWebhookEventReturning(id, now, clientId),
        )
      ).rows[0];
      if (!retried) return false;
      await db.query(
        A.insertAuditEvent(
          auditEvent(
            'webhook.retried',
            now,
            audit,
            { userId: retried.user_id, clientId: retried.client_id },
            `event ${id}`,
          ),
        ),
      );
      return true;
    });
  }

  async appendAuditEvent(event: NewAuditEvent): Promise<void> {
    await this.#db.run(A.insertAuditEvent(event));
  }

  async listAuditEvents(query: AuditQuery): Promise<AuditEventRecord[]> {
    const { rows } = await this.#db.run<AuditEventRow>(A.listAuditEvents(query));
    return rows.map(toAuditEvent);
  }

  async purgeAuditEvents(args: { before: number; limit: number }): Promise<number> {
    return (await this.#db.run(A.purgeAuditEvents(args.before, args.limit))).rowCount ?? 0;
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
    const families =
      args.familyRetentionMs === undefined
        ? undefined
        : await purge(Q.purgeFamilies(args.now - args.familyRetentionMs, args.limit));
    const grants =
      args.revokedGrantRetentionMs === undefined
        ? undefined
        : await purge(Q.purgeRevokedGrants(args.now - args.revokedGrantRetentionMs, args.limit));
    const sessions =
      args.sessionRetentionMs === undefined
        ? undefined
        : await purge(Q.purgeSessions(args.now - args.sessionRetentionMs, args.limit));
    return withRetention(
      { codes, accessTokens, refreshTokens, webhookEvents },
      { families, grants, sessions },
      args.limit,
    );
  }
}
