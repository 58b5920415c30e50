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

/** A `fetch`-shaped transport: `(url, init) => answer`. */
export type Transport = (
  input: string,
  init: { method: string; headers: Record<string, string>; body: string; signal: AbortSignal },
) => Promise<TransportResponse>;

interface HttpModule {
  Agent: new (options: { keepAlive: boolean; timeout: number }) => Agent;
  request(
    url: string,
    options: RequestOptions,
    cb: (res: IncomingMessage) => void,
  ): import('node:http').ClientRequest;
}

let shared: Transport | null | undefined;

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
  shared = (input, init) =>
    new Promise<TransportResponse>((resolve, reject) => {
      const secure = input.startsWith('https:');
      const body = Buffer.from(init.body, 'utf8');
      const req = (secure ? https : http).request(
        input,
        {
          method: init.method,
          headers: { ...init.headers, 'content-length': String(body.length) },
          agent: secure ? agents.https : agents.http,
          signal: init.signal,
        },
        (res) => {
          let text = '';
          let ended = false;
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => {
            ended = true;
            const status = res.statusCode ?? 0;
            const headers = new Headers();
            const raw = res.rawHeaders;
            for (let i = 0; i + 1 < raw.length; i += 2) {
              try {
                headers.append(raw[i] as string, raw[i + 1] as string);
              } catch {
                // A header `Headers` refuses (fetch would have refused the answer): left out.
              }
            }
            resolve({
              status,
              ok: status >= 200 && status < 300,
              headers,
              text: () => Promise.resolve(text),
            });
          });
          res.on('error', reject);
          res.on('close', () => {
            if (!ended)
              reject(
                Object.assign(new Error('the connection closed before the answer ended'), {
                  code: 'ECONNRESET',
                }),
              );
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return shared;
}
