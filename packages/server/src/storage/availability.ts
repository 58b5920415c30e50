import { type StorageOutageKind, type StoragePort, StorageUnavailableError } from './contract.ts';

type Log = { warn(object: object, message: string): void; info(object: object, message: string): void };

/** What an outage error must tell the log. */
type Outage = { message: string; detail?: string | undefined; cause?: unknown };

/** PostgreSQL SQLSTATEs (Appendix A) and SQLite result codes by the class of outage they mean. */
const KIND_OF_CODE: Record<string, StorageOutageKind> = {
  // SQLite
  SQLITE_BUSY: 'contention',
  SQLITE_LOCKED: 'contention',
  SQLITE_FULL: 'disk_full',
  SQLITE_READONLY: 'read_only',
  SQLITE_IOERR_WRITER: 'writer_stopped',
  // PostgreSQL: 25006 read_only_sql_transaction, 53100 disk_full, 53300 too_many_connections,
  // 55P03 lock_not_available, 40001/40P01 serialization failure / deadlock after retries,
  // 57P01-57P03 admin_shutdown / crash_shutdown / cannot_connect_now.
  '25006': 'read_only',
  '53100': 'disk_full',
  '53300': 'too_many_connections',
  '55P03': 'contention',
  '40001': 'contention',
  '40P01': 'contention',
  '57P01': 'shutting_down',
  '57P02': 'shutting_down',
  '57P03': 'shutting_down',
};
const NETWORK_CODES =
  /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EPIPE|EAI_AGAIN)$/;

/**
 * The class of an outage, from the code of the driver error behind it (the outage's `cause`, or
 * the cause's cause: the SQLite readiness probe wraps the writer's error once more). Labels only
 * from this closed set, so a driver message can never grow the metrics' cardinality.
 */
export function outageKind(error: Outage): StorageOutageKind {
  let cause: unknown = error.cause;
  for (let depth = 0; depth < 3 && cause; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') {
      const known = KIND_OF_CODE[code];
      if (known) return known;
      if (code.startsWith('SQLITE_IOERR') || /^SQLITE_(CANTOPEN|CORRUPT|NOTADB|PROTOCOL)/.test(code))
        return 'io_error';
      if (code.startsWith('08') || NETWORK_CODES.test(code)) return 'unreachable';
      if (code.startsWith('53')) return 'too_many_connections';
    }
    cause = (cause as { cause?: unknown }).cause;
  }
  if (/connect|terminat|timeout/i.test(error.detail ?? '')) return 'unreachable';
  return 'other';
}

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
  readonly #onOutage: ((kind: StorageOutageKind) => void) | undefined;

  /** `onOutage` hears every failed call (not only each episode's first), by kind: the metrics. */
  constructor(log?: Log | undefined, onOutage?: (kind: StorageOutageKind) => void) {
    this.#log = log;
    this.#onOutage = onOutage;
  }

  get unavailable(): boolean {
    return this.#episode !== undefined;
  }

  failed(operation: string, error: Outage): void {
    const write = !READS.test(operation);
    this.#onOutage?.(outageKind(error));
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
