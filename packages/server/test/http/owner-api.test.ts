import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { DEFAULT_LIFETIMES } from '../../src/core/config.ts';
import { buildApp } from '../../src/http/app.ts';
import { createServices, type Services } from '../../src/services.ts';
import { createdApplicationView } from '../../src/views.ts';
import { ADMIN_TOKEN, postForm, postJson, TestClock } from '../helpers/fixtures.ts';
import { storageFactories, type TestStorage } from '../helpers/storages.ts';

const REDIRECT = 'https://integrator.example.com/callback';

interface App {
  clientId: string;
  clientSecret: string;
  ownerId: number;
}

/** Services with a small test-user cap (3) and a hand-moved clock, and the in-process app. */
async function setup(factory: (typeof storageFactories)[number]) {
  const testStorage: TestStorage = await factory.create();
  const clock = new TestClock(Date.now());
  const services: Services = createServices({
    storage: testStorage.storage,
    serverKey: Buffer.alloc(32, 7),
    lifetimes: DEFAULT_LIFETIMES,
    clock,
    testUsersPerApplication: 3,
  });
  const app = await buildApp(services, {
    issuer: 'http://renova.test',
    adminToken: ADMIN_TOKEN,
    logger: false,
  });
  await app.ready();
  let n = 0;
  const newApp = async (notificationUrl?: string): Promise<App> => {
    n += 1;
    const owner = await services.accounts.createUser({ email: `owner${n}-${Date.now()}@example.com` });
    const created = createdApplicationView(
      await services.applications.create({
        name: `Owner app ${n}`,
        ownerUserId: owner.id,
        redirectUris: [REDIRECT],
        notificationUrl,
      }),
    );
    return { clientId: created.client_id, clientSecret: created.client_secret, ownerId: owner.id };
  };
  return { testStorage, clock, services, app, newApp };
}

async function ccToken(app: FastifyInstance, a: App, extra: Record<string, string> = {}): Promise<string> {
  const answer = await postForm(app, '/oauth/token', {
    grant_type: 'client_credentials',
    client_id: a.clientId,
    client_secret: a.clientSecret,
    ...extra,
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.access_token as string;
}

/** The seller consents to the application, which exchanges the code: the usual start of a grant. */
async function consentAndExchange(s: Awaited<ReturnType<typeof setup>>, a: App, userId: number) {
  const { code } = await s.services.consent.authorize({ clientId: a.clientId, userId });
  return postForm(s.app, '/oauth/token', {
    grant_type: 'authorization_code',
    client_id: a.clientId,
    client_secret: a.clientSecret,
    code,
    redirect_uri: REDIRECT,
  });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function createTestUser(
  app: FastifyInstance,
  token: string,
  body: unknown = { site_id: 'MLA', description: 'qa' },
) {
  return postJson(app, '/users/test_user', body, bearer(token));
}

/** Signs in on the consent page, approves, and returns the code (a browser's steps, in process). */
async function consentAs(app: FastifyInstance, a: App, email: string, password: string): Promise<string> {
  const authorization = `/authorization?${new URLSearchParams({
    client_id: a.clientId,
    response_type: 'code',
    redirect_uri: REDIRECT,
    state: 's1',
  })}`;
  const cookieOf = (headers: Record<string, unknown>) => {
    const raw = headers['set-cookie'];
    const all = Array.isArray(raw) ? raw : raw === undefined ? [] : [String(raw)];
    return all.find((c: string) => /^(__Host-)?renova_session=/.test(c))?.split(';')[0] as string;
  };
  const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
  const page = await app.inject({ url: authorization });
  const login = await app.inject({
    method: 'POST',
    url: '/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieOf(page.headers) },
    payload: new URLSearchParams({
      csrf: csrfOf(page.body),
      email,
      password,
      next: authorization,
    }).toString(),
  });
  const cookie = cookieOf(login.headers);
  assert.ok(cookie, `sign-in failed: ${login.statusCode}`);
  const consent = await app.inject({ url: authorization, headers: { cookie } });
  const approved = await app.inject({
    method: 'POST',
    url: authorization,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    payload: new URLSearchParams({ decision: 'allow', csrf: csrfOf(consent.body) }).toString(),
  });
  assert.equal(approved.statusCode, 302);
  return new URL(String(approved.headers.location)).searchParams.get('code') as string;
}

for (const factory of storageFactories) {
  describe(`application-owner API on ${factory.name}`, () => {
    let s: Awaited<ReturnType<typeof setup>>;
    before(async () => {
      s = await setup(factory);
    });
    after(async () => {
      await s.app.close();
      await s.testStorage.cleanup();
    });

    test('a test user is created with the application token, signs in on the consent page and gets TEST- tokens', async () => {
      const a = await s.newApp();
      const token = await ccToken(s.app, a);
      const created = await createTestUser(s.app, token, { site_id: 'MLB', description: 'checkout QA' });
      assert.equal(created.status, 201);
      assert.equal(created.headers['cache-control'], 'no-store');
      assert.deepEqual(Object.keys(created.body).sort(), [
        'email',
        'id',
        'nickname',
        'password',
        'site_id',
        'site_status',
      ]);
      assert.equal(created.body.site_id, 'MLB');
      assert.equal(created.body.site_status, 'active');
      assert.match(String(created.body.nickname), /^TESTUSER[0-9]{12}$/);
      assert.match(String(created.body.email), /^test_user_[0-9]{12}@testuser\.com$/);
      assert.match(String(created.body.password), /^[A-Za-z0-9]{16}$/);
      // Only a hash of the password is stored.
      const stored = await s.services.storage.findUserById(created.body.id as number);
      assert.notEqual(stored?.passwordHash, created.body.password);
      assert.equal(stored?.testOfClientId, a.clientId);

      const code = await consentAs(s.app, a, String(created.body.email), String(created.body.password));
      const tokens = await postForm(s.app, '/oauth/token', {
        grant_type: 'authorization_code',
        client_id: a.clientId,
        client_secret: a.clientSecret,
        code,
        redirect_uri: REDIRECT,
        test_token: 'true',
      });
      assert.equal(tokens.status, 200);
      assert.equal(tokens.body.user_id, created.body.id);
      assert.equal(tokens.body.live_mode, false);
      assert.match(String(tokens.body.access_token), /^TEST-/);
      assert.match(String(tokens.body.public_key), /^TEST-/);

      const sellers = await s.app.inject({
        url: `/applications/${a.clientId}/grants`,
        headers: bearer(token),
      });
      assert.equal(sellers.statusCode, 200);
      const body = sellers.json();
      assert.deepEqual(body.paging, { total: 1, limit: 50, next_cursor: null, real_users: 0, test_users: 1 });
      assert.equal(body.results[0].user_id, created.body.id);
      assert.equal(body.results[0].test_user, true);
      assert.equal(typeof body.results[0].date_created, 'string');
      assert.equal(body.results[0].last_used, null);

      const listed = await s.app.inject({
        url: `/admin/applications/${a.clientId}/test_users`,
        headers: bearer(ADMIN_TOKEN),
      });
      assert.equal(listed.statusCode, 200);
      assert.equal(listed.json().results.length, 1);
      assert.equal(listed.json().results[0].description, 'checkout QA');
      assert.equal(listed.json().results[0].password, undefined);
    });

    test('client_credentials with test_token=true gives a TEST- token that works on the owner API', async () => {
      const a = await s.newApp();
      const answer = await postForm(s.app, '/oauth/token', {
        grant_type: 'client_credentials',
        client_id: a.clientId,
        client_secret: a.clientSecret,
        test_token: 'true',
      });
      assert.equal(answer.body.live_mode, false);
      assert.match(String(answer.body.access_token), /^TEST-/);
      const created = await createTestUser(s.app, answer.body.access_token as string);
      assert.equal(created.status, 201);
    });

    test('test users are capped per application, also under concurrent requests', async () => {
      const a = await s.newApp();
      const token = await ccToken(s.app, a);
      const answers = await Promise.all(Array.from({ length: 6 }, () => createTestUser(s.app, token)));
      assert.equal(answers.filter((r) => r.status === 201).length, 3);
      const refused = answers.filter((r) => r.status !== 201);
      assert.ok(refused.every((r) => r.status === 400 && r.body.error === 'invalid_request'));
      assert.match(String(refused[0]?.body.message), /already has 3 test users/);
      // Another application has its own cap.
      const b = await s.newApp();
      assert.equal((await createTestUser(s.app, await ccToken(s.app, b))).status, 201);
    });

    test('POST /users/test_user refuses bad bodies with invalid_request, never a 500', async () => {
      const a = await s.newApp();
      const token = await ccToken(s.app, a);
      const cases: [string, unknown, Record<string, string>?][] = [
        ['unknown site', { site_id: 'XXX' }],
        ['lower-case site', { site_id: 'mla' }],
        ['missing site', { description: 'x' }],
        ['number site', { site_id: 5 }],
        ['array site', { site_id: ['MLA'] }],
        ['object description', { site_id: 'MLA', description: { a: 1 } }],
        ['huge description', { site_id: 'MLA', description: 'x'.repeat(256) }],
        ['control characters', { site_id: 'MLA', description: 'a\u0000b' }],
        ['newline in site', { site_id: 'ML\nA' }],
        ['not an object', '[1,2]'],
        ['not JSON', '{"site_id":'],
        ['duplicate keys', '{"site_id":"MLA","site_id":"XXX"}'],
        ['form body', 'site_id=MLA', { 'content-type': 'application/x-www-form-urlencoded' }],
        ['empty body', ''],
      ];
      for (const [name, body, headers] of cases) {
        const answer = await s.app.inject({
          method: 'POST',
          url: '/users/test_user',
          headers: { 'content-type': 'application/json', ...bearer(token), ...headers },
          payload: typeof body === 'string' ? body : JSON.stringify(body),
        });
        assert.equal(answer.statusCode, 400, `${name}: ${answer.body}`);
        assert.equal(answer.json().error, 'invalid_request', name);
        assert.equal(answer.json().status, 400, name);
      }
      const oversize = await s.app.inject({
        method: 'POST',
        url: '/users/test_user',
        headers: { 'content-type': 'application/json', ...bearer(token) },
        payload: JSON.stringify({ site_id: 'MLA', description: 'x'.repeat(20_000) }),
      });
      assert.equal(oversize.statusCode, 413);
      assert.equal(oversize.json().error, 'invalid_request');
      // Nothing was created by any of them.
      assert.deepEqual(await s.services.storage.listTestUsers(a.clientId), []);
    });

    test('the owner API answers 401 with a Bearer challenge for no, bad, expired or revoked tokens', async () => {
      const a = await s.newApp();
      const urls = [
        ['POST', '/users/test_user'],
        ['GET', `/applications/${a.clientId}/grants`],
        ['DELETE', `/applications/${a.clientId}/grants/1`],
      ] as const;
      const revoked = await ccToken(s.app, a);
      await postForm(s.app, '/oauth/revoke', {
        token: revoked,
        client_id: a.clientId,
        client_secret: a.clientSecret,
      });
      const expired = await ccToken(s.app, a);
      const headerSets: (Record<string, string> | undefined)[] = [
        undefined,
        { authorization: 'Bearer' },
        { authorization: 'Basic abc' },
        { authorization: 'Bearer APP_USR-garbage' },
        { authorization: `Bearer ${'A'.repeat(4000)}` },
        bearer(revoked),
      ];
      for (const [method, url] of urls) {
        for (const headers of headerSets) {
          const answer = await s.app.inject({
            method,
            url,
            headers: { 'content-type': 'application/json', ...headers },
            payload: method === 'POST' ? '{"site_id":"MLA"}' : undefined,
          });
          assert.equal(answer.statusCode, 401, `${method} ${url} ${JSON.stringify(headers)?.slice(0, 60)}`);
          assert.equal(answer.json().error, 'invalid_token');
          assert.match(String(answer.headers['www-authenticate']), /^Bearer .*error="invalid_token"/);
        }
      }
      s.clock.advance(DEFAULT_LIFETIMES.clientCredentialsTokenSeconds * 1000 + 1);
      const late = await s.app.inject({
        url: `/applications/${a.clientId}/grants`,
        headers: bearer(expired),
      });
      assert.equal(late.statusCode, 401);
    });

    test("a seller's token, or another application's token, is 403 insufficient_scope", async () => {
      const a = await s.newApp();
      const b = await s.newApp();
      const seller = await s.services.accounts.createUser({ email: `seller-${Date.now()}@example.com` });
      const { code } = await s.services.consent.authorize({ clientId: a.clientId, userId: seller.id });
      const userToken = await postForm(s.app, '/oauth/token', {
        grant_type: 'authorization_code',
        client_id: a.clientId,
        client_secret: a.clientSecret,
        code,
        redirect_uri: REDIRECT,
      });
      const sellerToken = userToken.body.access_token as string;
      const tokenOfB = await ccToken(s.app, b);
      const cases: [string, string, string][] = [
        ['GET', `/applications/${a.clientId}/grants`, sellerToken],
        ['POST', '/users/test_user', sellerToken],
        ['GET', `/applications/${a.clientId}/grants`, tokenOfB],
        ['DELETE', `/applications/${a.clientId}/grants/${seller.id}`, tokenOfB],
      ];
      for (const [method, url, token] of cases) {
        const answer = await s.app.inject({
          method,
          url,
          headers: { 'content-type': 'application/json', ...bearer(token) },
          payload: method === 'POST' ? '{"site_id":"MLA"}' : undefined,
        });
        assert.equal(answer.statusCode, 403, `${method} ${url}`);
        assert.equal(answer.json().error, 'insufficient_scope');
        assert.match(String(answer.headers['www-authenticate']), /error="insufficient_scope"/);
      }
      // The seller's grant survived B's attempt.
      assert.equal((await s.services.storage.findGrant(a.clientId, seller.id))?.revokedAt, null);
    });

    test('path ids are checked before use: malformed or encoded client and user ids are 400, never echoed', async () => {
      const a = await s.newApp();
      const token = await ccToken(s.app, a);
      for (const id of [
        'abc',
        '123',
        `${a.clientId}0`,
        encodeURIComponent(`${a.clientId}\n`),
        'x'.repeat(60),
      ]) {
        const answer = await s.app.inject({ url: `/applications/${id}/grants`, headers: bearer(token) });
        assert.equal(answer.statusCode, 400, `${id}: ${answer.body}`);
        assert.equal(answer.json().error, 'invalid_request');
        assert.doesNotMatch(answer.json().message, /xxxxxxxx/);
      }
      // Dot segments are resolved before routing; an over-long segment is refused by the router (414).
      const dots = await s.app.inject({ url: '/applications/%2e%2e/grants', headers: bearer(token) });
      assert.equal(dots.statusCode, 404);
      const long = await s.app.inject({
        url: `/applications/${'x'.repeat(90)}/grants`,
        headers: bearer(token),
      });
      assert.equal(long.statusCode, 414);
      assert.equal(long.json().status, 414);
      assert.doesNotMatch(long.body, /xxxxxxxxxxxx/);
      // Percent-encoded digits decode to the caller's own id: the router matches the decoded path.
      const encoded = [...a.clientId].map((c) => `%3${c}`).join('');
      assert.equal(
        (await s.app.inject({ url: `/applications/${encoded}/grants`, headers: bearer(token) })).statusCode,
        200,
      );
      for (const userId of ['0', '-1', 'abc', '1e3', '99999999999999999', '1.5', '%20']) {
        const answer = await s.app.inject({
          method: 'DELETE',
          url: `/applications/${a.clientId}/grants/${userId}`,
          headers: bearer(token),
        });
        assert.equal(answer.statusCode, 400, userId);
      }
      const none = await s.app.inject({
        method: 'DELETE',
        url: `/applications/${a.clientId}/grants/424242`,
        headers: bearer(token),
      });
      assert.equal(none.statusCode, 404);
    });

    test('GET /applications/{id}/grants pages with a cursor, searches, and refuses bad query values', async () => {
      const a = await s.newApp();
      const token = await ccToken(s.app, a);
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) {
        const seller = await s.services.accounts.createUser({
          email: `pg${i}-${Date.now()}@example.com`,
          nickname: `Shop_${i}`,
        });
        ids.push(seller.id);
        await s.services.consent.authorize({ clientId: a.clientId, userId: seller.id });
      }
      const get = (query: string) =>
        s.app.inject({ url: `/applications/${a.clientId}/grants?${query}`, headers: bearer(token) });
      const first = (await get('limit=2')).json();
      assert.equal(first.paging.total, 5);
      assert.equal(first.results.length, 2);
      assert.equal(typeof first.paging.next_cursor, 'string');
      const second = (await get(`limit=2&cursor=${first.paging.next_cursor}`)).json();
      const third = (await get(`limit=2&cursor=${second.paging.next_cursor}`)).json();
      assert.equal(third.paging.next_cursor, null);
      assert.deepEqual(
        [...first.results, ...second.results, ...third.results].map((r: { user_id: number }) => r.user_id),
        [...ids].reverse(),
      );
      assert.deepEqual(
        (await get('search=shop_3')).json().results.map((r: { user_id: number }) => r.user_id),
        [ids[3]],
      );
      assert.equal((await get('search=%25')).json().paging.total, 0);
      assert.equal((await get(`search=${ids[1]}`)).json().results[0].user_id, ids[1]);
      assert.equal((await get('test_users=true')).json().paging.total, 0);
      for (const bad of [
        'limit=0',
        'limit=101',
        'limit=abc',
        'limit=1&limit=2',
        'cursor=abc',
        'cursor=-1',
        'test_users=yes',
        `search=${'a'.repeat(200)}`,
        'search=%00',
      ]) {
        const answer = await get(bad);
        assert.equal(answer.statusCode, 400, bad);
        assert.equal(answer.json().error, 'invalid_request', bad);
      }
    });

    test('DELETE /applications/{id}/grants/{user} revokes the seller, their tokens, and queues application.deauthorized', async () => {
      const a = await s.newApp('https://hooks.example.com/renova');
      const token = await ccToken(s.app, a);
      const seller = await s.services.accounts.createUser({ email: `rev-${Date.now()}@example.com` });
      const issued = await consentAndExchange(s, a, seller.id);
      const me = () =>
        s.app.inject({ url: '/users/me', headers: bearer(issued.body.access_token as string) });
      assert.equal((await me()).statusCode, 200);
      const revoked = await s.app.inject({
        method: 'DELETE',
        url: `/applications/${a.clientId}/grants/${seller.id}`,
        headers: bearer(token),
      });
      assert.equal(revoked.statusCode, 204);
      assert.equal((await me()).statusCode, 401);
      const events = await s.services.storage.listWebhookEvents({ clientId: a.clientId, limit: 10 });
      assert.deepEqual(
        events.map((e) => [e.action, e.userId]),
        [
          ['application.deauthorized', seller.id],
          ['application.authorized', seller.id],
        ],
      );
      const again = await s.app.inject({
        method: 'DELETE',
        url: `/applications/${a.clientId}/grants/${seller.id}`,
        headers: bearer(token),
      });
      assert.equal(again.statusCode, 404);
    });

    test('a deleted application is unknown everywhere: its tokens are 401, introspection inactive, its client_id refused', async () => {
      const a = await s.newApp();
      const other = await s.newApp();
      const cc = await ccToken(s.app, a);
      const seller = await s.services.accounts.createUser({ email: `del-${Date.now()}@example.com` });
      const issued = await consentAndExchange(s, a, seller.id);
      const deleted = await s.app.inject({
        method: 'DELETE',
        url: `/admin/applications/${a.clientId}`,
        headers: bearer(ADMIN_TOKEN),
      });
      assert.equal(deleted.statusCode, 204);
      for (const token of [issued.body.access_token as string, cc]) {
        assert.equal((await s.app.inject({ url: '/users/me', headers: bearer(token) })).statusCode, 401);
        const introspected = await postForm(s.app, '/oauth/introspect', {
          token,
          client_id: other.clientId,
          client_secret: other.clientSecret,
        });
        assert.deepEqual(introspected.body, { active: false });
      }
      assert.equal(
        (await s.app.inject({ url: `/applications/${a.clientId}/grants`, headers: bearer(cc) })).statusCode,
        401,
      );
      const token = await postForm(s.app, '/oauth/token', {
        grant_type: 'client_credentials',
        client_id: a.clientId,
        client_secret: a.clientSecret,
      });
      assert.equal(token.body.error, 'invalid_client');
      const refreshed = await postForm(s.app, '/oauth/token', {
        grant_type: 'refresh_token',
        client_id: a.clientId,
        client_secret: a.clientSecret,
        refresh_token: issued.body.refresh_token as string,
      });
      assert.equal(refreshed.body.error, 'invalid_client');
      for (const url of [
        `/admin/applications/${a.clientId}/grants`,
        `/admin/applications/${a.clientId}/test_users`,
      ]) {
        const answer = await s.app.inject({ url, headers: bearer(ADMIN_TOKEN) });
        assert.equal(answer.statusCode, 404, url);
      }
      const twice = await s.app.inject({
        method: 'DELETE',
        url: `/admin/applications/${a.clientId}`,
        headers: bearer(ADMIN_TOKEN),
      });
      assert.equal(twice.statusCode, 404);
    });

    test('PATCH /admin/applications changes any field and reports every invalid field at once', async () => {
      const a = await s.newApp();
      const patch = (body: unknown) =>
        s.app.inject({
          method: 'PATCH',
          url: `/admin/applications/${a.clientId}`,
          headers: { 'content-type': 'application/json', ...bearer(ADMIN_TOKEN) },
          payload: JSON.stringify(body),
        });
      const changed = await patch({
        name: 'Renamed',
        description: 'Line one\nline two',
        logo_url: 'https://cdn.example.com/logo.png',
        redirect_uris: ['https://new.example.com/cb'],
        scopes: ['read', 'offline_access'],
        pkce_required: true,
        notification_url: 'https://hooks.example.com/x',
      });
      assert.equal(changed.statusCode, 200);
      assert.deepEqual(
        { ...(changed.json() as Record<string, unknown>), client_id: undefined, owner_user_id: undefined },
        {
          client_id: undefined,
          owner_user_id: undefined,
          name: 'Renamed',
          description: 'Line one\nline two',
          logo_url: 'https://cdn.example.com/logo.png',
          redirect_uris: ['https://new.example.com/cb'],
          scopes: ['offline_access', 'read'],
          pkce_required: true,
          notification_url: 'https://hooks.example.com/x',
          grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        },
      );
      const bad = await patch({
        name: '',
        logo_url: 'http://cdn.example.com/logo.png',
        redirect_uris: ['https://x.example.com/cb#frag'],
        description: 'x'.repeat(1001),
      });
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json().error, 'invalid_request');
      for (const part of [
        /name must be/,
        /logo_url must use https/,
        /fragment/,
        /description must be at most 1000/,
      ]) {
        assert.match(bad.json().message, part);
      }
      for (const body of [
        {},
        { unknown: 1 },
        { name: {} },
        { pkce_required: 'yes' },
        { logo_url: 'javascript:alert(1)' },
      ]) {
        assert.equal((await patch(body)).statusCode, 400, JSON.stringify(body));
      }
      // Nothing of the refused patches was applied.
      assert.equal((await s.services.storage.findApplication(a.clientId))?.name, 'Renamed');
    });

    test('last_used is written at most once an hour per grant, in batches off the request path', async () => {
      // Uses queued by the tests above are written first.
      await s.services.grantUse.flush();
      const a = await s.newApp();
      const seller = await s.services.accounts.createUser({ email: `lu-${Date.now()}@example.com` });
      const issued = await consentAndExchange(s, a, seller.id);
      const exchangedAt = s.clock.now();
      const lastUsed = async () => (await s.services.storage.findGrant(a.clientId, seller.id))?.lastUsedAt;
      // Nothing is written by the request itself.
      assert.equal(await lastUsed(), null);
      assert.equal(s.services.grantUse.pending, 1);
      await s.services.grantUse.flush();
      assert.equal(await lastUsed(), exchangedAt);

      // Used again and again within the hour: not even queued.
      s.clock.advance(30 * 60_000);
      const refreshed = await postForm(s.app, '/oauth/token', {
        grant_type: 'refresh_token',
        client_id: a.clientId,
        client_secret: a.clientSecret,
        refresh_token: issued.body.refresh_token as string,
      });
      assert.equal(refreshed.status, 200);
      for (let i = 0; i < 5; i++) {
        assert.equal(
          (await s.app.inject({ url: '/users/me', headers: bearer(refreshed.body.access_token as string) }))
            .statusCode,
          200,
        );
      }
      assert.equal(s.services.grantUse.pending, 0);
      await s.services.grantUse.flush();
      assert.equal(await lastUsed(), exchangedAt);

      // Past the hour, a bearer call counts.
      s.clock.advance(31 * 60_000);
      await s.app.inject({ url: '/users/me', headers: bearer(refreshed.body.access_token as string) });
      assert.equal(s.services.grantUse.pending, 1);
      await s.services.grantUse.flush();
      assert.equal(await lastUsed(), s.clock.now());
      // The owner sees it.
      const sellers = await s.app.inject({
        url: `/applications/${a.clientId}/grants`,
        headers: bearer(await ccToken(s.app, a)),
      });
      assert.equal(sellers.json().results[0].last_used, new Date(s.clock.now()).toISOString());
      // client_credentials tokens are not a seller's grant: they never count.
      assert.equal(s.services.grantUse.pending, 0);
    });
  });
}
