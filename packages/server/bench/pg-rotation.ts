import { parseArgs } from 'node:util';
import pg from 'pg';
import { PG_MIGRATIONS } from '../src/storage/postgres/migrations.ts';
import { argsOrExit } from './args.ts';
import { statTicks } from './proc.ts';

/**
 * PostgreSQL's own CPU per rotation, without HTTP or Renova: `renova_rotate_refresh` (13
 * arguments) called on `--tokens` live refresh tokens, block after block, in two schemas of one
 * throwaway database: `a` migrated to `--a-version` (default: before the last migration), `b` to the
 * last. The backend's CPU comes from /proc/<pid>/stat, so the machine's other load changes little;
 * blocks alternate a, b, a, b… and the medians are reported.
 *
 *   node --import tsx bench/pg-rotation.ts --db postgres://postgres@127.0.0.1:5432/postgres
 */
const { values: options } = argsOrExit(
  () =>
    parseArgs({
      options: {
        db: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
        tokens: { type: 'string', default: '4000' },
        blocks: { type: 'string', default: '3' },
        'a-version': { type: 'string' },
      },
    }),
  'bench/pg-rotation.ts',
);
const perBlock = Number(options.tokens);
const blocks = Number(options.blocks);
const last = PG_MIGRATIONS[PG_MIGRATIONS.length - 1]?.version ?? 0;
const aVersion = Number(options['a-version'] ?? PG_MIGRATIONS[PG_MIGRATIONS.length - 2]?.version ?? 0);

const backendTicks = (pid: number) => statTicks(`/proc/${pid}/stat`);

const name = `renova_rotbench_${process.pid}`;
const admin = new pg.Client({ connectionString: options.db });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(options.db);
url.pathname = `/${name}`;
const sql = new pg.Client({ connectionString: url.toString() });
try {
  await sql.connect();
  const pid = (await sql.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
  const now = Date.now();
  for (const [schema, upTo] of [
    ['a', aVersion],
    ['b', last],
  ] as const) {
    await sql.query(`CREATE SCHEMA ${schema}; SET search_path = ${schema}`);
    for (const m of PG_MIGRATIONS.filter((m) => m.version <= upTo)) await sql.query(m.sql);
    const n = perBlock * blocks;
    await sql.query(`
      INSERT INTO users (email, nickname, site_id, created_at) VALUES ('o@b.test', 'O', 'MLA', ${now});
      INSERT INTO applications (client_id, name, owner_user_id, redirect_uris, scope, pkce_required,
        webhook_secret_sealed, owner_public_key, created_at)
        SELECT '1', 'A', id, '[]', 'offline_access read write', false, '\\x00', 'k', ${now} FROM users;
      INSERT INTO users (email, nickname, site_id, created_at)
        SELECT 's' || i || '@b.test', 'S', 'MLA', ${now} FROM generate_series(1, ${n}) i;
      INSERT INTO grants (client_id, user_id, scope, public_key, created_at, updated_at)
        SELECT '1', id, 'offline_access read write', 'k', ${now}, ${now} FROM users WHERE email LIKE 's%';
      INSERT INTO token_families (grant_id, scope, live_mode, created_at)
        SELECT id, 'offline_access read write', true, ${now} FROM grants;
      INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at)
        SELECT sha256(id::text::bytea), id, ${now}, ${now + 86_400_000} FROM token_families;
      ANALYZE;`);
  }
  // One rotation per live token, each a separate call as the adapter makes them (in one loop, so
  // the backend's CPU is the function's, not the round trips').
  for (const schema of ['a', 'b']) {
    await sql.query(`
      CREATE FUNCTION ${schema}.bench_rotate(lo bigint, hi bigint) RETURNS int LANGUAGE plpgsql
        SET search_path = ${schema} AS $fn$
      DECLARE t record; o text; n int := 0;
      BEGIN
        FOR t IN SELECT id, token_hash FROM refresh_tokens WHERE id > lo AND id <= hi ORDER BY id LOOP
          SELECT r.outcome INTO o FROM renova_rotate_refresh(t.id, t.token_hash, '1', NULL, ${now}, 60000,
            sha256(('a' || t.id)::bytea), ${now}, ${now + 3_600_000},
            sha256(('r' || t.id)::bytea), ${now}, ${now + 86_400_000}, '\\x00'::bytea) r;
          IF o = 'rotated' THEN n := n + 1; END IF;
        END LOOP;
        RETURN n;
      END $fn$`);
  }
  const rotate = (schema: string, block: number) =>
    sql.query<{ rotated: number }>(
      `SELECT ${schema}.bench_rotate(${block * perBlock}, ${(block + 1) * perBlock}) AS rotated`,
    );
  const perRotationUs: Record<'a' | 'b', number[]> = { a: [], b: [] };
  for (let block = 0; block < blocks; block++) {
    for (const schema of ['a', 'b'] as const) {
      const before = backendTicks(pid);
      const { rows } = await rotate(schema, block);
      const ticks = backendTicks(pid) - before;
      if (rows[0]?.rotated !== perBlock)
        throw new Error(`expected ${perBlock} rotations, got ${rows[0]?.rotated}`);
      perRotationUs[schema].push(Math.round((ticks * 10_000) / perBlock));
    }
  }
  const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)] as number;
  process.stdout.write(
    `${JSON.stringify({
      tokens_per_block: perBlock,
      a: { migrated_to: aVersion, cpu_us_per_rotation: median(perRotationUs.a), blocks: perRotationUs.a },
      b: { migrated_to: last, cpu_us_per_rotation: median(perRotationUs.b), blocks: perRotationUs.b },
    })}\n`,
  );
} finally {
  await sql.end().catch(() => {});
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
