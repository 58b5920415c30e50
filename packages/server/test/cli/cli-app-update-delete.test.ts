import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { openRuntime } from '../../src/runtime.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../dist/cli/main.js');

async function renova(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('renova app update and app delete', () => {
  let dir: string;
  let db: string;
  let app: { client_id: string; client_secret: string };
  let seller: { id: number };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'renova-cli-app-'));
    db = join(dir, 'renova.db');
    const owner = JSON.parse(
      (await renova(['user', 'create', '--email', 'o@app.test', '--db', db, '--json'])).stdout,
    );
    seller = JSON.parse(
      (await renova(['user', 'create', '--email', 's@app.test', '--db', db, '--json'])).stdout,
    );
    app = JSON.parse(
      (
        await renova([
          'app',
          'create',
          '--name',
          'Before',
          '--owner',
          String(owner.id),
          '--redirect-uri',
          'https://app.test/cb',
          '--db',
          db,
          '--json',
        ])
      ).stdout,
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('update changes only the fields given, and clears a notification URL with --no-notification-url', async () => {
    const updated = await renova([
      'app',
      'update',
      '--client-id',
      app.client_id,
      '--name',
      'After',
      '--redirect-uri',
      'https://app.test/one',
      '--redirect-uri',
      'https://app.test/two',
      '--scope',
      'offline_access read',
      '--pkce-required',
      'yes',
      '--db',
      db,
      '--json',
    ]);
    assert.equal(updated.code, 0, updated.stderr);
    const view = JSON.parse(updated.stdout);
    assert.equal(view.name, 'After');
    assert.deepEqual(view.redirect_uris, ['https://app.test/one', 'https://app.test/two']);
    assert.deepEqual(view.scopes, ['offline_access', 'read']);
    assert.equal(view.pkce_required, true);
    assert.deepEqual(view.grant_types, ['authorization_code', 'refresh_token', 'client_credentials']);
    const cleared = JSON.parse(
      (
        await renova([
          'app',
          'update',
          '--client-id',
          app.client_id,
          '--no-notification-url',
          '--db',
          db,
          '--json',
        ])
      ).stdout,
    );
    assert.equal(cleared.notification_url, null);
    assert.equal(cleared.name, 'After');
  });

  test('update refuses nothing-to-change (2), bad values (1, the API checks) and unknown applications (1)', async () => {
    const nothing = await renova(['app', 'update', '--client-id', app.client_id, '--db', db]);
    assert.equal(nothing.code, 2);
    assert.match(nothing.stderr, /nothing to change/);
    const badChoice = await renova([
      'app',
      'update',
      '--client-id',
      app.client_id,
      '--pkce-required',
      'maybe',
      '--db',
      db,
    ]);
    assert.equal(badChoice.code, 2);
    const badUri = await renova([
      'app',
      'update',
      '--client-id',
      app.client_id,
      '--redirect-uri',
      'ftp://x',
      '--db',
      db,
    ]);
    assert.equal(badUri.code, 1);
    assert.match(badUri.stderr, /^error: /);
    const badScope = await renova([
      'app',
      'update',
      '--client-id',
      app.client_id,
      '--scope',
      'admin',
      '--db',
      db,
    ]);
    assert.equal(badScope.code, 1);
    const unknown = await renova([
      'app',
      'update',
      '--client-id',
      '1234567890123456',
      '--name',
      'X',
      '--db',
      db,
    ]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /does not exist/);
  });

  test('delete needs --yes, then revokes the grants and tokens and the application is gone', async () => {
    const rt = await openRuntime(db, {});
    let accessToken: string;
    try {
      // The first test made PKCE required, with S256 (RFC 7636 §4.2).
      const verifier = 'v'.repeat(43);
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const { code } = await rt.services.consent.authorize({
        clientId: app.client_id,
        userId: seller.id,
        redirectUri: 'https://app.test/one',
        codeChallenge: challenge,
        codeChallengeMethod: 'S256',
      });
      const { response } = await rt.services.tokens.handle({
        params: {
          grant_type: 'authorization_code',
          code,
          redirect_uri: 'https://app.test/one',
          code_verifier: verifier,
          client_id: app.client_id,
          client_secret: app.client_secret,
        },
        authorization: undefined,
        remoteAddress: '127.0.0.1',
      });
      accessToken = response.access_token;
    } finally {
      await rt.close();
    }
    const unconfirmed = await renova(['app', 'delete', '--client-id', app.client_id, '--db', db]);
    assert.equal(unconfirmed.code, 2);
    assert.match(unconfirmed.stderr, /--yes/);
    assert.equal((await renova(['app', 'show', '--client-id', app.client_id, '--db', db])).code, 0);

    const deleted = await renova([
      'app',
      'delete',
      '--client-id',
      app.client_id,
      '--yes',
      '--db',
      db,
      '--json',
    ]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual(JSON.parse(deleted.stdout), { deleted: true, client_id: app.client_id });
    assert.equal((await renova(['app', 'show', '--client-id', app.client_id, '--db', db])).code, 1);
    assert.deepEqual(JSON.parse((await renova(['app', 'list', '--db', db, '--json'])).stdout), []);
    const grants = JSON.parse(
      (await renova(['grant', 'list', '--client-id', app.client_id, '--db', db, '--json'])).stdout,
    );
    assert.ok(grants.every((g: { status: string }) => g.status === 'revoked'));
    const token = JSON.parse((await renova(['token', 'inspect', accessToken, '--db', db, '--json'])).stdout);
    assert.equal(token.revoked, true);
    assert.equal(token.active, false);
    const again = await renova(['app', 'delete', '--client-id', app.client_id, '--yes', '--db', db]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /does not exist/);
  });
});
