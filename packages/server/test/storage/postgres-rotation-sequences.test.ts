import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { PostgresStorage } from '../../src/storage/postgres/adapter.ts';
import { PG_MIGRATIONS } from '../../src/storage/postgres/migrations.ts';
import { createTestSchema } from '../helpers/postgres.ts';
import { DAY, hash, must, seedGrant, T0 } from '../helpers/seed.ts';

/**
 * Migration 8 rewrites the rotation functions to name their sequences instead of calling
 * pg_get_serial_sequence on every rotation (docs/performance.md). These tests hold the rewrite to
 * what it must keep: every renova_ function is left without the lookup, a schema migrated up to
 * version 3 and then to the end still rotates, and the successors' ids still come from the
 * identity sequences, so a later plain insert never collides with a reserved id.
 */

let schema: { url: string; schema: string; drop(): Promise<void> };
let storage: PostgresStorage;
let sql: pg.Client;

before(async () => {
  schema = await createTestSchema();
  sql = new pg.Client({ connectionString: schema.url, options: `-c search_path=${schema.schema}` });
  await sql.connect();
  // Versions 1-7 as an earlier release left them (the functions with the lookup), then the rest
  // through the adapter's runner, as an upgrade would.
  await sql.query('BEGIN');
  await sql.query(
    'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
  );
  for (const migration of PG_MIGRATIONS.filter((m) => m.version < 8)) {
    await sql.query(migration.sql);
    await sql.query('INSERT INTO schema_migrations VALUES ($1, $2, $3)', [
      migration.version,
      migration.name,
      T0,
    ]);
  }
  await sql.query('COMMIT');
  const before8 = await sql.query(
    `SELECT count(*)::int AS n FROM pg_proc WHERE pronamespace = current_schema()::regnamespace
       AND prosrc LIKE '%pg_get_serial_sequence(%'`,
  );
  assert.ok(before8.rows[0].n >= 1, 'the functions before version 8 look their sequences up');
  storage = new PostgresStorage({ connectionString: schema.url, schema: schema.schema, poolMax: 4 });
  await storage.migrate();
});

after(async () => {
  await storage?.close();
  await sql?.end();
  await schema?.drop();
});

describe('migration 8: rotation functions name their sequences', () => {
  test('no renova_ function of the schema calls pg_get_serial_sequence any more', async () => {
    const { rows } = await sql.query(
      `SELECT p.oid::regprocedure::text AS name, p.prosrc FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace AND p.proname LIKE 'renova\\_%'`,
    );
    const rotations = rows.filter((r) => r.name.startsWith('renova_rotate_refresh('));
    assert.equal(rotations.length, 2, 'both overloads (11 and 13 arguments) are still installed');
    for (const row of rows) assert.doesNotMatch(row.prosrc, /pg_get_serial_sequence\(/, row.name);
    for (const row of rotations) {
      assert.ok(row.prosrc.includes(`'${schema.schema}.refresh_tokens_id_seq'`), row.name);
      assert.ok(row.prosrc.includes(`'${schema.schema}.access_tokens_id_seq'`), row.name);
    }
  });

  test('a rotation reserves the next identity values, and a later insert does not collide', async () => {
    const { clientId, codeId } = await seedGrant(storage);
    const exchanged = await storage.exchangeAuthorizationCode({
      codeId,
      now: T0,
      liveMode: true,
      access: { hash: hash(), scope: 'read', issuedAt: T0, expiresAt: T0 + DAY },
      refresh: { hash: hash(), issuedAt: T0, expiresAt: T0 + 180 * DAY },
    });
    assert.equal(exchanged.outcome, 'issued');
    if (exchanged.outcome !== 'issued') return;
    const presented = must(
      (await sql.query('SELECT token_hash FROM refresh_tokens WHERE id = $1', [exchanged.refreshTokenId]))
        .rows[0] as { token_hash: Buffer } | null,
    );
    const rotated = await storage.rotateRefreshToken({
      refreshTokenId: exchanged.refreshTokenId,
      presentedHash: presented.token_hash,
      clientId,
      requestedScope: null,
      now: T0 + 1,
      graceMs: 60_000,
      access: { hash: hash(), issuedAt: T0 + 1, expiresAt: T0 + DAY },
      refresh: { hash: hash(), issuedAt: T0 + 1, expiresAt: T0 + 180 * DAY },
      replaySeal: Buffer.alloc(64, 7),
    });
    assert.equal(rotated.outcome, 'rotated');
    if (rotated.outcome !== 'rotated') return;
    assert.ok(rotated.refreshTokenId > exchanged.refreshTokenId);
    assert.ok(rotated.accessTokenId > exchanged.accessTokenId);
    // The ids came from the identity sequences: the next ordinary insert gets a larger one.
    const next = await sql.query(
      `INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at)
       SELECT $1, family_id, 0, 0 FROM refresh_tokens WHERE id = $2 RETURNING id`,
      [hash(), rotated.refreshTokenId],
    );
    assert.ok(next.rows[0].id > rotated.refreshTokenId);
  });
});
