import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PG_MIGRATIONS } from '../../src/storage/postgres/migrations.ts';
import { SQLITE_MIGRATIONS } from '../../src/storage/sqlite/migrations.ts';
import { createTestDatabase } from '../helpers/postgres.ts';

const run = promisify(execFile);
const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');
/** Without RENOVA_SECRET_KEY: migrating needs no server key. */
const env = { ...process.env, RENOVA_SECRET_KEY: '', RENOVA_DB: '' };
const migrate = (db: string) =>
  run(process.execPath, ['--import', 'tsx', MAIN, 'migrate', '--db', db], { env });

describe('renova migrate', () => {
  test('applies every PostgreSQL migration once when three run at the same moment', async () => {
    const db = await createTestDatabase();
    try {
      const outputs = await Promise.all([0, 1, 2].map(() => migrate(db.url)));
      for (const output of outputs) assert.match(output.stdout, /^migrations applied to postgres:\/\//);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows } = await client.query('SELECT version FROM schema_migrations ORDER BY version');
      await client.end();
      assert.deepEqual(
        rows.map((r) => r.version),
        PG_MIGRATIONS.map((m) => m.version),
      );
    } finally {
      await db.drop();
    }
  });

  test('applies every SQLite migration once, and again is a no-op', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'renova-migrate-'));
    try {
      const file = join(dir, 'renova.db');
      await migrate(file);
      const again = await migrate(file);
      assert.equal(again.stdout, `migrations applied to ${file}\n`);
      const sqlite = new Database(file, { readonly: true });
      const versions = (
        sqlite.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as {
          version: number;
        }[]
      ).map((r) => r.version);
      sqlite.close();
      assert.deepEqual(
        versions,
        SQLITE_MIGRATIONS.map((m) => m.version),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
