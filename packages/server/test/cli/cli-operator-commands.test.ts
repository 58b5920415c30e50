import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { openRuntime } from '../../src/runtime.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../dist/cli/main.js');

/** Runs the compiled CLI; never rejects on a non-zero exit. `stdin` is piped in when given. */
async function renova(args: string[], stdin?: string) {
  if (stdin !== undefined) {
    return await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d;
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d;
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(stdin);
    });
  }
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function json(args: string[], stdin?: string) {
  const result = await renova([...args, '--json'], stdin);
  assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

describe('renova list, show and inspect commands', () => {
  let dir: string;
  let db: string;
  let owner: { id: number };
  let sellers: { id: number; email: string }[];
  let app: { client_id: string; client_secret: string };
  let other: { client_id: string };
  let tokens: { access_token: string; refresh_token: string };
  let rotated: { access_token: string; refresh_token: string };
  let ccToken: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'renova-cli-ops-'));
    db = join(dir, 'renova.db');
    owner = await json(['user', 'create', '--email', 'owner@ops.test', '--db', db]);
    sellers = [];
    for (let i = 0; i < 3; i++)
      sellers.push(await json(['user', 'create', '--email', `seller${i}@ops.test`, '--db', db]));
    const create = (name: string) =>
      json([
        'app',
        'create',
        '--name',
        name,
        '--owner',
        String(owner.id),
        '--redirect-uri',
        'https://ops.test/cb',
        '--db',
        db,
      ]);
    app = await create('Ops Shop');
    other = await create('Other Shop');
    // Tokens through the same services the HTTP token endpoint calls.
    const rt = await openRuntime(db, {});
    try {
      const token = async (params: Record<string, string>) =>
        (
          await rt.services.tokens.handle({
            params: { client_id: app.client_id, client_secret: app.client_secret, ...params },
            authorization: undefined,
            remoteAddress: '127.0.0.1',
          })
        ).response;
      for (const seller of sellers) {
        const { code } = await rt.services.consent.authorize({ clientId: app.client_id, userId: seller.id });
        const response = await token({
          grant_type: 'authorization_code',
          code,
          redirect_uri: 'https://ops.test/cb',
        });
        if (seller === sellers[0])
          tokens = { access_token: response.access_token, refresh_token: response.refresh_token as string };
      }
      const next = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
      rotated = { access_token: next.access_token, refresh_token: next.refresh_token as string };
      ccToken = (await token({ grant_type: 'client_credentials' })).access_token;
      await rt.services.consent.authorize({ clientId: other.client_id, userId: sellers[0]?.id as number });
      await rt.services.consent.revokeGrant(app.client_id, sellers[2]?.id as number);
    } finally {
      await rt.close();
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('user list pages by id with --after, and user show finds by id or email', async () => {
    const first = await json(['user', 'list', '--limit', '2', '--db', db]);
    assert.deepEqual(
      first.map((u: { id: number }) => u.id),
      [owner.id, sellers[0]?.id],
    );
    assert.deepEqual(Object.keys(first[0]), ['id', 'email', 'nickname', 'site_id']);
    const rest = await json(['user', 'list', '--limit', '2', '--after', String(first[1].id), '--db', db]);
    assert.deepEqual(
      rest.map((u: { id: number }) => u.id),
      [sellers[1]?.id, sellers[2]?.id],
    );
    const human = await renova(['user', 'list', '--limit', '2', '--db', db]);
    assert.match(human.stdout, /repeat with --after/);
    assert.deepEqual(await json(['user', 'show', '--id', String(sellers[1]?.id), '--db', db]), rest[0]);
    assert.equal(
      (await json(['user', 'show', '--email', 'SELLER1@ops.test', '--db', db])).id,
      sellers[1]?.id,
    );
    const missing = await renova(['user', 'show', '--id', '999999', '--db', db]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /user 999999 does not exist/);
    assert.equal(missing.stdout, '');
  });

  test('app list and show print the admin API objects, without secrets', async () => {
    const apps = await json(['app', 'list', '--db', db]);
    assert.deepEqual(
      apps.map((a: { client_id: string }) => a.client_id).sort(),
      [app.client_id, other.client_id].sort(),
    );
    for (const listed of apps) {
      assert.deepEqual(Object.keys(listed), [
        'client_id',
        'name',
        'description',
        'logo_url',
        'owner_user_id',
        'redirect_uris',
        'scopes',
        'pkce_required',
        'notification_url',
        'grant_types',
      ]);
    }
    assert.equal((await json(['app', 'list', '--owner', String(sellers[0]?.id), '--db', db])).length, 0);
    const shown = await json(['app', 'show', '--client-id', app.client_id, '--db', db]);
    assert.equal(shown.name, 'Ops Shop');
    const human = await renova(['app', 'show', '--client-id', app.client_id, '--db', db]);
    assert.doesNotMatch(human.stdout, new RegExp(app.client_secret));
    const unknown = await renova(['app', 'show', '--client-id', '1234567890123456', '--db', db]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /does not exist/);
  });

  test('grant list spans applications, shows revoked grants and filters by client and user', async () => {
    const all = await json(['grant', 'list', '--db', db]);
    assert.equal(all.length, 4);
    assert.deepEqual(Object.keys(all[0]), [
      'id',
      'client_id',
      'user_id',
      'scope',
      'status',
      'created_at',
      'updated_at',
      'revoked_at',
      'last_used_at',
    ]);
    const revoked = all.filter((g: { status: string }) => g.status === 'revoked');
    assert.equal(revoked.length, 1);
    assert.equal(revoked[0].user_id, sellers[2]?.id);
    assert.match(revoked[0].revoked_at, /^\d{4}-\d\d-\d\dT/);
    assert.equal((await json(['grant', 'list', '--client-id', app.client_id, '--db', db])).length, 3);
    assert.equal((await json(['grant', 'list', '--user-id', String(sellers[0]?.id), '--db', db])).length, 2);
    const one = await json([
      'grant',
      'list',
      '--client-id',
      other.client_id,
      '--user-id',
      String(sellers[0]?.id),
      '--db',
      db,
    ]);
    assert.equal(one.length, 1);
    const page = await json(['grant', 'list', '--limit', '3', '--after', String(all[0].id), '--db', db]);
    assert.deepEqual(page, all.slice(1));
  });

  test('token inspect describes access, refresh and client_credentials tokens, never their secret', async () => {
    const access = await json(['token', 'inspect', tokens.access_token, '--db', db]);
    assert.equal(access.kind, 'access_token');
    assert.equal(access.issued_for, 'user');
    assert.equal(access.client_id, app.client_id);
    assert.equal(access.user_id, sellers[0]?.id);
    assert.equal(access.scope, 'offline_access read write');
    assert.equal(access.active, true);
    assert.equal(access.revoked, false);
    assert.equal(typeof access.family_id, 'number');
    assert.deepEqual(access.grant, { status: 'active', revoked_at: null });

    const used = await json(['token', 'inspect', tokens.refresh_token, '--db', db]);
    assert.equal(used.kind, 'refresh_token');
    assert.equal(used.family_id, access.family_id);
    assert.match(used.rotated_at, /^\d{4}-/);
    assert.equal(used.active, false, 'a rotated refresh token is not accepted any more');

    // From stdin, as `-` (the value never appears in the process list).
    const fresh = await json(['token', 'inspect', '-', '--db', db], `${rotated.refresh_token}\n`);
    assert.equal(fresh.active, true);
    assert.equal(fresh.rotated_at, null);
    assert.equal(fresh.family_id, access.family_id);

    const cc = await json(['token', 'inspect', ccToken, '--db', db]);
    assert.equal(cc.issued_for, 'client_credentials');
    assert.equal(cc.family_id, null);
    assert.equal(cc.grant, null);

    for (const t of [access, used, fresh, cc]) {
      const text = JSON.stringify(t);
      for (const secret of [tokens.access_token, tokens.refresh_token, rotated.refresh_token, ccToken])
        assert.ok(!text.includes(secret.split('-').at(-2)?.slice(13) ?? 'x'), 'no secret part is printed');
      assert.doesNotMatch(text, /hash/);
    }
  });

  test('token inspect refuses forged, unknown, malformed and oversized input with the right exit code', async () => {
    // Same selector, another secret: not described as the real token.
    const parts = tokens.access_token.split('-');
    const hex = parts[3] as string;
    const flipped = hex.slice(0, -1) + (hex.endsWith('0') ? '1' : '0');
    const forged = await renova([
      'token',
      'inspect',
      [...parts.slice(0, 3), flipped, parts[4]].join('-'),
      '--db',
      db,
    ]);
    assert.equal(forged.code, 1);
    assert.match(forged.stderr, /secret part differs/);
    assert.equal(forged.stdout, '');
    const unknownHex = `3${'f'.repeat(12)}${hex.slice(13)}`;
    const unknown = await renova(['token', 'inspect', `TG-${unknownHex}-1`, '--db', db]);
    assert.equal(unknown.code, 1);
    for (const bad of [
      'garbage',
      'TG-zz-1',
      'APP_USR-1-2-3-4',
      `TG-${'0'.repeat(48)}-1`,
      'TG-\u0007\u001b[2J-1',
      'é'.repeat(300),
    ]) {
      const result = await renova(['token', 'inspect', bad, '--db', db]);
      assert.equal(result.code, 1, bad);
      assert.match(result.stderr, /^error: /, bad);
    }
    const oversized = await renova(['token', 'inspect', '-', '--db', db], 'x'.repeat(5000));
    assert.equal(oversized.code, 2);
    assert.match(oversized.stderr, /more than 1 KiB/);
    const empty = await renova(['token', 'inspect', '-', '--db', db], '');
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /stdin was empty/);
  });

  test('usage errors exit 2, failures 1, --help and --version 0, all messages on stderr', async () => {
    const usage: string[][] = [
      ['frobnicate'],
      ['user', 'list', '--limit', '0', '--db', db],
      ['user', 'list', '--limit', '1001', '--db', db],
      ['user', 'list', '--after', '-1', '--db', db],
      ['grant', 'list', '--client-id', '12', '--db', db],
      ['grant', 'list', '--user-id', '1e3', '--db', db],
      ['app', 'list', '--after', 'abc', '--db', db],
      ['app', 'show', '--db', db],
      ['user', 'show', '--db', db],
      ['user', 'show', '--id', '1', '--email', 'a@b.test', '--db', db],
      ['token', 'inspect'],
      ['user', 'list', '--nope'],
      ['app'],
    ];
    for (const args of usage) {
      const result = await renova(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.notEqual(result.stderr, '', args.join(' '));
    }
    const version = await renova(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    const help = await renova(['token', 'inspect', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /stdin/);
    assert.match(help.stdout, /ps/);
    const migrated = await json(['migrate', '--db', db]);
    assert.equal(migrated.migrated, true);
  });
});
