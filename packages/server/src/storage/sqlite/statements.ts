import type Database from 'better-sqlite3';
import { prepareAuditStatements } from './audit.ts';

/** A prepared statement, named so that the declarations emitted for this module can refer to it. */
export interface PreparedStatement extends Database.Statement {}

/**
 * Every statement the adapter runs, prepared once per connection (the main thread's reader and
 * the writer each prepare their own).
 */
export function prepareStatements(db: Database.Database) {
  const p = (sql: string): PreparedStatement => db.prepare(sql);
  return {
    insertUser: p(
      'INSERT INTO users (email, nickname, site_id, password_hash, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING *',
    ),
    userById: p('SELECT * FROM users WHERE id = ?'),
    userByEmail: p('SELECT * FROM users WHERE email = ?'),
    usersAfter: p('SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?'),
    updatePasswordHash: p('UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?'),
    insertApplication: p(
      `INSERT INTO applications (client_id, name, owner_user_id, redirect_uris, scope, pkce_required,
       notification_url, webhook_secret_sealed, owner_public_key, created_at, grant_types, description, logo_url)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertSecret: p(
      'INSERT INTO client_secrets (client_id, secret_hash, created_at, expires_at) VALUES (?, ?, ?, NULL)',
    ),
    // A deleted application is unknown to every lookup (migration 5).
    applicationById: p('SELECT * FROM applications WHERE client_id = ? AND deleted_at IS NULL'),
    applicationsByOwner: p(
      'SELECT * FROM applications WHERE owner_user_id = ? AND deleted_at IS NULL ORDER BY created_at',
    ),
    applicationsAfter: p(
      'SELECT * FROM applications WHERE client_id > ? AND deleted_at IS NULL ORDER BY client_id LIMIT ?',
    ),
    secretsOfApplicationsAfter: p(
      `SELECT id, client_id, secret_hash, created_at, expires_at FROM client_secrets
     WHERE client_id IN (SELECT client_id FROM applications WHERE client_id > ? AND deleted_at IS NULL
                         ORDER BY client_id LIMIT ?)
     ORDER BY id`,
    ),
    secretsOf: p(
      'SELECT id, secret_hash, created_at, expires_at FROM client_secrets WHERE client_id = ? ORDER BY id',
    ),
    secretsOfOwner: p(
      `SELECT s.id, s.client_id, s.secret_hash, s.created_at, s.expires_at
     FROM client_secrets s JOIN applications a ON a.client_id = s.client_id
     WHERE a.owner_user_id = ? AND a.deleted_at IS NULL ORDER BY s.id`,
    ),
    updateGrantTypes: p('UPDATE applications SET grant_types = ? WHERE client_id = ? AND deleted_at IS NULL'),
    updateApplication: p(
      `UPDATE applications SET name = @name, description = @description, logo_url = @logoUrl,
       redirect_uris = @redirectUris, scope = @scope, pkce_required = @pkceRequired, grant_types = @grantTypes,
       notification_url = @notificationUrl
     WHERE client_id = @clientId AND deleted_at IS NULL`,
    ),
    markApplicationDeleted: p(
      'UPDATE applications SET deleted_at = ? WHERE client_id = ? AND deleted_at IS NULL',
    ),
    revokeGrantsOfClient: p('UPDATE grants SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL'),
    revokeFamiliesOfClient: p(
      `UPDATE token_families SET revoked_at = ?
     WHERE revoked_at IS NULL AND grant_id IN (SELECT id FROM grants WHERE client_id = ?)`,
    ),
    useCodesOfClient: p(
      `UPDATE authorization_codes SET used_at = ?
     WHERE used_at IS NULL AND grant_id IN (SELECT id FROM grants WHERE client_id = ?)`,
    ),
    revokeClientCredentialsTokensOfClient: p(
      'UPDATE access_tokens SET revoked_at = ? WHERE client_id = ? AND family_id IS NULL AND revoked_at IS NULL',
    ),
    killPendingEventsOfClient: p(
      `UPDATE webhook_events SET status = 'dead', lease_until = NULL, last_error = 'the application was deleted'
     WHERE client_id = ? AND status = 'pending'`,
    ),
    grantsOfApplication: p(
      `SELECT g.id, g.user_id, u.nickname, u.test_of_client_id, g.scope, g.created_at, g.updated_at, g.last_used_at
     FROM grants g JOIN users u ON u.id = g.user_id
     WHERE g.client_id = @clientId AND g.revoked_at IS NULL AND g.id < @cursor
       AND (@pattern IS NULL OR g.user_id = @searchId OR lower(u.nickname) LIKE @pattern ESCAPE '\\')
       AND (@testUsers IS NULL OR (u.test_of_client_id IS NOT NULL) = @testUsers)
     ORDER BY g.id DESC LIMIT @limit`,
    ),
    grantTotalsOfApplication: p(
      `SELECT coalesce(sum(u.test_of_client_id IS NULL), 0) AS real, coalesce(sum(u.test_of_client_id IS NOT NULL), 0) AS test
     FROM grants g JOIN users u ON u.id = g.user_id
     WHERE g.client_id = @clientId AND g.revoked_at IS NULL
       AND (@pattern IS NULL OR g.user_id = @searchId OR lower(u.nickname) LIKE @pattern ESCAPE '\\')`,
    ),
    touchGrantLastUsed: p(
      `UPDATE grants SET last_used_at = @at
     WHERE client_id = @clientId AND user_id = @userId AND (last_used_at IS NULL OR last_used_at <= @at - @coarseMs)`,
    ),
    countTestUsersOf: p('SELECT count(*) AS n FROM users WHERE test_of_client_id = ?'),
    insertTestUser: p(
      `INSERT INTO users (email, nickname, site_id, password_hash, created_at, test_of_client_id, test_description)
     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING *`,
    ),
    testUsersOf: p(
      `SELECT id, email, nickname, site_id, test_description, created_at FROM users
     WHERE test_of_client_id = ? ORDER BY id`,
    ),
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
    // One statement per filter, so that each uses its index (the primary key, the (client_id,
    // user_id) unique index, grants_by_user) instead of one `? IS NULL OR …` plan for all.
    grantsAfter: p('SELECT * FROM grants WHERE id > ? ORDER BY id LIMIT ?'),
    grantsOfClientAfter: p('SELECT * FROM grants WHERE client_id = ? AND id > ? ORDER BY id LIMIT ?'),
    grantsOfUserAfter: p('SELECT * FROM grants WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?'),
    insertCode: p(
      `INSERT INTO authorization_codes (code_hash, grant_id, client_id, user_id, redirect_uri, scope,
       code_challenge, code_challenge_method, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    codeById: p('SELECT * FROM authorization_codes WHERE id = ?'),
    useCode: p('UPDATE authorization_codes SET used_at = ? WHERE id = ? AND used_at IS NULL'),
    codeFamily: p('SELECT family_id, grant_id, client_id, user_id FROM authorization_codes WHERE id = ?'),
    setCodeFamily: p('UPDATE authorization_codes SET family_id = ? WHERE id = ?'),
    liveGrantById: p('SELECT id, scope, public_key FROM grants WHERE id = ? AND revoked_at IS NULL'),
    insertFamily: p(
      'INSERT INTO token_families (grant_id, scope, live_mode, created_at) VALUES (?, ?, ?, ?)',
    ),
    revokeFamily: p('UPDATE token_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    insertRefresh: p(
      // access_expires_at: the access token issued with this one; retention reads it (migration 8).
      `INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at, access_expires_at)
     VALUES (?, ?, ?, ?, ?)`,
    ),
    insertAccess: p(
      `INSERT INTO access_tokens (token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    insertClientCredentialsAccess: p(
      `INSERT INTO access_tokens (token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at,
       issuing_secret_id)
     VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    refreshById: p(
      `SELECT r.id, r.token_hash, r.family_id, r.issued_at, r.expires_at, r.rotated_at, r.revoked_at,
            f.scope, f.live_mode, f.revoked_at AS family_revoked_at,
            g.client_id, g.user_id, g.public_key
     FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id JOIN grants g ON g.id = f.grant_id
     WHERE r.id = ?`,
    ),
    rotationState: p(
      `SELECT r.token_hash, r.expires_at, r.rotated_at, r.revoked_at, r.family_id, r.successor_refresh_id,
            r.successor_access_id, r.replay_seal, f.revoked_at AS family_revoked_at, f.scope, f.live_mode,
            g.client_id, g.user_id, g.public_key
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
      // A user token whose family row is gone counts as revoked: retention deletes a family only
      // after every token of it expired (migration 8), so this only fails safe.
      `SELECT a.*, CASE WHEN a.family_id IS NOT NULL AND f.id IS NULL THEN a.expires_at
                  ELSE f.revoked_at END AS family_revoked_at
     FROM access_tokens a LEFT JOIN token_families f ON f.id = a.family_id WHERE a.id = ?`,
    ),
    revokeAccess: p('UPDATE access_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    revokeGrant: p(
      'UPDATE grants SET revoked_at = ? WHERE client_id = ? AND user_id = ? AND revoked_at IS NULL RETURNING id',
    ),
    // The grant's unused codes die with it: marked used, with no family (security review #5).
    useCodesOfGrant: p('UPDATE authorization_codes SET used_at = ? WHERE grant_id = ? AND used_at IS NULL'),
    revokeFamiliesOfGrant: p(
      'UPDATE token_families SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL',
    ),
    grantState: p('SELECT revoked_at FROM grants WHERE client_id = ? AND user_id = ?'),
    activeGrantsOfUser: p(
      `SELECT g.client_id, a.name, g.scope, g.created_at, g.updated_at, g.last_used_at
     FROM grants g JOIN applications a ON a.client_id = g.client_id
     WHERE g.user_id = ? AND g.revoked_at IS NULL AND a.deleted_at IS NULL ORDER BY g.updated_at DESC, g.id DESC`,
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
    webhookEvents: p(
      `SELECT * FROM webhook_events WHERE id < @before AND (@status IS NULL OR status = @status)
     ORDER BY id DESC LIMIT @limit`,
    ),
    webhookEventsOfClient: p(
      `SELECT * FROM webhook_events WHERE client_id = @clientId AND id < @before AND (@status IS NULL OR status = @status)
     ORDER BY id DESC LIMIT @limit`,
    ),
    webhookQueueStats: p(
      `SELECT (SELECT count(*) FROM webhook_events WHERE status = 'pending') AS pending,
              (SELECT min(created_at) FROM webhook_events WHERE status = 'pending') AS oldest,
              (SELECT count(*) FROM webhook_events WHERE status = 'dead') AS dead`,
    ),
    retryWebhookEvent: p(
      `UPDATE webhook_events SET status = 'pending', next_attempt_at = ?, lease_until = NULL
     WHERE id = ? AND status IN ('pending', 'dead')`,
    ),
    retryWebhookEventOfClient: p(
      `UPDATE webhook_events SET status = 'pending', next_attempt_at = ?, lease_until = NULL
     WHERE id = ? AND client_id = ? AND status IN ('pending', 'dead')`,
    ),
    insertTestWebhookEvent: p(
      `INSERT INTO webhook_events (client_id, user_id, action, url, created_at, next_attempt_at, test)
     SELECT @clientId, @userId, @action, @url, @createdAt, @createdAt, 1
     WHERE EXISTS (SELECT 1 FROM applications WHERE client_id = @clientId AND deleted_at IS NULL)`,
    ),
    insertSession: p(
      'INSERT INTO seller_sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)',
    ),
    deleteExpiredSessions: p('DELETE FROM seller_sessions WHERE expires_at <= ?'),
    sessionByHash: p('SELECT user_id, expires_at FROM seller_sessions WHERE id_hash = ? AND expires_at > ?'),
    deleteSession: p('DELETE FROM seller_sessions WHERE id_hash = ?'),
    purgeCodes: p(
      'DELETE FROM authorization_codes WHERE id IN (SELECT id FROM authorization_codes WHERE expires_at < ? ORDER BY expires_at LIMIT ?)',
    ),
    purgeAccess: p(
      'DELETE FROM access_tokens WHERE id IN (SELECT id FROM access_tokens WHERE expires_at < ? ORDER BY expires_at LIMIT ?)',
    ),
    // RETURNING the newest tokens of their families (never rotated): the purge ends those families.
    purgeRefresh: p(
      `DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens WHERE expires_at < ? ORDER BY expires_at LIMIT ?)
       RETURNING family_id, rotated_at, expires_at, access_expires_at`,
    ),
    endFamily: p('UPDATE token_families SET ended_at = ? WHERE id = ? AND ended_at IS NULL'),
    purgeWebhookEvents: p(
      `DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events
         WHERE status IN ('delivered', 'dead') AND created_at < ? ORDER BY id LIMIT ?)`,
    ),
    // Retention: families whose every token has expired (ended_at, set by purgeRefresh above;
    // migration 8), and revoked grants with nothing left that could be presented (migration 7
    // indexes their NOT EXISTS probes), expired sessions. The family's tokens expired by ended_at,
    // so any row of them still there (a purge batch behind) can only be refused.
    purgeFamilies: p(
      `DELETE FROM token_families WHERE id IN (SELECT f.id FROM token_families f
         WHERE f.ended_at IS NOT NULL AND f.ended_at <= ? AND f.created_at < ?
           AND NOT EXISTS (SELECT 1 FROM authorization_codes c WHERE c.family_id = f.id)
         ORDER BY f.ended_at LIMIT ?)`,
    ),
    purgeRevokedGrants: p(
      `DELETE FROM grants WHERE id IN (SELECT g.id FROM grants g
         WHERE g.revoked_at IS NOT NULL AND g.revoked_at < ?
           AND NOT EXISTS (SELECT 1 FROM token_families f WHERE f.grant_id = g.id)
           AND NOT EXISTS (SELECT 1 FROM authorization_codes c WHERE c.grant_id = g.id)
         ORDER BY g.revoked_at LIMIT ?)`,
    ),
    purgeSessions: p(
      `DELETE FROM seller_sessions WHERE id_hash IN (SELECT id_hash FROM seller_sessions
         WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
    ),
    replaceWebhookSecret: p(
      'UPDATE applications SET webhook_secret_sealed = ? WHERE client_id = ? AND deleted_at IS NULL',
    ),
    ping: p('SELECT 1'),
    // The audit trail's subjects of revocations, sign-outs and retries (write-steps.ts).
    revokeAccessReturning: p(
      'UPDATE access_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING client_id, user_id, family_id',
    ),
    familyOwner: p(
      'SELECT g.client_id, g.user_id FROM token_families f JOIN grants g ON g.id = f.grant_id WHERE f.id = ?',
    ),
    deleteSessionReturning: p('DELETE FROM seller_sessions WHERE id_hash = ? RETURNING user_id'),
    retryWebhookEventReturning: p(
      `UPDATE webhook_events SET status = 'pending', next_attempt_at = ?, lease_until = NULL
     WHERE id = ? AND status IN ('pending', 'dead') RETURNING client_id, user_id`,
    ),
    retryWebhookEventOfClientReturning: p(
      `UPDATE webhook_events SET status = 'pending', next_attempt_at = ?, lease_until = NULL
     WHERE id = ? AND client_id = ? AND status IN ('pending', 'dead') RETURNING client_id, user_id`,
    ),
    ...prepareAuditStatements(db),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
