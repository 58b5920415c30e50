import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { DEMO_PASSWORD, DEMO_SELLER } from '../../src/demo.ts';
import { buildApp } from '../../src/http/app.ts';
import { startServer } from '../../src/runtime.ts';
import { createServices } from '../../src/services.ts';
import { type Harness, harness, postForm, type Seeded } from '../helpers/fixtures.ts';
import { storageFactories } from '../helpers/storages.ts';

const ISSUER = 'http://renova.test';

function authorizationUrl(s: Seeded, extra: Record<string, string> = {}): string {
  const query = new URLSearchParams({
    client_id: s.clientId,
    response_type: 'code',
    platform_id: 'mp',
    redirect_uri: s.redirectUri,
    state: 'xyz-state',
    ...extra,
  });
  return `/authorization?${query}`;
}

/** The value of our session cookie in a response, if it set one. */
function sessionCookie(headers: Record<string, unknown>): string | undefined {
  const raw = headers['set-cookie'];
  const all = Array.isArray(raw) ? raw : raw === undefined ? [] : [String(raw)];
  const line = all.find((c: string) => /^(__Host-)?renova_session=/.test(c));
  return line?.split(';')[0];
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

/** A browser-like sequence: GET a page (cookie + CSRF token), then sign in through its form. */
async function signIn(app: FastifyInstance, email: string, password: string, next = '/account/applications') {
  const page = await app.inject({ url: next });
  const anonymous = sessionCookie(page.headers) as string;
  const answer = await app.inject({
    method: 'POST',
    url: '/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: anonymous },
    payload: new URLSearchParams({ csrf: csrfOf(page.body), email, password, next }).toString(),
  });
  return { answer, anonymous, cookie: sessionCookie(answer.headers) };
}

async function sellerEmail(h: Harness, s: Seeded): Promise<string> {
  return ((await h.services.storage.findUserById(s.sellerId)) as { email: string }).email;
}

for (const factory of storageFactories) {
  describe(`consent and account pages (in process) on ${factory.name}`, () => {
    let h: Harness;
    let s: Seeded;
    before(async () => {
      h = await harness(factory, { realClock: true });
      s = await h.seed();
    });
    after(async () => h.close());

    test('shows an error page, never a redirect, for an unknown client_id', async () => {
      const answer = await h.app.inject({ url: authorizationUrl({ ...s, clientId: '1111111111111111' }) });
      assert.equal(answer.statusCode, 400);
      assert.equal(answer.headers.location, undefined);
      assert.match(String(answer.headers['content-type']), /^text\/html/);
      assert.match(answer.body, /No application has client_id 1111111111111111/);
    });

    test('shows an error page, never a redirect, for a redirect_uri that is not registered exactly', async () => {
      for (const redirect of ['https://evil.example/callback', `${s.redirectUri}/`, `${s.redirectUri}?x=1`]) {
        const answer = await h.app.inject({ url: authorizationUrl(s, { redirect_uri: redirect }) });
        assert.equal(answer.statusCode, 400, redirect);
        assert.equal(answer.headers.location, undefined, redirect);
      }
      const twice = await h.app.inject({
        url: `${authorizationUrl(s)}&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`,
      });
      assert.equal(twice.statusCode, 400);
      assert.equal(twice.headers.location, undefined);
    });

    test('sends later errors back to the redirect URI with the RFC 6749 code, state and iss', async () => {
      const cases: [Record<string, string>, string][] = [
        [{ response_type: 'token' }, 'unsupported_response_type'],
        [{ scope: 'read admin' }, 'invalid_scope'],
        [{ code_challenge: 'short' }, 'invalid_request'],
        [{ code_challenge_method: 'S256' }, 'invalid_request'],
      ];
      for (const [extra, error] of cases) {
        const answer = await h.app.inject({ url: authorizationUrl(s, extra) });
        assert.equal(answer.statusCode, 302, error);
        const location = new URL(String(answer.headers.location));
        assert.equal(`${location.origin}${location.pathname}`, s.redirectUri);
        assert.equal(location.searchParams.get('error'), error);
        assert.equal(location.searchParams.get('state'), 'xyz-state');
        assert.equal(location.searchParams.get('iss'), ISSUER);
        assert.equal(location.searchParams.get('code'), null);
      }
    });

    test('refuses a request without code_challenge when the application requires PKCE', async () => {
      const pkce = await h.seed({ pkceRequired: true });
      const answer = await h.app.inject({ url: authorizationUrl(pkce) });
      assert.equal(answer.statusCode, 302);
      assert.equal(new URL(String(answer.headers.location)).searchParams.get('error'), 'invalid_request');
    });

    test('sends anti-framing and a strict content security policy on every page', async () => {
      for (const url of [
        authorizationUrl(s),
        '/account/applications',
        authorizationUrl({ ...s, clientId: '1' }),
      ]) {
        const answer = await h.app.inject({ url });
        assert.equal(answer.headers['x-frame-options'], 'DENY');
        const csp = String(answer.headers['content-security-policy']);
        assert.match(csp, /frame-ancestors 'none'/);
        assert.match(csp, /default-src 'none'/);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|script-src/);
        assert.equal(answer.headers['cache-control'], 'no-store');
        assert.doesNotMatch(answer.body, /<script|style="|https?:\/\/(?!renova\.test)[a-z]/i);
      }
    });

    test('picks Spanish, Portuguese or English from Accept-Language, Spanish by default', async () => {
      const cases: [string | undefined, string, RegExp][] = [
        [undefined, 'es', /Inicia sesión/],
        ['pt-BR,pt;q=0.9,en;q=0.8', 'pt', /Entre na sua conta/],
        ['en-US,en;q=0.9', 'en', /Sign in/],
        ['fr-FR, en;q=0.5, es;q=0.7', 'es', /Inicia sesión/],
        ['de', 'es', /Inicia sesión/],
      ];
      for (const [header, lang, text] of cases) {
        const answer = await h.app.inject({
          url: authorizationUrl(s),
          headers: header ? { 'accept-language': header } : {},
        });
        assert.match(answer.body, new RegExp(`<html lang="${lang}">`), String(header));
        assert.match(answer.body, text, String(header));
      }
    });

    test('sets an HttpOnly, SameSite=Lax session cookie and rotates it at sign-in', async () => {
      const { answer, anonymous, cookie } = await signIn(h.app, await sellerEmail(h, s), 'correct horse');
      assert.equal(answer.statusCode, 303);
      assert.equal(answer.headers.location, '/account/applications');
      const line = String([answer.headers['set-cookie']].flat()[0]);
      assert.match(line, /HttpOnly/);
      assert.match(line, /SameSite=Lax/);
      assert.doesNotMatch(line, /Secure/);
      assert.ok(cookie);
      assert.notEqual(cookie, anonymous);
      // The pre-login value is not a session: fixation gains nothing.
      const withOld = await h.app.inject({ url: '/account/applications', headers: { cookie: anonymous } });
      assert.match(withOld.body, /action="\/login"/);
      const withNew = await h.app.inject({
        url: '/account/applications',
        headers: { cookie: cookie as string },
      });
      assert.match(withNew.body, /action="\/logout"/);
    });

    test('signs out: the session is deleted, not just forgotten by the browser', async () => {
      const { cookie } = await signIn(h.app, await sellerEmail(h, s), 'correct horse');
      const page = await h.app.inject({
        url: '/account/applications',
        headers: { cookie: cookie as string },
      });
      const out = await h.app.inject({
        method: 'POST',
        url: '/logout',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookie as string },
        payload: new URLSearchParams({ csrf: csrfOf(page.body), next: '/account/applications' }).toString(),
      });
      assert.equal(out.statusCode, 303);
      const replay = await h.app.inject({
        url: '/account/applications',
        headers: { cookie: cookie as string },
      });
      assert.match(replay.body, /action="\/login"/);
    });

    test('refuses a wrong password, then throttles the address and email after five failures', async () => {
      const t = await harness(factory, { realClock: true });
      try {
        const seeded = await t.seed();
        const email = await sellerEmail(t, seeded);
        for (let i = 0; i < 5; i++) {
          const { answer, cookie } = await signIn(t.app, email, 'wrong password');
          assert.equal(answer.statusCode, 401);
          assert.equal(cookie, undefined, 'no session for a failed sign-in');
          assert.match(answer.body, /role="alert"/);
        }
        const { answer } = await signIn(t.app, email, 'correct horse');
        assert.equal(answer.statusCode, 429);
        assert.ok(Number(answer.headers['retry-after']) > 0);
        const unknown = await signIn(t.app, 'nobody@example.com', 'whatever1');
        assert.equal(unknown.answer.statusCode, 401);
      } finally {
        await t.close();
      }
    });

    test('refuses form posts without the CSRF token, with a wrong one, or from another site', async () => {
      const email = await sellerEmail(h, s);
      const { cookie } = await signIn(h.app, email, 'correct horse', authorizationUrl(s));
      const consent = await h.app.inject({ url: authorizationUrl(s), headers: { cookie: cookie as string } });
      const csrf = csrfOf(consent.body);
      const post = (form: Record<string, string>, headers: Record<string, string> = {}) =>
        h.app.inject({
          method: 'POST',
          url: authorizationUrl(s),
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            cookie: cookie as string,
            ...headers,
          },
          payload: new URLSearchParams(form).toString(),
        });
      for (const [form, headers] of [
        [{ decision: 'allow' }, {}],
        [{ decision: 'allow', csrf: `${csrf.slice(0, -2)}xx` }, {}],
        [{ decision: 'allow', csrf }, { 'sec-fetch-site': 'cross-site' }],
      ] as [Record<string, string>, Record<string, string>][]) {
        const answer = await post(form, headers);
        assert.equal(answer.statusCode, 403);
        assert.equal(answer.headers.location, undefined);
      }
      const noCookie = await h.app.inject({
        method: 'POST',
        url: authorizationUrl(s),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ decision: 'allow', csrf }).toString(),
      });
      assert.equal(noCookie.statusCode, 403);
      const allowed = await post({ decision: 'allow', csrf });
      assert.equal(allowed.statusCode, 302);
      assert.match(String(allowed.headers.location), /code=TG-/);
    });

    test('an approval issues a code the application exchanges, bound to the redirect URI', async () => {
      const { cookie } = await signIn(h.app, await sellerEmail(h, s), 'correct horse', authorizationUrl(s));
      const consent = await h.app.inject({ url: authorizationUrl(s), headers: { cookie: cookie as string } });
      assert.match(consent.body, /App \d+ wants|App \d+ quiere/);
      const approved = await h.app.inject({
        method: 'POST',
        url: authorizationUrl(s, { scope: 'read' }),
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookie as string },
        payload: new URLSearchParams({ decision: 'allow', csrf: csrfOf(consent.body) }).toString(),
      });
      const code = new URL(String(approved.headers.location)).searchParams.get('code') as string;
      const token = await postForm(h.app, '/oauth/token', {
        grant_type: 'authorization_code',
        client_id: s.clientId,
        client_secret: s.clientSecret,
        code,
        redirect_uri: s.redirectUri,
      });
      assert.equal(token.status, 200);
      assert.equal(token.body.scope, 'read');
      assert.equal(token.body.user_id, s.sellerId);
    });

    test('never redirects after sign-in to anything but its own pages', async () => {
      const page = await h.app.inject({ url: '/account/applications' });
      for (const next of [
        'https://evil.example/',
        '//evil.example/x',
        '/\\evil.example',
        'javascript:alert(1)',
      ]) {
        const answer = await h.app.inject({
          method: 'POST',
          url: '/login',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            cookie: sessionCookie(page.headers) as string,
          },
          payload: new URLSearchParams({
            csrf: csrfOf(page.body),
            email: await sellerEmail(h, s),
            password: 'correct horse',
            next,
          }).toString(),
        });
        assert.equal(answer.headers.location, '/account/applications', next);
      }
    });
  });
}

describe('session cookie under an https issuer', () => {
  test('is Secure and __Host- prefixed', async () => {
    const factory = storageFactories[0];
    assert.ok(factory);
    const testStorage = await factory.create();
    try {
      const services = createServices({ storage: testStorage.storage, serverKey: Buffer.alloc(32, 3) });
      const app = await buildApp(services, { issuer: 'https://auth.renova.example', logger: false });
      const answer = await app.inject({ url: '/account/applications' });
      const line = String([answer.headers['set-cookie']].flat()[0]);
      assert.match(
        line,
        /^__Host-renova_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Secure$/,
      );
      await app.close();
    } finally {
      await testStorage.cleanup();
    }
  });
});

describe('demo mode', () => {
  test('the printed link runs consent, and the demo callback page exchanges the code and refreshes', async () => {
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      db: ':memory:',
      logger: false,
      demo: true,
    });
    try {
      const app = server.app;
      assert.ok(server.demo?.lines.some((line) => line.includes(`${server.issuer}/demo/start`)));
      const start = await app.inject({ url: '/demo/start' });
      assert.equal(start.statusCode, 302);
      const demoCookie = String([start.headers['set-cookie']].flat()[0]).split(';')[0] as string;
      const authorization = new URL(String(start.headers.location));
      assert.equal(authorization.searchParams.get('code_challenge_method'), 'S256');
      const next = `${authorization.pathname}${authorization.search}`;
      const { cookie } = await signIn(app, DEMO_SELLER, DEMO_PASSWORD, next);
      const consent = await app.inject({ url: next, headers: { cookie: cookie as string } });
      const approved = await app.inject({
        method: 'POST',
        url: next,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookie as string },
        payload: new URLSearchParams({ decision: 'allow', csrf: csrfOf(consent.body) }).toString(),
      });
      const callback = new URL(String(approved.headers.location));
      assert.equal(`${callback.origin}${callback.pathname}`, `${server.issuer}/demo/callback`);
      const page = await app.inject({
        url: `${callback.pathname}${callback.search}`,
        headers: { cookie: demoCookie, 'accept-language': 'en' },
      });
      assert.equal(page.statusCode, 200);
      assert.equal(page.body.match(/· HTTP 200/g)?.length, 2);
      assert.match(page.body, /&quot;refresh_token&quot;: &quot;TG-/);
      // Without the browser's state cookie the answer is not used.
      const forged = await app.inject({ url: `${callback.pathname}${callback.search}` });
      assert.equal(forged.statusCode, 400);
    } finally {
      await server.close();
    }
  });
});
