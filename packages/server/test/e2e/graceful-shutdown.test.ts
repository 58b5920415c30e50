import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { openRuntime } from '../../src/runtime.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../dist/cli/main.js');

async function cli(args: string[], env: NodeJS.ProcessEnv) {
  const { stdout } = await run(process.execPath, [BIN, ...args, '--json'], {
    env: { ...process.env, ...env },
  });
  return JSON.parse(stdout);
}

/** Spawns `renova serve --json` (the compiled CLI) and resolves with its URL once it listens. */
async function serve(
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--json'], {
    env: { ...process.env, RENOVA_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.startsWith('{"url":'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`renova serve exited with ${code}: ${out}`)));
  });
  return { child, url, exited };
}

describe('graceful shutdown of renova serve', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let app: { client_id: string; client_secret: string };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'renova-shutdown-'));
    env = { RENOVA_DB: join(dir, 'renova.db'), RENOVA_SHUTDOWN_TIMEOUT_SECONDS: '10' };
    const owner = await cli(['user', 'create', '--email', 'owner@shutdown.test'], env);
    app = await cli(
      ['app', 'create', '--name', 'Load', '--owner', String(owner.id), '--redirect-uri', 'https://l.test/cb'],
      env,
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('SIGTERM under 48 concurrent client_credentials loops: no reset, exit 0, every answered token stored', async () => {
    const server = await serve(env);
    // Keep-alive connections, one per loop: the case that was cut (ECONNRESET) before.
    const agent = new Agent({ connections: 64, pipelining: 1, keepAliveTimeout: 30_000 });
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: app.client_id,
      client_secret: app.client_secret,
    }).toString();
    const answered: string[] = [];
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let refused = 0;
    let signalledAt = 0;
    let answeredAfterSignal = 0;
    let closeHeaders = 0;
    const loop = async () => {
      for (;;) {
        try {
          const response = await request(`${server.url}/oauth/token`, {
            method: 'POST',
            dispatcher: agent,
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body,
          });
          const text = await response.body.text();
          statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
          if (response.statusCode === 200) {
            answered.push((JSON.parse(text) as { access_token: string }).access_token);
            if (signalledAt > 0) answeredAfterSignal += 1;
          } else failures.push(`HTTP ${response.statusCode}: ${text}`);
          if (response.headers.connection === 'close') closeHeaders += 1;
        } catch (error) {
          const code = (error as { code?: string }).code ?? String(error);
          // Once the listener is closed, a new connection is refused: the expected end of a loop.
          if (code === 'ECONNREFUSED') {
            refused += 1;
            return;
          }
          failures.push(code);
          return;
        }
      }
    };
    const loops = Array.from({ length: 48 }, loop);
    // Let the load build up, then stop the server in the middle of it.
    while (answered.length < 300) await new Promise((resolve) => setTimeout(resolve, 10));
    signalledAt = Date.now();
    server.child.kill('SIGTERM');
    await Promise.all(loops);
    const code = await server.exited;
    await agent.close();

    assert.deepEqual(failures, [], 'no client saw a reset, a socket error or a non-200 answer');
    assert.equal(code, 0, 'renova serve exits 0 after draining');
    assert.equal(refused, 48, 'every loop ended on a refused new connection, none on a cut one');
    assert.deepEqual([...statuses.keys()], [200]);
    assert.ok(closeHeaders > 0, 'requests answered while draining carry Connection: close');
    assert.ok(answeredAfterSignal > 0, 'requests in flight at SIGTERM were answered');

    // Restarted on the same database: every token a client was given is there, and active.
    const rt = await openRuntime(env.RENOVA_DB as string, {});
    try {
      for (const accessToken of answered) {
        const found = await rt.services.inventory.inspectToken(accessToken);
        assert.equal(found.kind, 'access_token');
        assert.equal(found.record.revoked, false);
        assert.equal(found.expired, false);
      }
    } finally {
      await rt.close();
    }
  });

  test('an idle keep-alive connection is closed cleanly by the server, not reset', async () => {
    const server = await serve(env);
    const agent = new Agent({ keepAliveTimeout: 60_000 });
    const response = await request(`${server.url}/healthz`, { dispatcher: agent });
    await response.body.text();
    server.child.kill('SIGINT');
    assert.equal(await server.exited, 0);
    // The pooled connection was ended by the server: the next request opens a new one, refused.
    await assert.rejects(request(`${server.url}/healthz`, { dispatcher: agent }), { code: 'ECONNREFUSED' });
    await agent.close();
  });
});
