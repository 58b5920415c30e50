import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { loadConfig } from '../src/config.ts';
import { Housekeeper } from '../src/storage/housekeeping.ts';
import { SqliteStorage } from '../src/storage/sqlite/adapter.ts';
import { argsOrExit, SHARED_BENCH_OPTIONS } from './args.ts';
import { statFields, statTicks } from './proc.ts';
import {
  BENCH_ADMIN_TOKEN,
  call,
  createBenchApplication,
  parseEnvPairs,
  seedAuthorizationCodes,
  seedRefreshChains,
} from './seed.ts';
import { seedSqliteBulk } from './seed-sqlite.ts';

/**
 * `npm run bench`: durable refresh throughput of a real Renova process, against the ceiling of a
 * plain node:http server measured in the same run.
 *
 * Seeds N sellers through the real code path (admin API → authorization code → token exchange),
 * then V concurrent sellers refresh in a chain (each presents the refresh token it just received)
 * for a fixed time. Reports requests/s, p50/p90/p99, errors, the server's peak RSS and CPU per
 * request. `--mode client_credentials` asks for client tokens instead; `--mode authorization_code`
 * seeds `--codes` codes through the admin API first, then exchanges each once.
 *
 * `--repeat N` runs everything N times in turn and reports the median of each figure (the machine
 * is shared: single runs are noisy). `--env-b KEY=VALUE` (repeatable) also runs a second Renova
 * with those variables added, in the same run, for an A/B of a server setting; `--env KEY=VALUE`
 * goes to both. `--server-b PATH` runs B from another checkout's src/cli/main.ts: an A/B of code.
 */
const { values: options } = argsOrExit(
  () =>
    parseArgs({
      options: {
        ...SHARED_BENCH_OPTIONS,
        sellers: { type: 'string', default: '1000' },
        db: { type: 'string' },
        /** Several instances on one PostgreSQL database: handled by bench/cluster.ts (issue 4). */
        instances: { type: 'string' },
        'seed-grants': { type: 'string' },
        'pool-max': { type: 'string' },
        /** The audit trail's cost: the server with and without the audit insert, alternating, same run. */
        'audit-ab': { type: 'boolean', default: false },
        repeat: { type: 'string', default: '1' },
        'env-b': { type: 'string', multiple: true },
        /** B runs this server entry instead (e.g. /work/main/packages/server/src/cli/main.ts): A/B of code. */
        'server-b': { type: 'string' },
        /** Also measure bench/floor.ts: the least a durable rotating refresh costs (refresh mode). */
        'with-floor': { type: 'boolean', default: false },
        /** With --with-floor, also the floor committing on its event loop instead of a thread. */
        'with-inline-floor': { type: 'boolean', default: false },
      },
    }),
  'npm run bench',
);

const MODES = ['refresh', 'client_credentials', 'authorization_code'] as const;
type Mode = (typeof MODES)[number];
const mode = options.mode as Mode;
if (!MODES.includes(mode)) throw new Error(`--mode must be one of ${MODES.join(', ')}`);
if ((options['with-floor'] || options['with-inline-floor']) && mode !== 'refresh') {
  process.stderr.write('npm run bench: --with-floor measures refreshes; drop --mode or --with-floor\n');
  process.exit(2);
}
const repeat = Math.max(1, Number(options.repeat));
const codesToSeed = Number(options.codes);
const envBoth = parseEnvPairs(options.env, '--env');
const serverB = options['server-b'];
const envB = options['env-b'] || serverB ? parseEnvPairs(options['env-b'], '--env-b') : null;
const concurrency = Number(options.concurrency);
const sellers = Math.max(Number(options.sellers), mode === 'refresh' ? concurrency : 1);
const durationMs = Number(options.duration) * 1000;
const warmupMs = Number(options.warmup) * 1000;
const ADMIN = BENCH_ADMIN_TOKEN;
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
  const statOf = (p: string) => statFields(`/proc/${p}/stat`);
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
  return processTree(pid).reduce((sum, p) => sum + statTicks(`/proc/${p}/stat`) / 100, 0);
}

/** CPU ticks (user + system) of each thread of one process, by thread id. */
function threadTicks(pid: number | undefined): Map<number, number> {
  const ticks = new Map<number, number>();
  if (pid === undefined) return ticks;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ticks.set(Number(tid), statTicks(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return ticks;
}

/**
 * The server's CPU between two threadTicks() snapshots, split into its main thread (the event
 * loop: HTTP, protocol, hashing), its busiest other thread (on SQLite the writer thread: the
 * statements and the commit) and the rest (V8's GC helpers, libuv's pool), in seconds.
 */
function threadSplit(pid: number | undefined, before: Map<number, number>, after: Map<number, number>) {
  const used = [...after].map(([tid, t]) => ({ tid, seconds: (t - (before.get(tid) ?? 0)) / 100 }));
  const main = used.find((u) => u.tid === pid)?.seconds ?? 0;
  const others = used.filter((u) => u.tid !== pid).sort((a, b) => b.seconds - a.seconds);
  const busiest = others[0]?.seconds ?? 0;
  const rest = others.slice(1).reduce((sum, u) => sum + u.seconds, 0);
  return { main, busiest, rest };
}

/** Peak resident memory of the process tree, summed. */
function peakRssMiB(pid: number | undefined): number {
  const kb = processTree(pid).reduce((sum, p) => {
    const status = readFileSync(`/proc/${p}/status`, 'utf8');
    return sum + Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  }, 0);
  return Math.round(kb / 1024);
}

/** What the workers present: refresh chains (advanced in place) or codes (each used once). */
interface Load {
  tokens: string[];
  codes: string[];
  nextCode: number;
}

const seedGrants = Number(options['seed-grants'] ?? 0);

async function seed(pool: Pool, db: string) {
  const creds = await createBenchApplication(pool, ADMIN, REDIRECT_URI);
  if (seedGrants > 0) {
    const seconds = seedSqliteBulk(db, creds.client_id, seedGrants);
    process.stderr.write(
      `seeded ${seedGrants} extra grants (${4 * seedGrants} token rows) in ${seconds.toFixed(1)} s\n`,
    );
    // The seeding blocked this event loop: let the pool see the sockets the server closed meanwhile
    // (and its 1 s idle timers fire) before the next request picks one.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
  }
  const load: Load = { tokens: [], codes: [], nextCode: 0 };
  if (mode === 'refresh') load.tokens = await seedRefreshChains(pool, ADMIN, creds, sellers, REDIRECT_URI);
  if (mode === 'authorization_code')
    load.codes = await seedAuthorizationCodes(pool, ADMIN, creds, codesToSeed, sellers, REDIRECT_URI);
  return { creds, load };
}

function requestBody(
  as: Mode,
  creds: { client_id: string; client_secret: string },
  load: Load,
  worker: number,
) {
  if (as === 'refresh') return { grant_type: 'refresh_token', ...creds, refresh_token: load.tokens[worker] };
  if (as === 'client_credentials') return { grant_type: 'client_credentials', ...creds };
  const code = load.codes[load.nextCode++];
  return code === undefined
    ? null
    : { grant_type: 'authorization_code', ...creds, code, redirect_uri: REDIRECT_URI };
}

/**
 * V workers, each its own seller chain, for `ms` milliseconds (or until the seeded codes run out:
 * `seconds` is the time actually driven); refresh tokens advance in place.
 */
async function drive(
  pool: Pool,
  ms: number,
  creds: { client_id: string; client_secret: string },
  load: Load,
  as: Mode = mode,
) {
  const measured: Measured = { requests: 0, errors: 0, seconds: ms / 1000, latenciesMs: [] };
  const start = performance.now();
  const deadline = start + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < deadline) {
        const body = requestBody(as, creds, load, worker);
        if (body === null) break;
        const started = performance.now();
        try {
          const answer = await call(pool, '/oauth/token', body);
          measured.latenciesMs.push(performance.now() - started);
          measured.requests += 1;
          if (answer.status !== 200) measured.errors += 1;
          else if (as === 'refresh' && typeof answer.json.refresh_token === 'string')
            load.tokens[worker] = answer.json.refresh_token;
        } catch {
          measured.errors += 1;
        }
      }
    }),
  );
  measured.seconds = (performance.now() - start) / 1000;
  return measured;
}

/**
 * The warm-up, then the timed run, with the server's CPU over the timed run alone (the process
 * tree, and split by thread). The warm-up advances each chain in place; the timed run continues
 * from there.
 */
async function timedDrive(
  pool: Pool,
  pid: number | undefined,
  creds: { client_id: string; client_secret: string },
  load: Load,
  as: Mode,
) {
  await drive(pool, warmupMs, creds, load, as);
  const cpuBefore = cpuSeconds(pid);
  const threadsBefore = threadTicks(pid);
  const measured = await drive(pool, durationMs, creds, load, as);
  const cpu = cpuSeconds(pid) - cpuBefore;
  return { measured, cpu, threads: threadSplit(pid, threadsBefore, threadTicks(pid)) };
}

function summarize(
  name: string,
  m: Measured,
  rss: number,
  cpu: number,
  threads?: ReturnType<typeof threadSplit>,
) {
  const perRequest = (seconds: number) => (m.requests > 0 ? Math.round((seconds * 1e6) / m.requests) : 0);
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
    server_cpu_us_per_req: perRequest(cpu),
    // Of which: the event loop's thread, the busiest other thread (SQLite: the writer), the rest.
    main_us: threads ? perRequest(threads.main) : null,
    writer_us: threads ? perRequest(threads.busiest) : null,
    other_threads_us: threads ? perRequest(threads.rest) : null,
  };
}

async function measureRenova(name: string, env: Record<string, string>, serverMain = SERVER_MAIN) {
  const dir = mkdtempSync(join(tmpdir(), 'renova-bench-'));
  const db = options.db ?? join(dir, 'renova.db');
  const { child, url } = await spawnListening(
    [
      ...(process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      // V8 writes the profile when the process exits (the graceful shutdown's process.exit).
      ...(options['cpu-prof-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${options['cpu-prof-dir']}`] : []),
      '--import',
      'tsx',
      serverMain,
      'serve',
      '--port',
      '0',
      '--db',
      db,
    ],
    { RENOVA_ADMIN_TOKEN: ADMIN, RENOVA_LOG_LEVEL: 'warn', ...env },
    /renova listening on (http:\/\/\S+)/,
  );
  // Idle sockets are dropped after 1 s: while --seed-grants writes straight into the file (for
  // minutes, synchronously) the server closes the kept-alive sockets, and reusing one would fail.
  const pool = new Pool(url, {
    connections: concurrency,
    pipelining: 1,
    keepAliveTimeout: 1_000,
    keepAliveMaxTimeout: 1_000,
  });
  try {
    const seedStart = performance.now();
    const { creds, load } = await seed(pool, db);
    const seedSeconds = (performance.now() - seedStart) / 1000;
    const { measured, cpu, threads } = await timedDrive(pool, child.pid, creds, load, mode);
    if (mode === 'authorization_code' && measured.seconds < durationMs / 1000 - 0.5)
      process.stderr.write(`note: the ${codesToSeed} codes ran out after ${measured.seconds.toFixed(1)} s\n`);
    return { summary: summarize(name, measured, peakRssMiB(child.pid), cpu, threads), seedSeconds, db };
  } finally {
    await pool.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    if (!options.db) {
      storeFacts.push(await fileFacts(db));
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Size of the database file (with its WAL) and, with --time-purge, one housekeeping round over it. */
const storeFacts: { database_mib: number; purge?: { round_ms: number } & Record<string, number> }[] = [];
async function fileFacts(db: string) {
  const size = (p: string) => (existsSync(p) ? statSync(p).size : 0);
  const database_mib = Math.round((size(db) + size(`${db}-wal`)) / 2 ** 20);
  if (!options['time-purge']) return { database_mib };
  const storage = new SqliteStorage({ path: db });
  try {
    await storage.migrate();
    const started = performance.now();
    // The round a server with the default configuration runs (runtime.ts): retention included.
    const config = loadConfig({});
    const totals = await new Housekeeper({
      storage,
      auditRetentionMs: config.auditRetentionDays * 86_400_000,
      retention: {
        familyMs: config.familyRetentionDays * 86_400_000,
        revokedGrantMs: config.revokedGrantRetentionDays * 86_400_000,
        sessionMs: config.sessionRetentionDays * 86_400_000,
      },
    }).runOnce();
    return { database_mib, purge: { round_ms: Math.round(performance.now() - started), ...totals } };
  } finally {
    await storage.close();
  }
}

/** bench/floor.ts's seeded tokens: `TG-2{id as 15 hex digits}{32 zeros}-1` for ids 1..count. */
function floorTokens(count: number): string[] {
  return Array.from(
    { length: count },
    (_, i) => `TG-2${(i + 1).toString(16).padStart(15, '0')}${'0'.repeat(32)}-1`,
  );
}

/**
 * bench/floor.ts in the same run: node:http, SHA-256 client and token checks, and a writer
 * thread rotating the pair in SQLite with group commit, and nothing else; the same load.
 */
async function measureFloor(writer: 'thread' | 'inline') {
  const dir = mkdtempSync(join(tmpdir(), 'renova-floor-'));
  const creds = { client_id: '4934588586838432', client_secret: 'f'.repeat(32) };
  const { child, url } = await spawnListening(
    [
      '--import',
      'tsx',
      ...(options['cpu-prof-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${options['cpu-prof-dir']}/floor`] : []),
      join(import.meta.dirname, 'floor.ts'),
      join(dir, 'floor.db'),
      String(concurrency),
      creds.client_id,
      creds.client_secret,
      writer,
    ],
    {},
    /floor listening on (http:\/\/\S+)/,
  );
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
  try {
    const load: Load = { tokens: floorTokens(concurrency), codes: [], nextCode: 0 };
    const { measured, cpu, threads } = await timedDrive(pool, child.pid, creds, load, 'refresh');
    const name = writer === 'thread' ? 'floor (bench/floor.ts)' : 'floor, inline writer';
    return summarize(name, measured, peakRssMiB(child.pid), cpu, threads);
  } finally {
    await pool.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
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
    // The canned answer for every request (the load generator builds the same bodies as for Renova).
    const load: Load = {
      tokens: Array.from({ length: concurrency }, () => `TG-${'0'.repeat(48)}-1`),
      codes: [],
      nextCode: 0,
    };
    const as = mode === 'authorization_code' ? 'refresh' : mode;
    const { measured, cpu } = await timedDrive(pool, child.pid, creds, load, as);
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

const clustered = options.instances !== undefined || /^postgres(ql)?:\/\//.test(options.db ?? '');
if (options.server !== undefined && !clustered) {
  throw new Error(
    '--server applies to PostgreSQL runs (--db postgres://…); on SQLite use --server-b for an A/B',
  );
}
if (clustered && options.repeat !== '1') {
  process.stderr.write(
    'npm run bench: --repeat applies to SQLite runs; on PostgreSQL (bench/cluster.ts) run the command several times\n',
  );
  process.exit(2);
}
if (clustered) {
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
    runs.push((await measureRenova('audit on', envBoth)).summary);
    runs.push((await measureRenova('audit off', envBoth, off)).summary);
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

type Summary = ReturnType<typeof summarize>;
const runs: { results: Summary[]; seedSeconds: number; loadavg1m: number }[] = [];
for (let run = 0; run < repeat; run++) {
  const loadavg1m = Number((loadavg()[0] ?? 0).toFixed(1));
  const a = await measureRenova('renova', envBoth);
  const b = envB ? await measureRenova('renova (b)', { ...envBoth, ...envB }, serverB) : null;
  const ceiling = options['skip-ceiling'] ? null : await measureCeiling();
  const fastify = options['with-fastify'] ? await measureCeiling('fastify') : null;
  const floor = options['with-floor'] ? await measureFloor('thread') : null;
  const inlineFloor = options['with-inline-floor'] ? await measureFloor('inline') : null;
  runs.push({
    results: [a.summary, b?.summary ?? null, ceiling, fastify, floor, inlineFloor].filter((r) => r !== null),
    seedSeconds: a.seedSeconds,
    loadavg1m,
  });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const figure = (run: (typeof runs)[number], name: string) => run.results.find((r) => r.name === name);
/** Each server's median figures over the runs (the rows of the table). */
const medians: Summary[] = (runs[0]?.results ?? []).map(({ name }) => {
  const rows = runs.map((run) => figure(run, name) as Summary);
  const of = (key: Exclude<keyof Summary, 'name'>) => Number(median(rows.map((r) => r[key] ?? 0)).toFixed(2));
  return {
    name,
    requests_per_s: Math.round(of('requests_per_s')),
    p50_ms: of('p50_ms'),
    p90_ms: of('p90_ms'),
    p99_ms: of('p99_ms'),
    errors: of('errors'),
    peak_rss_mib: of('peak_rss_mib'),
    server_cpu_us_per_req: Math.round(of('server_cpu_us_per_req')),
    ...(rows[0]?.main_us === null
      ? { main_us: null, writer_us: null, other_threads_us: null }
      : {
          main_us: Math.round(of('main_us')),
          writer_us: Math.round(of('writer_us')),
          other_threads_us: Math.round(of('other_threads_us')),
        }),
  };
});
/** A ratio of two servers' figures in each run, and their median. */
const ratio = (top: string, bottom: string, key: 'requests_per_s' | 'server_cpu_us_per_req') => {
  const perRun = runs.map((run) => {
    const t = figure(run, top)?.[key];
    const b = figure(run, bottom)?.[key];
    return t !== undefined && b ? Number((t / b).toFixed(2)) : null;
  });
  return perRun.every((r) => r !== null) && perRun.length > 0
    ? { median: Number(median(perRun).toFixed(2)), runs: perRun }
    : null;
};
const report = {
  machine: {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadavg_1m_at_start: runs.map((r) => r.loadavg1m),
  },
  settings: {
    mode,
    concurrency,
    sellers,
    duration_s: durationMs / 1000,
    repeat,
    durable: 'SQLite WAL synchronous=FULL',
    env: envBoth,
    env_b: envB,
    server_b: serverB ?? null,
  },
  seed_seconds: Number(median(runs.map((r) => r.seedSeconds)).toFixed(1)),
  results: medians,
  ratio_to_ceiling: ratio('renova', 'node:http ceiling', 'requests_per_s'),
  ...(options['with-floor']
    ? {
        floor_to_ceiling: ratio('floor (bench/floor.ts)', 'node:http ceiling', 'requests_per_s'),
        renova_cpu_over_floor: ratio('renova', 'floor (bench/floor.ts)', 'server_cpu_us_per_req'),
      }
    : {}),
  ...(options['with-inline-floor']
    ? { inline_floor_to_ceiling: ratio('floor, inline writer', 'node:http ceiling', 'requests_per_s') }
    : {}),
  ...(envB
    ? {
        b_over_a_requests_per_s: ratio('renova (b)', 'renova', 'requests_per_s'),
        b_over_a_cpu_per_req: ratio('renova (b)', 'renova', 'server_cpu_us_per_req'),
      }
    : {}),
  ...(seedGrants > 0 ? { seed_grants: seedGrants } : {}),
  database: storeFacts,
  ...(repeat > 1 ? { runs: runs.map((r) => r.results) } : {}),
};
if (options.json) {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} else {
  process.stdout.write(
    `machine: ${report.machine.cpus} cores (${report.machine.cpu_model}), ${report.machine.memory_gib} GiB, node ${report.machine.node}, load average ${report.machine.loadavg_1m_at_start.join(' / ')}\n`,
  );
  process.stdout.write(
    `mode ${mode}, ${concurrency} concurrent sellers, ${sellers} seeded in ${report.seed_seconds} s, ${durationMs / 1000} s per run, ${repeat === 1 ? 'one run' : `medians of ${repeat} runs`}\n\n`,
  );
  console.table(report.results);
  const show = (label: string, r: { median: number; runs: (number | null)[] } | null | undefined) => {
    if (r)
      process.stdout.write(`${label}: ${r.median}${repeat > 1 ? ` (runs: ${r.runs.join(', ')})` : ''}\n`);
  };
  show('renova / ceiling (requests/s)', report.ratio_to_ceiling);
  show('floor / ceiling (requests/s)', report.floor_to_ceiling);
  show('renova / floor (CPU per request)', report.renova_cpu_over_floor);
  show('inline floor / ceiling (requests/s)', report.inline_floor_to_ceiling);
  for (const facts of storeFacts) process.stdout.write(`database: ${JSON.stringify(facts)}\n`);
  show('b / a, requests/s', report.b_over_a_requests_per_s);
  show('b / a, CPU per request', report.b_over_a_cpu_per_req);
}
