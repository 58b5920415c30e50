/**
 * Starts a real Renova server process (the CLI of `packages/server`) on a free port in a temp dir.
 * The client package does not depend on the server package: it only runs its CLI, as a user would.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The server CLI entry point. */
export const SERVER_MAIN = resolve(import.meta.dirname, '../../../server/src/cli/main.ts');

/** A running Renova server. */
export interface RenovaServer {
  /** `http://127.0.0.1:<port>`. */
  baseUrl: string;
  /** Calls the admin API; throws on a non-2xx answer. */
  admin<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** Stops the process and deletes its temp dir. */
  stop(): Promise<void>;
  /** Everything the process printed so far. */
  output(): string;
  /** The server process's id (the benchmark reads its CPU time from /proc). */
  pid: number | undefined;
}

/** An application, a seller and a fresh authorization code on a server. */
export interface Seller {
  /** Application id. */
  clientId: string;
  /** Application secret. */
  clientSecret: string;
  /** Seller id. */
  userId: number;
  /** Registered redirect URI. */
  redirectUri: string;
}

/** Finds a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => done(port));
    });
  });
}

/**
 * Starts a server. Rejects (never skips) if it does not come up.
 *
 * @param env - extra environment, e.g. `{ RENOVA_REFRESH_GRACE_SECONDS: '0' }`
 */
export async function startServer(env: Record<string, string> = {}): Promise<RenovaServer> {
  const dir = mkdtempSync(join(tmpdir(), 'renova-client-'));
  const port = await freePort();
  const token = `admin-${globalThis.crypto.randomUUID()}`;
  const baseUrl = `http://127.0.0.1:${port}`;
  let out = '';
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      SERVER_MAIN,
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--db',
      join(dir, 'renova.db'),
    ],
    {
      cwd: resolve(SERVER_MAIN, '../../..'),
      env: { ...process.env, RENOVA_ADMIN_TOKEN: token, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`Renova server exited during startup:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`Renova server did not become healthy within 30 s:\n${out}`);
    }
    try {
      const r = await fetch(`${baseUrl}/healthz`);
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    baseUrl,
    pid: child.pid,
    output: () => out,
    async admin<T>(method: string, path: string, body?: unknown): Promise<T> {
      const init: RequestInit = { method, headers: { authorization: `Bearer ${token}` } };
      if (body !== undefined) {
        init.body = JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] = 'application/json';
      }
      const r = await fetch(`${baseUrl}${path}`, init);
      const text = await r.text();
      if (!r.ok) throw new Error(`admin ${method} ${path} → ${r.status}: ${text}`);
      return (text === '' ? undefined : JSON.parse(text)) as T;
    },
    async stop() {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await gone;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Creates an application (owned by a fresh user) on the server.
 *
 * @param scopes - the application's scopes; default all three
 */
export async function createApplication(
  server: RenovaServer,
  scopes?: string[],
): Promise<{ clientId: string; clientSecret: string; redirectUri: string; ownerId: number }> {
  const owner = await createUser(server);
  const redirectUri = 'https://integrator.example/callback';
  const app = await server.admin<{ client_id: string; client_secret: string }>(
    'POST',
    '/admin/applications',
    {
      name: 'client tests',
      owner_user_id: owner,
      redirect_uris: [redirectUri],
      ...(scopes === undefined ? {} : { scopes }),
    },
  );
  return { clientId: app.client_id, clientSecret: app.client_secret, redirectUri, ownerId: owner };
}

/** Creates a seller (user) on the server. */
export async function createUser(server: RenovaServer): Promise<number> {
  const u = await server.admin<{ id: number }>('POST', '/admin/users', {
    email: `seller-${globalThis.crypto.randomUUID()}@example.test`,
  });
  return u.id;
}

/** Issues an authorization code for a seller, as the consent page would. */
export async function authorize(
  server: RenovaServer,
  clientId: string,
  userId: number,
  extra: Record<string, unknown> = {},
): Promise<{ code: string; redirect_uri: string }> {
  return server.admin('POST', '/admin/authorizations', { client_id: clientId, user_id: userId, ...extra });
}
