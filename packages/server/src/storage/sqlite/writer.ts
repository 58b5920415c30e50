import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { auditWritesOmitted } from '../audit.ts';
import { reviveBuffers } from './connection.ts';
import { GroupCommitter, newCommitStats } from './group-commit.ts';
import { prepareStatements } from './statements.ts';
import { type WireCodec, wireCodec } from './wire.ts';
import { type StepArgs, type StepResult, type WriteStepName, writeSteps } from './write-steps.ts';

/** Runs write steps group-committed; a resolved step is durably on disk. */
export interface Writer {
  run<K extends WriteStepName>(name: K, args: StepArgs<K>): Promise<StepResult<K>>;
  /** Resolves when a write could succeed now: the writer runs and the database is writable. */
  probe(): Promise<void>;
  close(): Promise<void>;
  /** Group-commit statistics (group-commit.ts COMMIT_STATS), read on a metrics scrape. */
  readonly stats: Float64Array;
  /** Steps sent and not yet answered. */
  readonly queueDepth: number;
}

/** Writes on the calling thread's own connection (used for ':memory:' and by short CLI commands). */
export class InlineWriter implements Writer {
  readonly #committer: GroupCommitter;
  readonly #statements: ReturnType<typeof prepareStatements>;
  readonly #probe: Database.Statement;
  readonly stats = newCommitStats();

  constructor(db: Database.Database) {
    this.#committer = new GroupCommitter(db, undefined, this.stats);
    this.#statements = prepareStatements(db);
    // See writer-worker.ts: a write statement that changes nothing fails on a read-only file.
    this.#probe = db.prepare('UPDATE schema_migrations SET name = name WHERE 0');
  }

  async probe(): Promise<void> {
    await this.#committer.run(() => this.#probe.run());
  }

  get queueDepth(): number {
    return this.#committer.queued;
  }

  run<K extends WriteStepName>(name: K, args: StepArgs<K>): Promise<StepResult<K>> {
    const step = writeSteps[name] as (s: unknown, a: StepArgs<K>) => StepResult<K>;
    return this.#committer.run(() => step(this.#statements, args));
  }

  async close(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * The writer thread's script: the compiled writer-worker.js beside this module, a real file that
 * resolves its dependencies (better-sqlite3) from this package wherever the process was started.
 */
function writerThread(): { script: string | URL; eval: boolean } {
  if (!import.meta.url.endsWith('.ts')) {
    return { script: new URL('./writer-worker.js', import.meta.url), eval: false };
  }
  bundled ??= bundleFromSources();
  return { script: bundled, eval: true };
}

let bundled: string | undefined;

/**
 * Run from the TypeScript sources (tsx: the tests, the benchmarks), the thread cannot load
 * writer-worker.ts: on Node 20 a worker inherits `--import tsx` but its hooks do not load .ts files
 * in the thread, and tsx's own tsImport() there costs about a second per thread. So the sources are
 * bundled once per process with esbuild (a devDependency, there wherever the sources are) into
 * CommonJS, in a few milliseconds, and the bundle requires better-sqlite3 relative to this file:
 * an eval'ed worker would otherwise resolve it from the working directory (a server started elsewhere could not write).
 */
function bundleFromSources(): string {
  const here = fileURLToPath(import.meta.url);
  const { buildSync } = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  const text = buildSync({
    entryPoints: [fileURLToPath(new URL('./writer-worker.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['better-sqlite3'],
    banner: { js: `var require = require('node:module').createRequire(${JSON.stringify(here)});` },
    write: false,
    logLevel: 'silent',
  }).outputFiles[0]?.text;
  if (!text) throw new Error('could not bundle the SQLite writer thread from its sources');
  return text;
}

/** What the writer thread is doing, as WorkerWriter reports it to `onStatus`. */
export type WriterStatus =
  | { state: 'running'; restarts: number }
  | { state: 'restarting'; reason: string; attempt: number; maxRestarts: number }
  | { state: 'failed'; reason: string };

export interface WorkerWriterOptions {
  /**
   * The thread's script (tests pass a broken one); by default the real writer, see writerThread().
   */
  script?: URL;
  /**
   * How many times in a row a thread that died is replaced by a new one before the writer gives
   * up: a thread that answered a probe resets the count. Default 3.
   */
  maxRestarts?: number;
  /** Told when the thread stops unexpectedly, is running again, or cannot be restarted. */
  onStatus?: (status: WriterStatus) => void;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** The step's codec when its answer travels flat (wire.ts), to decode it. */
  codec: WireCodec | undefined;
}

export interface WorkerRequest {
  id: number;
  /** A write step, or `probe`: an empty write transaction that proves the thread can write. */
  name: WriteStepName | 'probe';
  /** The step's arguments: flat (wire.ts) for the steps that have a codec, structured otherwise. */
  args: unknown;
}

export interface WorkerReply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: { message: string; code?: string };
}

/** The `--cpu-prof*` options that take a value, which may come as the next argument. */
const PROFILER_VALUE_FLAGS = new Set(['--cpu-prof-dir', '--cpu-prof-name', '--cpu-prof-interval']);

/**
 * The process's `--cpu-prof*` options, for the writer thread: `node --cpu-prof --cpu-prof-dir DIR
 * renova serve` profiles both threads. A value given as the next argument comes along: without it
 * the thread refused to start ("--cpu-prof-dir requires an argument") and no write could succeed.
 */
export function profilerExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string;
    if (!arg.startsWith('--cpu-prof')) continue;
    kept.push(arg);
    const next = execArgv[i + 1];
    if (PROFILER_VALUE_FLAGS.has(arg) && next !== undefined) {
      kept.push(next);
      i++;
    }
  }
  return kept;
}

/**
 * Writes in a worker thread that owns the write connection. With `synchronous=FULL` each COMMIT
 * blocks its thread for an fsync (~1-2 ms here); in the worker that wait no longer stalls the
 * event loop that parses requests, and the requests that arrive meanwhile queue up as the next
 * batch. The main thread keeps its own connection for reads (WAL lets them run concurrently).
 */
export class WorkerWriter implements Writer {
  readonly #path: string;
  readonly #options: WorkerWriterOptions;
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  /** Steps waiting for the end of this loop turn, posted to the writer as one message. */
  #outbox: WorkerRequest[] = [];
  /** Threads that died in a row without answering a probe. */
  #failures = 0;
  #restarts = 0;
  /** Why the current thread is not (yet) known to write: set when one died, cleared by a probe. */
  #down: string | undefined;
  /** Set when the writer gave up restarting: every write and probe is refused with it. */
  #failed: string | undefined;
  #closed = false;
  /** Shared with every writer thread this writer starts: the counts survive a restart. */
  readonly stats = newCommitStats();

  constructor(path: string, options: WorkerWriterOptions = {}) {
    this.#path = path;
    this.#options = options;
  }

  get queueDepth(): number {
    return this.#pending.size;
  }

  /** The writer thread, when one runs: for diagnostics (threadId) and for tests that stop it. */
  get thread(): Worker | undefined {
    return this.#worker;
  }

  #start(): Worker {
    const thread = this.#options.script ? { script: this.#options.script, eval: false } : writerThread();
    // No inherited `--import tsx` and the like: the thread's script is plain JavaScript either way,
    // and loading a loader it cannot use cost a few hundred milliseconds per thread. Only
    // `--cpu-prof*` passes (npm run bench -- --cpu-prof-dir): the thread's profile is the writer's.
    const worker = new Worker(thread.script, {
      eval: thread.eval,
      execArgv: profilerExecArgv(process.execArgv),
      workerData: { path: this.#path, stats: this.stats, omitAuditWrites: auditWritesOmitted() },
    });
    worker.unref();
    worker.on('message', (replies: WorkerReply[]) => {
      for (const reply of replies) {
        const pending = this.#pending.get(reply.id);
        if (!pending) continue;
        this.#pending.delete(reply.id);
        if (!reply.ok) {
          pending.reject(Object.assign(new Error(reply.error?.message), { code: reply.error?.code }));
        } else if (pending.codec !== undefined) {
          pending.resolve(pending.codec.decodeResult(reply.value as unknown[]));
        } else pending.resolve(reviveBuffers(reply.value));
      }
      if (this.#pending.size === 0) worker.unref();
    });
    const fail = (error: unknown) => {
      // A dead writer loses only what it had not committed; those callers hear it (503), and a new
      // thread replaces it at once, so that the process never keeps accepting writes it cannot store.
      this.#worker = undefined;
      const reason = error instanceof Error ? error.message : String(error);
      for (const pending of this.#pending.values()) {
        pending.reject(
          Object.assign(new Error(`sqlite writer stopped: ${reason}`), { code: 'SQLITE_IOERR_WRITER' }),
        );
      }
      this.#pending.clear();
      this.#outbox = [];
      if (this.#closed) return;
      this.#down = reason;
      this.#failures += 1;
      const maxRestarts = this.#options.maxRestarts ?? 3;
      if (this.#failures > maxRestarts) {
        this.#failed = reason;
        this.#options.onStatus?.({ state: 'failed', reason });
        return;
      }
      this.#options.onStatus?.({ state: 'restarting', reason, attempt: this.#failures, maxRestarts });
      this.#restarts += 1;
      this.probe().catch(() => {
        // Reported through fail() of the thread that died.
      });
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.#worker === worker) fail(`the writer thread exited with code ${code}`);
    });
    this.#worker = worker;
    return worker;
  }

  #refused(): Error | undefined {
    if (this.#closed) return new Error('the sqlite writer is closed');
    if (this.#failed === undefined) return undefined;
    return Object.assign(new Error(`sqlite writer stopped: ${this.#failed}`), {
      code: 'SQLITE_IOERR_WRITER',
    });
  }

  #post(name: WriteStepName | 'probe', args: unknown): Promise<unknown> {
    const refused = this.#refused();
    if (refused) return Promise.reject(refused);
    const worker = this.#worker ?? this.#start();
    const id = this.#nextId++;
    const codec = wireCodec(name);
    return new Promise<unknown>((resolve, reject) => {
      // Inside the executor: arguments the codec cannot encode reject this step, never throw.
      const message = codec === undefined ? args : codec.encodeArgs(args);
      this.#pending.set(id, { resolve, reject, codec });
      if (this.#pending.size === 1) worker.ref();
      // One postMessage per loop turn instead of one per step: each costs a structured clone and
      // a wake-up of the writer, which showed up as ~10 % of a refresh.
      if (this.#outbox.push({ id, name, args: message }) === 1) {
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Posts this loop turn's steps to the thread running now (a replacement, if one died since). */
  #flush(): void {
    const batch = this.#outbox;
    this.#outbox = [];
    if (batch.length === 0) return;
    if (this.#worker) {
      this.#worker.postMessage(batch);
      return;
    }
    const refused = this.#refused() ?? new Error('the sqlite writer is closed');
    for (const request of batch) {
      this.#pending.get(request.id)?.reject(refused);
      this.#pending.delete(request.id);
    }
  }

  run<K extends WriteStepName>(name: K, args: StepArgs<K>): Promise<StepResult<K>> {
    return this.#post(name, args) as Promise<StepResult<K>>;
  }

  /**
   * Resolves when the writer thread ran an empty write transaction on the database: the thread is
   * up and the file is writable (a read-only database fails with SQLITE_READONLY). Starts a thread
   * when none runs. Readiness (/readyz) and start-up use it.
   */
  async probe(): Promise<void> {
    await this.#post('probe', null);
    if (this.#down !== undefined) {
      this.#down = undefined;
      this.#options.onStatus?.({ state: 'running', restarts: this.#restarts });
    }
    this.#failures = 0;
  }

  async close(): Promise<void> {
    // The pending commit batch first: steps already handed over are written and answered, so
    // that a graceful shutdown never drops a write a request is waiting for.
    this.#flush();
    if (this.#pending.size > 0) {
      await Promise.allSettled(
        [...this.#pending.values()].map(
          (pending) =>
            new Promise<void>((resolve) => {
              const { resolve: ok, reject: fail } = pending;
              pending.resolve = (value) => {
                ok(value);
                resolve();
              };
              pending.reject = (error) => {
                fail(error);
                resolve();
              };
            }),
        ),
      );
    }
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      worker.ref();
      worker.once('exit', () => resolve());
      worker.postMessage({ close: true });
    });
  }
}
