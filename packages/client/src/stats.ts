/**
 * The keeper's observability (issue 14 item 4): counters and latency histograms kept as plain
 * numbers ({@link KeeperStats}, from `keeper.stats()`), and optionally mirrored into prom-client
 * metrics (`keeper.prometheus()`), which is loaded only when asked for.
 *
 * @module
 */

import type * as PromClient from 'prom-client';
import type { TokenStore } from './store.ts';
import { loadDriver } from './stores/driver.ts';

/** A latency histogram as plain numbers (cumulative buckets, like Prometheus). */
export interface HistogramStats {
  /** Observations. */
  count: number;
  /** Sum of the observations, in seconds. */
  sumSeconds: number;
  /** For each upper bound `le` (seconds), how many observations were at most that. */
  buckets: { le: number; count: number }[];
}

/** The keeper's counters and latencies since it was created. */
export interface KeeperStats {
  /** Refreshes this keeper started for a due (or forced) token: one per rotation, retries not counted again. */
  due: number;
  /** Refreshes that ended with a new token pair stored by this keeper. */
  refreshed: number;
  /** Refreshes that ended in an error other than re-authorization (the token stays as it was). */
  failed: number;
  /** Sellers this keeper marked as needing re-authorization (refused grant or deauthorization webhook). */
  reauthorizationRequired: number;
  /** Duration of each refresh request to the token endpoint (every attempt, answered or not). */
  refreshLatency: HistogramStats;
  /** Duration of each store call, by method (`get`, `compareAndSwap`, `claimDue`, …), sealing excluded. */
  storeLatency: Record<string, HistogramStats>;
}

/** Buckets of the refresh histogram, in seconds (prom-client's defaults). */
export const REFRESH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Buckets of the store histogram, in seconds: store calls are sub-millisecond to tens of ms. */
export const STORE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

class Histogram {
  readonly #bounds: number[];
  readonly #counts: number[];
  #count = 0;
  #sum = 0;

  constructor(bounds: number[]) {
    this.#bounds = bounds;
    this.#counts = bounds.map(() => 0);
  }

  observe(seconds: number): void {
    this.#count++;
    this.#sum += seconds;
    for (const [i, le] of this.#bounds.entries())
      if (seconds <= le) this.#counts[i] = (this.#counts[i] ?? 0) + 1;
  }

  snapshot(): HistogramStats {
    return {
      count: this.#count,
      sumSeconds: this.#sum,
      buckets: this.#bounds.map((le, i) => ({ le, count: this.#counts[i] ?? 0 })),
    };
  }
}

type Counter = 'due' | 'refreshed' | 'failed' | 'reauthorizationRequired';

interface Sink {
  inc(counter: Counter): void;
  refresh(seconds: number): void;
  store(operation: string, seconds: number): void;
}

/** Collects the keeper's statistics and forwards them to the sinks (Prometheus) registered. */
export class StatsRecorder {
  readonly #counters: Record<Counter, number> = {
    due: 0,
    refreshed: 0,
    failed: 0,
    reauthorizationRequired: 0,
  };
  readonly #refresh = new Histogram(REFRESH_BUCKETS);
  readonly #store = new Map<string, Histogram>();
  readonly #sinks: Sink[] = [];

  /** Counts one event. */
  inc(counter: Counter): void {
    this.#counters[counter]++;
    for (const s of this.#sinks) s.inc(counter);
  }

  /** Records one refresh request's duration. */
  refresh(seconds: number): void {
    this.#refresh.observe(seconds);
    for (const s of this.#sinks) s.refresh(seconds);
  }

  /** Records one store call's duration. */
  store(operation: string, seconds: number): void {
    let h = this.#store.get(operation);
    if (h === undefined) {
      h = new Histogram(STORE_BUCKETS);
      this.#store.set(operation, h);
    }
    h.observe(seconds);
    for (const s of this.#sinks) s.store(operation, seconds);
  }

  /** A snapshot. */
  snapshot(): KeeperStats {
    return {
      ...this.#counters,
      refreshLatency: this.#refresh.snapshot(),
      storeLatency: Object.fromEntries([...this.#store].map(([op, h]) => [op, h.snapshot()])),
    };
  }

  /** Adds a sink. */
  addSink(sink: Sink): void {
    this.#sinks.push(sink);
  }
}

/**
 * Wraps a store so every method call is timed (by the monotonic clock) into `recorder`. A Proxy,
 * so the optional batched methods exist on the wrapper exactly when the store has them; methods
 * are called on the store itself (its `#private` fields need the real `this`).
 */
export function timedStore(store: TokenStore, recorder: StatsRecorder): TokenStore {
  const cache = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== 'function' || prop === 'constructor') return value;
      let wrapped = cache.get(prop);
      if (wrapped === undefined) {
        const operation = String(prop);
        wrapped = (...args: unknown[]) => {
          const started = performance.now();
          const done = () => recorder.store(operation, (performance.now() - started) / 1000);
          let out: unknown;
          try {
            out = (value as (...a: unknown[]) => unknown).apply(target, args);
          } catch (error) {
            done();
            throw error;
          }
          if (out instanceof Promise) return out.finally(done);
          done();
          return out;
        };
        cache.set(prop, wrapped);
      }
      return wrapped;
    },
  });
}

// The public types below are structural, not prom-client's own: the published declarations must
// type-check for integrators who never install the optional prom-client.

/** A prom-client `Registry` (structurally). */
export interface PromRegistryLike {
  /** Registers a metric. */
  registerMetric(metric: never): void;
  /** The exposition text. */
  metrics(): Promise<string>;
}

/** A prom-client `Counter` (structurally). */
export interface PromCounterLike {
  /** Adds to the counter. */
  inc(value?: number): void;
}

/** A prom-client `Histogram` (structurally). */
export interface PromHistogramLike {
  /** Records an observation. */
  observe(...args: never[]): void;
}

/** A prom-client `Gauge` (structurally). */
export interface PromGaugeLike {
  /** Sets the value. */
  set(...args: never[]): void;
}

/** Options of `keeper.prometheus()`. */
export interface PrometheusOptions {
  /** Where to register (a prom-client `Registry`). Default: prom-client's global `register`. */
  registry?: PromRegistryLike;
  /** Prefix of every metric name. Default `renova_keeper_`. Give each keeper in one registry its own. */
  prefix?: string;
}

/** The prom-client metrics of one keeper. */
export interface KeeperPrometheusMetrics {
  /** The registry they are in. */
  registry: PromRegistryLike;
  /** `<prefix>refresh_due_total`. */
  due: PromCounterLike;
  /** `<prefix>refreshed_total`. */
  refreshed: PromCounterLike;
  /** `<prefix>refresh_failed_total`. */
  failed: PromCounterLike;
  /** `<prefix>reauthorization_required_total`. */
  reauthorizationRequired: PromCounterLike;
  /** `<prefix>refresh_duration_seconds`. */
  refreshDuration: PromHistogramLike;
  /** `<prefix>store_operation_duration_seconds{operation}`. */
  storeDuration: PromHistogramLike;
  /** `<prefix>refreshes_in_flight`. */
  inFlight: PromGaugeLike;
}

/**
 * prom-client (^15, an optional peer dependency), loaded on first use; `who` names the caller in
 * the error that says how to install a missing one.
 */
export async function loadPromClient(who: string): Promise<typeof PromClient> {
  const loaded = await loadDriver(who, 'prom-client', '^15', () => import('prom-client'));
  // prom-client is CommonJS: its namespace arrives as `default` or, with named-export detection, flat.
  return ((loaded as unknown as { default?: typeof PromClient }).default ?? loaded) as typeof PromClient;
}

/**
 * Creates the Prometheus metrics and connects them to `recorder`. Counters start at the totals so
 * far; histograms from now on (call it at startup).
 */
export async function createPrometheusMetrics(
  recorder: StatsRecorder,
  inFlight: () => number,
  options: PrometheusOptions = {},
): Promise<KeeperPrometheusMetrics> {
  const prom = await loadPromClient('TokenKeeper.prometheus()');
  const registry = (options.registry as PromClient.Registry | undefined) ?? prom.register;
  const p = options.prefix ?? 'renova_keeper_';
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(p)) {
    throw new TypeError(
      `prefix ${JSON.stringify(p)} is not a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)`,
    );
  }
  const registers = [registry];
  const counter = (name: string, help: string) => new prom.Counter({ name: `${p}${name}`, help, registers });
  const refreshDuration = new prom.Histogram({
    name: `${p}refresh_duration_seconds`,
    help: 'Duration of each refresh request to the token endpoint.',
    buckets: REFRESH_BUCKETS,
    registers,
  });
  const storeDuration = new prom.Histogram({
    name: `${p}store_operation_duration_seconds`,
    help: 'Duration of each token store call, by method (sealing excluded).',
    labelNames: ['operation'] as const,
    buckets: STORE_BUCKETS,
    registers,
  });
  const metrics: KeeperPrometheusMetrics = {
    registry,
    due: counter(
      'refresh_due_total',
      'Refreshes started for a due or forced token (retries not counted again).',
    ),
    refreshed: counter('refreshed_total', 'Refreshes that stored a new token pair.'),
    failed: counter('refresh_failed_total', 'Refreshes that ended in an error other than re-authorization.'),
    reauthorizationRequired: counter(
      'reauthorization_required_total',
      'Sellers marked as needing re-authorization (refused grant or deauthorization webhook).',
    ),
    refreshDuration,
    storeDuration,
    inFlight: new prom.Gauge({
      name: `${p}refreshes_in_flight`,
      help: 'Refreshes in flight in this process.',
      registers,
      collect() {
        this.set(inFlight());
      },
    }),
  };
  const byName = {
    due: metrics.due,
    refreshed: metrics.refreshed,
    failed: metrics.failed,
    reauthorizationRequired: metrics.reauthorizationRequired,
  };
  const now = recorder.snapshot();
  for (const [name, c] of Object.entries(byName)) c.inc(now[name as Counter]);
  recorder.addSink({
    inc: (name) => byName[name].inc(),
    refresh: (seconds) => refreshDuration.observe(seconds),
    store: (operation, seconds) => storeDuration.observe({ operation }, seconds),
  });
  return metrics;
}
