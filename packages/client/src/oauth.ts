/**
 * A drop-in for the `OAuth` class of the `mercadopago` SDK, pointed at any Mercado Pago–compatible
 * server (Renova, or Mercado Pago itself). On Node it talks HTTP through `node:http` with keep-alive
 * agents (a quarter of the client CPU of the global `fetch`, see `node-http.ts`); elsewhere, or when
 * a `fetch` is passed, it uses `fetch`, so it also works in browsers. Unlike the `mercadopago` SDK it never retries on its own (a blind retry of a refresh
 * spends a rotated token; {@link TokenKeeper} owns retries) and never writes per-call options back
 * into shared configuration.
 *
 * @module
 */

import {
  AbortedError,
  ConnectionError,
  errorFromResponse,
  InvalidResponseError,
  type OAuthError,
  type RequestSent,
  TimeoutError,
} from './errors.ts';
import { nodeHttpTransport, type Transport, type TransportResponse } from './node-http.ts';

/** Mercado Pago's API origin, the default `baseUrl`. */
export const MERCADOPAGO_API_URL = 'https://api.mercadopago.com';
/** Mercado Pago's consent page, the default authorization URL when no `baseUrl` is given. */
export const MERCADOPAGO_AUTHORIZATION_URL = 'https://auth.mercadopago.com/authorization';
/** Default timeout of a token request, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** The `fetch` signature this package needs (the global one fits). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Per-call options, the `requestOptions` of the `mercadopago` SDK. Never stored between calls. */
export interface RequestOptions {
  /** Timeout for this call in milliseconds; overrides the instance's. */
  timeout?: number;
  /** Aborts the call. */
  signal?: AbortSignal;
  /** Sent as `X-Idempotency-Key`; a fresh UUID per call when absent. */
  idempotencyKey?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

/** Configuration of an {@link OAuth} client. Also accepts a `mercadopago` `MercadoPagoConfig`-shaped object. */
export interface OAuthConfig {
  /** Origin of the API that serves `POST /oauth/token`, e.g. `http://127.0.0.1:8080`. Default {@link MERCADOPAGO_API_URL}. */
  baseUrl?: string;
  /** The consent page URL. Default `${baseUrl}/authorization`, or {@link MERCADOPAGO_AUTHORIZATION_URL} without a `baseUrl`. */
  authorizationUrl?: string;
  /** Timeout of each call in milliseconds. Default {@link DEFAULT_TIMEOUT_MS}. */
  timeout?: number;
  /**
   * A custom `fetch` (instrumentation, proxies, tests). Default: on Node (≥ 20.16), `node:http` /
   * `node:https` with keep-alive agents; elsewhere `globalThis.fetch`. Pass `globalThis.fetch` to
   * keep undici's `fetch` on Node.
   */
  fetch?: FetchLike;
  /** The integrator's own access token, sent as `Authorization: Bearer` like the `mercadopago` SDK (servers ignore it on `/oauth/token`). */
  accessToken?: string;
  /** Extra headers on every call. */
  headers?: Record<string, string>;
  /** `MercadoPagoConfig.options` compatibility: `timeout` is honoured; retry options are ignored on purpose. */
  options?: { timeout?: number; [key: string]: unknown };
}

/** Body of `create` (authorization_code grant). RFC 6749 §4.1.3, RFC 7636 §4.5. */
export interface OAuthCreateBody {
  /** The application id. */
  client_id?: string;
  /** The application secret. */
  client_secret?: string;
  /** The `TG-…` code from the redirect. */
  code?: string;
  /** Must equal the `redirect_uri` of the authorization request. */
  redirect_uri?: string;
  /** The PKCE verifier, when a challenge was sent. */
  code_verifier?: string;
  /** `true` for sandbox (`TEST-`) credentials. */
  test_token?: boolean | 'true' | 'false';
  /** Anything else is passed through, like the `mercadopago` SDK does. */
  [extra: string]: unknown;
}

/** Body of `refresh` (refresh_token grant). RFC 6749 §6. */
export interface OAuthRefreshBody {
  /** The application id. */
  client_id?: string;
  /** The application secret. */
  client_secret?: string;
  /** The current refresh token; it dies on success and a new one comes back. */
  refresh_token?: string;
  /** Optional narrower scope for the new access token. */
  scope?: string;
  /** Anything else is passed through. */
  [extra: string]: unknown;
}

/** Body of `clientCredentials` (the application's own token). RFC 6749 §4.4. */
export interface OAuthClientCredentialsBody {
  /** The application id. */
  client_id?: string;
  /** The application secret. */
  client_secret?: string;
  /** Anything else is passed through. */
  [extra: string]: unknown;
}

/** Options of `getAuthorizationURL`. Extra keys are added to the query string. */
export interface AuthorizationURLOptions {
  /** The application id. */
  client_id?: string;
  /** Registered redirect URI. */
  redirect_uri?: string;
  /** Opaque anti-CSRF value, returned on the redirect. */
  state?: string;
  /** PKCE challenge (RFC 7636 §4.3). */
  code_challenge?: string;
  /** `S256` (recommended) or `plain`. */
  code_challenge_method?: 'S256' | 'plain';
  /** Optional subset of the application's scopes. */
  scope?: string;
  /** Extra query parameters (`undefined` values are skipped; `code_verifier` is never sent). */
  [extra: string]: string | undefined;
}

/** A successful token answer (docs/api.md §4.2), plus `api_response` like the `mercadopago` SDK. */
export interface OAuthResponse {
  /** `APP_USR-…` or `TEST-…`; opaque. */
  access_token: string;
  /** `Bearer` (compare case-insensitively). */
  token_type: string;
  /** Lifetime of the access token in seconds. */
  expires_in: number;
  /** Space-separated scopes. */
  scope: string;
  /** The seller who granted access. */
  user_id: number;
  /** The new refresh token (absent on `client_credentials`). Store it: the old one is dead. */
  refresh_token?: string;
  /** The seller's public key for this application. */
  public_key?: string;
  /** `false` for sandbox tokens. */
  live_mode?: boolean;
  /** HTTP status and headers of the answer. */
  api_response: { status: number; headers: Headers };
}

/** Classifies a `fetch` rejection: did the request certainly not leave this machine? */
export function requestSentFromFetchError(error: unknown): RequestSent {
  const notSent = new Set([
    'ECONNREFUSED',
    'ENOTFOUND',
    'EAI_AGAIN',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'EADDRNOTAVAIL',
    'UND_ERR_CONNECT_TIMEOUT',
  ]);
  const codes: string[] = [];
  const visit = (e: unknown, depth: number): void => {
    if (depth > 4 || typeof e !== 'object' || e === null) return;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    if (e instanceof AggregateError) for (const inner of e.errors) visit(inner, depth + 1);
    visit((e as { cause?: unknown }).cause, depth + 1);
  };
  visit(error, 0);
  return codes.length > 0 && codes.every((c) => notSent.has(c)) ? false : 'unknown';
}

function trimSlash(url: string): string {
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

/**
 * OAuth client with the call shapes of the `mercadopago` SDK's `OAuth`.
 *
 * @example
 * ```ts
 * const oauth = new OAuth({ baseUrl: 'http://127.0.0.1:8080', timeout: 10_000 });
 * const tokens = await oauth.create({ body: { client_id, client_secret, code, redirect_uri } });
 * ```
 */
export class OAuth {
  /** The API origin. */
  readonly baseUrl: string;
  /** The consent page URL. */
  readonly authorizationUrl: string;
  /** Default timeout in milliseconds. */
  readonly timeout: number;
  readonly #transport: Transport;
  readonly #headers: Record<string, string>;

  /** @param config - where the server is, timeout, custom fetch; see {@link OAuthConfig} */
  constructor(config: OAuthConfig = {}) {
    this.baseUrl = trimSlash(config.baseUrl ?? MERCADOPAGO_API_URL);
    this.authorizationUrl =
      config.authorizationUrl ??
      (config.baseUrl === undefined ? MERCADOPAGO_AUTHORIZATION_URL : `${this.baseUrl}/authorization`);
    const timeout = config.timeout ?? config.options?.timeout ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeout) || timeout <= 0)
      throw new RangeError('timeout must be a positive number of ms');
    this.timeout = Math.min(timeout, 2 ** 31 - 1);
    const fetch = config.fetch ?? (globalThis.fetch as FetchLike | undefined);
    const transport = config.fetch === undefined ? nodeHttpTransport() : null;
    if (transport === null && fetch === undefined) throw new TypeError('no global fetch; pass config.fetch');
    this.#transport = transport ?? fetchTransport(fetch as FetchLike);
    this.#headers = { ...config.headers };
    if (config.accessToken !== undefined) this.#headers.authorization = `Bearer ${config.accessToken}`;
  }

  /**
   * Exchanges an authorization code for the seller's tokens (`grant_type=authorization_code`,
   * RFC 6749 §4.1.3). Store the answer with `TokenKeeper.save` before using it.
   *
   * @param args - `{ body, requestOptions }` as in the `mercadopago` SDK
   * @throws {@link OAuthError} subclasses: `InvalidGrantError`, `InvalidClientError`, …
   */
  create({
    body,
    requestOptions,
  }: {
    body: OAuthCreateBody;
    requestOptions?: RequestOptions;
  }): Promise<OAuthResponse> {
    return this.token({ ...body, grant_type: 'authorization_code' }, requestOptions);
  }

  /**
   * Renews the seller's tokens (`grant_type=refresh_token`, RFC 6749 §6). The presented refresh
   * token dies: persist the returned one before using the new access token (or let
   * `TokenKeeper` do it).
   *
   * @param args - `{ body, requestOptions }` as in the `mercadopago` SDK
   */
  refresh({
    body,
    requestOptions,
  }: {
    body: OAuthRefreshBody;
    requestOptions?: RequestOptions;
  }): Promise<OAuthResponse> {
    return this.token({ ...body, grant_type: 'refresh_token' }, requestOptions);
  }

  /**
   * Gets the application's own token (`grant_type=client_credentials`, RFC 6749 §4.4). No refresh token.
   *
   * @param args - `{ body, requestOptions }`
   */
  clientCredentials({
    body,
    requestOptions,
  }: {
    body: OAuthClientCredentialsBody;
    requestOptions?: RequestOptions;
  }): Promise<OAuthResponse> {
    return this.token({ ...body, grant_type: 'client_credentials' }, requestOptions);
  }

  /**
   * Builds the consent URL to send the seller to (docs/api.md §4.1). Synchronous, no I/O. Always sets
   * `response_type=code` and `platform_id=mp`; drops `code_verifier` if it was spread in by mistake.
   *
   * @param args - `{ options }` as in the `mercadopago` SDK
   */
  getAuthorizationURL({ options }: { options?: AuthorizationURLOptions } = {}): string {
    const url = new URL(this.authorizationUrl);
    for (const [key, value] of Object.entries(options ?? {})) {
      if (value === undefined || key === 'code_verifier') continue;
      url.searchParams.set(key, String(value));
    }
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('platform_id', 'mp');
    return url.toString();
  }

  /**
   * Posts a JSON body to `/oauth/token` and parses the answer. The lower-level call behind
   * `create`, `refresh` and `clientCredentials`.
   *
   * @param params - the body, including `grant_type`
   * @param requestOptions - timeout, signal, idempotency key, headers
   */
  async token(params: Record<string, unknown>, requestOptions: RequestOptions = {}): Promise<OAuthResponse> {
    const timeout = Math.min(requestOptions.timeout ?? this.timeout, 2 ** 31 - 1);
    const headers: Record<string, string> = {
      accept: 'application/json',
      'content-type': 'application/json',
      'x-idempotency-key': requestOptions.idempotencyKey ?? globalThis.crypto.randomUUID(),
      ...this.#headers,
      ...requestOptions.headers,
    };
    let response: TransportResponse;
    let text: string;
    try {
      response = await this.#transport(`${this.baseUrl}/oauth/token`, {
        method: 'POST',
        headers,
        body: JSON.stringify(params),
        timeoutMs: timeout,
        signal: requestOptions.signal,
      });
      text = await response.text();
    } catch (error) {
      throw this.#transportError(error);
    }
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!response.ok) throw errorFromResponse(response.status, body, response.headers);
    return parseTokenResponse(body, response);
  }

  #transportError(error: unknown): OAuthError {
    if (error instanceof TimeoutError || error instanceof AbortedError) return error;
    const sent = requestSentFromFetchError(error);
    const detail = error instanceof Error ? error.message : String(error);
    return new ConnectionError(`could not reach ${this.baseUrl}/oauth/token: ${detail}`, sent, error);
  }
}

/**
 * A `fetch` as a {@link Transport}: the timeout and the caller's signal become one
 * AbortController's, and the body is read before the timer stops, so a stalled body times out too.
 */
function fetchTransport(fetch: FetchLike): Transport {
  return async (input, { method, headers, body, timeoutMs, signal }) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new TimeoutError(timeoutMs)), timeoutMs);
    const onAbort = (): void => controller.abort(new AbortedError(signal?.reason));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const response = await fetch(input, { method, headers, body, signal: controller.signal });
      const text = await response.text();
      return {
        status: response.status,
        ok: response.ok,
        headers: response.headers,
        text: () => Promise.resolve(text),
      };
    } catch (error) {
      if (!controller.signal.aborted) throw error;
      const reason: unknown = controller.signal.reason;
      throw reason instanceof TimeoutError || reason instanceof AbortedError
        ? reason
        : new AbortedError(reason);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  };
}

function parseTokenResponse(body: unknown, response: TransportResponse): OAuthResponse {
  const b = (typeof body === 'object' && body !== null ? body : undefined) as
    | Record<string, unknown>
    | undefined;
  if (
    b === undefined ||
    typeof b.access_token !== 'string' ||
    typeof b.expires_in !== 'number' ||
    typeof b.user_id !== 'number'
  ) {
    throw new InvalidResponseError(
      'invalid_response',
      'the token endpoint answered 200 without a token body',
      {
        status: response.status,
        body,
        headers: response.headers,
      },
    );
  }
  const out: OAuthResponse = {
    access_token: b.access_token,
    token_type: typeof b.token_type === 'string' ? b.token_type : 'Bearer',
    expires_in: b.expires_in,
    scope: typeof b.scope === 'string' ? b.scope : '',
    user_id: b.user_id,
    // The headers are read from the answer when asked for: the node:http transport builds its
    // `Headers` on first read, and a keeper never reads them on success.
    api_response: {
      status: response.status,
      get headers() {
        return response.headers;
      },
    },
  };
  if (typeof b.refresh_token === 'string') out.refresh_token = b.refresh_token;
  if (typeof b.public_key === 'string') out.public_key = b.public_key;
  if (typeof b.live_mode === 'boolean') out.live_mode = b.live_mode;
  return out;
}
