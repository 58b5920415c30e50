import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStorage } from '../../src/storage/sqlite/adapter.ts';
import { sqliteAtVersion } from '../helpers/sqlite-legacy.ts';

test('migration 5 upgrades a version-4 SQLite database in place: existing rows get the new defaults', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'renova-m5-'));
  try {
    const file = join(dir, 'renova.db');
    // A database as the previous release left it: migrations 1-4 and some rows.
    sqliteAtVersion(
      file,
      4,
      `
      INSERT INTO users (id, email, nickname, site_id, password_hash, created_at) VALUES (1, 'o@x.test', 'O', 'MLA', NULL, 1), (2, 's@x.test', 'S', 'MLA', NULL, 1);
      INSERT INTO applications (client_id, name, owner_user_id, redirect_uris, scope, pkce_required, notification_url,
        webhook_secret_sealed, owner_public_key, created_at) VALUES ('1234567890123456', 'Old', 1, '["https://a.test/cb"]', 'read', 0, NULL, x'00', 'k', 1);
      INSERT INTO grants (client_id, user_id, scope, public_key, created_at, updated_at) VALUES ('1234567890123456', 2, 'read', 'k', 5, 5);
      INSERT INTO webhook_events (client_id, user_id, action, url, created_at, next_attempt_at) VALUES ('1234567890123456', 2, 'application.authorized', 'https://h.test', 5, 5);
    `,
    );

    const storage = new SqliteStorage({ path: file, writer: 'inline' });
    await storage.migrate();
    try {
      const app = await storage.findApplication('1234567890123456');
      assert.equal(app?.description, '');
      assert.equal(app?.logoUrl, null);
      assert.equal((await storage.findGrant('1234567890123456', 2))?.lastUsedAt, null);
      assert.equal((await storage.findUserById(2))?.testOfClientId, null);
      const [event] = await storage.listWebhookEvents({ clientId: '1234567890123456', limit: 1 });
      assert.equal(event?.test, false);
      const page = await storage.listGrantsOfApplication({ clientId: '1234567890123456', limit: 10 });
      assert.deepEqual(page.totals, { real: 1, test: 0 });
    } finally {
      await storage.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
