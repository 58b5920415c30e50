/**
 * The calling thread's side of the SQLite store's writer thread (`sqlite-worker.ts`): posts write
 * steps, one message per loop turn, and settles each caller's promise with the thread's answer,
 * which comes only after the step's COMMIT (so a resolved write is on disk). The same idea as the
 * server's SQLite writer, without depending on the server package.
 *
 * @module
 */

import { Worker } from 'node:worker_threads';
import { workerScript } from '../worker-script.ts';
import type {
  StepArgs,
  StepResult,
  WriterData,
  WriterReply,
  WriterRequest,
  WriteStepName,
} from './sqlite-steps.ts';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** An error of the writer thread or of a step it ran; `code` is SQLite's (`SQLITE_BUSY`, …). */
export class WriterError extends Error {
  /** SQLite's error code, when there is one. */
  readonly code: string | undefined;

  constructor(message: string, code?: string) {
    super(message);
    this.name = 'WriterError';
    this.code = code;
  }
}

/** Runs write steps in a worker thread that owns a write connection to the database file. */
export class SqliteWriterThread {
  readonly #data: WriterData;
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #outbox: WriterRequest[] = [];
  #closed = false;

  /** @param data - the file, table prefix and lock wait of the thread's connection */
  constructor(data: WriterData) {
    this.#data = data;
  }

  #start(): Worker {
    // better-sqlite3 is the optional peer the writer loads: resolved from this package (worker-script.ts).
    const thread = workerScript(import.meta.url, 'sqlite-worker', ['better-sqlite3']);
    // No inherited `--import tsx`: the script is plain JavaScript either way, and loading a
    // loader the thread cannot use costs hundreds of milliseconds.
    const worker = new Worker(thread.script, { eval: thread.eval, execArgv: [], workerData: this.#data });
    worker.unref();
    worker.on('message', (replies: WriterReply[]) => {
      for (const reply of replies) {
        const pending = this.#pending.get(reply.id);
        if (pending === undefined) continue;
        this.#pending.delete(reply.id);
        if (reply.ok) pending.resolve(reply.value);
        else pending.reject(new WriterError(reply.error?.message ?? 'unknown error', reply.error?.code));
      }
      // An idle writer must not keep the integrator's process alive.
      // (Not while closing: close() waits for the thread's exit, which must keep the process up.)
      if (this.#pending.size === 0 && !this.#closed) worker.unref();
    });
    const stopped = (reason: string) => {
      if (this.#worker !== worker) return;
      // Whatever the thread had not answered may or may not have committed: the callers hear it
      // (the keeper retries, and its compare-and-swap makes a retry of a committed write harmless).
      // The next write starts a new thread.
      this.#worker = undefined;
      const error = new WriterError(`the SQLite writer thread stopped: ${reason}`, 'SQLITE_WRITER_STOPPED');
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
    };
    worker.on('error', (error) => stopped(error.message));
    worker.on('exit', (code) => stopped(`it exited with code ${code}`));
    this.#worker = worker;
    return worker;
  }

  /** Runs one step in the thread's current batch; resolves after its COMMIT. */
  run<K extends WriteStepName>(name: K, args: StepArgs<K>): Promise<StepResult<K>> {
    if (this.#closed) return Promise.reject(new WriterError('the SQLite store is closed'));
    let worker: Worker;
    try {
      worker = this.#worker ?? this.#start();
    } catch (error) {
      return Promise.reject(error);
    }
    const id = this.#nextId++;
    return new Promise<StepResult<K>>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (this.#pending.size === 1) worker.ref();
      // One postMessage per loop turn, not one per step: each costs a structured clone and a wake-up.
      if (this.#outbox.push({ id, name, args }) === 1) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const batch = this.#outbox;
    this.#outbox = [];
    if (batch.length === 0) return;
    const worker = this.#worker;
    if (worker !== undefined) {
      worker.postMessage(batch);
      return;
    }
    // The thread died between run() and this flush: these steps never reached it.
    const error = new WriterError(
      'the SQLite writer thread stopped before the write was sent',
      'SQLITE_WRITER_STOPPED',
    );
    for (const r of batch) {
      this.#pending.get(r.id)?.reject(error);
      this.#pending.delete(r.id);
    }
  }

  /** Lets queued steps commit, then stops the thread. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#flush();
    const worker = this.#worker;
    if (worker === undefined) return;
    await new Promise<void>((resolve) => {
      worker.ref();
      worker.once('exit', () => resolve());
      worker.postMessage({ close: true });
    });
    this.#worker = undefined;
  }
}
