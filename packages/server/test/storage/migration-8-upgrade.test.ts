import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { Housekeeper } from '../../src/storage/housekeeping.ts';
import { SqliteStorage } from '../../src/storage/sqlite/adapter.ts';
import { sqliteAtVersion } from '../helpers/sqlite-legacy.ts';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 1);

test('migration 8 upgrades a version-7 SQLite database: tokens kept, family indexes and foreign keys gone, ended families known', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'renova-m8-'));
  try {
    const file = join(dir, 'renova.db');
    // A database as the previous release left it: migrations 1-7 and three families.
    sqliteAtVersion(
      file,
      7,
      `
      INSERT INTO users (id, email, nickname, site_id, password_hash, created_at) VALUES
        (1, 'o@x.test', 'O', 'MLA', NULL, 1), (2, 's@x.test', 'S', 'MLA', NULL, 1);
      INSERT INTO applications (client_id, name, owner_user_id, redirect_uris, scope, pkce_required, notification_url,
        webhook_secret_sealed, owner_public_key, created_at) VALUES ('1234567890123456', 'Old', 1, '["https://a.test/cb"]', 'read', 0, NULL, x'00', 'k', 1);
      INSERT INTO grants (id, client_id, user_id, scope, public_key, created_at, updated_at) VALUES (1, '1234567890123456', 2, 'offline_access read', 'k', 5, 5);
      INSERT INTO token_families (id, grant_id, scope, live_mode, created_at) VALUES
        (1, 1, 'offline_access read', 1, ${T0}), (2, 1, 'offline_access read', 1, ${T0}), (3, 1, 'offline_access read', 1, ${T0});
      -- Family 1: rotated once; its newest refresh token lives 1 day, the access token with it 30.
      INSERT INTO refresh_tokens (id, token_hash, family_id, issued_at, expires_at, rotated_at, successor_refresh_id, successor_access_id)
        VALUES (1, x'01', 1, ${T0}, ${T0 + DAY}, ${T0 + 1}, 2, 2);
      INSERT INTO refresh_tokens (id, token_hash, family_id, issued_at, expires_at) VALUES (2, x'02', 1, ${T0 + 1}, ${T0 + DAY});
      INSERT INTO access_tokens (id, token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at) VALUES
        (1, x'11', 1, '1234567890123456', 2, 'read', 1, ${T0}, ${T0 + DAY}),
        (2, x'12', 1, '1234567890123456', 2, 'read', 1, ${T0 + 1}, ${T0 + 30 * DAY});
      -- Family 2: its refresh tokens were purged already; one access token is left.
      INSERT INTO access_tokens (id, token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at) VALUES
        (3, x'13', 2, '1234567890123456', 2, 'read', 1, ${T0}, ${T0 + 2 * DAY});
      -- Family 3: nothing left of it.
      -- A client_credentials token (no family) that must survive the table's rebuild.
      INSERT INTO access_tokens (id, token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at, issuing_secret_id) VALUES
        (4, x'14', NULL, '1234567890123456', 1, 'read', 1, ${T0}, ${T0 + 60 * DAY}, 7);
    `,
    );

    const storage = new SqliteStorage({ path: file, writer: 'inline' });
    await storage.migrate();
    try {
      const db = new Database(file, { readonly: true });
      try {
        const indexes = (table: string) =>
          (db.prepare(`PRAGMA index_list(${table})`).all() as { name: string }[]).map((i) => i.name).sort();
        assert.deepEqual(indexes('refresh_tokens'), ['refresh_tokens_by_expiry']);
        assert.deepEqual(indexes('access_tokens'), ['access_tokens_by_expiry', 'access_tokens_cc_by_client']);
        assert.deepEqual(db.prepare('PRAGMA foreign_key_list(refresh_tokens)').all(), []);
        assert.deepEqual(db.prepare('PRAGMA foreign_key_list(access_tokens)').all(), []);
        const refresh = db.prepare('SELECT id, access_expires_at FROM refresh_tokens ORDER BY id').all();
        assert.deepEqual(refresh, [
          { id: 1, access_expires_at: null },
          { id: 2, access_expires_at: T0 + 30 * DAY },
        ]);
        const families = db.prepare('SELECT id, ended_at FROM token_families ORDER BY id').all();
        assert.deepEqual(families, [
          { id: 1, ended_at: null },
          { id: 2, ended_at: T0 + 2 * DAY },
          { id: 3, ended_at: T0 },
        ]);
      } finally {
        db.close();
      }
      // Every token reads as before.
      assert.equal((await storage.findRefreshToken(2))?.familyId, 1);
      const cc = await storage.findAccessToken(4);
      assert.equal(cc?.kind, 'client_credentials');
      assert.equal(cc?.issuingSecretId, 7);
      assert.equal((await storage.findAccessToken(2))?.revoked, false);

      // Retention over the upgraded file: families 2 and 3 go at once; family 1 once the access
      // token issued with its newest refresh token expired, not when the refresh token did.
      let now = T0 + 10 * DAY;
      const housekeeper = new Housekeeper({
        storage,
        now: () => now,
        retention: { familyMs: 7 * DAY },
      });
      const first = await housekeeper.runOnce();
      assert.equal(first.families, 2);
      assert.equal(first.refreshTokens, 2);
      assert.equal((await storage.findAccessToken(2))?.revoked, false, 'family 1 still stands');
      now = T0 + 31 * DAY;
      const second = await housekeeper.runOnce();
      assert.equal(second.families, 1);
      assert.equal(await storage.findAccessToken(2), null);
      assert.equal(
        (await storage.findAccessToken(4))?.revoked,
        false,
        'the client_credentials token lives on',
      );
    } finally {
      await storage.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an access token whose family row is gone is refused, never taken for a live one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'renova-m8-'));
  try {
    const file = join(dir, 'renova.db');
    const storage = new SqliteStorage({ path: file, writer: 'inline' });
    await storage.migrate();
    try {
      const db = new Database(file);
      try {
        db.exec(`
          INSERT INTO users (id, email, nickname, site_id, password_hash, created_at) VALUES (1, 'o@x.test', 'O', 'MLA', NULL, 1);
          INSERT INTO applications (client_id, name, owner_user_id, redirect_uris, scope, pkce_required, notification_url,
            webhook_secret_sealed, owner_public_key, created_at) VALUES ('1234567890123456', 'A', 1, '["https://a.test/cb"]', 'read', 0, NULL, x'00', 'k', 1);
          -- A user token of family 99, which does not exist (deleted by retention, or never there).
          INSERT INTO access_tokens (id, token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at)
            VALUES (1, x'11', 99, '1234567890123456', 1, 'read', 1, ${T0}, ${T0 + 1000 * DAY});
        `);
      } finally {
        db.close();
      }
      assert.equal((await storage.findAccessToken(1))?.revoked, true);
    } finally {
      await storage.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
