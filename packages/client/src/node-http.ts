/**
 * The default transport of {@link OAuth} on Node: `node:http` / `node:https` with keep-alive
 * agents, shaped like the part of `fetch` that `OAuth` uses. On this machine a token request costs
 * the client about a quarter of the CPU that the global `fetch` (undici, with its web streams and
 * abort-signal plumbing) costs it, and that CPU runs on the integrator's event loop: a TokenKeeper
 * refreshing thousands of sellers spent most of its time, and its longest loop turns, in `fetch`
 * (docs/performance.md, client section).
 *
 * The modules are reached through `process.getBuiltinModule` (Node ≥ 20.16), never imported, so
 * that a browser bundle of this package carries no `node:` import; where it is missing `OAuth`
 * keeps the global `fetch`.
 *
 * Unlike `fetch` it follows no redirects (a 3xx answer is an error answer: a token endpoint that
 * redirects a POST is misconfigured) and asks for no compression (it sends no `accept-encoding`).
 *
 * @module
 */

import type { Agent, IncomingMessage, RequestOptions } from 'node:http';
import { AbortedError, TimeoutError } from './errors.ts';

/** What {@link OAuth} reads of an answer: the part of a `fetch` `Response` it uses. */
export interface TransportResponse {
  /** HTTP status. */
  readonly status: number;
  /** 2xx. */
  readonly ok: boolean;
  /** The answer's headers. */
  readonly headers: Headers;
  /** The body as text. */
  text(): Promise<string>;
}

/** One request as {@link OAuth} hands it to a transport. */
export interface TransportRequest {
  method: string;
  headers: Record<string, string>;
  body: string;
  /** The whole exchange (connect, send, the answer's last byte) ends within this, or fails. */
  timeoutMs: number;
  /** The caller's signal, if any. */
  signal: AbortSignal | undefined;
}

/**
 * Sends a request and reads the whole answer. Fails with {@link TimeoutError} when `timeoutMs`
 * elapses, with {@link AbortedError} when the caller's signal fires, and with the transport's own
 * error otherwise.
 */
export type Transport = (input: string, request: TransportRequest) => Promise<TransportResponse>;

interface HttpModule {
  Agent: new (options: { keepAlive: boolean; timeout: number }) => Agent;
  request(options: RequestOptions, cb: (res: IncomingMessage) => void): import('node:http').ClientRequest;
}

let shared: Transport | null | undefined;

/** Where a request goes, parsed once per URL. */
interface Target {
  secure: boolean;
  protocol: string;
  hostname: string;
  port: string;
  path: string;
}

/** Token endpoint URLs whose parse is kept. */
const MAX_TARGETS = 64;

function parseTarget(input: string): Target {
  const url = new URL(input);
  return {
    secure: url.protocol === 'https:',
    protocol: url.protocol,
    // `URL` keeps an IPv6 literal's brackets, which `http.request` does not take.
    hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port,
    path: `${url.pathname}${url.search}`,
  };
}

/**
 * An answer whose `Headers` are built only when read: building one (a validated append per
 * header) cost a token request as much as parsing its body, and a refresh that succeeds never
 * reads them.
 */
class NodeResponse implements TransportResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly #rawHeaders: string[];
  readonly #text: string;
  #headers: Headers | undefined;

  constructor(status: number, rawHeaders: string[], text: string) {
    this.status = status;
    this.ok = status >= 200 && status < 300;
    this.#rawHeaders = rawHeaders;
    this.#text = text;
  }

  get headers(): Headers {
    if (this.#headers !== undefined) return this.#headers;
    const headers = new Headers();
    const raw = this.#rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      try {
        headers.append(raw[i] as string, raw[i + 1] as string);
      } catch {
        // A header `Headers` refuses (fetch would have refused the answer): left out.
      }
    }
    this.#headers = headers;
    return headers;
  }

  text(): Promise<string> {
    return Promise.resolve(this.#text);
  }
}

/**
 * The shared `node:http` transport (one keep-alive agent per protocol for the process), or `null`
 * outside Node or on a Node without `process.getBuiltinModule`.
 */
export function nodeHttpTransport(): Transport | null {
  if (shared !== undefined) return shared;
  const get = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule;
  const http = typeof get === 'function' ? (get('node:http') as HttpModule | undefined) : undefined;
  const https = typeof get === 'function' ? (get('node:https') as HttpModule | undefined) : undefined;
  if (http === undefined || https === undefined) {
    shared = null;
    return shared;
  }
  // Idle connections close after 4 s, as undici's fetch does when the server sends no keep-alive
  // hint (with a hint, Node's agent closes them a second before the server would): reusing a
  // connection the server is closing fails with an unknown outcome, which costs a retry.
  const options = { keepAlive: true, timeout: 4_000 };
  const agents = { http: new http.Agent(options), https: new https.Agent(options) };
  const targets = new Map<string, Target>();
  shared = (input, init) =>
    new Promise<TransportResponse>((resolve, reject) => {
      const { signal } = init;
      if (signal?.aborted) {
        reject(new AbortedError(signal.reason));
        return;
      }
      let target = targets.get(input);
      if (target === undefined) {
        target = parseTarget(input);
        // A process talks to a handful of token endpoints; a bound keeps a caller that builds
        // ever-new URLs from growing the cache without end.
        if (targets.size >= MAX_TARGETS) targets.clear();
        targets.set(input, target);
      }
      const body = Buffer.from(init.body, 'utf8');
      const req = (target.secure ? https : http).request(
        {
          protocol: target.protocol,
          hostname: target.hostname,
          port: target.port,
          path: target.path,
          method: init.method,
          headers: { ...init.headers, 'content-length': String(body.length) },
          agent: target.secure ? agents.https : agents.http,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let ended = false;
          res.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
          });
          res.on('end', () => {
            ended = true;
            settle();
            const status = res.statusCode ?? 0;
            const text =
              chunks.length === 1
                ? (chunks[0] as Buffer).toString('utf8')
                : Buffer.concat(chunks).toString('utf8');
            resolve(new NodeResponse(status, res.rawHeaders, text));
          });
          res.on('error', fail);
          res.on('close', () => {
            if (!ended)
              fail(
                Object.assign(new Error('the connection closed before the answer ended'), {
                  code: 'ECONNRESET',
                }),
              );
          });
        },
      );
      // One timer and the caller's signal, handled here rather than through an AbortController
      // handed to `http.request`: creating the controller and Node's signal plumbing for it (an
      // abort listener, a stream finisher) cost more CPU per request than the rest of the request
      // (docs/performance.md, client section).
      let failure: Error | undefined;
      const stop = (error: Error): void => {
        failure ??= error;
        req.destroy(failure);
      };
      const timer = setTimeout(() => stop(new TimeoutError(init.timeoutMs)), init.timeoutMs);
      const onAbort = (): void => stop(new AbortedError(signal?.reason));
      const settle = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      function fail(error: unknown): void {
        settle();
        reject(failure ?? error);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', fail);
      req.end(body);
    });
  return shared;
}
