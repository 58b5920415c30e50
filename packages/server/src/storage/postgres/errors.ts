import { StorageUnavailableError } from '../contract.ts';

/**
 * The PostgreSQL adapter's error taxonomy: which errors may simply run again (serialization
 * failures), which mean the database is away or cannot write now (StorageUnavailableError, 503
 * `temporarily_unavailable` once core maps it), and which are bugs (propagated as they are).
 */

/** SQLSTATEs after which the same step may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']);

/**
 * SQLSTATE classes and codes that mean "the database is away or overloaded", not "the request is
 * wrong": 08 connection exception, 57P01-57P03 shutdown / cannot connect now, 53 insufficient
 * resources (too many connections, disk full), 57014 statement cancelled (our timeout).
 */
function unavailableSqlState(code: string): boolean {
  return (
    code.startsWith('08') ||
    code.startsWith('53') ||
    code === '57P01' ||
    code === '57P02' ||
    code === '57P03' ||
    code === '57014' ||
    code === '58030'
  );
}

const NODE_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Errors `pg` raises without a SQLSTATE when the socket or the pool gives up. */
const PG_DRIVER_MESSAGES =
  /Connection terminated|connection error|timeout exceeded when trying to connect|Query read timeout|not queryable|Connection ended|Client was closed/i;

export function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && RETRYABLE.has(code);
}

/** True when the error says the connection (not the statement) failed. */
export function isConnectionFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NODE_NETWORK_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return unavailableSqlState(code);
  }
  return PG_DRIVER_MESSAGES.test(error.message);
}

/**
 * SQLSTATEs of a database that is up but cannot write now: 25006 read_only_sql_transaction (a
 * standby, a failover in progress, `default_transaction_read_only`), 55P03 lock_not_available.
 */
const CANNOT_WRITE_NOW = new Set(['25006', '55P03']);

export function toUnavailable(error: unknown, detail: string): StorageUnavailableError {
  return new StorageUnavailableError('the token store is busy or unavailable; retry shortly', {
    cause: error,
    detail,
  });
}

/**
 * The adapter's error classification: storage that is away, overloaded, read-only or contended
 * after retries becomes StorageUnavailableError (503 `temporarily_unavailable`, docs/api.md §4.3);
 * anything else propagates as is (a bug, answered 500 and logged).
 */
export function toStorageError(error: unknown): unknown {
  if (error instanceof StorageUnavailableError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const sqlState = typeof code === 'string' ? ` (SQLSTATE ${code})` : '';
  if (isRetryable(error)) return toUnavailable(error, `serialization retries exhausted${sqlState}`);
  if (typeof code === 'string' && CANNOT_WRITE_NOW.has(code))
    return toUnavailable(error, `the database cannot write now: ${(error as Error).message}${sqlState}`);
  if (isConnectionFailure(error)) return toUnavailable(error, `${(error as Error).message}${sqlState}`);
  return error;
}
