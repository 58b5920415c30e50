/**
 * Typed errors of `@renova/client`.
 *
 * Every failure of a call to the token endpoint is an {@link OAuthError}. Protocol errors
 * (RFC 6749 §5.2) get one subclass per `error` code, so callers can `instanceof`-switch or read
 * the stable `.error` string. Transport failures are {@link ConnectionError} and
 * {@link TimeoutError}; they say whether the request may have reached the server
 * (`requestSent`), which decides whether a refresh can be retried safely.
 *
 * @module
 */

/** Whether a failed request may have reached the server: `false` = certainly not, `'unknown'` = maybe. */
export type RequestSent = false | 'unknown';

/** Options accepted by every {@link OAuthError} constructor. */
export interface OAuthErrorOptions {
  /** HTTP status, `0` when no response arrived. */
  status?: number;
  /** The `cause` of the error: the body's `cause` array for HTTP errors, the underlying error otherwise. */
  cause?: unknown;
  /** The server's `error_description`, when it sent one. */
  description?: string | undefined;
  /** The parsed response body, when there was one. */
  body?: unknown;
  /** Response headers, when there was a response. */
  headers?: Headers | undefined;
}

/**
 * Base class of every error raised by this package.
 *
 * Mirrors the Mercado Pago error body `{error, message, status, cause}` (docs/api.md §4.3) and the
 * `mercadopago` SDK's error fields: `.error` is the stable machine code, `.status` the HTTP status
 * (`0` without a response), `.message` the human text, `.cause` the body's `cause` array (or the
 * underlying error for transport failures).
 */
export class OAuthError extends Error {
  /** Stable machine-readable code, e.g. `invalid_grant`. */
  readonly error: string;
  /** HTTP status; `0` when no response was received. */
  readonly status: number;
  /** The server's `error_description`, if any. */
  readonly description: string | undefined;
  /** The parsed response body, if any. */
  readonly body: unknown;
  /** The response headers, if any. */
  readonly headers: Headers | undefined;
  /** Same as `.cause` when it is an array, for code written against the `mercadopago` SDK (`.causes`). */
  readonly causes: unknown[];

  /**
   * @param error - the machine code (`invalid_grant`, `timeout`, …)
   * @param message - a human-readable explanation
   * @param options - status, cause, description, body, headers
   */
  constructor(error: string, message: string, options: OAuthErrorOptions = {}) {
    super(message, { cause: options.cause ?? [] });
    this.name = new.target.name;
    this.error = error;
    this.status = options.status ?? 0;
    this.description = options.description;
    this.body = options.body;
    this.headers = options.headers;
    this.causes = Array.isArray(options.cause) ? options.cause : [];
  }
}

/** `invalid_request` (400/413): a parameter is missing, duplicated or malformed. RFC 6749 §5.2. */
export class InvalidRequestError extends OAuthError {}
/** `invalid_client` (400/401): unknown application or wrong secret. RFC 6749 §5.2. */
export class InvalidClientError extends OAuthError {}
/** `invalid_grant` (400): code or refresh token unknown, expired, revoked or already used. RFC 6749 §5.2. */
export class InvalidGrantError extends OAuthError {}
/** `unauthorized_client` (400): this grant type is not allowed, e.g. refresh without `offline_access`. */
export class UnauthorizedClientError extends OAuthError {}
/** `unsupported_grant_type` (400). RFC 6749 §5.2. */
export class UnsupportedGrantTypeError extends OAuthError {}
/** `invalid_scope` (400): a scope outside the grant or the application. RFC 6749 §5.2. */
export class InvalidScopeError extends OAuthError {}
/** `access_denied`: the seller or the server refused. RFC 6749 §4.1.2.1. */
export class AccessDeniedError extends OAuthError {}
/** `forbidden` (Mercado Pago): possibly another user's token is being used. */
export class ForbiddenError extends OAuthError {}
/** `server_error` or any other 5xx answer without a more specific code. */
export class ServerError extends OAuthError {}

/** Base of the errors that carry a `Retry-After` delay. */
export class RetryableHttpError extends OAuthError {
  /** Seconds to wait before trying again, from `Retry-After`; `undefined` when absent. */
  readonly retryAfter: number | undefined;
  /**
   * @param error - the machine code
   * @param message - a human-readable explanation
   * @param options - as for {@link OAuthError}, plus `retryAfter` in seconds
   */
  constructor(
    error: string,
    message: string,
    options: OAuthErrorOptions & { retryAfter?: number | undefined } = {},
  ) {
    super(error, message, options);
    this.retryAfter = options.retryAfter;
  }
}

/** `local_rate_limited` (429): too many requests. Wait `retryAfter` seconds. */
export class RateLimitedError extends RetryableHttpError {}
/** `temporarily_unavailable` (503): the server's storage is unreachable; nothing was written. */
export class TemporarilyUnavailableError extends RetryableHttpError {}

/**
 * No usable HTTP response: connection refused, DNS failure, reset. `requestSent` is `false` when
 * the request certainly did not reach the server (safe to retry a refresh) and `'unknown'` otherwise.
 */
export class ConnectionError extends OAuthError {
  /** Whether the request may have reached the server. */
  readonly requestSent: RequestSent;
  /**
   * @param message - what went wrong
   * @param requestSent - whether the request may have reached the server
   * @param cause - the underlying error
   */
  constructor(message: string, requestSent: RequestSent, cause?: unknown) {
    super('connection_error', message, { status: 0, cause });
    this.requestSent = requestSent;
  }
}

/**
 * The request did not complete within the configured timeout. The server may have processed it, so
 * the outcome of a refresh is unknown (`requestSent` is always `'unknown'`).
 */
export class TimeoutError extends OAuthError {
  /** Always `'unknown'`: the server may have answered after we stopped listening. */
  readonly requestSent: RequestSent = 'unknown';
  /** The timeout that elapsed, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * @param timeoutMs - the timeout that elapsed
   * @param cause - the abort reason
   */
  constructor(timeoutMs: number, cause?: unknown) {
    super('timeout', `no answer from the token endpoint within ${timeoutMs} ms`, { status: 0, cause });
    this.timeoutMs = timeoutMs;
  }
}

/** The caller's `AbortSignal` fired. The outcome is unknown if the request was already sent. */
export class AbortedError extends OAuthError {
  /** Always `'unknown'`. */
  readonly requestSent: RequestSent = 'unknown';
  /** @param cause - the abort reason */
  constructor(cause?: unknown) {
    super('aborted', 'the request was aborted by the caller', { status: 0, cause });
  }
}

/** The answer was not the JSON the contract promises (e.g. an HTML page from a proxy). */
export class InvalidResponseError extends OAuthError {}

/**
 * The seller must authorize the application again: the refresh token was rejected
 * (`invalid_grant`) and the store holds nothing newer. The keeper emits `reauthorization_required`
 * and stops refreshing this seller until {@link TokenKeeper.save} stores a new authorization.
 */
export class ReauthorizationRequiredError extends OAuthError {
  /** The seller. */
  readonly userId: number;
  /** Why, e.g. the server's `invalid_grant` description. */
  readonly reason: string;
  /** When it was detected (ms since the epoch). */
  readonly at: number;
  /**
   * @param userId - the seller
   * @param reason - why re-authorization is needed
   * @param cause - the server error that triggered it, if any
   * @param at - when it was detected
   */
  constructor(userId: number, reason: string, cause?: unknown, at: number = Date.now()) {
    super('reauthorization_required', `seller ${userId} must authorize the application again: ${reason}`, {
      status: cause instanceof OAuthError ? cause.status : 0,
      cause,
    });
    this.userId = userId;
    this.reason = reason;
    this.at = at;
  }
}

/** The store has no token for this seller: call {@link TokenKeeper.save} after `OAuth.create`. */
export class TokenNotFoundError extends OAuthError {
  /** The seller. */
  readonly userId: number;
  /** @param userId - the seller */
  constructor(userId: number) {
    super(
      'token_not_found',
      `no token stored for seller ${userId}; exchange an authorization code and save it`,
    );
    this.userId = userId;
  }
}

/**
 * A refresh was sent but its outcome is unknown (timeout or reset after sending) and the server's
 * replay window has passed, so re-presenting the old refresh token is no longer known to be safe.
 * The stored token is unchanged; the next attempt will find out (a newer token, or
 * re-authorization).
 */
export class RefreshOutcomeUnknownError extends OAuthError {
  /** The seller. */
  readonly userId: number;
  /**
   * @param userId - the seller
   * @param cause - the last transport error
   */
  constructor(userId: number, cause: unknown) {
    super('refresh_outcome_unknown', `the refresh for seller ${userId} was sent but no answer arrived`, {
      cause,
    });
    this.userId = userId;
  }
}

/** Another process held the seller's refresh lease for longer than the keeper was willing to wait. */
export class LeaseTimeoutError extends OAuthError {
  /** The seller. */
  readonly userId: number;
  /**
   * @param userId - the seller
   * @param waitedMs - how long the keeper waited
   */
  constructor(userId: number, waitedMs: number) {
    super('lease_timeout', `another process is refreshing seller ${userId}; gave up after ${waitedMs} ms`);
    this.userId = userId;
  }
}

/**
 * Refreshing is halted for the whole application because the server rejected its credentials
 * (`invalid_client`). Fix the credentials, then call {@link TokenKeeper.setClientCredentials}
 * or {@link TokenKeeper.resume}.
 */
export class ClientHaltedError extends OAuthError {
  /**
   * @param cause - the `invalid_client` error that halted refreshing
   */
  constructor(cause: OAuthError) {
    super(
      'client_halted',
      `refreshing is halted for this application: the server rejected its credentials (${cause.message})`,
      { status: cause.status, cause },
    );
  }
}

/** The store rejected a write or read (I/O error, constraint, connection lost). */
export class StoreError extends OAuthError {
  /**
   * @param message - what failed
   * @param cause - the driver error
   */
  constructor(message: string, cause?: unknown) {
    super('store_error', message, { cause });
  }
}

type ErrorClass = new (error: string, message: string, options?: OAuthErrorOptions) => OAuthError;

const byCode: ReadonlyMap<string, ErrorClass> = new Map<string, ErrorClass>([
  ['invalid_request', InvalidRequestError],
  ['invalid_client', InvalidClientError],
  ['invalid_grant', InvalidGrantError],
  ['unauthorized_client', UnauthorizedClientError],
  ['unsupported_grant_type', UnsupportedGrantTypeError],
  ['invalid_scope', InvalidScopeError],
  ['access_denied', AccessDeniedError],
  ['forbidden', ForbiddenError],
  ['server_error', ServerError],
]);

/** Parses a `Retry-After` header (seconds or an HTTP date) into seconds; `undefined` if absent or bad. */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/**
 * Builds the typed error for an HTTP error answer of the token endpoint (docs/api.md §4.3).
 *
 * @param status - the HTTP status
 * @param body - the parsed JSON body (or `undefined` if it was not JSON)
 * @param headers - the response headers
 */
export function errorFromResponse(status: number, body: unknown, headers?: Headers): OAuthError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const code = typeof b.error === 'string' && b.error !== '' ? b.error : undefined;
  const description = typeof b.error_description === 'string' ? b.error_description : undefined;
  const message =
    (typeof b.message === 'string' && b.message) ||
    description ||
    code ||
    `token endpoint answered HTTP ${status}`;
  const options: OAuthErrorOptions = { status, cause: b.cause ?? [], description, body, headers };
  const retryAfter = parseRetryAfter(headers?.get('retry-after') ?? null);
  if (status === 429 || code === 'local_rate_limited' || code === 'rate_limited') {
    return new RateLimitedError(code ?? 'local_rate_limited', message, { ...options, retryAfter });
  }
  if (code === 'temporarily_unavailable' || (status === 503 && code === undefined)) {
    return new TemporarilyUnavailableError(code ?? 'temporarily_unavailable', message, {
      ...options,
      retryAfter,
    });
  }
  const Class = code === undefined ? undefined : byCode.get(code);
  if (Class !== undefined) return new Class(code as string, message, options);
  if (status >= 500) return new ServerError(code ?? 'server_error', message, options);
  if (code === undefined) return new InvalidResponseError('invalid_response', message, options);
  return new OAuthError(code, message, options);
}

/**
 * A stored token could not be sealed or unsealed (docs/client-guide.md, "Sealing tokens at rest").
 * Never retried and never turned into a re-authorization: the seller's grant is fine, the keeper's
 * key ring is not. `.error` says which case:
 * - `unknown_sealing_key`: the row was sealed with a key id that is not in the key ring (`.keyId`);
 * - `unseal_failed`: the key with that id does not open the row (wrong key material, or a row
 *   altered or copied from another seller or application);
 * - `sealing_key_missing`: the row is sealed but the keeper was given no keys;
 * - `unsealed_token`: the row holds a plaintext token while sealing is on (set `acceptUnsealed`
 *   and run `rotateKey()` to seal old rows);
 * - `kms_error`: the KMS callback failed or returned something unusable.
 */
export class TokenSealingError extends OAuthError {
  /** The seller whose row failed, when known. */
  readonly userId: number | undefined;
  /** The key id the row names, when known. */
  readonly keyId: string | undefined;
  /**
   * @param error - one of the codes above
   * @param message - what is wrong and how to fix it
   * @param details - seller, key id and the underlying error
   */
  constructor(
    error: string,
    message: string,
    details: { userId?: number | undefined; keyId?: string | undefined; cause?: unknown } = {},
  ) {
    super(error, message, { cause: details.cause });
    this.userId = details.userId;
    this.keyId = details.keyId;
  }
}
