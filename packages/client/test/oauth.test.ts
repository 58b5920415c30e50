import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  AccessDeniedError,
  ConnectionError,
  computeCodeChallenge,
  createPkcePair,
  ForbiddenError,
  InvalidClientError,
  InvalidGrantError,
  InvalidRequestError,
  InvalidResponseError,
  InvalidScopeError,
  OAuth,
  OAuthError,
  RateLimitedError,
  ServerError,
  TemporarilyUnavailableError,
  TimeoutError,
  UnauthorizedClientError,
  UnsupportedGrantTypeError,
} from '../src/index.ts';
import { sha256 } from '../src/pkce.ts';
import { type FakeServer, startFakeServer } from './helpers/fake-server.ts';
import {
  authorize,
  createApplication,
  createUser,
  freePort,
  type RenovaServer,
  startServer,
} from './helpers/server.ts';

describe('createPkcePair', () => {
  it('makes a 43-character verifier and its S256 challenge', () => {
    const pair = createPkcePair();
    assert.match(pair.code_verifier, /^[A-Za-z0-9_-]{43}$/);
    const expected = createHash('sha256').update(pair.code_verifier).digest('base64url');
    assert.equal(pair.code_challenge, expected);
    assert.equal(pair.code_challenge_method, 'S256');
    assert.notEqual(createPkcePair().code_verifier, pair.code_verifier);
  });

  it('computes the RFC 7636 appendix B example challenge', () => {
    assert.equal(
      computeCodeChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'),
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  it('hashes inputs of every padding length like node:crypto', () => {
    for (let n = 0; n < 200; n++) {
      const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
      assert.equal(
        Buffer.from(sha256(data)).toString('hex'),
        createHash('sha256').update(data).digest('hex'),
      );
    }
  });
});

describe('OAuth.getAuthorizationURL', () => {
  it('builds the consent URL on the server with response_type and platform_id forced', () => {
    const oauth = new OAuth({ baseUrl: 'http://127.0.0.1:8080/' });
    const url = new URL(
      oauth.getAuthorizationURL({
        options: {
          client_id: '1234567890123456',
          redirect_uri: 'https://a.example/cb',
          state: 's 1',
          response_type: 'token',
        },
      }),
    );
    assert.equal(url.origin + url.pathname, 'http://127.0.0.1:8080/authorization');
    assert.equal(url.searchParams.get('client_id'), '1234567890123456');
    assert.equal(url.searchParams.get('redirect_uri'), 'https://a.example/cb');
    assert.equal(url.searchParams.get('state'), 's 1');
    assert.equal(url.searchParams.get('response_type'), 'code');
    assert.equal(url.searchParams.get('platform_id'), 'mp');
  });

  it('defaults to the Mercado Pago consent page and never leaks a spread-in code_verifier', () => {
    const pkce = createPkcePair();
    const url = new URL(new OAuth().getAuthorizationURL({ options: { client_id: '1', ...pkce } }));
    assert.equal(url.origin + url.pathname, 'https://auth.mercadopago.com/authorization');
    assert.equal(url.searchParams.get('code_challenge'), pkce.code_challenge);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.has('code_verifier'), false);
  });
});

describe('OAuth against a scripted token endpoint', () => {
  let fake: FakeServer;
  before(async () => {
    fake = await startFakeServer();
  });
  after(async () => {
    await fake.close();
  });

  it('posts JSON with the grant type, an idempotency key and no leaked per-call options', async () => {
    const oauth = new OAuth({ baseUrl: fake.baseUrl, accessToken: 'APP_USR-integrator' });
    const answer = fake.issue(7);
    fake.requests.length = 0;
    await oauth
      .create({
        body: { client_id: 'c', client_secret: 's', code: 'TG-x', redirect_uri: 'r' },
        requestOptions: { idempotencyKey: 'k1' },
      })
      .catch(() => {});
    await oauth.refresh({
      body: {
        client_id: fake.clientId,
        client_secret: fake.clientSecret,
        refresh_token: answer.refresh_token as string,
      },
    });
    const [create, refresh] = fake.requests;
    assert.equal(create?.body.grant_type, 'authorization_code');
    assert.equal(create?.body.code, 'TG-x');
    assert.equal(create?.headers['x-idempotency-key'], 'k1');
    assert.equal(create?.headers['content-type'], 'application/json');
    assert.equal(create?.headers.authorization, 'Bearer APP_USR-integrator');
    assert.equal(refresh?.body.grant_type, 'refresh_token');
    assert.notEqual(refresh?.headers['x-idempotency-key'], 'k1');
  });

  it('returns the token fields and the api_response like the mercadopago SDK', async () => {
    const oauth = new OAuth({ baseUrl: fake.baseUrl });
    const answer = fake.issue(8);
    const r = await oauth.refresh({
      body: {
        client_id: fake.clientId,
        client_secret: fake.clientSecret,
        refresh_token: answer.refresh_token as string,
      },
    });
    assert.equal(r.user_id, 8);
    assert.equal(r.expires_in, 15_552_000);
    assert.match(r.refresh_token ?? '', /^TG-/);
    assert.equal(r.api_response.status, 200);
    assert.equal(r.api_response.headers.get('cache-control'), 'no-store');
  });

  const cases: Array<[number, string, new (...a: never[]) => OAuthError]> = [
    [400, 'invalid_request', InvalidRequestError],
    [413, 'invalid_request', InvalidRequestError],
    [400, 'invalid_client', InvalidClientError],
    [401, 'invalid_client', InvalidClientError],
    [400, 'invalid_grant', InvalidGrantError],
    [400, 'unauthorized_client', UnauthorizedClientError],
    [400, 'unsupported_grant_type', UnsupportedGrantTypeError],
    [400, 'invalid_scope', InvalidScopeError],
    [400, 'forbidden', ForbiddenError],
    [400, 'access_denied', AccessDeniedError],
    [429, 'local_rate_limited', RateLimitedError],
    [503, 'temporarily_unavailable', TemporarilyUnavailableError],
    [500, 'server_error', ServerError],
  ];
  for (const [status, code, Class] of cases) {
    it(`maps a ${status} ${code} answer to ${Class.name} with error, status, message and cause`, async () => {
      const oauth = new OAuth({ baseUrl: fake.baseUrl });
      fake.faults.push({
        status,
        body: { error: code, error_description: 'desc', message: 'human text', status, cause: [{ code: 1 }] },
        headers: { 'retry-after': '7' },
      });
      await assert.rejects(oauth.refresh({ body: { refresh_token: 'x' } }), (e: unknown) => {
        assert.ok(e instanceof Class);
        assert.ok(e instanceof OAuthError);
        assert.equal(e.error, code);
        assert.equal(e.status, status);
        assert.equal(e.message, 'human text');
        assert.equal(e.description, 'desc');
        assert.deepEqual(e.cause, [{ code: 1 }]);
        assert.deepEqual(e.causes, [{ code: 1 }]);
        if (e instanceof RateLimitedError || e instanceof TemporarilyUnavailableError)
          assert.equal(e.retryAfter, 7);
        return true;
      });
    });
  }

  it('maps a non-JSON 502 to ServerError and a non-token 200 to InvalidResponseError', async () => {
    const oauth = new OAuth({ baseUrl: fake.baseUrl });
    fake.faults.push({ status: 502, body: '<html>bad gateway</html>' });
    await assert.rejects(
      oauth.refresh({ body: {} }),
      (e: unknown) => e instanceof ServerError && e.status === 502,
    );
    fake.faults.push({ status: 200, body: { hello: 'world' } });
    await assert.rejects(oauth.refresh({ body: {} }), InvalidResponseError);
  });

  it('raises TimeoutError (outcome unknown) when the answer is slower than the timeout', async () => {
    const oauth = new OAuth({ baseUrl: fake.baseUrl, timeout: 50 });
    fake.faults.push({ delayMs: 300 });
    await assert.rejects(
      oauth.refresh({ body: { refresh_token: 'x' } }),
      (e: unknown) => e instanceof TimeoutError && e.requestSent === 'unknown' && e.timeoutMs === 50,
    );
  });

  it('raises ConnectionError with requestSent false when nothing listens', async () => {
    const oauth = new OAuth({ baseUrl: `http://127.0.0.1:${await freePort()}` });
    await assert.rejects(
      oauth.create({ body: {} }),
      (e: unknown) => e instanceof ConnectionError && e.requestSent === false && e.status === 0,
    );
  });

  it('raises ConnectionError with an unknown outcome when the connection drops after sending', async () => {
    const oauth = new OAuth({ baseUrl: fake.baseUrl });
    fake.faults.push({ drop: 'before' });
    await assert.rejects(
      oauth.refresh({ body: { refresh_token: 'x' } }),
      (e: unknown) => e instanceof ConnectionError && e.requestSent === 'unknown',
    );
  });

  it('accepts a MercadoPagoConfig-shaped configuration', () => {
    const oauth = new OAuth({ accessToken: 'APP_USR-x', options: { timeout: 1234 } });
    assert.equal(oauth.timeout, 1234);
    assert.equal(oauth.baseUrl, 'https://api.mercadopago.com');
  });
});

describe('OAuth against a real Renova server', () => {
  let server: RenovaServer;
  let app: Awaited<ReturnType<typeof createApplication>>;
  let oauth: OAuth;
  before(async () => {
    server = await startServer();
    app = await createApplication(server);
    oauth = new OAuth({ baseUrl: server.baseUrl, timeout: 10_000 });
  });
  after(async () => {
    await server.stop();
  });

  const creds = () => ({ client_id: app.clientId, client_secret: app.clientSecret });

  it('exchanges a code, refreshes, and gets the same pair back when the old refresh token is replayed', async () => {
    const userId = await createUser(server);
    const { code, redirect_uri } = await authorize(server, app.clientId, userId);
    const t = await oauth.create({ body: { ...creds(), code, redirect_uri } });
    assert.equal(t.user_id, userId);
    assert.match(t.access_token, new RegExp(`^APP_USR-${app.clientId}-\\d{6}-[0-9a-f]{32,}-${userId}$`));
    assert.match(t.refresh_token ?? '', new RegExp(`^TG-[0-9a-f]{32,}-${userId}$`));
    assert.equal(t.token_type.toLowerCase(), 'bearer');
    assert.equal(t.live_mode, true);
    const r1 = await oauth.refresh({ body: { ...creds(), refresh_token: t.refresh_token } });
    const r2 = await oauth.refresh({ body: { ...creds(), refresh_token: t.refresh_token } });
    assert.notEqual(r1.refresh_token, t.refresh_token);
    assert.equal(r2.refresh_token, r1.refresh_token);
    assert.equal(r2.access_token, r1.access_token);
  });

  it('completes a PKCE exchange with createPkcePair and rejects a wrong verifier with InvalidGrantError', async () => {
    const userId = await createUser(server);
    const pkce = createPkcePair();
    const a = await authorize(server, app.clientId, userId, {
      code_challenge: pkce.code_challenge,
      code_challenge_method: 'S256',
    });
    await assert.rejects(
      oauth.create({
        body: {
          ...creds(),
          code: a.code,
          redirect_uri: a.redirect_uri,
          code_verifier: createPkcePair().code_verifier,
        },
      }),
      (e: unknown) => e instanceof InvalidGrantError && e.error === 'invalid_grant' && e.status === 400,
    );
    const b = await authorize(server, app.clientId, userId, {
      code_challenge: pkce.code_challenge,
      code_challenge_method: 'S256',
    });
    const t = await oauth.create({
      body: { ...creds(), code: b.code, redirect_uri: b.redirect_uri, code_verifier: pkce.code_verifier },
    });
    assert.equal(t.user_id, userId);
  });

  it('maps a reused code to InvalidGrantError', async () => {
    const userId = await createUser(server);
    const { code, redirect_uri } = await authorize(server, app.clientId, userId);
    await oauth.create({ body: { ...creds(), code, redirect_uri } });
    await assert.rejects(oauth.create({ body: { ...creds(), code, redirect_uri } }), InvalidGrantError);
  });

  it('maps a wrong secret to InvalidClientError', async () => {
    await assert.rejects(
      oauth.refresh({
        body: { client_id: app.clientId, client_secret: 'x'.repeat(32), refresh_token: 'TG-00-1' },
      }),
      (e: unknown) => e instanceof InvalidClientError && e.status === 400 && Array.isArray(e.cause),
    );
  });

  it('maps a missing parameter to InvalidRequestError', async () => {
    await assert.rejects(
      oauth.create({ body: { ...creds(), redirect_uri: app.redirectUri } }),
      (e: unknown) => e instanceof InvalidRequestError && e.status === 400 && e.message.length > 0,
    );
  });

  it('maps a scope outside the grant to InvalidScopeError', async () => {
    const userId = await createUser(server);
    const { code, redirect_uri } = await authorize(server, app.clientId, userId);
    const t = await oauth.create({ body: { ...creds(), code, redirect_uri } });
    await assert.rejects(
      oauth.refresh({ body: { ...creds(), refresh_token: t.refresh_token, scope: 'offline_access admin' } }),
      InvalidScopeError,
    );
  });

  it('maps a refresh of a grant without offline_access to UnauthorizedClientError', async () => {
    const userId = await createUser(server);
    const { code, redirect_uri } = await authorize(server, app.clientId, userId, { scope: 'read write' });
    const t = await oauth.create({ body: { ...creds(), code, redirect_uri } });
    await assert.rejects(
      oauth.refresh({ body: { ...creds(), refresh_token: t.refresh_token ?? 'TG-00-1' } }),
      UnauthorizedClientError,
    );
  });

  it('maps repeated failed authentications to RateLimitedError with retryAfter', async () => {
    const other = await createApplication(server);
    let last: unknown;
    for (let i = 0; i < 40; i++) {
      try {
        await oauth.refresh({
          body: { client_id: other.clientId, client_secret: 'y'.repeat(32), refresh_token: 'TG-00-1' },
        });
      } catch (e) {
        last = e;
        if (e instanceof RateLimitedError) break;
      }
    }
    assert.ok(last instanceof RateLimitedError, `got ${String(last)}`);
    assert.equal(last.status, 429);
    assert.equal(last.error, 'local_rate_limited');
    assert.ok((last.retryAfter ?? 0) > 0);
  });
});
