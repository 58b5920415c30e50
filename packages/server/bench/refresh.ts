import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { call, createBenchApplication, seedRefreshChains } from './seed.ts';

/**
 * `npm run bench`: durable refresh throughput of a real Renova process, against the ceiling of a
 * plain node:http server measured in the same run.
 *
 * Seeds N sellers through the real code path (admin API → authorization code → token exchange),
 * then V concurrent sellers refresh in a chain (each presents the refresh token it just received)
 * for a fixed time. Reports requests/s, p50/p90/p99, errors and the server's peak RSS.
 */
const { values: options } = parseArgs({
  options: {
    mode: { type: 'string', default: 'refresh' },
    concurrency: { type: 'string', default: '64' },
    sellers: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    db: { type: 'string' },
    /** Several instances on one PostgreSQL database: handled by bench/cluster.ts (issue 4). */
    instances: { type: 'string' },
    'seed-grants': { type: 'string' },
    'pool-max': { type: 'string' },
    'cpu-prof-dir': { type: 'string' },
    'skip-ceiling': { type: 'boolean', default: false },
    /** Also measure the canned answer through Fastify: the framework's share of the cost. */
    'with-fastify': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    /** The audit trail's cost: the server with and without the audit insert, alternating, same run. */
    'audit-ab': { type: 'boolean', default: false },
  },
});

const mode = options.mode as 'refresh' | 'client_credentials';
if (mode !== 'refresh' && mode !== 'client_credentials')
  throw new Error('--mode must be refresh or client_credentials');
const concurrency = Number(options.concurrency);
const sellers = Math.max(Number(options.sellers), mode === 'refresh' ? concurrency : 1);
const durationMs = Number(options.duration) * 1000;
const warmupMs = Number(options.warmup) * 1000;
const ADMIN = 'bench-admin-token';
const REDIRECT_URI = 'https://bench.test/cb';
const SERVER_MAIN = join(import.meta.dirname, '../src/cli/main.ts');

interface Measured {
  requests: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
}

function spawnListening(
  args: string[],
  env: NodeJS.ProcessEnv,
  pattern: RegExp,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = pattern.exec(out);
      if (match?.[1]) resolve({ child, url: match[1] });
    });
    child.once('exit', (code) => reject(new Error(`process exited (${code}) before listening`)));
  });
}

/** The process and its children, from /proc. */
function processTree(pid: number | undefined): number[] {
  const statOf = (p: string) => readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const children = readdirSync('/proc')
    .filter((p) => /^[0-9]+$/.test(p))
    .filter((p) => {
      try {
        return Number(statOf(p)[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
  return pid === undefined ? [] : [pid, ...children];
}

/** CPU seconds (user + system, all threads) the process tree has used. */
function cpuSeconds(pid: number | undefined): number {
  return processTree(pid).reduce((sum, p) => {
    const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    // Fields 14 and 15 of stat(5), utime and stime, in clock ticks (100 per second on Linux).
    return sum + (Number(fields[11]) + Number(fields[12])) / 100;
  }, 0);
}

/** Peak resident memory of the process tree, summed. */
function peakRssMiB(pid: number | undefined): number {
  const kb = processTree(pid).reduce((sum, p) => {
    const status = readFileSync(`/proc/${p}/status`, 'utf8');
    return sum + Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  }, 0);
  return Math.round(kb / 1024);
}

async function seed(pool: Pool) {
  const creds = await createBenchApplication(pool, ADMIN, REDIRECT_URI);
  const tokens = mode === 'refresh' ? await seedRefreshChains(pool, ADMIN, creds, sellers, REDIRECT_URI) : [];
  return { creds, tokens };
}

/** V workers, each its own seller chain, for `ms` milliseconds; `tokens` advance in place. */
async function drive(
  pool: Pool,
  ms: number,
  creds: { client_id: string; client_secret: string },
  tokens: string[],
) {
  const measured: Measured = { requests: 0, errors: 0, seconds: ms / 1000, latenciesMs: [] };
  const deadline = performance.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < deadline) {
        const token = tokens[worker] as string;
        const body =
          mode === 'refresh'
            ? { grant_type: 'refresh_token', ...creds, refresh_token: token }
            : { grant_type: 'client_credentials', ...creds };
        const started = performance.now();
        try {
          const answer = await call(pool, '/oauth/token', body);
          measured.latenciesMs.push(performance.now() - started);
          measured.requests += 1;
          if (answer.status !== 200) measured.errors += 1;
          else if (mode === 'refresh' && typeof answer.json.refresh_token === 'string')
            tokens[worker] = answer.json.refresh_token;
        } catch {
          measured.errors += 1;
        }
      }
    }),
  );
  return measured;
}

function summarize(name: string, m: Measured, rss: number, cpu: number) {
  const sorted = [...m.latenciesMs].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
  return {
    name,
    requests_per_s: Math.round(m.requests / m.seconds),
    p50_ms: Number(pct(50).toFixed(2)),
    p90_ms: Number(pct(90).toFixed(2)),
    p99_ms: Number(pct(99).toFixed(2)),
    errors: m.errors,
    peak_rss_mib: rss,
    // Server CPU per request: robust to a noisy machine, unlike requests/s.
    server_cpu_us_per_req: m.requests > 0 ? Math.round((cpu * 1e6) / m.requests) : 0,
  };
}

async function measureRenova(serverMain = SERVER_MAIN, name = 'renova') {
  const dir = mkdtempSync(join(tmpdir(), 'renova-bench-'));
  const db = options.db ?? join(dir, 'renova.db');
  const { child, url } = await spawnListening(
    [
      ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      '--import',
      'tsx',
      serverMain,
      'serve',
      '--port',
      '0',
      '--db',
      db,
    ],
    { RENOVA_ADMIN_TOKEN: ADMIN, RENOVA_LOG_LEVEL: 'warn' },
    /renova listening on (http:\/\/\S+)/,
  );
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
  try {
    const seedStart = performance.now();
    const { creds, tokens } = await seed(pool);
    const seedSeconds = (performance.now() - seedStart) / 1000;
    // The warm-up advances each chain in place; the timed run continues from there.
    await drive(pool, warmupMs, creds, tokens);
    const cpuBefore = cpuSeconds(child.pid);
    const measured = await drive(pool, durationMs, creds, tokens);
    const cpu = cpuSeconds(child.pid) - cpuBefore;
    return { summary: summarize(name, measured, peakRssMiB(child.pid), cpu), seedSeconds };
  } finally {
    await pool.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    if (!options.db) rmSync(dir, { recursive: true, force: true });
  }
}

async function measureCeiling(variant: 'node:http' | 'fastify' = 'node:http') {
  const { child, url } = await spawnListening(
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'ceiling.ts'),
      ...(variant === 'fastify' ? ['--fastify'] : []),
    ],
    {},
    /ceiling listening on (http:\/\/\S+)/,
  );
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
  try {
    const creds = { client_id: '4934588586838432', client_secret: 'x'.repeat(32) };
    const tokens = Array.from({ length: concurrency }, () => `TG-${'0'.repeat(48)}-1`);
    await drive(pool, warmupMs, creds, tokens);
    const cpuBefore = cpuSeconds(child.pid);
    const measured = await drive(pool, durationMs, creds, tokens);
    const cpu = cpuSeconds(child.pid) - cpuBefore;
    return summarize(
      variant === 'fastify' ? 'fastify, canned answer' : 'node:http ceiling',
      measured,
      peakRssMiB(child.pid),
      cpu,
    );
  } finally {
    await pool.close();
    child.kill('SIGTERM');
  }
}

if (options.instances !== undefined || /^postgres(ql)?:\/\//.test(options.db ?? '')) {
  // `--db postgres://…` and `--instances N` run N Renova processes on one PostgreSQL database.
  const { status } = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'cluster.ts'), ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  process.exit(status ?? 1);
}

if (options['audit-ab']) {
  // On, off, on, off: each side twice, interleaved, so drift on a shared machine hits both.
  const off = join(import.meta.dirname, 'serve-audit-off.ts');
  const runs: ReturnType<typeof summarize>[] = [];
  for (let round = 0; round < 2; round++) {
    runs.push((await measureRenova(SERVER_MAIN, 'audit on')).summary);
    runs.push((await measureRenova(off, 'audit off')).summary);
  }
  const mean = (side: string, key: 'requests_per_s' | 'server_cpu_us_per_req') => {
    const picked = runs.filter((r) => r.name === side);
    return picked.reduce((sum, r) => sum + r[key], 0) / picked.length;
  };
  console.table(runs);
  const throughput = mean('audit on', 'requests_per_s') / mean('audit off', 'requests_per_s');
  const cpu = mean('audit on', 'server_cpu_us_per_req') / mean('audit off', 'server_cpu_us_per_req');
  process.stdout.write(
    `audit on / off: throughput ${throughput.toFixed(3)}, server CPU per request ${cpu.toFixed(3)}\n`,
  );
  process.exit(0);
}

const renova = await measureRenova();
const ceiling = options['skip-ceiling'] ? null : await measureCeiling();
const fastify = options['with-fastify'] ? await measureCeiling('fastify') : null;
const report = {
  machine: {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  settings: {
    mode,
    concurrency,
    sellers,
    duration_s: durationMs / 1000,
    durable: 'SQLite WAL synchronous=FULL',
  },
  seed_seconds: Number(renova.seedSeconds.toFixed(1)),
  results: [renova.summary, ceiling, fastify].filter((r) => r !== null),
  ratio_to_ceiling: ceiling
    ? Number((renova.summary.requests_per_s / ceiling.requests_per_s).toFixed(2))
    : null,
};
if (options.json) {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} else {
  process.stdout.write(
    `machine: ${report.machine.cpus} cores (${report.machine.cpu_model}), ${report.machine.memory_gib} GiB, node ${report.machine.node}\n`,
  );
  process.stdout.write(
    `mode ${mode}, ${concurrency} concurrent sellers, ${sellers} seeded in ${report.seed_seconds} s, ${durationMs / 1000} s per run\n\n`,
  );
  console.table(report.results);
  if (report.ratio_to_ceiling !== null)
    process.stdout.write(`renova / ceiling: ${report.ratio_to_ceiling}\n`);
}
