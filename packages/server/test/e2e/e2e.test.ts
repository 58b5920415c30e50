import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MercadoPagoConfig, OAuth } from 'mercadopago';
import { ADMIN_TOKEN, type Harness, harness, type Seeded } from '../helpers/fixtures.ts';
import { storageFactories } from '../helpers/storages.ts';

// The official SDK has no base-URL option; its RestClient reads this static at call time.
const require = createRequire(import.meta.url);
const { AppConfig } = require('mercadopago/dist/utils/config') as { AppConfig: { BASE_URL: string } };

async function post(url: string, body: Record<string, unknown>) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

for (const factory of storageFactories) {
  describe(`end to end over HTTP on ${factory.name}`, () => {
    let h: Harness;
    let s: Seeded;
    let base: string;
    before(async () => {
      h = await harness(factory);
      s = await h.seed();
      base = await h.app.listen({ host: '127.0.0.1', port: 0 });
      AppConfig.BASE_URL = base;
    });
    after(async () => h.close());

    test('the official mercadopago SDK exchanges a code and refreshes unmodified', async () => {
      const oauth = new OAuth(new MercadoPagoConfig({ accessToken: 'APP_USR-integrator-own-token' }));
      const created = await oauth.create({
        body: {
          client_id: s.clientId,
          client_secret: s.clientSecret,
          code: await s.code(),
          redirect_uri: s.redirectUri,
        },
      });
      assert.equal(created.user_id, s.sellerId);
      assert.equal(created.live_mode, true);
      assert.match(created.refresh_token ?? '', /^TG-/);
      const refreshed = await oauth.refresh({
        body: { client_id: s.clientId, client_secret: s.clientSecret, refresh_token: created.refresh_token },
      });
      assert.notEqual(refreshed.refresh_token, created.refresh_token);
      assert.equal(refreshed.expires_in, 15552000);
      const me = await fetch(`${base}/users/me`, {
        headers: { authorization: `Bearer ${refreshed.access_token}` },
      });
      assert.equal(((await me.json()) as { id: number }).id, s.sellerId);
    });

    test('the official SDK surfaces invalid_grant as its bad-request error with our message', async () => {
      const oauth = new OAuth(
        new MercadoPagoConfig({ accessToken: 'x', options: { maxRetries: 0 } as object }),
      );
      await assert.rejects(
        oauth.refresh({
          body: { client_id: s.clientId, client_secret: s.clientSecret, refresh_token: 'TG-nope-1' },
        }),
        (error: { status?: number; error?: string; message?: string }) => {
          assert.equal(error.status, 400);
          assert.equal(error.error, 'invalid_grant');
          assert.match(error.message ?? '', /expired or it was already used/);
          return true;
        },
      );
    });

    test('50 concurrent refreshes of one token all get the same new pair; after the window it is reuse', async () => {
      const creds = { client_id: s.clientId, client_secret: s.clientSecret };
      const first = await post(`${base}/oauth/token`, {
        grant_type: 'authorization_code',
        ...creds,
        code: await s.code(),
        redirect_uri: s.redirectUri,
      });
      const refreshBody = { grant_type: 'refresh_token', ...creds, refresh_token: first.body.refresh_token };
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => post(`${base}/oauth/token`, refreshBody)),
      );
      assert.ok(answers.every((a) => a.status === 200));
      const pairs = new Set(answers.map((a) => `${a.body.access_token} ${a.body.refresh_token}`));
      assert.equal(pairs.size, 1);
      const next = answers[0]?.body;
      assert.ok(next);

      h.clock.advance(61_000);
      const late = await post(`${base}/oauth/token`, refreshBody);
      assert.equal(late.status, 400);
      assert.equal(late.body.error, 'invalid_grant');
      // Reuse revoked the family: the pair everyone received is dead too.
      const successor = await post(`${base}/oauth/token`, {
        ...refreshBody,
        refresh_token: next.refresh_token,
      });
      assert.equal(successor.body.error, 'invalid_grant');
      const me = await fetch(`${base}/users/me`, {
        headers: { authorization: `Bearer ${next.access_token}` },
      });
      assert.equal(me.status, 401);
    });
  });
}

/** Starts `renova serve` as a child process and resolves with its URL once it listens. */
function startServer(db: string, env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, '../../src/cli/main.ts'),
      'serve',
      '--port',
      '0',
      '--db',
      db,
    ],
    { env: { ...process.env, ...env, RENOVA_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /renova listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) resolve({ child, url: match[1] });
    });
    child.once('exit', (code) => reject(new Error(`renova exited with ${code} before listening: ${output}`)));
  });
}

describe('durability', () => {
  test('every token answered before a SIGKILL is valid after restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'renova-kill-'));
    const db = join(dir, 'renova.db');
    const env = { RENOVA_ADMIN_TOKEN: ADMIN_TOKEN };
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    try {
      let { child, url } = await startServer(db, env);
      const call = async (path: string, body: unknown) =>
        (
          await fetch(`${url}${path}`, { method: 'POST', headers: admin, body: JSON.stringify(body) })
        ).json() as Promise<Record<string, unknown>>;
      const owner = await call('/admin/users', { email: 'owner@kill.test' });
      const app = await call('/admin/applications', {
        name: 'Kill',
        owner_user_id: owner.id,
        redirect_uris: ['https://kill.test/cb'],
      });
      const creds = { client_id: app.client_id, client_secret: app.client_secret };
      // 40 sellers, each with a refresh chain, refreshing concurrently.
      const chains: string[] = [];
      for (let i = 0; i < 40; i++) {
        const seller = await call('/admin/users', { email: `seller${i}@kill.test` });
        const { code } = await call('/admin/authorizations', {
          client_id: app.client_id,
          user_id: seller.id,
        });
        const tokens = await post(`${url}/oauth/token`, {
          grant_type: 'authorization_code',
          ...creds,
          code,
          redirect_uri: 'https://kill.test/cb',
        });
        chains.push(tokens.body.refresh_token as string);
      }
      const answeredAccess: string[] = [];
      for (let round = 0; round < 5; round++) {
        const answers = await Promise.all(
          chains.map((token) =>
            post(`${url}/oauth/token`, { grant_type: 'refresh_token', ...creds, refresh_token: token }),
          ),
        );
        answers.forEach((a, i) => {
          assert.equal(a.status, 200);
          chains[i] = a.body.refresh_token as string;
          answeredAccess.push(a.body.access_token as string);
        });
      }
      // Power cut right after the last answers arrived.
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));

      ({ child, url } = await startServer(db, env));
      try {
        for (const access of answeredAccess.slice(-40)) {
          const me = await fetch(`${url}/users/me`, { headers: { authorization: `Bearer ${access}` } });
          assert.equal(me.status, 200);
        }
        for (const token of chains) {
          const next = await post(`${url}/oauth/token`, {
            grant_type: 'refresh_token',
            ...creds,
            refresh_token: token,
          });
          assert.equal(next.status, 200, JSON.stringify(next.body));
        }
      } finally {
        child.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
