import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
// The compiled CLI, as installed (`npm test` builds first, see scripts/setup.mjs).
const BIN = join(import.meta.dirname, '../../dist/cli/main.js');

/** Runs the CLI; resolves with exit code, stdout and stderr (never rejects on a non-zero exit). */
async function renova(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('renova CLI', () => {
  let dir: string;
  let db: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'renova-cli-'));
    db = join(dir, 'renova.db');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('migrates, creates users and an application, authorizes, rotates and revokes, printing JSON', async () => {
    assert.equal((await renova(['migrate', '--db', db])).code, 0);
    const owner = JSON.parse(
      (await renova(['user', 'create', '--email', 'owner@cli.test', '--db', db, '--json'])).stdout,
    );
    assert.deepEqual(Object.keys(owner), ['id', 'email', 'nickname', 'site_id']);
    // RENOVA_DB is the default when --db is absent.
    const seller = JSON.parse(
      (
        await renova(['user', 'create', '--email', 'seller@cli.test', '--site-id', 'MLB', '--json'], {
          RENOVA_DB: db,
        })
      ).stdout,
    );
    assert.equal(seller.site_id, 'MLB');
    const app = JSON.parse(
      (
        await renova([
          'app',
          'create',
          '--name',
          'CLI Shop',
          '--owner',
          String(owner.id),
          '--redirect-uri',
          'https://cli.test/cb',
          '--redirect-uri',
          'http://localhost:3000/cb',
          '--scope',
          'offline_access read',
          '--pkce-required',
          '--db',
          db,
          '--json',
        ])
      ).stdout,
    );
    assert.match(app.client_id, /^[0-9]{16}$/);
    assert.deepEqual(app.scopes, ['offline_access', 'read']);
    assert.equal(app.pkce_required, true);
    assert.deepEqual(app.redirect_uris, ['https://cli.test/cb', 'http://localhost:3000/cb']);

    const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
    const code = JSON.parse(
      (
        await renova([
          'authorize',
          '--client-id',
          app.client_id,
          '--user-id',
          String(seller.id),
          '--code-challenge',
          challenge,
          '--code-challenge-method',
          'S256',
          '--db',
          db,
          '--json',
        ])
      ).stdout,
    );
    assert.match(code.code, /^TG-1[0-9a-f]{47}-[0-9]+$/);
    assert.equal(code.redirect_uri, 'https://cli.test/cb');

    const rotated = JSON.parse(
      (
        await renova([
          'app',
          'rotate-secret',
          '--client-id',
          app.client_id,
          '--overlap',
          '1h',
          '--db',
          db,
          '--json',
        ])
      ).stdout,
    );
    assert.match(rotated.client_secret, /^[A-Za-z0-9]{32}$/);
    const webhook = JSON.parse(
      (await renova(['app', 'rotate-webhook-secret', '--client-id', app.client_id, '--db', db, '--json']))
        .stdout,
    );
    assert.match(webhook.webhook_secret, /^[0-9a-f]{64}$/);

    const revoked = await renova([
      'grant',
      'revoke',
      '--client-id',
      app.client_id,
      '--user-id',
      String(seller.id),
      '--db',
      db,
    ]);
    assert.equal(revoked.code, 0);
    assert.match(revoked.stdout, /revoked/);
    const again = await renova([
      'grant',
      'revoke',
      '--client-id',
      app.client_id,
      '--user-id',
      String(seller.id),
      '--db',
      db,
    ]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /no active authorization/);
  });

  test('refuses bad flags and values with a message and a non-zero exit', async () => {
    const cases: [string[], RegExp][] = [
      [['user', 'create', '--db', db], /required option '--email <email>'/],
      [['user', 'create', '--email', 'nope', '--db', db], /not a valid address/],
      [
        ['app', 'create', '--name', 'X', '--owner', 'abc', '--redirect-uri', 'https://x.test', '--db', db],
        /--owner must be a positive integer/,
      ],
      [
        ['app', 'create', '--name', 'X', '--owner', '1', '--redirect-uri', 'ftp://x.test', '--db', db],
        /https/,
      ],
      [['app', 'rotate-secret', '--client-id', '12', '--db', db], /16 digits/],
      [
        ['app', 'rotate-secret', '--client-id', '1234567890123456', '--overlap', 'soon', '--db', db],
        /duration/,
      ],
      [['authorize', '--client-id', '1234567890123456', '--user-id', '1', '--db', db], /does not exist/],
      [['serve', '--port', '99999', '--db', db], /port must be 0 to 65535/],
      [['frobnicate'], /unknown command/],
    ];
    for (const [args, message] of cases) {
      const result = await renova(args);
      assert.notEqual(result.code, 0, args.join(' '));
      assert.match(result.stderr, message, args.join(' '));
    }
  });
});
