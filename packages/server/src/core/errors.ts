/**
 * OAuth errors. `core/` throws these; the HTTP layer alone turns them into status codes and the
 * JSON body of docs/api.md §4.3. `description` is what the client sees: it says what is wrong and how
 * to fix it, never a secret. `detail` is the precise reason, kept for logs only (RFC 6749 §5.2 lets
 * a server be vague to clients about why a grant or a credential failed).
 */
import { StorageUnavailableError } from '../storage/contract.ts';

export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'local_rate_limited'
  | 'temporarily_unavailable'
  | 'not_found'
  | 'server_error';

export interface OAuthErrorOptions {
  /** Precise reason for the logs; never sent to the client. */
  detail?: string;
  cause?: unknown;
}

export class OAuthError extends Error {
  readonly error: OAuthErrorCode;
  readonly description: string;
  readonly detail: string | undefined;

  constructor(error: OAuthErrorCode, description: string, options: OAuthErrorOptions = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.error = error;
    this.description = description;
    this.detail = options.detail;
  }
}

export class InvalidRequestError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('invalid_request', description, options);
  }
}

/** How the client tried to authenticate; RFC 6749 §5.2 wants 401 + WWW-Authenticate for Basic. */
export type ClientAuthScheme = 'basic' | 'body' | 'access_token' | 'none';

export class InvalidClientError extends OAuthError {
  readonly scheme: ClientAuthScheme;
  constructor(description: string, scheme: ClientAuthScheme, options?: OAuthErrorOptions) {
    super('invalid_client', description, options);
    this.scheme = scheme;
  }
}

export class InvalidGrantError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('invalid_grant', description, options);
  }
}

export class UnauthorizedClientError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('unauthorized_client', description, options);
  }
}

export class UnsupportedGrantTypeError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('unsupported_grant_type', description, options);
  }
}

export class InvalidScopeError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('invalid_scope', description, options);
  }
}

export class AccessDeniedError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('access_denied', description, options);
  }
}

/** A bearer token presented to a resource endpoint is unknown, expired or revoked (RFC 6750 §3.1). */
export class InvalidTokenError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('invalid_token', description, options);
  }
}

/**
 * RFC 6750 §3.1 `insufficient_scope` (403): the bearer token is valid but does not carry the right
 * to this resource (a seller's token on an application-owner endpoint, or the token of another
 * application).
 */
export class InsufficientScopeError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('insufficient_scope', description, options);
  }
}

/**
 * One or more fields of an application (create or update) are invalid. `fields` maps each
 * field's wire name (`name`, `redirect_uris`, `logo_url`, …) to what is wrong with it, so a form
 * can show each message next to its field; the description joins them for the JSON APIs, which
 * answer it as 400 `invalid_request` like any InvalidRequestError.
 */
export class InvalidApplicationFieldsError extends InvalidRequestError {
  readonly fields: Readonly<Record<string, string>>;
  constructor(fields: Record<string, string>, options?: OAuthErrorOptions) {
    super(Object.values(fields).join('; '), options);
    this.fields = { ...fields };
  }
}

export class RateLimitedError extends OAuthError {
  readonly retryAfterSeconds: number;
  constructor(description: string, retryAfterSeconds: number, options?: OAuthErrorOptions) {
    super('local_rate_limited', description, options);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Storage could not be reached or did not commit; nothing was half-written. */
export class TemporarilyUnavailableError extends OAuthError {
  readonly retryAfterSeconds: number;
  constructor(description: string, retryAfterSeconds = 1, options?: OAuthErrorOptions) {
    super('temporarily_unavailable', description, options);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/**
 * The one mapping of the storage port's outage error to the OAuth one: every storage call reaches
 * its callers through services.ts's availability proxy, which applies this, so core, http, the
 * webhook dispatcher and housekeeping all see `TemporarilyUnavailableError` and nothing under
 * src/storage depends on core.
 */
export function fromStorageError(error: unknown): unknown {
  if (!(error instanceof StorageUnavailableError)) return error;
  return new TemporarilyUnavailableError(error.message, error.retryAfterSeconds, {
    cause: error.cause,
    detail: error.detail,
  });
}

/** How services.ts's availability proxy translates and recognizes storage outages. */
export const storageOutages = {
  mapError: fromStorageError,
  isOutage: (error: unknown): error is TemporarilyUnavailableError =>
    error instanceof TemporarilyUnavailableError,
};

export class NotFoundError extends OAuthError {
  constructor(description: string, options?: OAuthErrorOptions) {
    super('not_found', description, options);
  }
}
