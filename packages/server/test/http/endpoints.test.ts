import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TemporarilyUnavailableError } from '../../src/core/errors.ts';
import {
  ADMIN_TOKEN,
  exchange,
  type Harness,
  harness,
  METRICS_TOKEN,
  postForm,
  postJson,
  refresh,
  type Seeded,
} from '../helpers/fixtures.ts';
import { storageFactories } from '../helpers/storages.ts';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

for (const factory of storageFactories) {
  describe(`revocation, introspection, metadata and users/me on ${factory.name}`, () => {
    let h: Harness;
    let s: Seeded;
    before(async () => {
      h = await harness(factory);
      s = await h.seed();
    });
    after(async () => h.close());

    const creds = () => ({ client_id: s.clientId, client_secret: s.clientSecret });

    test('GET /users/me describes the seller of a valid access token', async () => {
      const tokens = await exchange(h.app, s);
      const me = await h.app.inject({ url: '/users/me', headers: bearer(tokens.access_token) });
      assert.equal(me.statusCode, 200);
      const body = me.json();
      assert.equal(body.id, s.sellerId);
      assert.match(body.email, /^seller[0-9]+@example\.com$/);
      assert.equal(body.site_id, 'MLA');
      assert.equal(typeof body.nickname, 'string');
    });

    test('GET /users/me answers 401 invalid_token with a Bearer challenge for unknown tokens', async () => {
      for (const headers of [bearer('APP_USR-1-2-3-4'), {}]) {
        const me = await h.app.inject({ url: '/users/me', headers });
        assert.equal(me.statusCode, 401);
        assert.equal(me.json().error, 'invalid_token');
        assert.match(me.headers['www-authenticate'] as string, /^Bearer .*error="invalid_token"/);
      }
    });

    test('revoking an access token revokes it alone', async () => {
      const tokens = await exchange(h.app, s);
      const answer = await postForm(h.app, '/oauth/revoke', { ...creds(), token: tokens.access_token });
      assert.equal(answer.status, 200);
      assert.equal(
        (await h.app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })).statusCode,
        401,
      );
      assert.equal((await refresh(h.app, s, tokens.refresh_token)).status, 200);
    });

    test('revoking a refresh token revokes its family and the access tokens issued from it', async () => {
      const tokens = await exchange(h.app, s);
      const rotated = await refresh(h.app, s, tokens.refresh_token);
      const answer = await postForm(h.app, '/oauth/revoke', {
        ...creds(),
        token: rotated.body.refresh_token as string,
        token_type_hint: 'refresh_token',
      });
      assert.equal(answer.status, 200);
      for (const access of [tokens.access_token, rotated.body.access_token as string]) {
        assert.equal((await h.app.inject({ url: '/users/me', headers: bearer(access) })).statusCode, 401);
      }
      assert.equal(
        (await refresh(h.app, s, rotated.body.refresh_token as string)).body.error,
        'invalid_grant',
      );
    });

    test("answers 200 for unknown tokens and leaves another application's tokens alone", async () => {
      assert.equal((await postForm(h.app, '/oauth/revoke', { ...creds(), token: 'nonsense' })).status, 200);
      const other = await h.seed();
      const theirs = await exchange(h.app, other);
      assert.equal(
        (await postForm(h.app, '/oauth/revoke', { ...creds(), token: theirs.access_token })).status,
        200,
      );
      assert.equal(
        (await h.app.inject({ url: '/users/me', headers: bearer(theirs.access_token) })).statusCode,
        200,
      );
    });

    test('revocation requires client authentication and the token parameter', async () => {
      const noToken = await postForm(h.app, '/oauth/revoke', creds());
      assert.equal(noToken.status, 400);
      assert.equal(noToken.body.error, 'invalid_request');
      const wrong = await postForm(h.app, '/oauth/revoke', {
        client_id: s.clientId,
        client_secret: 'x',
        token: 'y',
      });
      assert.equal(wrong.body.error, 'invalid_client');
    });

    test('introspection describes active tokens of the calling application', async () => {
      const tokens = await exchange(h.app, s);
      const answer = await postJson(h.app, '/oauth/introspect', { ...creds(), token: tokens.access_token });
      assert.equal(answer.status, 200);
      const iat = Math.floor(h.clock.now() / 1000);
      assert.deepEqual(answer.body, {
        active: true,
        scope: 'offline_access read write',
        client_id: s.clientId,
        user_id: s.sellerId,
        token_type: 'Bearer',
        exp: iat + 15552000,
        iat,
        live_mode: true,
      });
      const refreshInfo = await postJson(h.app, '/oauth/introspect', {
        ...creds(),
        token: tokens.refresh_token,
      });
      assert.equal(refreshInfo.body.active, true);
      assert.equal(refreshInfo.body.token_type, 'refresh_token');
    });

    test("introspection says only active:false for revoked, rotated, unknown and other applications' tokens", async () => {
      const tokens = await exchange(h.app, s);
      await refresh(h.app, s, tokens.refresh_token);
      const other = await h.seed();
      const theirs = await exchange(h.app, other);
      for (const token of [tokens.refresh_token, 'garbage', theirs.access_token]) {
        const answer = await postJson(h.app, '/oauth/introspect', { ...creds(), token });
        assert.deepEqual(answer.body, { active: false });
      }
    });

    test('publishes RFC 8414 metadata', async () => {
      const answer = await h.app.inject({ url: '/.well-known/oauth-authorization-server' });
      assert.equal(answer.statusCode, 200);
      const body = answer.json();
      assert.equal(body.issuer, 'http://renova.test');
      assert.equal(body.token_endpoint, 'http://renova.test/oauth/token');
      assert.deepEqual(body.grant_types_supported, [
        'authorization_code',
        'refresh_token',
        'client_credentials',
      ]);
      assert.deepEqual(body.code_challenge_methods_supported, ['S256', 'plain']);
      assert.deepEqual(body.scopes_supported, ['offline_access', 'read', 'write']);
      assert.ok(body.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
    });

    test('health, readiness and Prometheus metrics answer', async () => {
      assert.deepEqual((await h.app.inject({ url: '/healthz' })).json(), { status: 'ok' });
      assert.deepEqual((await h.app.inject({ url: '/readyz' })).json(), { status: 'ready' });
      const metrics = await h.app.inject({
        url: '/metrics',
        headers: { authorization: `Bearer ${METRICS_TOKEN}` },
      });
      assert.equal(metrics.statusCode, 200);
      assert.match(
        metrics.body,
        /renova_token_requests_total\{grant_type="authorization_code",outcome="issued"\} [1-9]/,
      );
    });

    test('unknown routes get a JSON 404', async () => {
      const answer = await h.app.inject({ url: '/nope' });
      assert.equal(answer.statusCode, 404);
      assert.equal(answer.json().error, 'not_found');
    });
  });

  describe(`admin API on ${factory.name}`, () => {
    let h: Harness;
    before(async () => {
      h = await harness(factory);
    });
    after(async () => h.close());

    test('refuses calls without the admin token', async () => {
      const answer = await h.app.inject({
        method: 'POST',
        url: '/admin/users',
        payload: { email: 'a@b.test' },
      });
      assert.equal(answer.statusCode, 401);
      const wrong = await h.app.inject({
        method: 'POST',
        url: '/admin/users',
        headers: { authorization: 'Bearer nope' },
        payload: { email: 'a@b.test' },
      });
      assert.equal(wrong.statusCode, 401);
    });

    test('creates users and applications, rotates secrets, authorizes and revokes grants', async () => {
      const user = await h.app.inject({
        method: 'POST',
        url: '/admin/users',
        headers: admin,
        payload: { email: 'owner@admin.test', nickname: 'OWNER', site_id: 'MLB' },
      });
      assert.equal(user.statusCode, 201);
      assert.deepEqual(Object.keys(user.json()), ['id', 'email', 'nickname', 'site_id']);
      const seller = (
        await h.app.inject({
          method: 'POST',
          url: '/admin/users',
          headers: admin,
          payload: { email: 'seller@admin.test' },
        })
      ).json();
      const created = await h.app.inject({
        method: 'POST',
        url: '/admin/applications',
        headers: admin,
        payload: { name: 'Shop', owner_user_id: user.json().id, redirect_uris: ['https://shop.test/cb'] },
      });
      assert.equal(created.statusCode, 201);
      const app = created.json();
      assert.match(app.client_id, /^[1-9][0-9]{15}$/);
      assert.match(app.client_secret, /^[A-Za-z0-9]{32}$/);
      assert.deepEqual(app.scopes, ['offline_access', 'read', 'write']);
      assert.equal(app.pkce_required, false);
      assert.equal(app.notification_url, null);
      assert.match(app.webhook_secret, /^[0-9a-f]{64}$/);

      const authorized = await h.app.inject({
        method: 'POST',
        url: '/admin/authorizations',
        headers: admin,
        payload: { client_id: app.client_id, user_id: seller.id, scope: 'offline_access read' },
      });
      assert.equal(authorized.statusCode, 201);
      assert.equal(authorized.json().redirect_uri, 'https://shop.test/cb');
      const tokens = await postForm(h.app, '/oauth/token', {
        grant_type: 'authorization_code',
        client_id: app.client_id,
        client_secret: app.client_secret,
        code: authorized.json().code,
        redirect_uri: 'https://shop.test/cb',
      });
      assert.equal(tokens.body.scope, 'offline_access read');

      const rotated = await h.app.inject({
        method: 'POST',
        url: `/admin/applications/${app.client_id}/secret`,
        headers: admin,
        payload: { overlap_seconds: 0 },
      });
      assert.equal(rotated.statusCode, 200);
      assert.notEqual(rotated.json().client_secret, app.client_secret);

      const webhook = await h.app.inject({
        method: 'POST',
        url: `/admin/applications/${app.client_id}/webhook-secret`,
        headers: admin,
      });
      assert.equal(webhook.statusCode, 200);
      assert.match(webhook.json().webhook_secret, /^[0-9a-f]{64}$/);
      assert.notEqual(webhook.json().webhook_secret, app.webhook_secret);

      const revoked = await h.app.inject({
        method: 'DELETE',
        url: `/admin/grants/${app.client_id}/${seller.id}`,
        headers: admin,
      });
      assert.equal(revoked.statusCode, 204);
      const me = await h.app.inject({
        url: '/users/me',
        headers: bearer(tokens.body.access_token as string),
      });
      assert.equal(me.statusCode, 401);
      const again = await h.app.inject({
        method: 'DELETE',
        url: `/admin/grants/${app.client_id}/${seller.id}`,
        headers: admin,
      });
      assert.equal(again.statusCode, 404);
    });

    test('answers bad admin input with invalid_request that names the problem', async () => {
      const cases: [string, unknown, RegExp][] = [
        ['/admin/users', { email: 'not-an-email' }, /email/],
        ['/admin/users', {}, /email/],
        [
          '/admin/applications',
          { name: 'X', owner_user_id: 999999, redirect_uris: ['https://x.test'] },
          /owner user/,
        ],
        ['/admin/applications', { name: 'X', owner_user_id: 1, redirect_uris: ['ftp://x.test'] }, /https/],
        [
          '/admin/applications',
          { name: 'X', owner_user_id: 1, redirect_uris: ['https://x.test'], scopes: ['admin'] },
          /scope/,
        ],
        ['/admin/authorizations', { client_id: '1234567890123456', user_id: 1 }, /does not exist/],
      ];
      for (const [url, payload, message] of cases) {
        const answer = await h.app.inject({
          method: 'POST',
          url,
          headers: admin,
          payload: payload as object,
        });
        assert.ok([400, 404].includes(answer.statusCode), `${url} ${answer.body}`);
        assert.match(answer.json().message, message);
      }
      const badJson = await h.app.inject({
        method: 'POST',
        url: '/admin/users',
        headers: { ...admin, 'content-type': 'application/json' },
        payload: '{"email":',
      });
      assert.equal(badJson.statusCode, 400);
      assert.equal(badJson.json().error, 'invalid_request');
    });
  });

  describe(`storage outages on ${factory.name}`, () => {
    test('answer 503 temporarily_unavailable with Retry-After, and /readyz says unavailable', async () => {
      const h = await harness(factory);
      const s = await h.seed();
      const storage = h.services.storage;
      const original = storage.findApplication.bind(storage);
      const originalPing = storage.ping.bind(storage);
      const down = () =>
        Promise.reject(new TemporarilyUnavailableError('the token store is unavailable; retry shortly'));
      storage.findApplication = down;
      storage.ping = down;
      try {
        const answer = await postForm(h.app, '/oauth/token', {
          grant_type: 'client_credentials',
          client_id: s.clientId,
          client_secret: s.clientSecret,
        });
        assert.equal(answer.status, 503);
        assert.equal(answer.body.error, 'temporarily_unavailable');
        assert.equal(answer.headers['retry-after'], '1');
        assert.equal((await h.app.inject({ url: '/readyz' })).statusCode, 503);
      } finally {
        storage.findApplication = original;
        storage.ping = originalPing;
        await h.close();
      }
    });
  });
}

describe('admin API when RENOVA_ADMIN_TOKEN is not set', () => {
  test('is 404', async () => {
    const { buildApp } = await import('../../src/http/app.ts');
    const h = await harness(storageFactories[0] as (typeof storageFactories)[number]);
    const app = await buildApp(h.services, { issuer: 'http://x.test', logger: false });
    const answer = await app.inject({ method: 'POST', url: '/admin/users', payload: { email: 'a@b.test' } });
    assert.equal(answer.statusCode, 404);
    await app.close();
    await h.close();
  });
});

describe('client addresses behind a proxy', () => {
  test('X-Forwarded-For is believed only from a trusted proxy', async () => {
    const { loadConfig } = await import('../../src/config.ts');
    const trustProxyOf = (value: string | undefined) => loadConfig({ RENOVA_TRUST_PROXY: value }).trustProxy;
    assert.equal(trustProxyOf(undefined), false);
    assert.equal(trustProxyOf('true'), true);
    assert.equal(trustProxyOf('2'), 2);
    assert.deepEqual(trustProxyOf('10.0.0.1, 10.1.0.0/16'), ['10.0.0.1', '10.1.0.0/16']);
    const { buildApp } = await import('../../src/http/app.ts');
    const h = await harness(storageFactories[0] as (typeof storageFactories)[number]);
    const seen: string[] = [];
    for (const trustProxy of [false, ['127.0.0.1']]) {
      const app = await buildApp(h.services, { issuer: 'http://x.test', logger: false, trustProxy });
      app.get('/whoami', async (request) => request.ip);
      const answer = await app.inject({ url: '/whoami', headers: { 'x-forwarded-for': '203.0.113.7' } });
      seen.push(answer.body);
      await app.close();
    }
    assert.deepEqual(seen, ['127.0.0.1', '203.0.113.7']);
    await h.close();
  });
});
