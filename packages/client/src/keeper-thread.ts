/**
 * A {@link TokenKeeper}'s background scheduler on its own worker thread, so that refreshing
 * thousands of sellers costs the integrator's event loop nothing but the events it listens to.
 *
 * The scheduler's work (the HTTP requests, the store's driver, JSON, its garbage) otherwise runs on
 * the thread that also serves the integrator's own requests, and on a 2-vCPU machine it held that
 * event loop's p99 delay 2–3.5 ms above an idle process's (docs/client-guide.md, "Throughput and
 * the event loop"). On a worker thread it runs in its own isolate, with its own heap and garbage
 * collector; the main thread's delay stays at the idle process's.
 *
 * The keeper in the thread is built by a module of the integrator's (its store, sealing keys or KMS
 * callback and hooks cannot be sent to a thread, so they are made there). Its guarantees are the
 * keeper's own: the thread is one more keeper on the store, like another process (docs/client-guide.md §6),
 * and a `TokenKeeper` on the main thread with the scheduler off serves `getAccessToken` from the
 * same store, refreshing on demand under the same leases and compare-and-swap.
 *
 * @module
 */

import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type * as PromClient from 'prom-client';
import type { KeeperEvents, KeeperListener, KeeperMetrics } from './keeper.ts';
import { type KeeperStats, loadPromClient } from './stats.ts';
import { workerScript } from './worker-script.ts';

/** What the thread is asked for: `keeper.metrics()`, `keeper.stats()`, its Prometheus metrics as JSON. */
export type Question = { what: 'metrics' } | { what: 'stats' } | { what: 'prometheus'; prefix?: string };

/** What the thread sends: its state, the keeper's events, answers to questions. */
export type ThreadMessage =
  | { type: 'ready' }
  | { type: 'failed'; error: SerializedError }
  | { type: 'event'; name: keyof KeeperEvents; payload: unknown }
  | { type: 'answer'; id: number; value?: unknown; error?: SerializedError }
  | { type: 'stopped' };

/** What the thread is sent. */
export type ControlMessage =
  | { type: 'ask'; id: number; question: Question }
  | { type: 'subscribe'; events: (keyof KeeperEvents)[] }
  | { type: 'stop' };

/** What the thread is started with. */
export interface ThreadData {
  /** The integrator's module, as a `file:` URL. */
  module: string;
  /** Its export that builds the keeper. */
  exportName: string;
  /** Passed to that function. */
  data: unknown;
  /**
   * The events with a listener on the main thread: only those are relayed (a `rotated` event
   * carries the seller's token, cloned twice; a main thread that does not listen pays nothing).
   */
  events: (keyof KeeperEvents)[];
}

/** An error as it crosses the thread boundary: what a listener reads of it. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** The own enumerable fields that clone (`error`, `status`, `code`, `userId`, `reason`, …). */
  fields: Record<string, unknown>;
}

/** An error of the keeper in the thread, as its event listeners on the main thread receive it. */
export class KeeperThreadError extends Error {
  /**
   * @param serialized - the error as the thread sent it; its name, stack and fields are kept
   */
  constructor(serialized: SerializedError) {
    super(serialized.message);
    this.name = serialized.name;
    if (serialized.stack !== undefined) this.stack = serialized.stack;
    Object.assign(this, serialized.fields);
  }
}

/** Options of {@link KeeperThread.start}. */
export interface KeeperThreadOptions {
  /**
   * The module's export that builds the keeper: a function of `data` returning (or resolving to) a
   * `TokenKeeper`, or `{ keeper, close }` where `close` runs after the keeper has stopped (close the
   * store there). Default `createKeeper`.
   */
  exportName?: string;
  /** Passed to that function in the thread (structured-cloned: no functions). */
  data?: unknown;
  /**
   * How often a thread that died is started again, in a row, before the keeper thread gives up
   * (a thread that ran for a minute resets the count). Default 3; `Infinity` never gives up. Its
   * leases expire and its journal is finished by the next keeper, so a restart loses no rotation.
   */
  maxRestarts?: number;
  /** Wait before a restart, doubled each time in a row (at most 30 s). Default 1,000 ms. */
  restartDelayMs?: number;
  /**
   * The thread's Node options (`--import ./otel.js`, say). Default: the process's own
   * (`process.execArgv`), as for any worker thread, so instrumentation loaded with `--import` or
   * `--require` runs in the thread too.
   */
  execArgv?: string[];
}

const MAX_RESTART_DELAY_MS = 30_000;
/** A thread that ran this long before it died starts a new count of deaths in a row. */
const STABLE_AFTER_MS = 60_000;

type Listeners = { [K in keyof KeeperEvents]: Set<KeeperListener<K>> };

/**
 * Runs a keeper's scheduler on a worker thread. The module names a function that builds the
 * keeper (with its store, sealing and scheduler options); the thread starts it and relays its
 * events here. Listeners here run after the fact: to act before an access token is handed out,
 * register the `rotated` hook on the keeper inside the module.
 *
 * ```ts
 * // keeper.js
 * export function createKeeper() {
 *   return new TokenKeeper({ oauth, clientId, clientSecret, store: new PostgresTokenStore({ connectionString }),
 *     scheduler: { concurrency: 64, ratePerSecond: 2_000, perTurn: 8 } });
 * }
 * // app.js
 * const thread = new KeeperThread(new URL('./keeper.js', import.meta.url));
 * thread.on('reauthorization_required', (e) => askToReconnect(e.userId));
 * await thread.start();
 * ```
 */
export class KeeperThread {
  readonly #data: ThreadData;
  readonly #maxRestarts: number;
  readonly #restartDelayMs: number;
  readonly #execArgv: string[] | undefined;
  #worker: Worker | undefined;
  #failures = 0;
  #stopping: Promise<void> | undefined;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #started: Promise<void> | undefined;
  #stoppedByCaller = false;
  #nextId = 1;
  readonly #questions = new Map<number, { resolve: (value: unknown) => void; reject: (e: Error) => void }>();
  readonly #listeners: Listeners = {
    rotated: new Set(),
    reauthorization_required: new Set(),
    error: new Set(),
    notification: new Set(),
  };

  /**
   * @param module - the integrator's module: a `file:` URL, or a path (relative to the working directory)
   * @param options - which export, its data, restarts
   * @throws TypeError when `module` is not a file or `exportName` is empty
   */
  constructor(module: string | URL, options: KeeperThreadOptions = {}) {
    const exportName = options.exportName ?? 'createKeeper';
    if (typeof exportName !== 'string' || exportName === '') {
      throw new TypeError('exportName must be a non-empty string');
    }
    this.#data = { module: moduleHref(module), exportName, data: options.data, events: [] };
    const maxRestarts = options.maxRestarts ?? 3;
    // Infinity is allowed: start it again for ever, at most every 30 s.
    if (typeof maxRestarts !== 'number' || Number.isNaN(maxRestarts) || maxRestarts < 0) {
      throw new RangeError(`maxRestarts must be a number ≥ 0, got ${String(maxRestarts)}`);
    }
    const restartDelayMs = options.restartDelayMs ?? 1_000;
    if (typeof restartDelayMs !== 'number' || !Number.isFinite(restartDelayMs) || restartDelayMs < 0) {
      throw new RangeError(`restartDelayMs must be a finite number ≥ 0, got ${String(restartDelayMs)}`);
    }
    this.#maxRestarts = Math.floor(maxRestarts);
    this.#restartDelayMs = restartDelayMs;
    if (
      options.execArgv !== undefined &&
      !(Array.isArray(options.execArgv) && options.execArgv.every((a) => typeof a === 'string'))
    ) {
      throw new TypeError('execArgv must be an array of strings');
    }
    this.#execArgv = options.execArgv;
  }

  /**
   * Starts the thread, builds the keeper there and starts its scheduler. Resolves once it runs
   * (listeners added before see every event); rejects with the module's own error when it cannot
   * be loaded or does not build a keeper. Calling it again returns the same promise.
   */
  start(): Promise<void> {
    if (this.#stoppedByCaller) {
      return Promise.reject(new Error('the keeper thread was stopped; create a new one'));
    }
    this.#started ??= this.#spawn(true);
    return this.#started;
  }

  /** `new KeeperThread(module, options)` and {@link KeeperThread.start}, in one call. */
  static async start(module: string | URL, options: KeeperThreadOptions = {}): Promise<KeeperThread> {
    const thread = new KeeperThread(module, options);
    await thread.start();
    return thread;
  }

  /** Whether a thread runs the scheduler now (false while restarting, after a failure or `stop()`). */
  get running(): boolean {
    return this.#worker !== undefined && this.#stopping === undefined;
  }

  /** The worker's `threadId`, while one runs. */
  get threadId(): number | undefined {
    return this.#worker?.threadId;
  }

  /**
   * Listens to an event of the keeper in the thread. Errors arrive as {@link KeeperThreadError}s;
   * a thread that died or cannot be restarted is an `error` event `during: 'thread'`.
   *
   * @returns a function that removes the listener
   */
  on<K extends keyof KeeperEvents>(event: K, listener: KeeperListener<K>): () => void {
    if (!Object.hasOwn(this.#listeners, event)) throw new TypeError(`a keeper has no ${String(event)} event`);
    (this.#listeners[event] as Set<KeeperListener<K>>).add(listener);
    this.#subscribe();
    return () => this.off(event, listener);
  }

  /** Removes a listener added with {@link KeeperThread.on}. */
  off<K extends keyof KeeperEvents>(event: K, listener: KeeperListener<K>): void {
    if (!Object.hasOwn(this.#listeners, event)) return;
    (this.#listeners[event] as Set<KeeperListener<K>>).delete(listener);
    this.#subscribe();
  }

  /** Tells the thread which events to relay, when that changed. */
  #subscribe(): void {
    const events = (Object.keys(this.#listeners) as (keyof KeeperEvents)[]).filter(
      (event) => this.#listeners[event].size > 0,
    );
    if (events.join() === this.#data.events.join()) return;
    this.#data.events = events;
    this.#worker?.postMessage({ type: 'subscribe', events } satisfies ControlMessage);
  }

  /** The keeper's counters (`keeper.metrics()`), from the thread. Rejects when no thread runs. */
  metrics(): Promise<KeeperMetrics> {
    return this.#ask({ what: 'metrics' }) as Promise<KeeperMetrics>;
  }

  /** The keeper's counters and latencies as plain numbers (`keeper.stats()`), from the thread. */
  stats(): Promise<KeeperStats> {
    return this.#ask({ what: 'stats' }) as Promise<KeeperStats>;
  }

  /**
   * The thread keeper's Prometheus metrics (`keeper.prometheus()` in the thread, set up on the
   * first call, in a registry of the thread's own) as a prom-client `Registry` of this thread,
   * read afresh on every call: merge it into yours on each scrape,
   * `Registry.merge([register, await thread.prometheusRegistry()]).metrics()`. prom-client (^15) is an
   * optional peer dependency, loaded in both threads only when this is called.
   *
   * @param options - `prefix` of the metric names (default `renova_keeper_`; fixed by the first call)
   */
  async prometheusRegistry(options: { prefix?: string } = {}): Promise<PromClient.Registry> {
    const json = (await this.#ask({ what: 'prometheus', prefix: options.prefix })) as object[];
    const prom = await loadPromClient('KeeperThread.prometheusRegistry()');
    // The aggregator of prom-client's cluster mode: it rebuilds a registry from metrics as JSON.
    return prom.AggregatorRegistry.aggregate([json]);
  }

  #ask(question: Question): Promise<unknown> {
    const worker = this.#worker;
    if (worker === undefined || this.#stopping !== undefined) {
      return Promise.reject(new Error('the keeper thread is not running'));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#questions.set(id, { resolve, reject });
      worker.postMessage({ type: 'ask', id, question } satisfies ControlMessage);
    });
  }

  /**
   * Stops the scheduler (refreshes in flight finish, queued leases are released), runs the module's
   * `close`, and ends the thread. Safe to call twice.
   */
  stop(): Promise<void> {
    this.#stoppedByCaller = true;
    this.#stopping ??= (async () => {
      clearTimeout(this.#restartTimer);
      const worker = this.#worker;
      if (worker === undefined) return;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage({ type: 'stop' } satisfies ControlMessage);
      await exited;
    })();
    return this.#stopping;
  }

  /** Starts a thread; `initial` for the one `start()` waits for (a failed restart is retried). */
  #spawn(initial: boolean): Promise<void> {
    let worker: Worker;
    try {
      // prom-client, the optional peer of prometheusRegistry(), stays a peer (worker-script.ts).
      const { script, eval: isEval } = workerScript(import.meta.url, 'keeper-thread-worker', ['prom-client']);
      worker = new Worker(script, {
        eval: isEval,
        workerData: this.#data,
        ...(this.#execArgv === undefined ? {} : { execArgv: this.#execArgv }),
      });
    } catch (error) {
      // `data` that does not clone (a function, a socket) fails here, before any thread runs.
      return Promise.reject(error);
    }
    this.#worker = worker;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      let readyAt = 0;
      worker.on('message', (message: ThreadMessage) => {
        switch (message.type) {
          case 'ready':
            ready = true;
            readyAt = Date.now();
            resolve();
            return;
          case 'failed':
            // The module could not build a keeper: the same module would fail again, so no restart.
            this.#stopping ??= Promise.resolve();
            reject(new KeeperThreadError(message.error));
            return;
          case 'event':
            void this.#deliver(message.name, revive(message.name, message.payload));
            return;
          case 'answer': {
            const pending = this.#questions.get(message.id);
            this.#questions.delete(message.id);
            if (message.error !== undefined) pending?.reject(new KeeperThreadError(message.error));
            else pending?.resolve(message.value);
            return;
          }
          case 'stopped':
            return;
        }
      });
      worker.on('error', (error) => {
        // An uncaught exception in the thread; 'exit' follows and decides about a restart.
        if (!ready) reject(error);
        else void this.#deliver('error', { error, during: 'thread' });
      });
      worker.on('exit', (code) => {
        this.#worker = undefined;
        for (const pending of this.#questions.values()) pending.reject(new Error('the keeper thread exited'));
        this.#questions.clear();
        if (!ready) reject(new Error(`the keeper thread exited (code ${code}) before its keeper ran`));
        if (this.#stopping !== undefined || (initial && !ready)) return;
        if (ready && Date.now() - readyAt >= STABLE_AFTER_MS) this.#failures = 0;
        this.#restartLater(code);
      });
    });
  }

  #restartLater(code: number): void {
    if (this.#failures >= this.#maxRestarts) {
      this.#stopping = Promise.resolve();
      void this.#deliver('error', {
        error: new Error(
          `the keeper thread exited (code ${code}) ${this.#failures + 1} times in a row; not restarted`,
        ),
        during: 'thread',
      });
      return;
    }
    const delay = Math.min(MAX_RESTART_DELAY_MS, this.#restartDelayMs * 2 ** this.#failures);
    this.#failures++;
    void this.#deliver('error', {
      error: new Error(`the keeper thread exited (code ${code}); starting it again in ${delay} ms`),
      during: 'thread',
    });
    this.#restartTimer = setTimeout(() => {
      if (this.#stopping !== undefined) return;
      this.#spawn(false).catch((error: unknown) => {
        void this.#deliver('error', { error, during: 'thread' });
      });
    }, delay);
  }

  async #deliver<K extends keyof KeeperEvents>(event: K, payload: KeeperEvents[K]): Promise<void> {
    for (const listener of [...(this.#listeners[event] as Set<KeeperListener<K>>)]) {
      try {
        await listener(payload);
      } catch (error) {
        // A failing listener must not stop the others, nor the relay; an error listener that
        // throws is not told about itself.
        if (event !== 'error') await this.#deliver('error', { error, during: 'hook' });
      }
    }
  }
}

function moduleHref(module: string | URL): string {
  if (module instanceof URL) {
    if (module.protocol !== 'file:')
      throw new TypeError(`the keeper module must be a file: URL, got ${module.protocol}`);
    return module.href;
  }
  if (typeof module !== 'string' || module === '')
    throw new TypeError('the keeper module must be a file: URL or a path');
  if (module.startsWith('file:')) return new URL(module).href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(module) && !/^[a-z]:[\\/]/i.test(module)) {
    throw new TypeError(`the keeper module must be a file: URL or a path, got ${module}`);
  }
  return pathToFileURL(module).href;
}

/** The error fields of an event payload back into errors. */
function revive(name: keyof KeeperEvents, payload: unknown): never {
  const p = payload as Record<string, unknown>;
  if ((name === 'error' || name === 'reauthorization_required') && isSerializedError(p.error)) {
    return { ...p, error: new KeeperThreadError(p.error) } as never;
  }
  return p as never;
}

function isSerializedError(value: unknown): value is SerializedError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as SerializedError).name === 'string' &&
    typeof (value as SerializedError).message === 'string'
  );
}
