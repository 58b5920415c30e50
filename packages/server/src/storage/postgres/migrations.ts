/**
 * Versioned PostgreSQL schema, mirroring the SQLite one (storage/sqlite/migrations.ts) table for
 * table. Append new migrations; never edit an applied one. The runner (adapter.ts `migrate`) holds a
 * transaction-level advisory lock, so several instances starting at once apply each version once.
 *
 * Ids are BIGINT identities: tokens carry them in clear as their selector (core/tokens.ts: 15 hex
 * digits, parsed as a JS safe integer), so every sequence stops at 2^53 − 1, well below 2^60.
 * Times are epoch milliseconds in BIGINT, like SQLite.
 */
export interface PgMigration {
  version: number;
  name: string;
  sql: string;
}

const ID = 'BIGINT GENERATED ALWAYS AS IDENTITY (MAXVALUE 9007199254740991) PRIMARY KEY';

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: 'core token lifecycle',
    sql: `
CREATE TABLE users (
  id            ${ID},
  email         TEXT NOT NULL,
  nickname      TEXT NOT NULL,
  site_id       TEXT NOT NULL,
  password_hash TEXT,
  created_at    BIGINT NOT NULL
);
-- SQLite declares the column COLLATE NOCASE; here the unique index is on lower(email).
CREATE UNIQUE INDEX users_email_nocase ON users (lower(email));

CREATE TABLE applications (
  client_id             TEXT PRIMARY KEY,
  name                  TEXT NOT NULL,
  owner_user_id         BIGINT NOT NULL REFERENCES users(id),
  redirect_uris         TEXT NOT NULL,
  scope                 TEXT NOT NULL,
  pkce_required         BOOLEAN NOT NULL,
  notification_url      TEXT,
  webhook_secret_sealed BYTEA NOT NULL,
  owner_public_key      TEXT NOT NULL,
  created_at            BIGINT NOT NULL
);
CREATE INDEX applications_by_owner ON applications(owner_user_id);

CREATE TABLE client_secrets (
  id          ${ID},
  client_id   TEXT NOT NULL REFERENCES applications(client_id),
  secret_hash BYTEA NOT NULL,
  created_at  BIGINT NOT NULL,
  expires_at  BIGINT
);
CREATE INDEX client_secrets_by_client ON client_secrets(client_id);

CREATE TABLE grants (
  id         ${ID},
  client_id  TEXT NOT NULL REFERENCES applications(client_id),
  user_id    BIGINT NOT NULL REFERENCES users(id),
  scope      TEXT NOT NULL,
  public_key TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  revoked_at BIGINT,
  UNIQUE (client_id, user_id)
);
CREATE INDEX grants_by_user ON grants(user_id);

CREATE TABLE authorization_codes (
  id                    ${ID},
  code_hash             BYTEA NOT NULL,
  grant_id              BIGINT NOT NULL REFERENCES grants(id),
  client_id             TEXT NOT NULL,
  user_id               BIGINT NOT NULL,
  redirect_uri          TEXT NOT NULL,
  scope                 TEXT NOT NULL,
  code_challenge        TEXT,
  code_challenge_method TEXT,
  created_at            BIGINT NOT NULL,
  expires_at            BIGINT NOT NULL,
  used_at               BIGINT,
  family_id             BIGINT
);
CREATE INDEX authorization_codes_by_expiry ON authorization_codes(expires_at);

CREATE TABLE token_families (
  id         ${ID},
  grant_id   BIGINT NOT NULL REFERENCES grants(id),
  scope      TEXT NOT NULL,
  live_mode  BOOLEAN NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX token_families_by_grant ON token_families(grant_id);

-- No foreign keys from the token tables: each FK check would take a KEY SHARE lock on the family
-- row and a lookup per insert on the hot path; the adapter writes family_id from a row it just read.
CREATE TABLE refresh_tokens (
  id                   ${ID},
  token_hash           BYTEA NOT NULL,
  family_id            BIGINT NOT NULL,
  issued_at            BIGINT NOT NULL,
  expires_at           BIGINT NOT NULL,
  rotated_at           BIGINT,
  successor_refresh_id BIGINT,
  successor_access_id  BIGINT,
  replay_seal          BYTEA,
  revoked_at           BIGINT
);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens(expires_at);

CREATE TABLE access_tokens (
  id         ${ID},
  token_hash BYTEA NOT NULL,
  family_id  BIGINT,
  client_id  TEXT NOT NULL,
  user_id    BIGINT NOT NULL,
  scope      TEXT NOT NULL,
  live_mode  BOOLEAN NOT NULL,
  issued_at  BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX access_tokens_by_expiry ON access_tokens(expires_at);

-- The refresh hot path in one round trip (docs/api.md §4.2: rotation, replay window, reuse), with
-- the decision tree of SqliteStorage.rotateRefreshToken. Four statements when it rotates:
--   1. read the token with its family and grant (no lock);
--   2. the single-use guard, one conditional write: UPDATE … WHERE rotated_at IS NULL, which also
--      reserves the successors' ids; concurrent rotators queue on the row lock, and after the first
--      commits READ COMMITTED re-checks the condition on the committed row and changes nothing;
--   3-4. insert the successor pair under the reserved ids.
-- A caller that lost the race, or that comes later, reads the committed rotation and decides
-- between replay and reuse without taking any lock: every flag involved only ever goes from NULL
-- to set, so seeing them all NULL means they were all NULL at the first read, and the replay,
-- which writes nothing, is ordered there (before a successor rotation still in flight).
CREATE FUNCTION renova_rotate_refresh(
  p_id bigint, p_now bigint, p_grace bigint,
  a_hash bytea, a_scope text, a_issued bigint, a_expires bigint,
  r_hash bytea, r_issued bigint, r_expires bigint, p_seal bytea,
  OUT outcome text, OUT family_id bigint, OUT access_id bigint, OUT refresh_id bigint,
  OUT access_scope text, OUT access_issued bigint, OUT access_expires bigint, OUT seal bytea)
LANGUAGE plpgsql AS $fn$
DECLARE
  t record;
  s_rotated bigint;
  s_revoked bigint;
  s_found boolean;
BEGIN
  SELECT r.family_id AS fid, r.rotated_at, r.revoked_at, r.successor_refresh_id, r.successor_access_id,
         r.replay_seal, f.revoked_at AS family_revoked_at, f.live_mode, g.client_id, g.user_id
    INTO t
    FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id JOIN grants g ON g.id = f.grant_id
   WHERE r.id = p_id;
  IF NOT FOUND OR t.revoked_at IS NOT NULL OR t.family_revoked_at IS NOT NULL THEN
    outcome := 'revoked';
    RETURN;
  END IF;
  family_id := t.fid;

  IF t.rotated_at IS NULL THEN
    UPDATE refresh_tokens SET rotated_at = p_now,
           successor_refresh_id = nextval(pg_get_serial_sequence('refresh_tokens', 'id')),
           successor_access_id = nextval(pg_get_serial_sequence('access_tokens', 'id')),
           replay_seal = p_seal
     WHERE id = p_id AND rotated_at IS NULL
     RETURNING successor_refresh_id, successor_access_id INTO refresh_id, access_id;
    IF FOUND THEN
      INSERT INTO access_tokens
        (id, token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at)
        OVERRIDING SYSTEM VALUE VALUES (access_id, a_hash, t.fid, t.client_id, t.user_id, a_scope, t.live_mode, a_issued, a_expires);
      INSERT INTO refresh_tokens (id, token_hash, family_id, issued_at, expires_at)
        OVERRIDING SYSTEM VALUE VALUES (refresh_id, r_hash, t.fid, r_issued, r_expires);
      outcome := 'rotated';
      access_scope := a_scope;
      access_issued := a_issued;
      access_expires := a_expires;
      RETURN;
    END IF;
    -- Another caller rotated it first and has committed (the UPDATE waited for it): read that.
    SELECT r.rotated_at, r.successor_refresh_id, r.successor_access_id, r.replay_seal
      INTO t.rotated_at, t.successor_refresh_id, t.successor_access_id, t.replay_seal
      FROM refresh_tokens r WHERE r.id = p_id;
    IF NOT FOUND THEN
      -- Purged meanwhile (it had expired): nothing to rotate, nothing to revoke.
      outcome := 'revoked';
      RETURN;
    END IF;
    access_id := NULL;
    refresh_id := NULL;
  END IF;

  -- Already rotated. A replay is allowed only inside the window and only while the successor has
  -- not been used itself (docs/api.md §4.2); anything else is reuse (RFC 9700 §4.14.2).
  SELECT r.rotated_at, r.revoked_at INTO s_rotated, s_revoked
    FROM refresh_tokens r WHERE r.id = t.successor_refresh_id;
  s_found := FOUND;
  IF p_grace > 0 AND p_now - t.rotated_at <= p_grace AND s_found
     AND s_rotated IS NULL AND s_revoked IS NULL THEN
    SELECT a.scope, a.issued_at, a.expires_at INTO access_scope, access_issued, access_expires
      FROM access_tokens a WHERE a.id = t.successor_access_id;
    outcome := 'replayed';
    access_id := t.successor_access_id;
    refresh_id := t.successor_refresh_id;
    seal := t.replay_seal;
    RETURN;
  END IF;
  UPDATE token_families SET revoked_at = p_now WHERE id = t.fid AND revoked_at IS NULL;
  outcome := 'reused';
END
$fn$;
`,
  },
  {
    version: 2,
    name: 'seller sessions and webhook outbox',
    sql: `
CREATE TABLE seller_sessions (
  id_hash    BYTEA PRIMARY KEY,
  user_id    BIGINT NOT NULL REFERENCES users(id),
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX seller_sessions_by_expiry ON seller_sessions(expires_at);

CREATE TABLE webhook_events (
  id              ${ID},
  client_id       TEXT NOT NULL REFERENCES applications(client_id),
  user_id         BIGINT NOT NULL,
  action          TEXT NOT NULL,
  url             TEXT NOT NULL,
  created_at      BIGINT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'pending',
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  lease_until     BIGINT,
  last_attempt_at BIGINT,
  last_status     INTEGER,
  last_error      TEXT,
  delivered_at    BIGINT
);
-- The dispatcher's query: due pending events, oldest first.
CREATE INDEX webhook_events_due ON webhook_events(status, next_attempt_at);
`,
  },
  {
    version: 3,
    name: 'refresh preconditions checked inside the rotation',
    sql: `
-- The refresh grant in ONE round trip (it used to read the token first, then call the 11-argument
-- function of version 1): the preconditions core checked on that read are now checked here, after
-- the first read and BEFORE the first write, in the order core checked them, and a failed one
-- returns without writing or locking anything:
--   the token exists and p_hash (SHA-256 of the presented secret) is its hash → else invalid/unknown;
--   RFC 6749 §6 "ensure that the refresh token was issued to the authenticated client" → else
--   invalid/other_client; token and family not revoked → else revoked; not expired → else
--   invalid/expired; offline_access in the grant (family) scope → else not_refreshable; p_scope
--   (canonical, parsed by core; NULL keeps the grant scope) a subset of the grant scope, RFC 6749 §6
--   "MUST NOT include any scope not originally granted" → else scope_not_granted.
-- The hash is compared with plain equality: it is a digest of the secret, not the secret, and an
-- early-exit timing difference tells how many leading bytes of a SHA-256 digest matched, which
-- gives no way to choose a secret whose digest matches more of them.
-- Then the decision tree of version 1, unchanged, with its properties:
--   1. read the token with its family and grant (no lock);
--   2. the single-use guard, one conditional write and the FIRST write: UPDATE … WHERE rotated_at
--      IS NULL, which also reserves the successors' ids; concurrent rotators queue on the row lock,
--      and after the first commits READ COMMITTED re-checks the condition on the committed row and
--      changes nothing;
--   3-4. insert the successor pair under the reserved ids; the access token gets
--      coalesce(p_scope, grant scope), the refresh token keeps the grant scope via its family.
-- A caller that lost the race, or that comes later, reads the committed rotation and decides
-- between replay and reuse without taking any lock: every flag involved only ever goes from NULL
-- to set, so seeing them all NULL means they were all NULL at the first read, and the replay,
-- which writes nothing, is ordered there (before a successor rotation still in flight). The
-- preconditions read only columns that never change (hash, expiry, client, scope) or flags that
-- only go from NULL to set (revocation), so checking them on the first read is the same as
-- checking them at the guard.
-- An overload (13 arguments): version 1's function stays for instances of the previous release
-- during a rolling upgrade; a later migration may drop it.
CREATE FUNCTION renova_rotate_refresh(
  p_id bigint, p_hash bytea, p_client text, p_scope text, p_now bigint, p_grace bigint,
  a_hash bytea, a_issued bigint, a_expires bigint,
  r_hash bytea, r_issued bigint, r_expires bigint, p_seal bytea,
  OUT outcome text, OUT reason text, OUT family_id bigint, OUT access_id bigint, OUT refresh_id bigint,
  OUT access_scope text, OUT access_issued bigint, OUT access_expires bigint, OUT seal bytea,
  OUT grant_user bigint, OUT grant_live boolean, OUT grant_key text, OUT grant_scope text)
LANGUAGE plpgsql AS $fn$
DECLARE
  t record;
  a_scope text;
  s_rotated bigint;
  s_revoked bigint;
  s_found boolean;
BEGIN
  SELECT r.family_id AS fid, r.token_hash, r.expires_at, r.rotated_at, r.revoked_at,
         r.successor_refresh_id, r.successor_access_id, r.replay_seal,
         f.revoked_at AS family_revoked_at, f.scope AS family_scope, f.live_mode,
         g.client_id, g.user_id, g.public_key
    INTO t
    FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id JOIN grants g ON g.id = f.grant_id
   WHERE r.id = p_id;
  IF NOT FOUND OR t.token_hash <> p_hash THEN
    outcome := 'invalid';
    reason := 'unknown';
    RETURN;
  END IF;
  IF t.client_id <> p_client THEN
    outcome := 'invalid';
    reason := 'other_client';
    RETURN;
  END IF;
  IF t.revoked_at IS NOT NULL OR t.family_revoked_at IS NOT NULL THEN
    outcome := 'revoked';
    RETURN;
  END IF;
  IF t.expires_at <= p_now THEN
    outcome := 'invalid';
    reason := 'expired';
    RETURN;
  END IF;
  IF NOT ('offline_access' = ANY (string_to_array(t.family_scope, ' '))) THEN
    outcome := 'not_refreshable';
    RETURN;
  END IF;
  IF p_scope IS NOT NULL AND NOT (string_to_array(p_scope, ' ') <@ string_to_array(t.family_scope, ' ')) THEN
    outcome := 'scope_not_granted';
    grant_scope := t.family_scope;
    RETURN;
  END IF;
  family_id := t.fid;
  grant_user := t.user_id;
  grant_live := t.live_mode;
  grant_key := t.public_key;
  a_scope := coalesce(p_scope, t.family_scope);

  IF t.rotated_at IS NULL THEN
    UPDATE refresh_tokens SET rotated_at = p_now,
           successor_refresh_id = nextval(pg_get_serial_sequence('refresh_tokens', 'id')),
           successor_access_id = nextval(pg_get_serial_sequence('access_tokens', 'id')),
           replay_seal = p_seal
     WHERE id = p_id AND rotated_at IS NULL
     RETURNING successor_refresh_id, successor_access_id INTO refresh_id, access_id;
    IF FOUND THEN
      INSERT INTO access_tokens
        (id, token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at)
        OVERRIDING SYSTEM VALUE VALUES (access_id, a_hash, t.fid, t.client_id, t.user_id, a_scope, t.live_mode, a_issued, a_expires);
      INSERT INTO refresh_tokens (id, token_hash, family_id, issued_at, expires_at)
        OVERRIDING SYSTEM VALUE VALUES (refresh_id, r_hash, t.fid, r_issued, r_expires);
      outcome := 'rotated';
      access_scope := a_scope;
      access_issued := a_issued;
      access_expires := a_expires;
      RETURN;
    END IF;
    -- Another caller rotated it first and has committed (the UPDATE waited for it): read that.
    SELECT r.rotated_at, r.successor_refresh_id, r.successor_access_id, r.replay_seal
      INTO t.rotated_at, t.successor_refresh_id, t.successor_access_id, t.replay_seal
      FROM refresh_tokens r WHERE r.id = p_id;
    IF NOT FOUND THEN
      -- Purged meanwhile (it had expired): nothing to rotate, nothing to revoke.
      outcome := 'revoked';
      RETURN;
    END IF;
    access_id := NULL;
    refresh_id := NULL;
  END IF;

  -- Already rotated. A replay is allowed only inside the window and only while the successor has
  -- not been used itself (docs/api.md §4.2); anything else is reuse (RFC 9700 §4.14.2).
  SELECT r.rotated_at, r.revoked_at INTO s_rotated, s_revoked
    FROM refresh_tokens r WHERE r.id = t.successor_refresh_id;
  s_found := FOUND;
  IF p_grace > 0 AND p_now - t.rotated_at <= p_grace AND s_found
     AND s_rotated IS NULL AND s_revoked IS NULL THEN
    SELECT a.scope, a.issued_at, a.expires_at INTO access_scope, access_issued, access_expires
      FROM access_tokens a WHERE a.id = t.successor_access_id;
    outcome := 'replayed';
    access_id := t.successor_access_id;
    refresh_id := t.successor_refresh_id;
    seal := t.replay_seal;
    RETURN;
  END IF;
  UPDATE token_families SET revoked_at = p_now WHERE id = t.fid AND revoked_at IS NULL;
  outcome := 'reused';
END
$fn$;
`,
  },
  {
    version: 4,
    name: 'grant types per application; issuing secret of client_credentials tokens',
    sql: `
-- RFC 7591 §2 grant_types, space-separated; existing applications keep all three (Mercado Pago).
-- A constant default: PostgreSQL 11+ adds the column without rewriting the table.
ALTER TABLE applications ADD COLUMN grant_types TEXT NOT NULL
  DEFAULT 'authorization_code refresh_token client_credentials';
-- The client secret that authenticated a client_credentials token's issue: such a token presented
-- as client_secret (docs/api.md §4.2 form 3) stops working when that secret's overlap ends.
ALTER TABLE access_tokens ADD COLUMN issuing_secret_id BIGINT;
-- revokeGrant marks the grant's unused codes used: found by grant, not by a table scan. The table
-- holds only codes of the last minutes (housekeeping purges them), so building it is quick.
CREATE INDEX authorization_codes_by_grant ON authorization_codes(grant_id);
`,
  },
  {
    version: 5,
    name: 'developer portal: application details and deletion, last use of grants, test users',
    sql: `
-- Issue 11 (see the SQLite migration 5). Constant defaults: no table rewrite on PostgreSQL 11+.
ALTER TABLE applications ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE applications ADD COLUMN logo_url TEXT;
ALTER TABLE applications ADD COLUMN deleted_at BIGINT;
ALTER TABLE grants ADD COLUMN last_used_at BIGINT;
ALTER TABLE users ADD COLUMN test_of_client_id TEXT REFERENCES applications(client_id);
ALTER TABLE users ADD COLUMN test_description TEXT;
CREATE INDEX users_test_of_client ON users(test_of_client_id) WHERE test_of_client_id IS NOT NULL;
CREATE INDEX grants_active_by_client ON grants(client_id, id) WHERE revoked_at IS NULL;
CREATE INDEX access_tokens_cc_by_client ON access_tokens(client_id) WHERE family_id IS NULL;
CREATE INDEX webhook_events_by_client ON webhook_events(client_id, id);
ALTER TABLE webhook_events ADD COLUMN test BOOLEAN NOT NULL DEFAULT false;
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
  id             ${ID},
  at             BIGINT NOT NULL,
  type           TEXT NOT NULL,
  actor          TEXT NOT NULL,
  actor_id       TEXT,
  user_id        BIGINT,
  client_id      TEXT,
  family_id      BIGINT,
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
CREATE INDEX IF NOT EXISTS refresh_tokens_by_family ON refresh_tokens(family_id);
CREATE INDEX IF NOT EXISTS access_tokens_by_family ON access_tokens(family_id);
CREATE INDEX IF NOT EXISTS authorization_codes_by_family ON authorization_codes(family_id);
CREATE INDEX IF NOT EXISTS grants_by_revocation ON grants(revoked_at) WHERE revoked_at IS NOT NULL;
`,
  },
  {
    version: 8,
    name: 'rotation functions name their sequences instead of looking them up per call',
    sql: `
-- Every rotation called pg_get_serial_sequence twice to reserve the successors' ids: a catalog
-- lookup through pg_depend each time, where nextval on a sequence named by a constant resolves the
-- regclass once, when the function's plan is cached. Measured with bench/pg-rotation.ts on a loaded
-- machine: 124 → 120 and 116 → 108 µs of PostgreSQL CPU per rotation (docs/performance.md).
-- Rewritten in place, whatever version of the function is installed (the 11-argument one of
-- version 1, the 13-argument one of version 3, or a later CREATE OR REPLACE), so that nothing else
-- in its body changes: each call becomes nextval('<schema>.<sequence>'), the sequence resolved now
-- by pg_get_serial_sequence itself, so the identity columns' sequence names are not assumed.
DO $rewrite$
DECLARE
  f record;
  body text;
BEGIN
  FOR f IN
    SELECT p.oid FROM pg_proc p
     WHERE p.pronamespace = current_schema()::regnamespace
       AND p.proname LIKE 'renova\\_%'
       AND p.prosrc LIKE '%pg_get_serial_sequence(%'
  LOOP
    body := pg_get_functiondef(f.oid);
    body := replace(body, $q$pg_get_serial_sequence('refresh_tokens', 'id')$q$,
                    quote_literal(pg_get_serial_sequence('refresh_tokens', 'id')));
    body := replace(body, $q$pg_get_serial_sequence('access_tokens', 'id')$q$,
                    quote_literal(pg_get_serial_sequence('access_tokens', 'id')));
    IF body LIKE '%pg_get_serial_sequence(%' THEN
      RAISE EXCEPTION 'migration 8: % still looks up a sequence it does not know', f.oid::regprocedure;
    END IF;
    EXECUTE body;
  END LOOP;
END
$rewrite$;
`,
  },
  {
    version: 9,
    name: 'code exchange in one round trip: renova_exchange_code',
    sql: `
-- The code exchange was a transaction of five statements from the adapter (BEGIN, the single-use
-- UPDATE, the grant read FOR SHARE, the family and its pair, the audit row, COMMIT): six round
-- trips. The same statements, in the same order and with the same locks, as one function: one
-- round trip, and the adapter can call it for several exchanges in one statement. Under READ
-- COMMITTED each statement of a (volatile) PL/pgSQL function takes a new snapshot, as each
-- statement of the transaction did:
--   1. UPDATE … WHERE used_at IS NULL: a concurrent exchanger waits on the row lock, then re-checks
--      the condition on the committed row and changes nothing (RFC 6749 §4.1.2: used once);
--   2. a loser reads the code again (a new snapshot sees the winner's family) and revokes that
--      family. RFC 6749 §4.1.2: "If an authorization code is used more than once, the
--      authorization server MUST deny the request and SHOULD revoke (when possible) all tokens
--      previously issued based on that authorization code." A used code with no family was killed
--      by a grant revocation (or found its grant revoked): nothing was issued, nothing to revoke;
--   3. the grant is read FOR SHARE, which conflicts with revokeGrant's UPDATE of that row: either
--      the revocation waits for this family to exist and then revokes it, or this exchange sees it;
--   4. the family, the code's link to it, the access and refresh tokens; then the audit row.
-- p_audit false leaves the audit rows out (the benchmark's audit-off side only).
CREATE FUNCTION renova_exchange_code(
  p_code bigint, p_now bigint, p_live boolean,
  a_hash bytea, a_scope text, a_issued bigint, a_expires bigint,
  r_hash bytea, r_issued bigint, r_expires bigint,
  p_audit boolean, e_actor text, e_actor_id text, e_request_id text, e_remote text,
  OUT outcome text, OUT family_id bigint, OUT access_id bigint, OUT refresh_id bigint,
  OUT public_key text)
LANGUAGE plpgsql AS $fn$
DECLARE
  c record;
  prior record;
BEGIN
  UPDATE authorization_codes AS ac SET used_at = p_now
   WHERE ac.id = p_code AND ac.used_at IS NULL
   RETURNING ac.grant_id, ac.client_id, ac.user_id, ac.scope INTO c;
  IF NOT FOUND THEN
    SELECT ac.family_id AS fid, ac.client_id, ac.user_id INTO prior
      FROM authorization_codes ac WHERE ac.id = p_code;
    IF FOUND AND prior.fid IS NULL THEN
      outcome := 'grant_revoked';
      RETURN;
    END IF;
    IF FOUND THEN
      UPDATE token_families AS tf SET revoked_at = p_now WHERE tf.id = prior.fid AND tf.revoked_at IS NULL;
      IF p_audit THEN
        INSERT INTO audit_events
          (at, type, actor, actor_id, user_id, client_id, family_id, request_id, remote_address, detail)
          VALUES (p_now, 'code.reused', e_actor, e_actor_id, prior.user_id, prior.client_id, prior.fid,
                  e_request_id, e_remote, NULL);
      END IF;
    END IF;
    outcome := 'code_reused';
    RETURN;
  END IF;
  SELECT g.public_key INTO public_key FROM grants g
   WHERE g.id = c.grant_id AND g.revoked_at IS NULL FOR SHARE;
  IF NOT FOUND THEN
    -- The code is now used (a change), though nothing was issued.
    IF p_audit THEN
      INSERT INTO audit_events
        (at, type, actor, actor_id, user_id, client_id, family_id, request_id, remote_address, detail)
        VALUES (p_now, 'code.grant_revoked', e_actor, e_actor_id, c.user_id, c.client_id, NULL,
                e_request_id, e_remote, NULL);
    END IF;
    outcome := 'grant_revoked';
    RETURN;
  END IF;
  INSERT INTO token_families (grant_id, scope, live_mode, created_at)
    VALUES (c.grant_id, c.scope, p_live, p_now) RETURNING id INTO family_id;
  UPDATE authorization_codes AS ac SET family_id = renova_exchange_code.family_id WHERE ac.id = p_code;
  INSERT INTO access_tokens (token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at)
    VALUES (a_hash, renova_exchange_code.family_id, c.client_id, c.user_id, a_scope, p_live, a_issued, a_expires)
    RETURNING id INTO access_id;
  INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at)
    VALUES (r_hash, renova_exchange_code.family_id, r_issued, r_expires)
    RETURNING id INTO refresh_id;
  IF p_audit THEN
    INSERT INTO audit_events
      (at, type, actor, actor_id, user_id, client_id, family_id, request_id, remote_address, detail)
      VALUES (p_now, 'code.exchanged', e_actor, e_actor_id, c.user_id, c.client_id,
              renova_exchange_code.family_id, e_request_id, e_remote, NULL);
  END IF;
  outcome := 'issued';
END
$fn$;
`,
  },
];
