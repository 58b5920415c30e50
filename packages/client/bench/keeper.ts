/**
 * How many sellers per second the TokenKeeper's background scheduler refreshes against a local
 * Renova, what it costs in CPU on both sides, and how long it stalls the integrator's event loop.
 *
 *   npm run bench --workspace @renova/client                       # every store, 3 runs each
 *   BENCH_STORES=sqlite BENCH_SELLERS=4000 BENCH_RUNS=5 npm run bench --workspace @renova/client
 *
 * Environment: BENCH_SELLERS (2000), BENCH_STORES (memory,sqlite,postgres,redis), BENCH_RUNS (3),
 * BENCH_CONCURRENCY (64), BENCH_PATHS (old,new,worker; the memory store skips worker; for SQLite
 * also `thread` and `batch`, one lever each), BENCH_RATE (the scheduler's ratePerSecond; default
 * out of the way), BENCH_PER_TURN (its perTurn).
 *
 * For each store, each run refreshes every seller once with the scheduler (concurrency 64, the rate
 * limit out of the way) once per path, back to back, so that a noisy machine hits them alike:
 * - `old`: the path before batching: the store's single-seller methods only (lease, journal, CAS,
 *   release, and the reads, one call each per seller) and, for SQLite, writes on the event loop's
 *   thread (`writerThread: false`);
 * - `new`: the default path: batched claims, group-committed journal and compare-and-swap (which
 *   also releases the lease), and for SQLite the writer thread;
 * - `worker`: the default path in a {@link KeeperThread} (bench/keeper-module.mjs, which imports the
 *   compiled package: `npm run build` first), with `perTurn` 8 unless BENCH_PER_TURN says otherwise;
 *   the event loop measured is the main thread's, which only receives the events, and the GC counts
 *   are the main thread's alone; sellers/s and CPU count from when its scheduler runs, and the
 *   thread's start-up is printed apart;
 * - SQLite only, one lever at a time: `thread` (the writer thread and its group commit, but the
 *   single-seller calls) and `batch` (the keeper's batched calls, written on the event loop's thread).
 * Reported per path: sellers/s, the keeper process's CPU per seller (every thread, the writer
 * thread included), the event loop's delay (`perf_hooks.monitorEventLoopDelay`, p50/p99/max) during
 * the run (and, beside it, that of an idle Node process over the same run: the machine's floor),
 * and the Renova server's CPU per refresh (from /proc), as medians of the runs, with the
 * new/old ratio of the same runs. A first line gives the server alone: raw `OAuth.refresh` calls.
 */

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { constants as gcKinds, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { KeeperThread, OAuth, SqliteTokenStore, TokenKeeper, type TokenStore } from '../src/index.ts';
import { authorize, createApplication, createUser, startServer } from '../test/helpers/server.ts';
import { createStore, type StoreSpec } from '../test/helpers/stores.ts';
import { dueToken, wrapStore } from '../test/helpers/tokens.ts';

const N = Number(process.env.BENCH_SELLERS ?? 2000);
const STORES = (process.env.BENCH_STORES ?? 'memory,sqlite,postgres,redis').split(',') as StoreSpec['kind'][];
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const PATHS = (process.env.BENCH_PATHS ?? 'old,new,worker').split(',') as Path[];
/** The keeper module of the `worker` path (imports the compiled package: `npm run build` first). */
const KEEPER_MODULE = new URL('./keeper-module.mjs', import.meta.url);
/** BENCH_RATE: the scheduler's ratePerSecond (default: out of the way), to measure the loop at a set pace. */
const RATE = Number(process.env.BENCH_RATE ?? 1_000_000);
/** BENCH_PER_TURN: the scheduler's perTurn (default: the keeper's). */
const PER_TURN = process.env.BENCH_PER_TURN === undefined ? undefined : Number(process.env.BENCH_PER_TURN);
type Path = 'old' | 'thread' | 'batch' | 'new' | 'worker';

/** BENCH_PROFILE=dir: a CPU profile of each run (the scheduler's run only), as dir/<store>-<path>-<n>.cpuprofile. */
const PROFILE_DIR = process.env.BENCH_PROFILE;
/**
 * BENCH_HEAP_PROFILE=1 (with BENCH_PROFILE): also where each run allocates, collected objects
 * included, as dir/<store>-<path>-<n>.heapprofile. The sampling itself slows the run.
 */
const HEAP_PROFILE = PROFILE_DIR !== undefined && process.env.BENCH_HEAP_PROFILE === '1';
const log = (s: string) => process.stdout.write(`${s}\n`);
const TICK_MS = 1000 / 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

/** CPU time (user + system) of a process, in ms, from /proc. */
function processCpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return Number.NaN;
  }
}

const ownCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** The event-loop delay of an idle Node process (a 1 ms timer, nothing else) over the same run. */
interface Floor {
  p50: number;
  p99: number;
  max: number;
}

/**
 * Starts the idle probe: a second Node process that only measures its own event-loop delay, so
 * each run also reports the floor the machine (its other load, the OS scheduler) imposes on any
 * event loop at that moment. The keeper's figure can only be read against it.
 */
async function startProbe(): Promise<() => Promise<Floor>> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const h = require('node:perf_hooks').monitorEventLoopDelay({ resolution: 1 });
       h.enable(); process.stdout.write('ready\\n');
       process.stdin.on('data', () => {}).on('end', () => {
         h.disable();
         process.stdout.write(JSON.stringify({ p50: h.percentile(50) / 1e6, p99: h.percentile(99) / 1e6, max: h.max / 1e6 }) + '\\n');
       });`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8');
  await new Promise<void>((ready) => {
    child.stdout.on('data', (d: string) => {
      out += d;
      if (out.includes('ready\n')) ready();
    });
  });
  return async () => {
    const exited = new Promise((r) => child.once('exit', r));
    child.stdin.end();
    await exited;
    return JSON.parse(out.slice(out.indexOf('ready\n') + 6).trim()) as Floor;
  };
}

/** The keeper process's garbage collections during a run: young (scavenges) and the rest. */
interface GcFigures {
  young: number;
  youngMaxMs: number;
  other: number;
  otherMaxMs: number;
}

/** Counts the collections from now until the returned function is called. */
function watchGc(): () => GcFigures {
  const figures = { young: 0, youngMaxMs: 0, other: 0, otherMaxMs: 0 };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind === gcKinds.NODE_PERFORMANCE_GC_MINOR) {
        figures.young++;
        figures.youngMaxMs = Math.max(figures.youngMaxMs, entry.duration);
      } else {
        figures.other++;
        figures.otherMaxMs = Math.max(figures.otherMaxMs, entry.duration);
      }
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => {
    observer.disconnect();
    return figures;
  };
}

interface Run {
  sellersPerSecond: number;
  gc: GcFigures;
  clientCpuMsPerSeller: number;
  serverCpuMsPerRefresh: number;
  eld: { p50: number; p99: number; max: number };
  floor: Floor;
  errors: number;
  requests: number;
  /** A KeeperThread's start-up (spawn, module, keeper), before its scheduler ran; 0 on the main thread. */
  startupMs: number;
}

const server = await startServer({ LOG_LEVEL: 'error' });
try {
  log(
    `Renova keeper benchmark: ${N} sellers, concurrency ${CONCURRENCY}, ${RUNS} runs per store, ` +
      `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
  );
  const app = await createApplication(server);
  const oauth = new OAuth({ baseUrl: server.baseUrl });
  const creds = { client_id: app.clientId, client_secret: app.clientSecret };

  /** The sellers' current tokens (each run spends them and stores the next ones). */
  const answers: Record<string, unknown>[] = [];
  {
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < N) {
          next++;
          const uid = await createUser(server);
          const { code, redirect_uri } = await authorize(server, app.clientId, uid);
          answers.push(
            (await oauth.create({ body: { ...creds, code, redirect_uri } })) as unknown as Record<
              string,
              unknown
            >,
          );
        }
      }),
    );
    log(`onboarded ${N} sellers in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }

  // The server alone: each seller's refresh, CONCURRENCY in flight, no store.
  {
    let next = 0;
    const cpu0 = processCpuMs(server.pid);
    const start = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < answers.length) {
          const a = answers[next++] as Record<string, unknown>;
          const r = await oauth.refresh({ body: { ...creds, refresh_token: a.refresh_token as string } });
          a.refresh_token = r.refresh_token;
          a.access_token = r.access_token;
        }
      }),
    );
    const s = (performance.now() - start) / 1000;
    log(
      `server alone: ${(N / s).toFixed(0)} refreshes/s (raw OAuth.refresh, ${CONCURRENCY} in flight), ` +
        `server CPU ${((processCpuMs(server.pid) - cpu0) / N).toFixed(2)} ms/refresh`,
    );
  }

  /** One scheduler run over every seller on a fresh store of `kind`, by `path`. */
  let profiler: Session | undefined;
  if (PROFILE_DIR !== undefined) {
    mkdirSync(PROFILE_DIR, { recursive: true });
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
    if (HEAP_PROFILE) await profiler.post('HeapProfiler.enable');
  }
  let profiled = 0;

  async function run(kind: StoreSpec['kind'], path: Path): Promise<Run> {
    const fx = await createStore(kind);
    let inline: SqliteTokenStore | undefined;
    let store: TokenStore = fx.store;
    if (kind === 'sqlite' && (path === 'old' || path === 'batch')) {
      inline = new SqliteTokenStore({ path: (fx.spec as { path: string }).path, writerThread: false });
      store = inline;
    }
    // Only the single-seller methods: the keeper then takes the pre-batching path.
    if (path === 'old' || path === 'thread') store = wrapStore(store, {});
    try {
      await Promise.all(answers.map((a) => store.put(dueToken(a))));
      const scheduler = {
        intervalMs: 100,
        concurrency: CONCURRENCY,
        ratePerSecond: RATE,
        burst: CONCURRENCY,
        // In a thread the turns' length no longer reaches the integrator's event loop: larger
        // slices there (docs/client-guide.md recommends 8) buy throughput for nothing.
        perTurn: PER_TURN ?? (path === 'worker' ? 8 : undefined),
      };
      let rotated = 0;
      let errors = 0;
      let finish = () => {};
      const done = new Promise<void>((r) => {
        finish = r;
      });
      const onRotated = () => {
        if (++rotated === N) finish();
      };
      const onError = () => {
        errors++;
      };
      // The keeper under test: on this thread, or (path `worker`) a KeeperThread built from
      // bench/keeper-module.mjs, started when the run starts (its start-up is part of the run).
      let keeper: TokenKeeper | undefined;
      let thread: KeeperThread | undefined;
      let startupMs = 0;
      const startKeeper = async () => {
        if (path !== 'worker') {
          keeper = new TokenKeeper({
            oauth: new OAuth({ baseUrl: server.baseUrl }),
            clientId: app.clientId,
            clientSecret: app.clientSecret,
            store,
            scheduler,
          });
          keeper.on('rotated', onRotated);
          keeper.on('error', onError);
          keeper.start();
          return;
        }
        thread = new KeeperThread(KEEPER_MODULE, {
          data: {
            spec: fx.spec,
            baseUrl: server.baseUrl,
            clientId: app.clientId,
            clientSecret: app.clientSecret,
            scheduler,
          },
        });
        // No `rotated` listener here, as an integrator would have none: the thread relays only
        // what is listened to, and the run's end is read from the thread's counters instead.
        thread.on('error', onError);
        const spawned = performance.now();
        await thread.start();
        startupMs = performance.now() - spawned;
        const running = thread;
        void (async () => {
          while (running.running && (await running.metrics().catch(() => null))?.rotations !== N) {
            await new Promise((r) => setTimeout(r, 20));
          }
          finish();
        })();
      };
      const eld = monitorEventLoopDelay({ resolution: 1 });
      await profiler?.post('Profiler.start');
      // Where the run allocates: one sample per 16 KiB allocated, with its stack.
      if (HEAP_PROFILE) {
        await profiler?.post('HeapProfiler.startSampling', {
          samplingInterval: 16_384,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      }
      const stopProbe = await startProbe();
      const stopGc = watchGc();
      eld.enable();
      // The event loop is watched from before the keeper starts (a thread's start-up included);
      // sellers/s and CPU from when its scheduler runs (a thread's start-up is printed apart).
      await startKeeper();
      const serverCpu0 = processCpuMs(server.pid);
      const cpu0 = ownCpuMs();
      const start = performance.now();
      await done;
      const wall = performance.now() - start;
      eld.disable();
      const gc = stopGc();
      const floor = await stopProbe();
      if (profiler !== undefined && PROFILE_DIR !== undefined) {
        const { profile } = await profiler.post('Profiler.stop');
        const name = `${kind}-${path}-${++profiled}`;
        writeFileSync(join(PROFILE_DIR, `${name}.cpuprofile`), JSON.stringify(profile));
        if (HEAP_PROFILE) {
          const { profile: heap } = await profiler.post('HeapProfiler.stopSampling');
          writeFileSync(join(PROFILE_DIR, `${name}.heapprofile`), JSON.stringify(heap));
        }
      }
      const cpu = ownCpuMs() - cpu0;
      const serverCpu = processCpuMs(server.pid) - serverCpu0;
      const m = keeper?.metrics() ?? (await (thread as KeeperThread).metrics());
      await keeper?.stop();
      await thread?.stop();
      // Carry the rotated tokens over to the next run.
      await Promise.all(
        answers.map(async (a) => {
          const t = await store.get(a.user_id as number);
          a.refresh_token = t?.refreshToken;
          a.access_token = t?.accessToken;
        }),
      );
      return {
        sellersPerSecond: N / (wall / 1000),
        clientCpuMsPerSeller: cpu / N,
        serverCpuMsPerRefresh: serverCpu / Math.max(1, m.refreshRequests),
        eld: { p50: eld.percentile(50) / 1e6, p99: eld.percentile(99) / 1e6, max: eld.max / 1e6 },
        gc,
        floor,
        errors,
        requests: m.refreshRequests,
        startupMs,
      };
    } finally {
      await inline?.close();
      await fx.cleanup();
    }
  }

  const describe = (r: Run) =>
    `${r.sellersPerSecond.toFixed(0).padStart(5)} sellers/s, client CPU ${r.clientCpuMsPerSeller.toFixed(2)} ms/seller, ` +
    `event-loop delay p50/p99/max ${r.eld.p50.toFixed(1)}/${r.eld.p99.toFixed(1)}/${r.eld.max.toFixed(1)} ms ` +
    `(idle process ${r.floor.p50.toFixed(1)}/${r.floor.p99.toFixed(1)}/${r.floor.max.toFixed(1)}), ` +
    `server CPU ${r.serverCpuMsPerRefresh.toFixed(2)} ms/refresh, ${r.requests} requests, ${r.errors} errors, ` +
    `GC young ${r.gc.young.toFixed(0)} (max ${r.gc.youngMaxMs.toFixed(1)} ms) other ${r.gc.other.toFixed(0)} (max ${r.gc.otherMaxMs.toFixed(1)} ms)` +
    (r.startupMs > 0 ? `, thread start-up ${r.startupMs.toFixed(0)} ms` : '');

  for (const kind of STORES) {
    const results: Record<Path, Run[]> = { old: [], thread: [], batch: [], new: [], worker: [] };
    // A memory store lives in one thread: a KeeperThread could not share it with the main thread.
    const paths = kind === 'memory' ? PATHS.filter((p) => p !== 'worker') : PATHS;
    for (let i = 1; i <= RUNS; i++) {
      for (const path of paths) {
        const r = await run(kind, path);
        results[path].push(r);
        log(`  ${kind} ${path} run ${i}: ${describe(r)}`);
      }
    }
    const med = (path: Path): Run | undefined => {
      const rs = results[path];
      if (rs.length === 0) return undefined;
      return {
        sellersPerSecond: median(rs.map((r) => r.sellersPerSecond)),
        clientCpuMsPerSeller: median(rs.map((r) => r.clientCpuMsPerSeller)),
        serverCpuMsPerRefresh: median(rs.map((r) => r.serverCpuMsPerRefresh)),
        eld: {
          p50: median(rs.map((r) => r.eld.p50)),
          p99: median(rs.map((r) => r.eld.p99)),
          max: median(rs.map((r) => r.eld.max)),
        },
        gc: {
          young: median(rs.map((r) => r.gc.young)),
          youngMaxMs: median(rs.map((r) => r.gc.youngMaxMs)),
          other: median(rs.map((r) => r.gc.other)),
          otherMaxMs: median(rs.map((r) => r.gc.otherMaxMs)),
        },
        floor: {
          p50: median(rs.map((r) => r.floor.p50)),
          p99: median(rs.map((r) => r.floor.p99)),
          max: median(rs.map((r) => r.floor.max)),
        },
        errors: rs.reduce((a, r) => a + r.errors, 0),
        requests: median(rs.map((r) => r.requests)),
        startupMs: median(rs.map((r) => r.startupMs)),
      };
    };
    for (const path of PATHS) {
      const m = med(path);
      if (m !== undefined) log(`${kind.padEnd(8)} ${path} (median of ${RUNS}): ${describe(m)}`);
    }
    const o = med('old');
    for (const path of PATHS) {
      const n = med(path);
      if (path === 'old' || o === undefined || n === undefined) continue;
      // Same-run ratios: each run's figure over the old run of the same round.
      const ratios = results[path].map(
        (r, i) => r.sellersPerSecond / (results.old[i] as Run).sellersPerSecond,
      );
      log(
        `${kind.padEnd(8)} ${path}/old: ×${median(ratios).toFixed(2)} sellers/s (median of same-run ratios), ` +
          `event-loop p99 ${o.eld.p99.toFixed(1)} → ${n.eld.p99.toFixed(1)} ms, ` +
          `client CPU ${o.clientCpuMsPerSeller.toFixed(2)} → ${n.clientCpuMsPerSeller.toFixed(2)} ms/seller`,
      );
    }
  }
} finally {
  await server.stop();
}
