import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';

/**
 * bench/floor.ts is the baseline `npm run bench -- --with-floor` compares Renova with: its
 * figures mean something only if it does the work it claims. It must authenticate the client,
 * rotate each refresh token exactly once and store the rotation before it answers, with its
 * writer on a thread and inline.
 */
const FLOOR = join(import.meta.dirname, '../../bench/floor.ts');
const CLIENT_ID = '4934588586838432';
const CLIENT_SECRET = 'f'.repeat(32);
const seeded = (id: number) => `TG-2${id.toString(16).padStart(15, '0')}${'0'.repeat(32)}-1`;

async function startFloor(path: string, writer: 'thread' | 'inline') {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', FLOOR, path, '2', CLIENT_ID, CLIENT_SECRET, writer],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /floor listening on (\S+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`floor exited (${code}) before listening`)));
  });
  return { child, url };
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

for (const writer of ['thread', 'inline'] as const) {
  describe(`bench/floor.ts, writer ${writer}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'renova-floor-test-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    test('rotates each refresh token once, after storing it, and refuses a wrong client secret', async () => {
      const path = join(dir, 'floor.db');
      const { child, url } = await startFloor(path, writer);
      const refresh = async (token: string, secret = CLIENT_SECRET) => {
        const response = await fetch(`${url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            grant_type: 'refresh_token',
            client_id: CLIENT_ID,
            client_secret: secret,
            refresh_token: token,
          }),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      try {
        const first = await refresh(seeded(1));
        assert.equal(first.status, 200);
        assert.match(String(first.body.refresh_token), /^TG-2[0-9a-f]{47}-1$/);
        assert.match(
          String(first.body.access_token),
          new RegExp(`^APP_USR-${CLIENT_ID}-[0-9]{6}-3[0-9a-f]{47}-1$`),
        );
        assert.deepEqual(
          (await refresh(seeded(1))).body,
          { error: 'invalid_grant' },
          'a rotated token is spent',
        );
        const second = await refresh(String(first.body.refresh_token));
        assert.equal(second.status, 200, 'the new token rotates in turn');
        assert.deepEqual((await refresh(seeded(2), 'x'.repeat(32))).body, { error: 'invalid_client' });
        assert.deepEqual((await refresh(`${seeded(2)}0`)).body, { error: 'invalid_grant' });
      } finally {
        await stop(child);
      }
      // Answered means stored: both rotations are in the file.
      const db = new Database(path, { readonly: true });
      try {
        const rotated = db
          .prepare('SELECT count(*) AS n FROM refresh_tokens WHERE rotated_at IS NOT NULL')
          .get();
        assert.deepEqual(rotated, { n: 2 });
        assert.deepEqual(db.prepare('SELECT count(*) AS n FROM access_tokens').get(), { n: 2 });
      } finally {
        db.close();
      }
    });
  });
}
