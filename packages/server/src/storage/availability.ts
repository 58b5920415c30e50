import { TemporarilyUnavailableError } from '../core/errors.ts';
import type { StoragePort } from './contract.ts';

type Log = { warn(object: object, message: string): void; info(object: object, message: string): void };

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

  failed(operation: string, error: TemporarilyUnavailableError): void {
    const write = !READS.test(operation);
    if (this.#episode) {
      this.#episode.failures += 1;
      this.#episode.writeFailed ||= write;
      return;
    }
    this.#episode = { since: Date.now(), failures: 1, writeFailed: write };
    this.#log?.warn(
      { event: 'storage.unavailable', operation, detail: error.detail ?? error.description },
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
 * dispatcher and housekeeping share one episode. Only what a method returns is observed.
 */
export function reportingAvailability<S extends StoragePort>(
  storage: S,
  availability: StorageAvailability,
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
            if (error instanceof TemporarilyUnavailableError) availability.failed(property, error);
            throw error;
          },
        );
      };
      wrappers.set(property, { method: value, wrapper });
      return wrapper;
    },
  });
}
