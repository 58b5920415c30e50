import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { buildSync } from 'esbuild';
import { reviveBuffers } from './connection.ts';
import { GroupCommitter } from './group-commit.ts';
import { prepareStatements } from './statements.ts';
import { type StepArgs, type StepResult, type WriteStepName, writeSteps } from './write-steps.ts';

/** Runs write steps group-committed; a resolved step is durably on disk. */
export interface Writer {
  run<K extends WriteStepName>(name: K, args: StepArgs<K>): Promise<StepResult<K>>;
  close(): Promise<void>;
}

/** Writes on the calling thread's own connection (used for ':memory:' and by short CLI commands). */
export class InlineWriter implements Writer {
  readonly #committer: GroupCommitter;
  readonly #statements: ReturnType<typeof prepareStatements>;

  constructor(db: Database.Database) {
    this.#committer = new GroupCommitter(db);
    this.#statements = prepareStatements(db);
  }

  run<K extends WriteStepName>(name: K, args: StepArgs<K>): Promise<StepResult<K>> {
    const step = writeSteps[name] as (s: unknown, a: StepArgs<K>) => StepResult<K>;
    return this.#committer.run(() => step(this.#statements, args));
  }

  async close(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

let bundled: string | undefined;

/**
 * The writer thread's code, bundled once per process from writer-worker.ts. Worker threads on
 * Node 20 get neither the parent's module loader hooks nor working hooks of their own while the
 * parent has some, so they cannot load TypeScript directly; a CommonJS bundle (better-sqlite3 left
 * external) runs anywhere, and building it takes a few milliseconds.
 */
function writerSource(): string {
  bundled ??= buildSync({
    entryPoints: [fileURLToPath(new URL('./writer-worker.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['better-sqlite3'],
    write: false,
    logLevel: 'silent',
  }).outputFiles[0]?.text;
  if (!bundled) throw new Error('could not bundle the SQLite writer thread');
  return bundled;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface WorkerRequest {
  id: number;
  name: WriteStepName;
  args: unknown;
}

export interface WorkerReply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: { message: string; code?: string };
}

/**
 * Writes in a worker thread that owns the write connection. With `synchronous=FULL` each COMMIT
 * blocks its thread for an fsync (~1-2 ms here); in the worker that wait no longer stalls the
 * event loop that parses requests, and the requests that arrive meanwhile queue up as the next
 * batch. The main thread keeps its own connection for reads (WAL lets them run concurrently).
 */
export class WorkerWriter implements Writer {
  readonly #path: string;
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  /** Steps waiting for the end of this loop turn, posted to the writer as one message. */
  #outbox: WorkerRequest[] = [];

  constructor(path: string) {
    this.#path = path;
  }

  #start(): Worker {
    const worker = new Worker(writerSource(), { eval: true, workerData: { path: this.#path } });
    worker.unref();
    worker.on('message', (replies: WorkerReply[]) => {
      for (const reply of replies) {
        const pending = this.#pending.get(reply.id);
        if (!pending) continue;
        this.#pending.delete(reply.id);
        if (reply.ok) pending.resolve(reviveBuffers(reply.value));
        else pending.reject(Object.assign(new Error(reply.error?.message), { code: reply.error?.code }));
      }
      if (this.#pending.size === 0) worker.unref();
    });
    const fail = (error: unknown) => {
      // A dead writer loses only what it had not committed; those callers hear it, the next write
      // starts a new writer.
      this.#worker = undefined;
      for (const pending of this.#pending.values()) {
        pending.reject(
          Object.assign(new Error(`sqlite writer stopped: ${String(error)}`), {
            code: 'SQLITE_IOERR_WRITER',
          }),
        );
      }
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.#worker === worker) fail(`exit ${code}`);
    });
    this.#worker = worker;
    return worker;
  }

  run<K extends WriteStepName>(name: K, args: StepArgs<K>): Promise<StepResult<K>> {
    const worker = this.#worker ?? this.#start();
    const id = this.#nextId++;
    return new Promise<StepResult<K>>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      if (this.#pending.size === 1) worker.ref();
      // One postMessage per loop turn instead of one per step: each costs a structured clone and
      // a wake-up of the writer, which showed up as ~10 % of a refresh.
      if (this.#outbox.push({ id, name, args }) === 1) {
        setImmediate(() => {
          const batch = this.#outbox;
          this.#outbox = [];
          worker.postMessage(batch);
        });
      }
    });
  }

  async close(): Promise<void> {
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
