import type Database from 'better-sqlite3';

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
      `SELECT a.*, f.revoked_at AS family_revoked_at
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
    purgeRefresh: p(
      'DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens WHERE expires_at < ? ORDER BY expires_at LIMIT ?)',
    ),
    purgeWebhookEvents: p(
      `DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events
         WHERE status IN ('delivered', 'dead') AND created_at < ? ORDER BY id LIMIT ?)`,
    ),
    replaceWebhookSecret: p(
      'UPDATE applications SET webhook_secret_sealed = ? WHERE client_id = ? AND deleted_at IS NULL',
    ),
    ping: p('SELECT 1'),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
