/**
 * A small `node:http` token endpoint for unit tests: rotation with a replay window and reuse
 * detection like docs/api.md §4.2, plus scripted faults (error answers, delays, dropped connections)
 * that a real server does not produce on demand.
 */

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A scripted answer for the next token request. */
export interface Fault {
  /** Run before anything else (e.g. simulate another process writing the store). */
  before?: () => Promise<void> | void;
  /** Answer with this status and body instead of processing the request. */
  status?: number;
  /** The JSON body (or a string, sent as is) of that answer. */
  body?: unknown;
  /** Headers of that answer. */
  headers?: Record<string, string>;
  /** Process the request normally but wait this long before answering. */
  delayMs?: number;
  /** Drop the connection without answering: `before` = without processing, `after` = after processing. */
  drop?: 'before' | 'after';
}

/** What the fake saw. */
export interface SeenRequest {
  /** Parsed JSON body. */
  body: Record<string, unknown>;
  /** Request headers. */
  headers: IncomingMessage['headers'];
}

interface Family {
  userId: number;
  revoked: boolean;
}

interface RefreshState {
  family: Family;
  rotatedAt?: number;
  successor?: string;
  answer?: Record<string, unknown>;
}

/** A running fake token server. */
export interface FakeServer {
  /** `http://127.0.0.1:<port>`. */
  baseUrl: string;
  /** The accepted client id. */
  clientId: string;
  /** The accepted client secret. */
  clientSecret: string;
  /** Every token request, in order. */
  requests: SeenRequest[];
  /** Refresh requests only. */
  refreshes(): SeenRequest[];
  /** Rotations actually performed (replays excluded). */
  rotations: number;
  /** Queue faults for the next requests, in order. */
  faults: Fault[];
  /** Issues a fresh token answer for a seller (as a code exchange would). */
  issue(userId: number, expiresIn?: number): Record<string, unknown>;
  /** Revokes every token of a seller. */
  revoke(userId: number): void;
  /** Stops listening. */
  close(): Promise<void>;
}

/**
 * Starts the fake.
 *
 * @param options - `graceMs`: the replay window (default 60 000; 0 disables)
 */
export async function startFakeServer(options: { graceMs?: number } = {}): Promise<FakeServer> {
  const graceMs = options.graceMs ?? 60_000;
  const clientId = '1234567890123456';
  const clientSecret = 'S'.repeat(32);
  const refreshTokens = new Map<string, RefreshState>();
  const codes = new Map<string, Record<string, unknown>>();
  const families = new Map<number, Family[]>();
  const hex = () => randomBytes(16).toString('hex');

  const mint = (family: Family, expiresIn = 15_552_000): { answer: Record<string, unknown>; rt: string } => {
    const rt = `TG-${hex()}-${family.userId}`;
    refreshTokens.set(rt, { family });
    const answer = {
      access_token: `APP_USR-${clientId}-010100-${hex()}-${family.userId}`,
      token_type: 'Bearer',
      expires_in: expiresIn,
      scope: 'offline_access read write',
      user_id: family.userId,
      refresh_token: rt,
      public_key: `APP_USR-${globalThis.crypto.randomUUID()}`,
      live_mode: true,
    };
    return { answer, rt };
  };

  const fake: FakeServer = {
    baseUrl: '',
    clientId,
    clientSecret,
    requests: [],
    refreshes: () => fake.requests.filter((r) => r.body.grant_type === 'refresh_token'),
    rotations: 0,
    faults: [],
    issue(userId, expiresIn) {
      const family: Family = { userId, revoked: false };
      const list = families.get(userId) ?? [];
      list.push(family);
      families.set(userId, list);
      const { answer } = mint(family, expiresIn);
      const code = `TG-${hex()}-${userId}`;
      codes.set(code, answer);
      return answer;
    },
    revoke(userId) {
      for (const f of families.get(userId) ?? []) f.revoked = true;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };

  const error = (res: ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: code, error_description: message, message, status, cause: [] }));
  };

  const handle = (body: Record<string, unknown>): { status: number; json: Record<string, unknown> } => {
    const fail = (status: number, code: string, message: string) => ({
      status,
      json: { error: code, error_description: message, message, status, cause: [] },
    });
    if (body.client_id !== clientId || body.client_secret !== clientSecret) {
      return fail(400, 'invalid_client', 'client authentication failed');
    }
    if (body.grant_type !== 'refresh_token') return fail(400, 'unsupported_grant_type', 'only refresh_token');
    const presented = String(body.refresh_token ?? '');
    const state = refreshTokens.get(presented);
    if (state === undefined || state.family.revoked) return fail(400, 'invalid_grant', 'unknown or revoked');
    if (state.rotatedAt !== undefined) {
      const successor = state.successor === undefined ? undefined : refreshTokens.get(state.successor);
      if (Date.now() - state.rotatedAt <= graceMs && successor?.rotatedAt === undefined && state.answer) {
        return { status: 200, json: state.answer };
      }
      state.family.revoked = true;
      return fail(400, 'invalid_grant', 'refresh token reused');
    }
    const { answer, rt } = mint(state.family);
    state.rotatedAt = Date.now();
    state.successor = rt;
    state.answer = answer;
    fake.rotations++;
    return { status: 200, json: answer };
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
      } catch {
        return error(res, 400, 'invalid_request', 'bad JSON');
      }
      fake.requests.push({ body, headers: req.headers });
      const fault = fake.faults.shift();
      await fault?.before?.();
      if (fault?.drop === 'before') return req.socket.destroy();
      if (fault?.status !== undefined) {
        res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
        return res.end(typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body ?? {}));
      }
      const out = handle(body);
      if (fault?.drop === 'after') return req.socket.destroy();
      if (fault?.delayMs !== undefined) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (res.destroyed) return;
      res.writeHead(out.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(out.json));
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = fake.close;
  fake.close = () => {
    server.closeAllConnections();
    return close();
  };
  return fake;
}
