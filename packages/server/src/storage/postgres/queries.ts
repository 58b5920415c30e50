import type pg from 'pg';
import type {
  ApplicationPatch,
  GrantType,
  GrantUse,
  ListGrantsOfApplication,
  ListWebhookEvents,
  NewApplication,
  NewAuthorizationCode,
  NewClientCredentialsToken,
  NewSellerSession,
  NewTestUser,
  NewUser,
  NewWebhookEvent,
  RotateRefreshToken,
  WebhookAttempt,
  WebhookStatus,
} from '../contract.ts';
import { ALL_GRANT_TYPES, likePrefix, searchedUserId } from '../rows.ts';

/**
 * Every statement the PostgreSQL adapter runs, as named statements: `pg` prepares each name once
 * per connection and reuses the plan (the counterpart of sqlite/statements.ts).
 */

const q = (name: string, text: string, values: unknown[] = []): pg.QueryConfig => ({ name, text, values });

/**
 * The notification channel of client secret changes: `rotateClientSecret` notifies in its own
 * transaction (delivered on COMMIT, never for a rolled-back rotation), every instance listens.
 */
export const CLIENT_SECRETS_CHANNEL = 'renova_client_secrets';

/** Key of the advisory lock that serializes migrations across instances ("renova" in ASCII). */
const MIGRATION_LOCK = 0x72656e6f7661;

/** An application row plus its secrets as a JSON array `{i, h (hex), c, e}`, oldest first. */
const APPLICATION_COLUMNS = `a.*, (
  SELECT coalesce(json_agg(json_build_object('i', s.id, 'h', encode(s.secret_hash, 'hex'), 'c', s.created_at, 'e', s.expires_at) ORDER BY s.id), '[]')
  FROM client_secrets s WHERE s.client_id = a.client_id
) AS secrets`;

export const migrationLock = () => ({ text: 'SELECT pg_advisory_xact_lock($1)', values: [MIGRATION_LOCK] });
export const createMigrationsTable = () => ({
  text: 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
});
export const appliedMigrations = () => ({ text: 'SELECT version FROM schema_migrations' });
export const recordMigration = (version: number, name: string, at: number) => ({
  text: 'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
  values: [version, name, at],
});
export const readOnly = () => ({ text: "SELECT current_setting('transaction_read_only') AS read_only" });

export const insertUser = (user: NewUser) =>
  q(
    'insert_user',
    `INSERT INTO users (email, nickname, site_id, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING RETURNING *`,
    [user.email, user.nickname, user.siteId, user.passwordHash, user.createdAt],
  );
export const userById = (id: number) => q('user_by_id', 'SELECT * FROM users WHERE id = $1', [id]);
export const userByEmail = (email: string) =>
  q('user_by_email', 'SELECT * FROM users WHERE lower(email) = lower($1)', [email]);
export const usersAfter = (after: number, limit: number) =>
  q('users_after', 'SELECT * FROM users WHERE id > $1 ORDER BY id LIMIT $2', [after, limit]);
export const updatePasswordHash = (userId: number, previousHash: string, newHash: string) =>
  q('update_password_hash', 'UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3', [
    newHash,
    userId,
    previousHash,
  ]);

/** One statement: the application and its first secret exist together or not at all. */
export const insertApplication = (app: NewApplication) =>
  q(
    'insert_application',
    `WITH a AS (
       INSERT INTO applications (client_id, name, owner_user_id, redirect_uris, scope, pkce_required,
         notification_url, webhook_secret_sealed, owner_public_key, created_at, grant_types, description, logo_url)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $13, $14) RETURNING client_id)
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
      app.description ?? '',
      app.logoUrl ?? null,
    ],
  );
export const applicationById = (clientId: string) =>
  q(
    'application_by_id',
    // A deleted application is unknown to every lookup (migration 5).
    `SELECT ${APPLICATION_COLUMNS} FROM applications a WHERE a.client_id = $1 AND a.deleted_at IS NULL`,
    [clientId],
  );
export const applicationsByOwner = (ownerUserId: number) =>
  q(
    'applications_by_owner',
    `SELECT ${APPLICATION_COLUMNS} FROM applications a WHERE a.owner_user_id = $1 AND a.deleted_at IS NULL ORDER BY a.created_at, a.client_id`,
    [ownerUserId],
  );
export const applicationsAfter = (after: string, limit: number) =>
  q(
    'applications_after',
    // Client ids are 16 digits: every collation orders them as SQLite does, and the primary key serves.
    `SELECT ${APPLICATION_COLUMNS} FROM applications a WHERE a.client_id > $1 AND a.deleted_at IS NULL
     ORDER BY a.client_id LIMIT $2`,
    [after, limit],
  );
/** The application row lock serializes two rotations of one application. */
export const lockApplication = (clientId: string) =>
  q('lock_application', 'SELECT * FROM applications WHERE client_id = $1 AND deleted_at IS NULL FOR UPDATE', [
    clientId,
  ]);
export const endCurrentSecrets = (clientId: string, overlapUntil: number) =>
  q(
    'end_current_secrets',
    'UPDATE client_secrets SET expires_at = $1 WHERE client_id = $2 AND (expires_at IS NULL OR expires_at > $1)',
    [overlapUntil, clientId],
  );
export const insertSecret = (clientId: string, hash: Buffer, now: number) =>
  q(
    'insert_secret',
    'INSERT INTO client_secrets (client_id, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, NULL)',
    [clientId, hash, now],
  );
/** Delivered at COMMIT to every instance, which drops its cached secrets of this client. */
export const notifySecrets = (clientId: string) =>
  q('notify_secrets', 'SELECT pg_notify($1, $2)', [CLIENT_SECRETS_CHANNEL, clientId]);
/**
 * The other instances drop their cached record, as after a secret rotation (one statement: the
 * notification is delivered at its commit).
 */
export const updateGrantTypes = (clientId: string, grantTypes: GrantType[]) =>
  q(
    'update_grant_types',
    `WITH u AS (UPDATE applications SET grant_types = $1 WHERE client_id = $2 AND deleted_at IS NULL RETURNING client_id)
     SELECT pg_notify($3, client_id) FROM u`,
    [grantTypes.join(' '), clientId, CLIENT_SECRETS_CHANNEL],
  );
export const replaceWebhookSecret = (clientId: string, sealed: Buffer) =>
  q(
    'replace_webhook_secret',
    'UPDATE applications SET webhook_secret_sealed = $1 WHERE client_id = $2 AND deleted_at IS NULL',
    [sealed, clientId],
  );

/** After lockApplication in the same transaction: the merged row, every field written. */
export const updateApplication = (
  clientId: string,
  row: {
    name: string;
    description: string | null;
    logo_url: string | null;
    redirect_uris: string;
    scope: string;
    pkce_required: boolean | number;
    grant_types: string | null;
    notification_url: string | null;
  },
  patch: ApplicationPatch,
) =>
  q(
    'update_application',
    `UPDATE applications SET name = $2, description = $3, logo_url = $4, redirect_uris = $5, scope = $6,
       pkce_required = $7, grant_types = $8, notification_url = $9
     WHERE client_id = $1`,
    [
      clientId,
      patch.name ?? row.name,
      patch.description ?? row.description ?? '',
      patch.logoUrl === undefined ? row.logo_url : patch.logoUrl,
      patch.redirectUris === undefined ? row.redirect_uris : JSON.stringify(patch.redirectUris),
      patch.scope ?? row.scope,
      patch.pkceRequired ?? row.pkce_required === true,
      patch.grantTypes === undefined ? row.grant_types : patch.grantTypes.join(' '),
      patch.notificationUrl === undefined ? row.notification_url : patch.notificationUrl,
    ],
  );
export const markApplicationDeleted = (clientId: string, now: number) =>
  q(
    'mark_application_deleted',
    'UPDATE applications SET deleted_at = $2 WHERE client_id = $1 AND deleted_at IS NULL',
    [clientId, now],
  );
/** Grants first: their row locks order this against recordConsent and exchanges (FOR SHARE). */
export const revokeGrantsOfClient = (clientId: string, now: number) =>
  q(
    'revoke_grants_of_client',
    'UPDATE grants SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL',
    [clientId, now],
  );
export const revokeFamiliesOfClient = (clientId: string, now: number) =>
  q(
    'revoke_families_of_client',
    `UPDATE token_families SET revoked_at = $2
     WHERE revoked_at IS NULL AND grant_id IN (SELECT id FROM grants WHERE client_id = $1)`,
    [clientId, now],
  );
/** SKIP LOCKED for the reason of useCodesOfGrant: a locked code belongs to an exchange in flight. */
export const useCodesOfClient = (clientId: string, now: number) =>
  q(
    'use_codes_of_client',
    `UPDATE authorization_codes SET used_at = $2 WHERE id IN (
       SELECT id FROM authorization_codes WHERE used_at IS NULL
         AND grant_id IN (SELECT id FROM grants WHERE client_id = $1) FOR UPDATE SKIP LOCKED)`,
    [clientId, now],
  );
export const revokeClientCredentialsTokensOfClient = (clientId: string, now: number) =>
  q(
    'revoke_cc_tokens_of_client',
    'UPDATE access_tokens SET revoked_at = $2 WHERE client_id = $1 AND family_id IS NULL AND revoked_at IS NULL',
    [clientId, now],
  );
export const killPendingEventsOfClient = (clientId: string) =>
  q(
    'kill_pending_events_of_client',
    `UPDATE webhook_events SET status = 'dead', lease_until = NULL, last_error = 'the application was deleted'
     WHERE client_id = $1 AND status = 'pending'`,
    [clientId],
  );

const GRANT_SEARCH = `($2::text IS NULL OR g.user_id = $3::bigint OR lower(u.nickname) LIKE $2::text ESCAPE '\\')`;
const searchParams = (args: ListGrantsOfApplication) => [
  args.clientId,
  args.search === undefined ? null : likePrefix(args.search),
  args.search === undefined ? null : searchedUserId(args.search),
];
export const grantsOfApplication = (args: ListGrantsOfApplication) =>
  q(
    'grants_of_application',
    `SELECT g.id, g.user_id, u.nickname, u.test_of_client_id, g.scope, g.created_at, g.updated_at, g.last_used_at
     FROM grants g JOIN users u ON u.id = g.user_id
     WHERE g.client_id = $1 AND g.revoked_at IS NULL AND g.id < $4 AND ${GRANT_SEARCH}
       AND ($5::boolean IS NULL OR (u.test_of_client_id IS NOT NULL) = $5::boolean)
     ORDER BY g.id DESC LIMIT $6`,
    [...searchParams(args), args.cursor ?? Number.MAX_SAFE_INTEGER, args.testUsers ?? null, args.limit + 1],
  );
export const grantTotalsOfApplication = (args: ListGrantsOfApplication) =>
  q(
    'grant_totals_of_application',
    `SELECT count(*) FILTER (WHERE u.test_of_client_id IS NULL)::int AS real,
            count(*) FILTER (WHERE u.test_of_client_id IS NOT NULL)::int AS test
     FROM grants g JOIN users u ON u.id = g.user_id
     WHERE g.client_id = $1 AND g.revoked_at IS NULL AND ${GRANT_SEARCH}`,
    searchParams(args),
  );
/** The whole batch in one statement: unnest the arrays, one conditional UPDATE. */
export const touchGrantsLastUsed = (uses: GrantUse[], coarseMs: number) =>
  q(
    'touch_grants_last_used',
    `UPDATE grants g SET last_used_at = t.at
     FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS t(client_id, user_id, at)
     WHERE g.client_id = t.client_id AND g.user_id = t.user_id
       AND (g.last_used_at IS NULL OR g.last_used_at <= t.at - $4::bigint)`,
    [uses.map((u) => u.clientId), uses.map((u) => u.userId), uses.map((u) => u.at), coarseMs],
  );
export const countTestUsersOf = (clientId: string) =>
  q('count_test_users_of', 'SELECT count(*)::int AS n FROM users WHERE test_of_client_id = $1', [clientId]);
export const insertTestUser = (args: NewTestUser) =>
  q(
    'insert_test_user',
    `INSERT INTO users (email, nickname, site_id, password_hash, created_at, test_of_client_id, test_description)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING *`,
    [
      args.user.email,
      args.user.nickname,
      args.user.siteId,
      args.user.passwordHash,
      args.user.createdAt,
      args.clientId,
      args.description,
    ],
  );
export const testUsersOf = (clientId: string) =>
  q(
    'test_users_of',
    `SELECT id, email, nickname, site_id, test_description, created_at FROM users
     WHERE test_of_client_id = $1 ORDER BY id`,
    [clientId],
  );
export const insertTestWebhookEvent = (event: NewWebhookEvent) =>
  q(
    'insert_test_webhook_event',
    `INSERT INTO webhook_events (client_id, user_id, action, url, created_at, next_attempt_at, test)
     SELECT $1, $2, $3, $4, $5, $5, true
     WHERE EXISTS (SELECT 1 FROM applications WHERE client_id = $1 AND deleted_at IS NULL)
     RETURNING id`,
    [event.clientId, event.userId, event.action, event.url, event.createdAt],
  );

/** Locks the grant row if it exists, so "was it active before?" and the upsert are one decision. */
export const lockGrant = (clientId: string, userId: number) =>
  q('lock_grant', 'SELECT revoked_at FROM grants WHERE client_id = $1 AND user_id = $2 FOR UPDATE', [
    clientId,
    userId,
  ]);
export const upsertGrant = (code: NewAuthorizationCode) =>
  q(
    'upsert_grant',
    `INSERT INTO grants (client_id, user_id, scope, public_key, created_at, updated_at, revoked_at)
     VALUES ($1, $2, $3, $4, $5, $5, NULL)
     ON CONFLICT (client_id, user_id) DO UPDATE SET
       scope = excluded.scope, updated_at = excluded.updated_at, revoked_at = NULL,
       created_at = CASE WHEN grants.revoked_at IS NULL THEN grants.created_at ELSE excluded.created_at END
     RETURNING id, (xmax = 0) AS inserted`,
    [code.clientId, code.userId, code.scope, code.publicKey, code.createdAt],
  );
export const insertCode = (code: NewAuthorizationCode, grantId: number) =>
  q(
    'insert_code',
    `INSERT INTO authorization_codes (code_hash, grant_id, client_id, user_id, redirect_uri, scope,
       code_challenge, code_challenge_method, created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
    [
      code.hash,
      grantId,
      code.clientId,
      code.userId,
      code.redirectUri,
      code.scope,
      code.codeChallenge,
      code.codeChallengeMethod,
      code.createdAt,
      code.expiresAt,
    ],
  );
export const insertWebhookEvent = (event: NewWebhookEvent) =>
  q(
    'insert_webhook_event',
    `INSERT INTO webhook_events (client_id, user_id, action, url, created_at, next_attempt_at)
     VALUES ($1, $2, $3, $4, $5, $5)`,
    [event.clientId, event.userId, event.action, event.url, event.createdAt],
  );
export const codeById = (id: number) =>
  q('code_by_id', 'SELECT * FROM authorization_codes WHERE id = $1', [id]);

// The code exchange's statements are renova_exchange_code's (migrations.ts, version 9; audit.ts
// exchangeCode).

export const refreshById = (id: number) =>
  q(
    'refresh_by_id',
    `SELECT r.id, r.token_hash, r.family_id, r.issued_at, r.expires_at, r.rotated_at, r.revoked_at,
            f.scope, f.live_mode, f.revoked_at AS family_revoked_at,
            g.client_id, g.user_id, g.public_key
     FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id JOIN grants g ON g.id = f.grant_id
     WHERE r.id = $1`,
    [id],
  );
/**
 * One round trip: the preconditions and the decision tree run inside the database
 * (renova_rotate_refresh, 13 arguments, migration 3), in the statement's own transaction, holding
 * the token's row lock only for a rotation.
 */
export const rotateRefresh = (args: RotateRefreshToken) =>
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
  );

export const insertClientCredentialsToken = (token: NewClientCredentialsToken) =>
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
  );
export const accessById = (id: number) =>
  q(
    'access_by_id',
    `SELECT a.*, f.revoked_at AS family_revoked_at
     FROM access_tokens a LEFT JOIN token_families f ON f.id = a.family_id WHERE a.id = $1`,
    [id],
  );
export const revokeAccess = (id: number, now: number) =>
  q('revoke_access', 'UPDATE access_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [
    now,
    id,
  ]);
export const revokeFamily = (familyId: number, now: number) =>
  q('revoke_family', 'UPDATE token_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [
    now,
    familyId,
  ]);

export const revokeGrant = (clientId: string, userId: number, now: number) =>
  q(
    'revoke_grant',
    'UPDATE grants SET revoked_at = $1 WHERE client_id = $2 AND user_id = $3 AND revoked_at IS NULL RETURNING id',
    [now, clientId, userId],
  );
export const revokeFamiliesOfGrant = (grantId: number, now: number) =>
  q(
    'revoke_families_of_grant',
    'UPDATE token_families SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL',
    [now, grantId],
  );
/**
 * The grant's unused codes die with it: marked used, with no family (security review #5). SKIP
 * LOCKED: a code row locked now belongs to an exchange that has already marked it used and waits
 * for this transaction on the grant (FOR SHARE); after this commits it sees the grant revoked and
 * answers grant_revoked. Waiting for that row here would be a deadlock (the exchange locks code
 * then grant, this grant then code).
 */
export const useCodesOfGrant = (grantId: number, now: number) =>
  q(
    'use_codes_of_grant',
    `UPDATE authorization_codes SET used_at = $1 WHERE id IN (
       SELECT id FROM authorization_codes WHERE grant_id = $2 AND used_at IS NULL FOR UPDATE SKIP LOCKED)`,
    [now, grantId],
  );
export const grantOf = (clientId: string, userId: number) =>
  q('grant_of', 'SELECT * FROM grants WHERE client_id = $1 AND user_id = $2', [clientId, userId]);
/** `renova grant list`: one statement per filter so that each uses its index. */
export const grantsAfter = (
  filter: { clientId?: string | undefined; userId?: number | undefined },
  after: number,
  limit: number,
) => {
  if (filter.clientId !== undefined && filter.userId !== undefined)
    return q(
      'grants_of_client_and_user_after',
      'SELECT * FROM grants WHERE client_id = $1 AND user_id = $2 AND id > $3 ORDER BY id LIMIT $4',
      [filter.clientId, filter.userId, after, limit],
    );
  if (filter.clientId !== undefined)
    return q(
      'grants_of_client_after',
      'SELECT * FROM grants WHERE client_id = $1 AND id > $2 ORDER BY id LIMIT $3',
      [filter.clientId, after, limit],
    );
  if (filter.userId !== undefined)
    return q(
      'grants_of_user_after',
      'SELECT * FROM grants WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3',
      [filter.userId, after, limit],
    );
  return q('grants_after', 'SELECT * FROM grants WHERE id > $1 ORDER BY id LIMIT $2', [after, limit]);
};
export const activeGrantsOfUser = (userId: number) =>
  q(
    'active_grants_of_user',
    `SELECT g.client_id, a.name, g.scope, g.created_at, g.updated_at, g.last_used_at
     FROM grants g JOIN applications a ON a.client_id = g.client_id
     WHERE g.user_id = $1 AND g.revoked_at IS NULL AND a.deleted_at IS NULL
     ORDER BY g.updated_at DESC, g.id DESC`,
    [userId],
  );

export const insertSession = (session: NewSellerSession) =>
  q(
    'insert_session',
    `WITH expired AS (DELETE FROM seller_sessions WHERE expires_at <= $3)
     INSERT INTO seller_sessions (id_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
    [session.hash, session.userId, session.createdAt, session.expiresAt],
  );
export const sessionByHash = (hash: Buffer, now: number) =>
  q(
    'session_by_hash',
    'SELECT user_id, expires_at FROM seller_sessions WHERE id_hash = $1 AND expires_at > $2',
    [hash, now],
  );
export const deleteSession = (hash: Buffer) =>
  q('delete_session', 'DELETE FROM seller_sessions WHERE id_hash = $1', [hash]);

/**
 * SKIP LOCKED: dispatchers on several instances take disjoint events without waiting on each
 * other; the lease condition is re-checked on the locked, current row.
 */
export const claimWebhookEvents = (args: { now: number; leaseMs: number; limit: number }) =>
  q(
    'claim_webhook_events',
    `UPDATE webhook_events SET lease_until = $2
     WHERE id IN (
       SELECT id FROM webhook_events
       WHERE status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
       ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    [args.now, args.now + args.leaseMs, args.limit],
  );
export const recordWebhookAttempt = (attempt: WebhookAttempt, status: WebhookStatus) =>
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
  );
export const webhookEvents = (args: ListWebhookEvents) =>
  q(
    'webhook_events',
    `SELECT * FROM webhook_events
     WHERE ($1::text IS NULL OR client_id = $1::text) AND ($2::text IS NULL OR status = $2::text) AND id < $3
     ORDER BY id DESC LIMIT $4`,
    [args.clientId ?? null, args.status ?? null, args.before ?? Number.MAX_SAFE_INTEGER, args.limit],
  );
export const webhookQueueStats = () =>
  q(
    'webhook_queue_stats',
    `SELECT (SELECT count(*) FROM webhook_events WHERE status = 'pending')::int AS pending,
            (SELECT min(created_at) FROM webhook_events WHERE status = 'pending') AS oldest,
            (SELECT count(*) FROM webhook_events WHERE status = 'dead')::int AS dead`,
    [],
  );

export const retryWebhookEvent = (id: number, now: number, clientId: string | undefined) =>
  q(
    'retry_webhook_event',
    `UPDATE webhook_events SET status = 'pending', next_attempt_at = $1, lease_until = NULL
     WHERE id = $2 AND ($3::text IS NULL OR client_id = $3::text) AND status IN ('pending', 'dead')`,
    [now, id, clientId ?? null],
  );

/**
 * One bounded DELETE per table. SKIP LOCKED: a row a request is working on is left for the next
 * round, so housekeeping never waits on (or blocks) the token endpoint, and instances purging at
 * the same moment split the work instead of queueing on each other.
 */
export const purgeExpired = (
  name: 'codes' | 'access' | 'refresh',
  table: 'authorization_codes' | 'access_tokens' | 'refresh_tokens',
  before: number,
  limit: number,
) =>
  q(
    `purge_${name}`,
    `DELETE FROM ${table} WHERE id IN (
       SELECT id FROM ${table} WHERE expires_at < $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
    [before, limit],
  );
export const purgeWebhookEvents = (before: number, limit: number) =>
  q(
    'purge_webhook_events',
    `DELETE FROM webhook_events WHERE id IN (
       SELECT id FROM webhook_events WHERE status IN ('delivered', 'dead') AND created_at < $1
       ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)`,
    [before, limit],
  );

/** Retention (see PurgeExpired): SKIP LOCKED like the purges above. */
export const purgeFamilies = (before: number, limit: number) =>
  q(
    'purge_families',
    `DELETE FROM token_families WHERE id IN (
       SELECT f.id FROM token_families f
       WHERE f.created_at < $1
         AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = f.id)
         AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.family_id = f.id)
         AND NOT EXISTS (SELECT 1 FROM authorization_codes c WHERE c.family_id = f.id)
       ORDER BY f.id LIMIT $2 FOR UPDATE SKIP LOCKED)`,
    [before, limit],
  );
export const purgeRevokedGrants = (before: number, limit: number) =>
  q(
    'purge_revoked_grants',
    `DELETE FROM grants WHERE id IN (
       SELECT g.id FROM grants g
       WHERE g.revoked_at IS NOT NULL AND g.revoked_at < $1
         AND NOT EXISTS (SELECT 1 FROM token_families f WHERE f.grant_id = g.id)
         AND NOT EXISTS (SELECT 1 FROM authorization_codes c WHERE c.grant_id = g.id)
       ORDER BY g.revoked_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
    [before, limit],
  );
export const purgeSessions = (before: number, limit: number) =>
  q(
    'purge_sessions',
    `DELETE FROM seller_sessions WHERE id_hash IN (
       SELECT id_hash FROM seller_sessions WHERE expires_at < $1
       ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
    [before, limit],
  );
