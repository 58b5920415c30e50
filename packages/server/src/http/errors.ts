import {
  InvalidClientError,
  OAuthError,
  type OAuthErrorCode,
  RateLimitedError,
  TemporarilyUnavailableError,
} from '../core/errors.ts';

/** The error body of docs/api.md §4.3. */
export interface ErrorBody {
  error: string;
  error_description: string;
  message: string;
  status: number;
  cause: unknown[];
}

export interface ErrorReply {
  status: number;
  headers: Record<string, string>;
  body: ErrorBody;
}

const STATUS: Partial<Record<OAuthErrorCode, number>> = {
  invalid_token: 401,
  insufficient_scope: 403,
  not_found: 404,
  local_rate_limited: 429,
  temporarily_unavailable: 503,
  server_error: 500,
};

function reply(
  status: number,
  error: string,
  description: string,
  headers: Record<string, string> = {},
): ErrorReply {
  return {
    status,
    headers,
    body: { error, error_description: description, message: description, status, cause: [] },
  };
}

/** A Fastify error that carries its own 4xx status (body too large, bad content-length, schema). */
interface FrameworkError {
  statusCode?: number;
  code?: string;
  message: string;
  validation?: unknown;
}

/** The one place where errors become status codes, headers and the JSON body. */
export function toErrorReply(error: unknown): ErrorReply {
  if (error instanceof OAuthError) {
    if (error instanceof InvalidClientError && error.scheme === 'basic') {
      // RFC 6749 §5.2: a client that used HTTP Basic gets 401 and a WWW-Authenticate challenge.
      return reply(401, error.error, error.description, { 'www-authenticate': 'Basic realm="renova"' });
    }
    if (error instanceof RateLimitedError || error instanceof TemporarilyUnavailableError) {
      return reply(STATUS[error.error] ?? 400, error.error, error.description, {
        'retry-after': String(error.retryAfterSeconds),
      });
    }
    if (error.error === 'invalid_token') {
      // RFC 6750 §3: the challenge names the error.
      return reply(401, error.error, error.description, {
        'www-authenticate': 'Bearer realm="renova", error="invalid_token"',
      });
    }
    if (error.error === 'insufficient_scope') {
      // RFC 6750 §3.1: "The request requires higher privileges than provided by the access token."
      return reply(403, error.error, error.description, {
        'www-authenticate': 'Bearer realm="renova", error="insufficient_scope"',
      });
    }
    return reply(STATUS[error.error] ?? 400, error.error, error.description);
  }
  const framework = error as FrameworkError;
  if (framework.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return reply(
      413,
      'invalid_request',
      'the request body is larger than 16 KiB; send only the OAuth parameters',
    );
  }
  if (typeof framework.statusCode === 'number' && framework.statusCode >= 400 && framework.statusCode < 500) {
    const message = framework.validation ? `invalid request body: ${framework.message}` : framework.message;
    return reply(framework.statusCode === 415 ? 400 : framework.statusCode, 'invalid_request', message);
  }
  return reply(500, 'server_error', 'the server failed to process the request; it has been logged');
}
