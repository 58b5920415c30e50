import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import Fastify, { type FastifyInstance } from 'fastify';
import { TemporarilyUnavailableError } from '../../src/core/errors.ts';
import { InProcessRateLimiter } from '../../src/core/rate-limit.ts';
import { buildAdminApp, buildApp } from '../../src/http/app.ts';
import { createMetrics } from '../../src/http/metrics.ts';
import { openApiDocument } from '../../src/http/openapi.ts';
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
import { attachOpenApiRecorder } from '../helpers/openapi-recorder.ts';
import { sqliteFactory } from '../helpers/storages.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const cookieOf = (headers: Record<string, unknown>) => {
  const raw = headers['set-cookie'];
  const all = Array.isArray(raw) ? raw : raw === undefined ? [] : [String(raw)];
  return all.find((c: string) => c.startsWith('renova_session='))?.split(';')[0] ?? '';
};
const paths = (document: { paths: Record<string, unknown> }) => Object.keys(document.paths);

async function validOpenApi(document: unknown) {
  const result = await new Validator().validate(structuredClone(document) as Record<string, unknown>);
  assert.equal(result.valid, true, JSON.stringify(result.errors));
}

describe('GET /openapi.json', () => {
  let h: Harness;
  before(async () => {
    h = await harness(sqliteFactory);
  });
  after(async () => h.close());

  test('serves a valid OpenAPI 3.1 document, public and cacheable', async () => {
    const answer = await h.app.inject({ url: '/openapi.json' });
    assert.equal(answer.statusCode, 200);
    assert.match(String(answer.headers['content-type']), /^application\/json/);
    assert.equal(answer.headers['cache-control'], 'public, max-age=300');
    const document = answer.json();
    assert.equal(document.openapi, '3.1.0');
    await validOpenApi(document);
    // Every variant of the document is valid, not only the harness's.
    for (const admin of [true, false])
      for (const metrics of [true, false])
        for (const publicApi of [true, false])
          for (const demo of [true, false])
            await validOpenApi(openApiDocument({ admin, metrics, publicApi, demo }));
  });

  test('ignores a query string and answers HEAD without a body', async () => {
    const plain = await h.app.inject({ url: '/openapi.json' });
    const odd = await h.app.inject({ url: '/openapi.json?x=%3Cscript%3E&x=%00&admin=true' });
    assert.equal(odd.statusCode, 200);
    assert.equal(odd.body, plain.body);
    const head = await h.app.inject({ method: 'HEAD', url: '/openapi.json' });
    assert.equal(head.statusCode, 200);
    assert.equal(head.body, '');
    assert.equal((await h.app.inject({ method: 'POST', url: '/openapi.json', payload: {} })).statusCode, 404);
  });

  test('documents the endpoints being built alongside (CONTRACT §4.4, §4.5)', async () => {
    const document = (await h.app.inject({ url: '/openapi.json' })).json();
    for (const path of [
      '/users/test_user',
      '/applications/{client_id}/grants',
      '/applications/{client_id}/grants/{user_id}',
      '/admin/audit',
      '/admin/applications/{client_id}',
      '/admin/applications/{client_id}/grants',
      '/developers',
    ])
      assert.ok(document.paths[path], path);
    assert.ok(document.paths['/admin/applications/{client_id}'].patch);
    assert.ok(document.paths['/admin/applications/{client_id}'].delete);
    assert.ok(document.paths['/developers'].get.responses['200'].content['text/html']);
  });

  test('names the security schemes of each kind of caller', async () => {
    const document = (await h.app.inject({ url: '/openapi.json' })).json();
    assert.deepEqual(Object.keys(document.components.securitySchemes).sort(), [
      'admin_bearer',
      'client_secret_basic',
      'client_secret_post',
      'metrics_bearer',
      'owner_bearer',
      'seller_session',
      'user_bearer',
    ]);
    // client_secret_post credentials are body fields: the empty requirement beside Basic.
    assert.deepEqual(document.paths['/oauth/token'].post.security, [{ client_secret_basic: [] }, {}]);
    assert.equal(
      document.components.securitySchemes.client_secret_post.flows.clientCredentials.tokenUrl,
      '/oauth/token',
    );
    assert.ok(document.components.schemas.TokenRequest.properties.client_secret);
    assert.ok(document.paths['/oauth/token'].post.requestBody.content['application/x-www-form-urlencoded']);
    assert.deepEqual(document.paths['/users/me'].get.security, [{ user_bearer: [] }]);
    assert.deepEqual(document.paths['/admin/users'].post.security, [{ admin_bearer: [] }]);
    assert.deepEqual(document.paths['/users/test_user'].post.security, [{ owner_bearer: [] }]);
  });

  test('lists the admin API only on the listener that registers it', async () => {
    const services = h.services;
    const metrics = createMetrics();
    const noAdmin = await buildApp(services, { issuer: 'http://x.test', logger: false });
    const separate = await buildApp(services, {
      issuer: 'http://x.test',
      logger: false,
      adminToken: ADMIN_TOKEN,
      adminListener: 'separate',
      metrics,
    });
    const adminApp = await buildAdminApp(services, { adminToken: ADMIN_TOKEN, logger: false, metrics });
    try {
      for (const app of [noAdmin, separate]) {
        const listed = paths((await app.inject({ url: '/openapi.json' })).json());
        assert.ok(listed.includes('/oauth/token'));
        assert.ok(!listed.some((p) => p.startsWith('/admin')), listed.join(' '));
        // /metrics is not served on the public listener without RENOVA_METRICS_TOKEN.
        assert.ok(!listed.includes('/metrics'));
      }
      const ofAdmin = (await adminApp.inject({ url: '/openapi.json' })).json();
      await validOpenApi(ofAdmin);
      const listed = paths(ofAdmin);
      assert.ok(
        listed.includes('/admin/users') && listed.includes('/metrics') && listed.includes('/healthz'),
      );
      assert.ok(!listed.includes('/oauth/token'), listed.join(' '));
      // The document is public even where the admin API is: it holds no secret.
      assert.equal((await adminApp.inject({ url: '/openapi.json' })).statusCode, 200);
    } finally {
      await Promise.all([noAdmin.close(), separate.close(), adminApp.close()]);
    }
  });
});

describe('the admin listener through the drift recorder', () => {
  test('its document describes every answer it gives', async () => {
    const h = await harness(sqliteFactory);
    const app = await buildAdminApp(h.services, {
      adminToken: ADMIN_TOKEN,
      logger: false,
      metrics: createMetrics(),
      metricsToken: METRICS_TOKEN,
    });
    const recorder = attachOpenApiRecorder(app);
    try {
      await app.ready();
      await recorder.load(app);
      assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
      assert.equal((await app.inject({ url: '/metrics', headers: bearer(METRICS_TOKEN) })).statusCode, 200);
      assert.equal((await app.inject({ url: '/metrics' })).statusCode, 401);
      const user = await postJson(app, '/admin/users', { email: 'admin-listener@example.com' }, admin);
      assert.equal(user.status, 201);
      assert.equal((await postJson(app, '/admin/users', { email: 'x@y.test' })).status, 401);
      // The public endpoints are not on this listener, and not in its document.
      assert.equal((await postForm(app, '/oauth/token', { grant_type: 'client_credentials' })).status, 404);
      assert.equal((await app.inject({ url: '/readyz' })).statusCode, 404);
      assert.ok(recorder.checked >= 6);
      assert.deepEqual(recorder.violations, []);
    } finally {
      await app.close();
      await h.close();
    }
  });
});

describe('the drift recorder', () => {
  test('fails on an undocumented route, an undocumented status and a body off its schema', async () => {
    const app: FastifyInstance = Fastify();
    const document = JSON.stringify(
      openApiDocument({ admin: false, metrics: false, publicApi: true, demo: false }),
    );
    app.get('/openapi.json', async (_request, reply) => reply.type('application/json').send(document));
    app.get('/healthz', async () => ({ status: 'fine' }));
    app.get('/readyz', async (_request, reply) => reply.code(418).send({ status: 'ready' }));
    app.get('/undocumented', async () => ({}));
    app.get('/.well-known/oauth-authorization-server', async (_request, reply) =>
      reply.type('text/plain').send('issuer'),
    );
    const recorder = attachOpenApiRecorder(app);
    await app.ready();
    await recorder.load(app);
    for (const url of ['/healthz', '/readyz', '/undocumented', '/.well-known/oauth-authorization-server'])
      await app.inject({ url });
    await app.close();
    assert.equal(recorder.violations.length, 4, recorder.violations.join('\n'));
    assert.match(recorder.violations[0] ?? '', /GET \/healthz → 200: body does not match/);
    assert.match(recorder.violations[1] ?? '', /status 418 is not documented/);
    assert.match(recorder.violations[2] ?? '', /GET \/undocumented is not in the document/);
    assert.match(recorder.violations[3] ?? '', /content type text\/plain is not documented/);
    assert.throws(() => recorder.assertNoDrift(), /responses differ from \/openapi\.json/);
  });
});

describe('every endpoint, success and documented errors, through the drift recorder', () => {
  let h: Harness;
  let s: Seeded;
  before(async () => {
    h = await harness(sqliteFactory, {
      realClock: true,
      services: { requestLimiter: new InProcessRateLimiter({ maxFailures: 1000, windowSeconds: 60 }) },
    });
    s = await h.seed();
  });
  // close() fails when any response of this suite drifted from the document.
  after(async () => h.close());
  const creds = () => ({ client_id: s.clientId, client_secret: s.clientSecret });
  const clean = () => assert.deepEqual(h.openapi?.violations, []);

  test('token endpoint: every grant, replay, and each error status', async () => {
    const before = h.openapi?.checked ?? 0;
    const tokens = await exchange(h.app, s);
    assert.equal((await refresh(h.app, s, tokens.refresh_token)).status, 200);
    assert.equal((await refresh(h.app, s, tokens.refresh_token)).status, 200); // replay
    assert.equal(
      (await postForm(h.app, '/oauth/token', { grant_type: 'client_credentials', ...creds() })).status,
      200,
    );
    assert.equal(
      (await postJson(h.app, '/oauth/token', { grant_type: 'client_credentials', ...creds() })).status,
      200,
    );
    assert.equal(
      (await postForm(h.app, '/oauth/token', { grant_type: 'refresh_token', ...creds() })).status,
      400,
    );
    assert.equal((await postForm(h.app, '/oauth/token', { grant_type: 'password', ...creds() })).status, 400);
    assert.equal((await postJson(h.app, '/oauth/token', '{"grant_type":')).status, 400);
    const basic = `Basic ${Buffer.from(`${s.clientId}:wrong`).toString('base64')}`;
    const unauthorized = await postForm(
      h.app,
      '/oauth/token',
      { grant_type: 'client_credentials' },
      { authorization: basic },
    );
    assert.equal(unauthorized.status, 401);
    const large = await postForm(h.app, '/oauth/token', {
      grant_type: 'client_credentials',
      pad: 'x'.repeat(17_000),
    });
    assert.equal(large.status, 413);
    // An application not yet authenticated (none is cached), while the storage is down.
    const unseen = await h.seed();
    const storage = h.services.storage;
    const original = storage.findApplication.bind(storage);
    storage.findApplication = () =>
      Promise.reject(new TemporarilyUnavailableError('the token store is unavailable'));
    try {
      const down = await postForm(h.app, '/oauth/token', {
        grant_type: 'client_credentials',
        client_id: unseen.clientId,
        client_secret: unseen.clientSecret,
      });
      assert.equal(down.status, 503);
    } finally {
      storage.findApplication = original;
    }
    assert.equal((h.openapi?.checked ?? 0) - before, 11);
    clean();
  });

  test('token endpoint: 429 from the request limiter', async () => {
    const limited = await harness(sqliteFactory, {
      services: { requestLimiter: new InProcessRateLimiter({ maxFailures: 1, windowSeconds: 60 }) },
    });
    try {
      const seeded = await limited.seed();
      const params = {
        grant_type: 'client_credentials',
        client_id: seeded.clientId,
        client_secret: seeded.clientSecret,
      };
      await postForm(limited.app, '/oauth/token', params);
      assert.equal((await postForm(limited.app, '/oauth/token', params)).status, 429);
      assert.deepEqual(limited.openapi?.violations, []);
    } finally {
      await limited.close();
    }
  });

  test('revocation, introspection, metadata, users/me', async () => {
    const tokens = await exchange(h.app, s);
    const active = await postForm(h.app, '/oauth/introspect', { ...creds(), token: tokens.access_token });
    assert.equal(active.body.active, true);
    assert.equal(
      (await postForm(h.app, '/oauth/introspect', { ...creds(), token: 'nonsense' })).body.active,
      false,
    );
    assert.equal(
      (await postForm(h.app, '/oauth/introspect', { client_id: s.clientId, token: 'x' })).status,
      400,
    );
    assert.equal(
      (await h.app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })).statusCode,
      200,
    );
    assert.equal(
      (await postForm(h.app, '/oauth/revoke', { ...creds(), token: tokens.refresh_token })).status,
      200,
    );
    assert.equal((await postForm(h.app, '/oauth/revoke', { ...creds() })).status, 400);
    assert.equal(
      (await h.app.inject({ url: '/users/me', headers: bearer(tokens.access_token) })).statusCode,
      401,
    );
    assert.equal((await h.app.inject({ url: '/users/me' })).statusCode, 401);
    assert.equal((await h.app.inject({ url: '/.well-known/oauth-authorization-server' })).statusCode, 200);
    clean();
  });

  test('operations: healthz, readyz (ready and not), metrics, HEAD, unknown paths', async () => {
    assert.equal((await h.app.inject({ url: '/healthz' })).statusCode, 200);
    assert.equal((await h.app.inject({ method: 'HEAD', url: '/healthz' })).statusCode, 200);
    assert.equal((await h.app.inject({ url: '/readyz' })).statusCode, 200);
    const storage = h.services.storage;
    const ping = storage.ping.bind(storage);
    storage.ping = () => Promise.reject(new TemporarilyUnavailableError('the database is read-only'));
    try {
      assert.equal((await h.app.inject({ url: '/readyz' })).statusCode, 503);
    } finally {
      storage.ping = ping;
    }
    assert.equal((await h.app.inject({ url: '/metrics', headers: bearer(METRICS_TOKEN) })).statusCode, 200);
    assert.equal((await h.app.inject({ url: '/metrics' })).statusCode, 401);
    assert.equal((await h.app.inject({ url: '/nope' })).statusCode, 404);
    assert.equal((await h.app.inject({ url: '/%zz' })).statusCode, 400);
    assert.equal(
      (await h.app.inject({ method: 'DELETE', url: `/admin/grants/${'1'.repeat(80)}/1`, headers: admin }))
        .statusCode,
      414,
    );
    clean();
  });

  test('admin API: every route, with its errors', async () => {
    const user = await postJson(h.app, '/admin/users', { email: `drift-${Date.now()}@example.com` }, admin);
    assert.equal(user.status, 201);
    assert.equal((await postJson(h.app, '/admin/users', { email: 'not an email' }, admin)).status, 400);
    assert.equal((await postJson(h.app, '/admin/users', { email: 1 }, admin)).status, 400);
    assert.equal((await postJson(h.app, '/admin/users', { email: 'a@b.test' })).status, 401);
    const created = await postJson(
      h.app,
      '/admin/applications',
      { name: 'Drift', owner_user_id: user.body.id, redirect_uris: ['https://drift.example/cb'] },
      admin,
    );
    assert.equal(created.status, 201);
    const clientId = String(created.body.client_id);
    assert.equal((await postJson(h.app, '/admin/applications', { name: 'X' }, admin)).status, 400);
    const patch = (id: string, body: unknown) =>
      h.app.inject({
        method: 'PATCH',
        url: `/admin/applications/${id}`,
        headers: admin,
        payload: body as object,
      });
    assert.equal(
      (await patch(clientId, { grant_types: ['authorization_code', 'refresh_token'] })).statusCode,
      200,
    );
    assert.equal((await patch('1111111111111111', { grant_types: ['authorization_code'] })).statusCode, 404);
    assert.equal((await patch(clientId, { grant_types: ['nope'] })).statusCode, 400);
    assert.equal((await postJson(h.app, `/admin/applications/${clientId}/secret`, {}, admin)).status, 200);
    assert.equal(
      (await postJson(h.app, '/admin/applications/1111111111111111/secret', {}, admin)).status,
      404,
    );
    assert.equal(
      (await postJson(h.app, `/admin/applications/${clientId}/webhook-secret`, {}, admin)).status,
      200,
    );
    const authorized = await postJson(
      h.app,
      '/admin/authorizations',
      { client_id: s.clientId, user_id: s.sellerId },
      admin,
    );
    assert.equal(authorized.status, 201);
    const unknown = await postJson(
      h.app,
      '/admin/authorizations',
      { client_id: '1111111111111111', user_id: s.sellerId },
      admin,
    );
    assert.ok([400, 404].includes(unknown.status));
    const revoke = (path: string) =>
      h.app.inject({ method: 'DELETE', url: `/admin/grants/${path}`, headers: admin });
    assert.equal((await revoke(`${s.clientId}/${s.sellerId}`)).statusCode, 204);
    assert.equal((await revoke(`${s.clientId}/${s.sellerId}`)).statusCode, 404);
    assert.equal((await revoke(`abc/${s.sellerId}`)).statusCode, 400);
    clean();
  });

  test('admin API: 429 after repeated failed authentications', async () => {
    let last = 0;
    for (let i = 0; i < 12; i++) {
      last = (await postJson(h.app, '/admin/users', { email: 'a@b.test' }, { authorization: 'Bearer wrong' }))
        .status;
    }
    assert.equal(last, 429);
    clean();
  });

  test('pages: consent, sign-in, account, sign-out, stylesheet, and their errors', async () => {
    const query = new URLSearchParams({
      client_id: s.clientId,
      response_type: 'code',
      redirect_uri: s.redirectUri,
      state: 'st',
    });
    const authorization = `/authorization?${query}`;
    const login = await h.app.inject({ url: authorization });
    assert.equal(login.statusCode, 200);
    const anonymous = cookieOf(login.headers);
    const form = { 'content-type': 'application/x-www-form-urlencoded', cookie: anonymous };
    const email = ((await h.services.storage.findUserById(s.sellerId)) as { email: string }).email;
    const post = (url: string, fields: Record<string, string>, headers: Record<string, string> = form) =>
      h.app.inject({ method: 'POST', url, headers, payload: new URLSearchParams(fields).toString() });
    const csrf = csrfOf(login.body);
    assert.equal((await post('/login', { csrf: 'forged', email, password: 'x' })).statusCode, 403);
    assert.equal((await post('/login', { csrf, email, password: 'wrong password' })).statusCode, 401);
    assert.equal((await post('/login', { csrf, email, password: 'x', next: '/\r\nx' })).statusCode, 400);
    const signedIn = await post('/login', { csrf, email, password: 'correct horse', next: authorization });
    assert.equal(signedIn.statusCode, 303);
    const cookie = cookieOf(signedIn.headers);
    const session = { 'content-type': 'application/x-www-form-urlencoded', cookie };
    const consent = await h.app.inject({ url: authorization, headers: { cookie } });
    assert.equal(consent.statusCode, 200);
    const decided = await post(authorization, { csrf: csrfOf(consent.body), decision: 'allow' }, session);
    assert.equal(decided.statusCode, 302);
    assert.equal((await h.app.inject({ url: `/authorization?client_id=1111111111111111` })).statusCode, 400);
    const badType = new URLSearchParams({
      client_id: s.clientId,
      response_type: 'token',
      redirect_uri: s.redirectUri,
    });
    assert.equal((await h.app.inject({ url: `/authorization?${badType}` })).statusCode, 302);
    const account = await h.app.inject({ url: '/account/applications', headers: { cookie } });
    assert.equal(account.statusCode, 200);
    const accountCsrf = csrfOf(account.body);
    assert.equal(
      (await post('/account/applications/revoke', { csrf: accountCsrf, client_id: s.clientId }, session))
        .statusCode,
      303,
    );
    assert.equal((await post('/account/applications/revoke', { csrf: 'forged' }, session)).statusCode, 403);
    assert.equal((await post('/logout', { csrf: accountCsrf }, session)).statusCode, 303);
    const json = { 'content-type': 'application/json', cookie };
    assert.equal(
      (await h.app.inject({ method: 'POST', url: '/login', headers: json, payload: '{}' })).statusCode,
      400,
    );
    assert.equal((await h.app.inject({ url: '/assets/renova.css' })).statusCode, 200);
    clean();
  });
});
