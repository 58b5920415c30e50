import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { DEFAULT_LIFETIMES } from '../../src/core/config.ts';
import { buildApp } from '../../src/http/app.ts';
import { startServer } from '../../src/runtime.ts';
import { createServices } from '../../src/services.ts';
import { PostgresStorage } from '../../src/storage/postgres/adapter.ts';
import { SqliteStorage } from '../../src/storage/sqlite/adapter.ts';
import type { WriterStatus } from '../../src/storage/sqlite/writer.ts';
import { exchange, harness } from '../helpers/fixtures.ts';
import { sqliteFactory } from '../helpers/storages.ts';

/**
 * Issue 9 §4: readiness tells the truth. /readyz is 503 with the reason whenever a write cannot
 * succeed, the change is logged once, and a writer thread that dies is restarted or reported as
 * fatal (`renova serve` then exits non-zero): never a process that accepts traffic it cannot store.
 */

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'renova-ready-'));
  dirs.push(dir);
  return dir;
}

/**
 * A stand-in writer thread speaking the writer's protocol (see writer-worker.ts) without a
 * database: it answers every request, unless the file `<db>.broken` exists when it starts, in
 * which case it dies at once, as the real one did with `Cannot find module 'better-sqlite3'`.
 */
function fakeWriterScript(dir: string): URL {
  const file = join(dir, 'fake-writer.mjs');
  writeFileSync(
    file,
    `import { existsSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
if (existsSync(workerData.path + '.broken')) throw new Error("Cannot find module 'better-sqlite3' (test)");
parentPort.on('message', (message) => {
  if (!Array.isArray(message)) return parentPort.close();
  parentPort.postMessage(message.map((request) => ({ id: request.id, ok: true, value: null })));
});
`,
  );
  return pathToFileURL(file);
}

/** A pino logger whose lines the test reads. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('readiness tells the truth (issue 9 §4)', () => {
  test('sqlite: a terminated writer thread is restarted; writes succeed again and /readyz is ready', async () => {
    const h = await harness(sqliteFactory);
    try {
      const storage = h.testStorage.storage as SqliteStorage;
      const statuses: WriterStatus[] = [];
      storage.watchWriter((status) => statuses.push(status));
      const seeded = await h.seed();
      const first = storage.writerThread;
      assert.ok(first, 'a file database writes in a worker thread');
      await first.terminate();
      await until(() => statuses.some((s) => s.state === 'running'), 'the writer to be running again');
      assert.equal(statuses[0]?.state, 'restarting');
      assert.match((statuses[0] as { reason: string }).reason, /exited with code 1/);
      assert.notEqual(storage.writerThread, first, 'a new thread replaced the terminated one');
      const tokens = await exchange(h.app, seeded);
      assert.match(tokens.access_token, /^APP_USR-/);
      const ready = await h.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json(), { status: 'ready' });
    } finally {
      await h.close();
    }
  });

  test('sqlite: writes in flight when the writer thread dies are answered (committed or 503), never left hanging', async () => {
    const h = await harness(sqliteFactory);
    try {
      const storage = h.testStorage.storage as SqliteStorage;
      const user = (i: number) => ({
        email: `inflight${i}@example.com`,
        nickname: `n${i}`,
        siteId: 'MLA',
        passwordHash: null,
        createdAt: Date.now(),
      });
      const writes = Array.from({ length: 50 }, (_, i) => storage.createUser(user(i)));
      const terminated = storage.writerThread?.terminate();
      const settled = await Promise.race([
        Promise.allSettled(writes),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('a write was left hanging')), 10_000),
        ),
      ]);
      await terminated;
      for (const result of settled) {
        if (result.status === 'rejected') {
          assert.equal((result.reason as { error?: string }).error, 'temporarily_unavailable');
        }
      }
      const after = await storage.createUser(user(99));
      assert.equal(after?.email, 'inflight99@example.com');
    } finally {
      await h.close();
    }
  });

  test('the compiled renova serve, started from another directory, stores writes (issue 9: every write was 503)', async () => {
    const dir = tempDir();
    const token = 'readiness-admin-token-0123456789abcdef';
    // dist/ is built by `npm test` (scripts/setup.mjs): this is the CLI as installed.
    const main = join(import.meta.dirname, '../../dist/cli/main.js');
    const child = spawn(process.execPath, [main, 'serve', '--port', '0', '--db', './r.db'], {
      cwd: dir,
      env: { ...process.env, RENOVA_ADMIN_TOKEN: token, RENOVA_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    try {
      await until(() => /renova listening on http/.test(output) || child.exitCode !== null, 'renova serve');
      const url = /renova listening on (http:\/\/\S+)/.exec(output)?.[1];
      assert.ok(url, output);
      const created = await fetch(`${url}/admin/users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'elsewhere@example.com' }),
      });
      assert.equal(created.status, 201, await created.clone().text());
      assert.equal((await fetch(`${url}/readyz`)).status, 200);
      assert.ok(
        existsSync(join(dir, 'r.db')),
        'the database is where --db says, relative to the working directory',
      );
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });

  test('sqlite: a writer thread that cannot start fails the start-up with its reason (not 503 forever)', async () => {
    const dir = tempDir();
    const path = join(dir, 'renova.db');
    writeFileSync(`${path}.broken`, '');
    const storage = new SqliteStorage({ path, writerScript: fakeWriterScript(dir) });
    await assert.rejects(storage.migrate(), (error: Error) => {
      assert.match(error.message, /the SQLite writer cannot write to .*renova\.db/);
      assert.match(error.message, /Cannot find module 'better-sqlite3'/);
      return true;
    });
    await storage.close();
  });

  test('sqlite: a writer that dies and cannot be restarted: /readyz 503 with the reason, writes 503, fatal once', async () => {
    const dir = tempDir();
    const path = join(dir, 'renova.db');
    const storage = new SqliteStorage({ path, writerScript: fakeWriterScript(dir), maxWriterRestarts: 2 });
    await storage.migrate();
    const statuses: WriterStatus[] = [];
    storage.watchWriter((status) => statuses.push(status));
    const { logger, lines } = capturedLogger();
    const services = createServices({
      storage,
      serverKey: Buffer.alloc(32, 7),
      lifetimes: DEFAULT_LIFETIMES,
    });
    const app = await buildApp(services, { issuer: 'http://renova.test', logger });
    try {
      assert.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
      // From now on every new writer thread dies at start: the restarts run out.
      writeFileSync(`${path}.broken`, '');
      await storage.writerThread?.terminate();
      await until(() => statuses.some((s) => s.state === 'failed'), 'the writer to give up');
      assert.deepEqual(
        statuses.map((s) => s.state),
        ['restarting', 'restarting', 'failed'],
      );
      for (let i = 0; i < 3; i++) {
        const answer = await app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(answer.statusCode, 503);
        assert.equal(answer.headers['retry-after'], '1');
        const body = answer.json() as { status: string; reason: string };
        assert.equal(body.status, 'unavailable');
        assert.match(
          body.reason,
          /the SQLite database cannot be written: sqlite writer stopped: .*better-sqlite3/,
        );
      }
      // Logged once, not once per probe.
      assert.equal(lines.filter((l) => l.msg === 'not ready: writes cannot succeed').length, 1);
      // A write is refused as temporarily unavailable, never hangs, never a 500.
      const write = await app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'grant_type=client_credentials&client_id=0000000000000001&client_secret=x',
      });
      assert.notEqual(write.statusCode, 500);
      await assert.rejects(
        storage.createUser({
          email: 'late@example.com',
          nickname: 'late',
          siteId: 'MLA',
          passwordHash: null,
          createdAt: Date.now(),
        }),
        (error: { error?: string }) => error.error === 'temporarily_unavailable',
      );
    } finally {
      await app.close();
      await storage.close();
    }
  });

  test('postgres: /readyz is 503 with the reason while the database is unreachable', async () => {
    // Port 9 (discard) has no PostgreSQL: every connection is refused.
    const storage = new PostgresStorage({ connectionString: 'postgres://renova@127.0.0.1:9/renova' });
    const { logger, lines } = capturedLogger();
    const services = createServices({
      storage,
      serverKey: Buffer.alloc(32, 7),
      lifetimes: DEFAULT_LIFETIMES,
    });
    const app = await buildApp(services, { issuer: 'http://renova.test', logger });
    try {
      for (let i = 0; i < 2; i++) {
        const answer = await app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(answer.statusCode, 503);
        const body = answer.json() as { status: string; reason: string };
        assert.equal(body.status, 'unavailable');
        assert.ok(body.reason.length > 0, 'the body says why');
      }
      assert.equal(lines.filter((l) => l.msg === 'not ready: writes cannot succeed').length, 1);
    } finally {
      await app.close();
      await storage.close();
    }
  });

  test('startServer logs a stopped and a restarted writer thread once each, and keeps serving', async () => {
    const dir = tempDir();
    const { logger, lines } = capturedLogger();
    let fatal: string | undefined;
    const server = await startServer(
      {
        host: '127.0.0.1',
        port: 0,
        db: join(dir, 'renova.db'),
        logger,
        webhooks: false,
        onFatal: (reason) => {
          fatal = reason;
        },
      },
      { RENOVA_PURGE_INTERVAL_SECONDS: '0' },
    );
    try {
      const storage = server.services.storage as SqliteStorage;
      await storage.writerThread?.terminate();
      await until(
        () => lines.some((l) => l.msg === 'sqlite writer thread running again'),
        'the restart to be logged',
      );
      assert.equal(lines.filter((l) => l.msg === 'sqlite writer thread stopped; restarting it').length, 1);
      const ready = await fetch(`${server.url}/readyz`);
      assert.equal(ready.status, 200);
      assert.equal(fatal, undefined);
      assert.ok(existsSync(join(dir, 'renova.db')));
    } finally {
      await server.close();
    }
  });
});
