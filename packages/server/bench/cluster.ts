import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Pool } from 'undici';
import { Housekeeper } from '../src/storage/housekeeping.ts';
import { PostgresStorage } from '../src/storage/postgres/adapter.ts';
import { argsOrExit, SHARED_BENCH_OPTIONS } from './args.ts';
import { statTicks } from './proc.ts';
import {
  BENCH_ADMIN_TOKEN,
  call,
  createBenchApplication,
  parseEnvPairs,
  seedAuthorizationCodes,
  seedRefreshChains,
} from './seed.ts';

/**
 * Durable refresh throughput of N Renova processes on one PostgreSQL database (issue 4):
 *
 *   node --import tsx bench/cluster.ts --db postgres://postgres@127.0.0.1:5432/postgres --instances 2
 *
 * A throwaway database is created on the server named by --db and dropped at the end. Sellers are
 * seeded through the real code path (admin API → code → exchange); `--seed-grants N` adds N more
 * grants, each with a live token family, straight in SQL (to show that refresh latency does not
 * depend on table size). Then `--concurrency` sellers refresh in a chain, round robin over the
 * instances, for `--duration` seconds. "Where time goes" is the CPU each process used.
 * `--mode client_credentials` asks for client tokens instead; `--mode authorization_code` seeds
 * `--codes` codes through the admin API first, then exchanges each once (the timed run ends early
 * when they run out).
 */
const { values: options } = argsOrExit(
  () =>
    parseArgs({
      options: {
        ...SHARED_BENCH_OPTIONS,
        db: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
        instances: { type: 'string', default: '2' },
        /** Default: `--concurrency`. */
        sellers: { type: 'string', default: '' },
        'seed-grants': { type: 'string', default: '0' },
        'pool-max': { type: 'string', default: '16' },
      },
    }),
  'bench/cluster.ts',
);
const extraEnv = parseEnvPairs(options.env, '--env');

const instancesN = Number(options.instances);
const MODES = ['refresh', 'client_credentials', 'authorization_code'] as const;
const mode = options.mode as (typeof MODES)[number];
if (!MODES.includes(mode)) throw new Error(`--mode must be one of ${MODES.join(', ')}`);
const codesToSeed = Number(options.codes);
const concurrency = Number(options.concurrency);
const sellers = Math.max(Number(options.sellers || concurrency), mode === 'refresh' ? concurrency : 1);
const durationMs = Number(options.duration) * 1000;
const warmupMs = Number(options.warmup) * 1000;
const seedGrants = Number(options['seed-grants']);
const ADMIN = BENCH_ADMIN_TOKEN;
const SERVER_MAIN = options.server ?? join(import.meta.dirname, '../src/cli/main.ts');
const log = (line: string) => {
  if (!options.json) process.stderr.write(`${line}\n`);
};

function spawnInstance(db: string): Promise<{ child: ChildProcess; url: string }> {
  const profile = options['cpu-prof-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${options['cpu-prof-dir']}`] : [];
  const child = spawn(
    process.execPath,
    [...profile, '--import', 'tsx', SERVER_MAIN, 'serve', '--port', '0', '--db', db],
    {
      env: {
        ...process.env,
        RENOVA_ADMIN_TOKEN: ADMIN,
        RENOVA_SECRET_KEY: 'cd'.repeat(32),
        RENOVA_LOG_LEVEL: 'warn',
        RENOVA_PG_POOL_MAX: options['pool-max'],
        RENOVA_PURGE_INTERVAL_SECONDS: '0',
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /renova listening on (http:\/\/\S+)/.exec(out);
      if (match?.[1]) resolve({ child, url: match[1] });
    });
    child.once('exit', (code) => reject(new Error(`renova exited (${code}) before listening`)));
  });
}

/** utime + stime in clock ticks (100/s on Linux) of a process; 0 once it is gone. */
function cpuTicks(pid: number): number {
  try {
    return statTicks(`/proc/${pid}/stat`);
  } catch {
    return 0;
  }
}

/** Every process whose command name is `postgres` (the server and its backends). */
function postgresTicks(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.includes('(postgres)')) total += cpuTicks(Number(entry));
    } catch {}
  }
  return total;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * N more grants, each with a token family, one rotated and one live refresh token and an access
 * token beside each: bulk SQL (generate_series), 4N token rows. The rotated pair expired a day ago,
 * as the predecessors a running service keeps until housekeeping purges them (`--time-purge`).
 */
async function seedBulk(sql: pg.Client, clientId: string, n: number): Promise<void> {
  const t0 = Date.now();
  const now = Date.now();
  const far = now + 180 * 86_400_000;
  const expired = now - 86_400_000;
  await sql.query(
    `INSERT INTO users (email, nickname, site_id, created_at)
     SELECT 'bulk' || i || '@bench.test', 'B', 'MLA', $1 FROM generate_series(1, $2) i`,
    [now, n],
  );
  await sql.query(
    `INSERT INTO grants (client_id, user_id, scope, public_key, created_at, updated_at)
     SELECT $1, id, 'offline_access read write', gen_random_uuid()::text, $2, $2 FROM users WHERE email LIKE 'bulk%'`,
    [clientId, now],
  );
  await sql.query(
    `INSERT INTO token_families (grant_id, scope, live_mode, created_at)
     SELECT id, 'offline_access read write', true, $2 FROM grants WHERE client_id = $1 AND public_key <> ''
       AND user_id IN (SELECT id FROM users WHERE email LIKE 'bulk%')`,
    [clientId, now],
  );
  for (const rotated of [true, false]) {
    const expiresAt = rotated ? expired : far;
    await sql.query(
      `INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at, rotated_at)
       SELECT sha256(f.id::text::bytea), f.id, $1, $2, $3 FROM token_families f
       JOIN grants g ON g.id = f.grant_id JOIN users u ON u.id = g.user_id WHERE u.email LIKE 'bulk%'`,
      [now, rotated ? expired : far, rotated ? now : null],
    );
    await sql.query(
      `INSERT INTO access_tokens (token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at)
       SELECT sha256(f.id::text::bytea), f.id, g.client_id, g.user_id, 'read', true, $1, $2 FROM token_families f
       JOIN grants g ON g.id = f.grant_id JOIN users u ON u.id = g.user_id WHERE u.email LIKE 'bulk%'`,
      [now, expiresAt],
    );
  }
  await sql.query('ANALYZE');
  log(`seeded ${n} extra grants (${4 * n} token rows) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** One housekeeping round (the server's own Housekeeper, default batch sizes) and how long it took. */
async function timePurge(url: string) {
  const storage = new PostgresStorage({ connectionString: url, poolMax: 2 });
  try {
    const started = performance.now();
    const totals = await new Housekeeper({ storage }).runOnce();
    return { round_ms: Math.round(performance.now() - started), ...totals };
  } finally {
    await storage.close();
  }
}

async function main(): Promise<void> {
  const adminUrl = options.db;
  if (!/^postgres(ql)?:\/\//.test(adminUrl)) throw new Error('--db must be a postgres:// URL');
  const name = `renova_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const dbUrl = new URL(adminUrl);
  dbUrl.pathname = `/${name}`;
  const children: ChildProcess[] = [];
  const sql = new pg.Client({ connectionString: dbUrl.toString() });
  try {
    // Started one after the other: the first applies the migrations.
    const first = await spawnInstance(dbUrl.toString());
    children.push(first.child);
    const rest = await Promise.all(
      Array.from({ length: instancesN - 1 }, () => spawnInstance(dbUrl.toString())),
    );
    children.push(...rest.map((r) => r.child));
    const urls = [first.url, ...rest.map((r) => r.url)];
    const pools = urls.map((u) => new Pool(u, { connections: Math.ceil(concurrency / urls.length) + 4 }));
    await sql.connect();
    const seedPool = pools[0] as Pool;
    const redirectUri = 'https://bench.example.com/cb';
    const creds = await createBenchApplication(seedPool, ADMIN, redirectUri);
    if (seedGrants > 0) await seedBulk(sql, creds.client_id, seedGrants);
    const chains =
      mode === 'refresh' ? await seedRefreshChains(seedPool, ADMIN, creds, sellers, redirectUri) : [];
    const codes =
      mode === 'authorization_code'
        ? await seedAuthorizationCodes(seedPool, ADMIN, creds, codesToSeed, sellers, redirectUri)
        : [];
    let nextCode = 0;
    /** When the seeded codes ran out (each is exchanged once): the timed run ends there. */
    let codesOutAt: number | undefined;
    log(`${urls.length} instance(s), ${sellers} sellers seeded, ${concurrency} concurrent, ${mode}`);

    let recording = false;
    let stop = false;
    const measured = { requests: 0, errors: 0, latenciesMs: [] as number[] };
    let turn = 0;
    const worker = async (w: number) => {
      while (!stop) {
        const pool = pools[turn++ % pools.length] as Pool;
        const start = performance.now();
        let ok = false;
        if (mode === 'refresh') {
          const index = w % chains.length;
          const answer = await call(pool, '/oauth/token', {
            grant_type: 'refresh_token',
            ...creds,
            refresh_token: chains[index],
          });
          ok = answer.status === 200;
          if (ok) chains[index] = answer.json.refresh_token as string;
        } else if (mode === 'authorization_code') {
          const code = codes[nextCode++];
          if (code === undefined) {
            codesOutAt ??= performance.now();
            return;
          }
          const body = { grant_type: 'authorization_code', ...creds, code, redirect_uri: redirectUri };
          ok = (await call(pool, '/oauth/token', body)).status === 200;
        } else {
          ok =
            (await call(pool, '/oauth/token', { grant_type: 'client_credentials', ...creds })).status === 200;
        }
        if (recording) {
          measured.requests += 1;
          if (!ok) measured.errors += 1;
          measured.latenciesMs.push(performance.now() - start);
        }
      }
    };
    const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
    await new Promise((resolve) => setTimeout(resolve, warmupMs));
    const pids = children.map((c) => c.pid as number);
    // The backends serving this database alone (the pools keep their connections through the run):
    // the machine's other PostgreSQL users do not count, unlike in `postgres` (every postgres process).
    const backendPids = (
      await sql.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'renova'",
      )
    ).rows.map((r) => r.pid);
    const backendTicks = () => backendPids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
    const before = {
      renova: pids.map(cpuTicks),
      postgres: postgresTicks(),
      backends: backendTicks(),
      bench: process.cpuUsage(),
    };
    recording = true;
    const t0 = performance.now();
    // Until the time is up, or (code exchanges) until every seeded code has been used.
    await Promise.race([new Promise((resolve) => setTimeout(resolve, durationMs)), Promise.all(workers)]);
    recording = false;
    if (codesOutAt !== undefined && codesOutAt <= t0)
      throw new Error(`the ${codesToSeed} codes ran out during the warm-up: seed more with --codes`);
    const seconds = ((codesOutAt ?? performance.now()) - t0) / 1000;
    if (codesOutAt !== undefined)
      log(`note: the ${codesToSeed} codes ran out after ${seconds.toFixed(1)} s of the timed run`);
    const after = {
      renova: pids.map(cpuTicks),
      postgres: postgresTicks(),
      backends: backendTicks(),
      bench: process.cpuUsage(before.bench),
    };
    stop = true;
    await Promise.all(workers);

    const rotations = await sql.query(
      'SELECT count(*)::int AS n FROM refresh_tokens WHERE rotated_at IS NOT NULL',
    );
    const sorted = measured.latenciesMs.sort((a, b) => a - b);
    const cpuSeconds = (ticks: number) => ticks / 100 / seconds;
    const ticks = {
      renova: after.renova.reduce((sum, t, i) => sum + t - (before.renova[i] ?? 0), 0),
      postgres: after.postgres - before.postgres,
      backends: after.backends - before.backends,
    };
    const perRequestUs = (ticksOrUs: number, unit: 'ticks' | 'us') =>
      measured.requests > 0
        ? Math.round((unit === 'ticks' ? ticksOrUs * 10_000 : ticksOrUs) / measured.requests)
        : 0;
    const result = {
      name: `renova on postgres, ${urls.length} instance(s)`,
      mode,
      concurrency,
      sellers,
      seed_grants: seedGrants,
      machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model, loadavg_1m: loadavg()[0] },
      requests_per_s: Math.round(measured.requests / seconds),
      p50_ms: Number(percentile(sorted, 50).toFixed(2)),
      p90_ms: Number(percentile(sorted, 90).toFixed(2)),
      p99_ms: Number(percentile(sorted, 99).toFixed(2)),
      max_ms: Number((sorted[sorted.length - 1] ?? 0).toFixed(2)),
      errors: measured.errors,
      // Where time goes: CPU per request in each process group, robust to a noisy machine.
      server_cpu_us_per_req: perRequestUs(ticks.renova, 'ticks'),
      postgres_cpu_us_per_req: perRequestUs(ticks.postgres, 'ticks'),
      postgres_backends_cpu_us_per_req: perRequestUs(ticks.backends, 'ticks'),
      postgres_backends: backendPids.length,
      bench_client_cpu_us_per_req: perRequestUs(after.bench.user + after.bench.system, 'us'),
      cores_busy: {
        renova: after.renova.map((t, i) => Number(cpuSeconds(t - (before.renova[i] ?? 0)).toFixed(2))),
        postgres: Number(cpuSeconds(ticks.postgres).toFixed(2)),
        bench_client: Number(((after.bench.user + after.bench.system) / 1e6 / seconds).toFixed(2)),
      },
      rotations_stored: rotations.rows[0].n,
      database_mib: Math.round(
        (await sql.query('SELECT pg_database_size(current_database())::bigint AS b')).rows[0].b / 2 ** 20,
      ),
      ...(options['time-purge'] ? { purge: await timePurge(dbUrl.toString()) } : {}),
    };
    process.stdout.write(`${JSON.stringify(result, null, options.json ? 0 : 2)}\n`);
    await Promise.all(pools.map((p) => p.close()));
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(
      children.map(
        (c) => new Promise((resolve) => (c.exitCode === null ? c.once('exit', resolve) : resolve(null))),
      ),
    );
    await sql.end().catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
