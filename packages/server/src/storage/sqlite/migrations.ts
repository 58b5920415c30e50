/**
 * Versioned schema. Append new migrations; never edit an applied one. Tokens and codes are keyed by
 * an increasing INTEGER PRIMARY KEY (the selector they carry in clear) and hold only the SHA-256 of
 * their secret half. Times are epoch milliseconds.
 */
export const SQLITE_MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'core token lifecycle',
    sql: `
CREATE TABLE users (
  id            INTEGER PRIMARY KEY,
  email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
  nickname      TEXT NOT NULL,
  site_id       TEXT NOT NULL,
  password_hash TEXT,
  created_at    INTEGER NOT NULL
);

CREATE TABLE applications (
  client_id             TEXT PRIMARY KEY,
  name                  TEXT NOT NULL,
  owner_user_id         INTEGER NOT NULL REFERENCES users(id),
  redirect_uris         TEXT NOT NULL,
  scope                 TEXT NOT NULL,
  pkce_required         INTEGER NOT NULL,
  notification_url      TEXT,
  webhook_secret_sealed BLOB NOT NULL,
  owner_public_key      TEXT NOT NULL,
  created_at            INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE client_secrets (
  id          INTEGER PRIMARY KEY,
  client_id   TEXT NOT NULL REFERENCES applications(client_id),
  secret_hash BLOB NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER
);
CREATE INDEX client_secrets_by_client ON client_secrets(client_id);

CREATE TABLE grants (
  id         INTEGER PRIMARY KEY,
  client_id  TEXT NOT NULL REFERENCES applications(client_id),
  user_id    INTEGER NOT NULL REFERENCES users(id),
  scope      TEXT NOT NULL,
  public_key TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  revoked_at INTEGER,
  UNIQUE (client_id, user_id)
);
CREATE INDEX grants_by_user ON grants(user_id);

CREATE TABLE authorization_codes (
  id                    INTEGER PRIMARY KEY,
  code_hash             BLOB NOT NULL,
  grant_id              INTEGER NOT NULL REFERENCES grants(id),
  client_id             TEXT NOT NULL,
  user_id               INTEGER NOT NULL,
  redirect_uri          TEXT NOT NULL,
  scope                 TEXT NOT NULL,
  code_challenge        TEXT,
  code_challenge_method TEXT,
  created_at            INTEGER NOT NULL,
  expires_at            INTEGER NOT NULL,
  used_at               INTEGER,
  family_id             INTEGER
);

CREATE TABLE token_families (
  id         INTEGER PRIMARY KEY,
  grant_id   INTEGER NOT NULL REFERENCES grants(id),
  scope      TEXT NOT NULL,
  live_mode  INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX token_families_by_grant ON token_families(grant_id);

CREATE TABLE refresh_tokens (
  id                   INTEGER PRIMARY KEY,
  token_hash           BLOB NOT NULL,
  family_id            INTEGER NOT NULL REFERENCES token_families(id),
  issued_at            INTEGER NOT NULL,
  expires_at           INTEGER NOT NULL,
  rotated_at           INTEGER,
  successor_refresh_id INTEGER,
  successor_access_id  INTEGER,
  replay_seal          BLOB,
  revoked_at           INTEGER
);

CREATE TABLE access_tokens (
  id         INTEGER PRIMARY KEY,
  token_hash BLOB NOT NULL,
  family_id  INTEGER REFERENCES token_families(id),
  client_id  TEXT NOT NULL,
  user_id    INTEGER NOT NULL,
  scope      TEXT NOT NULL,
  live_mode  INTEGER NOT NULL,
  issued_at  INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER
);
`,
  },
  {
    version: 2,
    name: 'seller sessions and webhook outbox',
    sql: `
CREATE TABLE seller_sessions (
  id_hash    BLOB PRIMARY KEY,
  user_id    INTEGER NOT NULL REFERENCES users(id),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX seller_sessions_by_expiry ON seller_sessions(expires_at);

CREATE TABLE webhook_events (
  id              INTEGER PRIMARY KEY,
  client_id       TEXT NOT NULL REFERENCES applications(client_id),
  user_id         INTEGER NOT NULL,
  action          TEXT NOT NULL,
  url             TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  status          TEXT NOT NULL DEFAULT 'pending',
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_until     INTEGER,
  last_attempt_at INTEGER,
  last_status     INTEGER,
  last_error      TEXT,
  delivered_at    INTEGER
);
-- The dispatcher's query: due pending events, oldest first.
CREATE INDEX webhook_events_due ON webhook_events(status, next_attempt_at);
`,
  },
  {
    version: 3,
    name: 'expiry indexes for housekeeping',
    sql: `
CREATE INDEX authorization_codes_by_expiry ON authorization_codes(expires_at);
CREATE INDEX access_tokens_by_expiry ON access_tokens(expires_at);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(expires_at);
`,
  },
  {
    version: 4,
    name: 'grant types per application; issuing secret of client_credentials tokens',
    sql: `
-- RFC 7591 §2 grant_types, space-separated; existing applications keep all three (Mercado Pago).
ALTER TABLE applications ADD COLUMN grant_types TEXT NOT NULL
  DEFAULT 'authorization_code refresh_token client_credentials';
-- The client secret that authenticated a client_credentials token's issue: such a token presented
-- as client_secret (docs/api.md §4.2 form 3) stops working when that secret's overlap ends.
ALTER TABLE access_tokens ADD COLUMN issuing_secret_id INTEGER;
-- revokeGrant marks the grant's unused codes used: found by grant, not by a table scan. The table
-- holds only codes of the last minutes (housekeeping purges them), so building it is quick.
CREATE INDEX authorization_codes_by_grant ON authorization_codes(grant_id);
`,
  },
  {
    version: 5,
    name: 'developer portal: application details and deletion, last use of grants, test users',
    sql: `
-- Issue 11. A deleted application keeps its row (deleted_at set): its client_id stays taken, so
-- it is never issued again, and every lookup treats it as unknown.
ALTER TABLE applications ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE applications ADD COLUMN logo_url TEXT;
ALTER TABLE applications ADD COLUMN deleted_at INTEGER;
-- Coarse: written at most once an hour per grant, in batches off the request path (docs/design.md).
ALTER TABLE grants ADD COLUMN last_used_at INTEGER;
-- Test users (POST /users/test_user): the application that created them, so that counts and
-- lists never mix them with real sellers.
ALTER TABLE users ADD COLUMN test_of_client_id TEXT REFERENCES applications(client_id);
ALTER TABLE users ADD COLUMN test_description TEXT;
CREATE INDEX users_test_of_client ON users(test_of_client_id) WHERE test_of_client_id IS NOT NULL;
-- An application's sellers, newest first, by keyset (grant id): active grants only.
CREATE INDEX grants_active_by_client ON grants(client_id, id) WHERE revoked_at IS NULL;
-- deleteApplication revokes the application's client_credentials tokens (they have no family).
-- Partial: the refresh hot path inserts user tokens, which this index never holds.
CREATE INDEX access_tokens_cc_by_client ON access_tokens(client_id) WHERE family_id IS NULL;
-- The developer portal's deliveries of one application, newest first.
CREATE INDEX webhook_events_by_client ON webhook_events(client_id, id);
-- "Send test event": delivered like any other, with live_mode false in its body.
ALTER TABLE webhook_events ADD COLUMN test INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 6,
    name: 'audit trail',
    sql: `
-- Append-only: rows are inserted by the step whose change they record and deleted only by
-- retention (housekeeping). No foreign keys: an event outlives the application or token it names.
-- Identifiers only, never a token, code, secret or password (docs/security.md).
CREATE TABLE audit_events (
  id             INTEGER PRIMARY KEY,
  at             INTEGER NOT NULL,
  type           TEXT NOT NULL,
  actor          TEXT NOT NULL,
  actor_id       TEXT,
  user_id        INTEGER,
  client_id      TEXT,
  family_id      INTEGER,
  request_id     TEXT,
  remote_address TEXT,
  detail         TEXT
);
-- The listings: a seller's events, an application's events (newest first), a time window; and
-- retention's oldest-first batches by time.
CREATE INDEX audit_events_by_user ON audit_events(user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_by_client ON audit_events(client_id, id) WHERE client_id IS NOT NULL;
CREATE INDEX audit_events_by_time ON audit_events(at);
`,
  },
  {
    version: 7,
    name: 'retention: indexes for purging empty families and long revoked grants',
    sql: `
-- purgeExpired's NOT EXISTS probes: a token family is deleted only when no token or code of it is
-- left, a revoked grant only when no family or code of it is left (authorization_codes_by_grant
-- and token_families_by_grant exist already).
CREATE INDEX IF NOT EXISTS refresh_tokens_by_family ON refresh_tokens(family_id);
CREATE INDEX IF NOT EXISTS access_tokens_by_family ON access_tokens(family_id);
CREATE INDEX IF NOT EXISTS authorization_codes_by_family ON authorization_codes(family_id);
CREATE INDEX IF NOT EXISTS grants_by_revocation ON grants(revoked_at) WHERE revoked_at IS NOT NULL;
`,
  },
  {
    version: 8,
    name: 'retention without per-token family indexes: a family ends when its newest refresh token is purged',
    sql: `
-- Migration 7's refresh_tokens_by_family and access_tokens_by_family put two index entries at a
-- random place of the file on every refresh (a refresh appends everywhere else): 2 extra WAL pages
-- per refresh, ~11 % of the server's CPU per refresh in npm run bench (docs/performance.md). They
-- served only retention's "no token left" probes and the foreign-key checks of a family's DELETE.
-- Now the housekeeper learns that a family has ended when it purges the family's newest refresh
-- token (the only one never rotated): every other token of the family expires no later than that
-- one or than the access token issued with it, whose expiry the row now carries.
ALTER TABLE refresh_tokens ADD COLUMN access_expires_at INTEGER;
ALTER TABLE token_families ADD COLUMN ended_at INTEGER;
-- Existing newest refresh tokens: the latest access token of their family.
UPDATE refresh_tokens SET access_expires_at =
  (SELECT max(a.expires_at) FROM access_tokens a WHERE a.family_id = refresh_tokens.family_id)
  WHERE rotated_at IS NULL;
-- Families whose newest refresh token is gone already: ended with their last access token.
UPDATE token_families SET ended_at = coalesce(
    (SELECT max(a.expires_at) FROM access_tokens a WHERE a.family_id = token_families.id), created_at)
  WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = token_families.id AND r.rotated_at IS NULL);
CREATE INDEX token_families_by_end ON token_families(ended_at) WHERE ended_at IS NOT NULL;

-- The token tables lose their foreign key to token_families (as on PostgreSQL since its migration 1): with
-- it, deleting a family would scan both tables without those indexes. A token whose family row is
-- gone counts as revoked (statements.ts accessById; a refresh token's lookups join the family).
CREATE TABLE refresh_tokens_v8 (
  id                   INTEGER PRIMARY KEY,
  token_hash           BLOB NOT NULL,
  family_id            INTEGER NOT NULL,
  issued_at            INTEGER NOT NULL,
  expires_at           INTEGER NOT NULL,
  rotated_at           INTEGER,
  successor_refresh_id INTEGER,
  successor_access_id  INTEGER,
  replay_seal          BLOB,
  revoked_at           INTEGER,
  access_expires_at    INTEGER
);
INSERT INTO refresh_tokens_v8 (id, token_hash, family_id, issued_at, expires_at, rotated_at,
    successor_refresh_id, successor_access_id, replay_seal, revoked_at, access_expires_at)
  SELECT id, token_hash, family_id, issued_at, expires_at, rotated_at, successor_refresh_id,
    successor_access_id, replay_seal, revoked_at, access_expires_at FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_v8 RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(expires_at);

CREATE TABLE access_tokens_v8 (
  id                INTEGER PRIMARY KEY,
  token_hash        BLOB NOT NULL,
  family_id         INTEGER,
  client_id         TEXT NOT NULL,
  user_id           INTEGER NOT NULL,
  scope             TEXT NOT NULL,
  live_mode         INTEGER NOT NULL,
  issued_at         INTEGER NOT NULL,
  expires_at        INTEGER NOT NULL,
  revoked_at        INTEGER,
  issuing_secret_id INTEGER
);
INSERT INTO access_tokens_v8 (id, token_hash, family_id, client_id, user_id, scope, live_mode,
    issued_at, expires_at, revoked_at, issuing_secret_id)
  SELECT id, token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at,
    revoked_at, issuing_secret_id FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_v8 RENAME TO access_tokens;
CREATE INDEX access_tokens_by_expiry ON access_tokens(expires_at);
CREATE INDEX access_tokens_cc_by_client ON access_tokens(client_id) WHERE family_id IS NULL;
`,
  },
];
