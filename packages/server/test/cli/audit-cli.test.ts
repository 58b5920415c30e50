import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
// The compiled CLI, as installed: build first (`npm run build`).
const BIN = join(import.meta.dirname, '../../dist/cli/main.js');

async function renova(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env: { ...process.env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * `renova audit` (issue 12 item 1): the CLI's own changes are recorded as the operator's (`cli`),
 * the listing filters by user, application, type and time, pages with a cursor, prints a table or
 * JSON, and refuses bad values with a message and a non-zero exit.
 */
describe('renova audit', () => {
  let dir: string;
  let db: string;
  let clientId: string;
  let sellerId: number;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'renova-audit-cli-'));
    db = join(dir, 'renova.db');
    const json = async (args: string[]) => JSON.parse((await renova([...args, '--db', db, '--json'])).stdout);
    const owner = await json(['user', 'create', '--email', 'owner@audit.test']);
    sellerId = (await json(['user', 'create', '--email', 'seller@audit.test'])).id;
    const app = await json([
      'app',
      'create',
      '--name',
      'Audited',
      '--owner',
      String(owner.id),
      '--redirect-uri',
      'https://a.test/cb',
    ]);
    clientId = app.client_id;
    await json(['authorize', '--client-id', clientId, '--user-id', String(sellerId)]);
    await json(['app', 'rotate-secret', '--client-id', clientId, '--overlap', '0']);
    await json(['grant', 'revoke', '--client-id', clientId, '--user-id', String(sellerId)]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("lists the CLI's changes, newest first, as the operator's, in JSON", async () => {
    const answer = await renova(['audit', '--client-id', clientId, '--db', db, '--json']);
    assert.equal(answer.code, 0, answer.stderr);
    const page = JSON.parse(answer.stdout) as {
      events: { type: string; actor: { type: string; id: string }; user_id: number | null }[];
      next_cursor: string | null;
    };
    assert.deepEqual(
      page.events.map((e) => e.type),
      ['grant.revoked', 'client_secret.rotated', 'consent.granted', 'application.created'],
    );
    for (const event of page.events) assert.deepEqual(event.actor, { type: 'operator', id: 'cli' });
    assert.equal(page.next_cursor, null);
  });

  test('filters by user, type and time; pages with --cursor; prints a table', async () => {
    const json = async (args: string[]) =>
      JSON.parse((await renova(['audit', ...args, '--db', db, '--json'])).stdout);
    const seller = await json(['--user', String(sellerId)]);
    assert.ok(seller.events.length >= 3);
    assert.ok(seller.events.every((e: { user_id: number }) => e.user_id === sellerId));
    const revoked = await json(['--type', 'grant.revoked', '--since', '24h']);
    assert.equal(revoked.events.length, 1);
    assert.equal((await json(['--since', '2000-01-01T00:00:00Z'])).events.length >= 6, true);
    const first = await json(['--limit', '2']);
    assert.equal(first.events.length, 2);
    assert.ok(first.next_cursor);
    const second = await json(['--limit', '2', '--cursor', first.next_cursor]);
    assert.ok(second.events[0].id < first.events[1].id);
    const table = await renova(['audit', '--client-id', clientId, '--db', db]);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^ID\s+AT\s+TYPE\s+ACTOR/);
    assert.match(table.stdout, /grant\.revoked\s+operator:cli/);
  });

  test('refuses bad values with a message that says what is wrong', async () => {
    for (const [args, message] of [
      [['--since', '-1'], /since must be/],
      [['--since', 'abc'], /since must be/],
      [['--since', '99999999d'], /more than 36500 days/],
      [['--type', 'nope'], /type must be one of/],
      [['--cursor', 'x'], /cursor must be/],
      [['--limit', '0'], /limit must be/],
      [['--user', 'abc'], /--user must be a positive integer/],
      [['--client-id', '12'], /client id must be 16 digits/],
    ] as [string[], RegExp][]) {
      const answer = await renova(['audit', ...args, '--db', db]);
      assert.notEqual(answer.code, 0, args.join(' '));
      assert.match(answer.stderr, message, args.join(' '));
    }
  });
});
