import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { openRuntime, type RunningServer, startServer } from '../../src/runtime.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../dist/cli/main.js');
const KEY = randomBytes(32).toString('hex');

async function renova(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, RENOVA_SECRET_KEY: KEY },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const mode = (file: string) => statSync(file).mode & 0o777;

async function refresh(url: string, app: { client_id: string; client_secret: string }, token: string) {
  const response = await fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: app.client_id,
      client_secret: app.client_secret,
      refresh_token: token,
    }),
  });
  return {
    status: response.status,
    body: (await response.json()) as { access_token: string; refresh_token: string },
  };
}

describe('renova backup and restore (SQLite)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'renova-backup-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a backup taken under a load of refreshes, restored into a new server, accepts every token acknowledged before it started', async (t) => {
    const dbA = join(dir, 'a', 'renova.db');
    const server: RunningServer = await startServer(
      { host: '127.0.0.1', port: 0, db: dbA, logger: false, webhooks: false },
      { RENOVA_SECRET_KEY: KEY },
    );
    // A failed assertion must not leave the refresh loops and the server running (the test
    // would hang instead of failing).
    let stop = false;
    let serverClosed = false;
    const closeServer = async () => {
      stop = true;
      if (serverClosed) return;
      serverClosed = true;
      await server.close();
    };
    t.after(closeServer);
    const s = server.services;
    const owner = await s.accounts.createUser({ email: 'owner@backup.test' });
    const created = await s.applications.create({
      name: 'Backup',
      ownerUserId: owner.id,
      redirectUris: ['https://b.test/cb'],
      scope: 'offline_access read write',
      pkceRequired: false,
    });
    const app = { client_id: created.clientId, client_secret: created.clientSecret };
    const chains: { access: string; refresh: string }[] = [];
    for (let i = 0; i < 16; i++) {
      const seller = await s.accounts.createUser({ email: `seller${i}@backup.test` });
      const { code } = await s.consent.authorize({ clientId: app.client_id, userId: seller.id });
      const { response } = await s.tokens.handle({
        params: { ...app, grant_type: 'authorization_code', code, redirect_uri: 'https://b.test/cb' },
        authorization: undefined,
        remoteAddress: '127.0.0.1',
      });
      chains.push({ access: response.access_token, refresh: response.refresh_token as string });
    }
    const acknowledged: { access: string; refresh: string }[] = [];
    let refreshes = 0;
    const loops = chains.map(async (chain) => {
      while (!stop) {
        const { status, body } = await refresh(server.url, app, chain.refresh);
        assert.equal(status, 200);
        chain.access = body.access_token;
        chain.refresh = body.refresh_token;
        acknowledged.push({ access: body.access_token, refresh: body.refresh_token });
        refreshes += 1;
      }
    });
    while (refreshes < 200) await new Promise((resolve) => setTimeout(resolve, 5));

    // The state every seller's client holds when the backup starts.
    const atStart = chains.map((chain) => ({ ...chain }));
    const before = [...acknowledged];
    const file = join(dir, 'renova-backup.db');
    const countAtStart = refreshes;
    const backup = await renova(['backup', '--to', file, '--db', dbA, '--json']);
    const duringBackup = refreshes - countAtStart;
    assert.equal(backup.code, 0, backup.stderr);
    assert.equal(JSON.parse(backup.stdout).file, file);
    stop = true;
    await Promise.all(loops);
    assert.ok(duringBackup > 0, 'the server kept answering refreshes while the backup ran');
    assert.equal(mode(file), 0o600);

    // Restoring over the live database is refused, whatever --force says.
    const inUse = await renova(['restore', '--from', file, '--db', dbA, '--force']);
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /in use/);
    await closeServer();

    const dbB = join(dir, 'b', 'renova.db');
    mkdirSync(join(dir, 'b'));
    const restored = await renova(['restore', '--from', file, '--db', dbB, '--json']);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(mode(dbB), 0o600);
    const fresh: RunningServer = await startServer(
      { host: '127.0.0.1', port: 0, db: dbB, logger: false, webhooks: false },
      { RENOVA_SECRET_KEY: KEY },
    );
    try {
      for (const pair of before) {
        const access = await fresh.services.inventory.inspectToken(pair.access);
        assert.equal(access.record.revoked, false, 'an access token acknowledged before the backup is valid');
        const refreshToken = await fresh.services.inventory.inspectToken(pair.refresh);
        assert.equal(
          refreshToken.record.revoked,
          false,
          'a refresh token acknowledged before the backup is in it',
        );
      }
      // Each seller's refresh token at backup start is in the copy: still current there (then
      // the restored server rotates it), or already exchanged by the load that ran on during the
      // copy (then the copy holds its successor, and presenting the old one would rightly be
      // reuse). Either way its family is intact.
      let accepted = 0;
      for (const chain of atStart) {
        const found = await fresh.services.inventory.inspectToken(chain.refresh);
        assert.equal(found.record.revoked, false);
        if (found.kind === 'refresh_token' && found.record.rotatedAt === null) {
          assert.equal((await refresh(fresh.url, app, chain.refresh)).status, 200);
          accepted += 1;
        }
      }
      // The copy is one consistent instant: of all the refresh tokens ever handed out, exactly one
      // per seller is current in it (the rest were rotated, or came after the copy), and the
      // restored server rotates each of those.
      let current = 0;
      for (const pair of acknowledged) {
        const found = await fresh.services.inventory.inspectToken(pair.refresh).catch(() => null);
        if (found && found.kind === 'refresh_token' && found.record.rotatedAt === null) {
          assert.equal((await refresh(fresh.url, app, pair.refresh)).status, 200);
          current += 1;
        }
      }
      assert.equal(current + accepted, chains.length, 'exactly one current refresh token per seller');
    } finally {
      await fresh.close();
    }
  });

  test('refuses what it must not copy or overwrite, saying why', async () => {
    const db = join(dir, 'c', 'renova.db');
    const rt = await openRuntime(db, { RENOVA_SECRET_KEY: KEY });
    await rt.close();
    const file = join(dir, 'c-backup.db');
    assert.equal((await renova(['backup', '--to', file, '--db', db])).code, 0);
    const again = await renova(['backup', '--to', file, '--db', db]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists.*--force/);
    assert.equal((await renova(['backup', '--to', file, '--db', db, '--force'])).code, 0);
    const exists = await renova(['restore', '--from', file, '--db', db]);
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, /exists: pass --force/);
    assert.equal((await renova(['restore', '--from', file, '--db', db, '--force'])).code, 0);

    const notSqlite = join(dir, 'not-sqlite.db');
    writeFileSync(notSqlite, 'hello, this is not a database'.repeat(100));
    const other = join(dir, 'other.db');
    new Database(other).exec('CREATE TABLE t (x)');
    const newer = join(dir, 'newer.db');
    copyFileSync(file, newer);
    const future = new Database(newer);
    future
      .prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)")
      .run();
    future.close();
    const target = join(dir, 'd', 'renova.db');
    mkdirSync(join(dir, 'd'));
    const cases: [string[], number, RegExp][] = [
      [['restore', '--from', notSqlite, '--db', target], 1, /not an SQLite database/],
      [['restore', '--from', other, '--db', target], 1, /not Renova's/],
      [['restore', '--from', newer, '--db', target], 1, /schema version 999, newer/],
      [['restore', '--from', join(dir, 'missing.db'), '--db', target], 1, /does not exist/],
      [['restore', '--from', file, '--db', join(dir, 'nowhere', 'x.db')], 1, /directory .* does not exist/],
      [['backup', '--to', join(dir, 'nowhere', 'x.db'), '--db', db], 1, /directory .* does not exist/],
      [['backup', '--to', db, '--db', db, '--force'], 1, /the database itself/],
      [['backup', '--to', join(dir, 'x.db'), '--db', 'postgres://u@127.0.0.1/x'], 2, /pg_dump/],
      [['restore', '--from', file, '--db', 'postgres://u@127.0.0.1/x'], 2, /pg_dump/],
      [['backup', '--db', db], 2, /--to/],
    ];
    for (const [args, code, message] of cases) {
      const result = await renova(args);
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message, args.join(' '));
    }
  });
});
