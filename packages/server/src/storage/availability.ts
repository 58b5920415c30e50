import { type StoragePort, StorageUnavailableError } from './contract.ts';

type Log = { warn(object: object, message: string): void; info(object: object, message: string): void };

/** What an outage error must tell the log. */
type Outage = { message: string; detail?: string | undefined };

/**
 * How the proxy treats a rejection: `mapError` turns it into what callers see (core's mapping of
 * StorageUnavailableError, applied once here for every caller), `isOutage` recognizes an outage
 * among the mapped errors. The defaults leave errors as the adapter threw them.
 */
export interface OutageHandling {
  mapError(error: unknown): unknown;
  isOutage(error: unknown): error is Outage;
}

const AS_THROWN: OutageHandling = {
  mapError: (error) => error,
  isOutage: (error): error is Outage => error instanceof StorageUnavailableError,
};

/** Operations that only read: their success does not prove that writes work again. */
const READS = /^(find|list|ping)/;

/**
 * Storage outages as episodes: an expected outage (503 `temporarily_unavailable`: database away,
 * read-only, full, overloaded) is logged at `warn` once when it starts and at `info` once when it
 * ends, instead of once per request, dispatcher round or housekeeping round. An episode in which a
 * write failed ends only when a write succeeds: a read-only database still answers reads.
 */
export class StorageAvailability {
  readonly #log: Log | undefined;
  #episode: { since: number; failures: number; writeFailed: boolean } | undefined;

  constructor(log?: Log | undefined) {
    this.#log = log;
  }

  get unavailable(): boolean {
    return this.#episode !== undefined;
  }

  failed(operation: string, error: Outage): void {
    const write = !READS.test(operation);
    if (this.#episode) {
      this.#episode.failures += 1;
      this.#episode.writeFailed ||= write;
      return;
    }
    this.#episode = { since: Date.now(), failures: 1, writeFailed: write };
    this.#log?.warn(
      { event: 'storage.unavailable', operation, detail: error.detail ?? error.message },
      'storage unavailable: requests get 503 temporarily_unavailable until it recovers',
    );
  }

  succeeded(operation: string): void {
    const episode = this.#episode;
    if (!episode || (episode.writeFailed && READS.test(operation))) return;
    this.#episode = undefined;
    this.#log?.info(
      {
        event: 'storage.recovered',
        operation,
        failures: episode.failures,
        unavailable_ms: Date.now() - episode.since,
      },
      'storage available again',
    );
  }
}

/**
 * The same storage, reporting every outcome to `availability`, so that requests, the webhook
 * dispatcher and housekeeping share one episode. Only what a method returns is observed; a
 * rejection reaches the caller as `handling.mapError` made it.
 */
export function reportingAvailability<S extends StoragePort>(
  storage: S,
  availability: StorageAvailability,
  handling: OutageHandling = AS_THROWN,
): S {
  const wrappers = new Map<PropertyKey, { method: unknown; wrapper: unknown }>();
  return new Proxy(storage, {
    get(target, property) {
      // The target as receiver: the adapters' getters read private (#) fields, which a proxy lacks.
      const value = Reflect.get(target, property);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      const known = wrappers.get(property);
      if (known?.method === value) return known.wrapper;
      const wrapper = (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.then(
          (resolved) => {
            availability.succeeded(property);
            return resolved;
          },
          (error: unknown) => {
            const mapped = handling.mapError(error);
            if (handling.isOutage(mapped)) availability.failed(property, mapped);
            throw mapped;
          },
        );
      };
      wrappers.set(property, { method: value, wrapper });
      return wrapper;
    },
  });
}
