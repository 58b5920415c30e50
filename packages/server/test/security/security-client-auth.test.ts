/**
 * The security suite for client authentication and what an authenticated client may do: one
 * regression test per finding of the December review (#2, #3, #4, #5, #7) and per hardening item
 * of issue 8 (grant types per application), on every engine. Each test reproduces the attack and
 * asserts it fails.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { LOG_FIELD_MAX, LOG_VALUE_MAX } from '../../src/core/identifiers.ts';
import { cryptoRandom } from '../../src/core/random.ts';
import { DEFAULT_MAX_KEYS, InProcessRateLimiter } from '../../src/core/rate-limit.ts';
import { formatAccessToken, newValidator } from '../../src/core/tokens.ts';
import { clientSecretView, issuedCodeView } from '../../src/views.ts';
import { ADMIN_TOKEN, type Harness, harness, postForm, postJson, type Seeded } from '../helpers/fixtures.ts';
import { storageFactories } from '../helpers/storages.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const ATTACKER = '203.0.113.66';
const REAL_CLIENT = '198.51.100.20';

/** A form POST from a given source address. */
const postFrom = (
  app: FastifyInstance,
  remoteAddress: string,
  url: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
) => postForm(app, url, params, headers, remoteAddress);

/** A log sink whose JSON lines the test can read (as in security.test.ts). */
function memoryLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** Every string anywhere in a log line. */
function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(stringsOf);
  return [];
}

const ccParams = (s: Seeded, secret = s.clientSecret) => ({
  grant_type: 'client_credentials',
  client_id: s.clientId,
  client_secret: secret,
});

async function ccToken(h: Harness, s: Seeded): Promise<string> {
  const answer = await postFrom(h.app, REAL_CLIENT, '/oauth/token', ccParams(s));
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.access_token as string;
}

async function exchangeCode(h: Harness, s: Seeded, code: string, auth: Record<string, string>) {
  return postFrom(h.app, REAL_CLIENT, '/oauth/token', {
    grant_type: 'authorization_code',
    code,
    redirect_uri: s.redirectUri,
    ...auth,
  });
}

for (const factory of storageFactories) {
  describe(`security on ${factory.name}: failed client authentications (review #2)`, () => {
    let h: Harness;
    before(async () => {
      h = await harness(factory);
    });
    after(async () => h.close());

    test('20+ wrong secrets for a public client_id from one address do not lock the real client out (review #2)', async () => {
      const victim = await h.seed();
      const statuses: number[] = [];
      for (let i = 0; i < 25; i++) {
        const answer = await postFrom(h.app, ATTACKER, '/oauth/token', ccParams(victim, `wrong-${i}`));
        statuses.push(answer.status);
      }
      assert.deepEqual(statuses, [...Array(20).fill(400), ...Array(5).fill(429)]);

      // The real client, from its own address, with its secret: every endpoint still answers.
      const token = await postFrom(h.app, REAL_CLIENT, '/oauth/token', ccParams(victim));
      assert.equal(token.status, 200, JSON.stringify(token.body));
      const { access_token, refresh_token } = (
        await exchangeCode(h, victim, await victim.code(), {
          client_id: victim.clientId,
          client_secret: victim.clientSecret,
        })
      ).body as { access_token: string; refresh_token: string };
      assert.ok(access_token && refresh_token);
      const refreshed = await postFrom(h.app, REAL_CLIENT, '/oauth/token', {
        grant_type: 'refresh_token',
        client_id: victim.clientId,
        client_secret: victim.clientSecret,
        refresh_token,
      });
      assert.equal(refreshed.status, 200);
      const introspected = await postFrom(h.app, REAL_CLIENT, '/oauth/introspect', {
        client_id: victim.clientId,
        client_secret: victim.clientSecret,
        token: access_token,
      });
      assert.equal(introspected.status, 200);
      const basic = Buffer.from(`${victim.clientId}:${victim.clientSecret}`).toString('base64');
      const viaBasic = await postFrom(
        h.app,
        REAL_CLIENT,
        '/oauth/token',
        { grant_type: 'client_credentials' },
        { authorization: `Basic ${basic}` },
      );
      assert.equal(viaBasic.status, 200);

      // The attacker's address is the one throttled, with a Retry-After, whatever it sends.
      for (const secret of ['wrong-again', victim.clientSecret]) {
        const attacker = await postFrom(h.app, ATTACKER, '/oauth/token', ccParams(victim, secret));
        assert.equal(attacker.status, 429);
        assert.equal(attacker.body.error, 'local_rate_limited');
        assert.ok(Number(attacker.headers['retry-after']) > 0);
      }
      // The window ends.
      h.clock.advance(61_000);
      assert.equal((await postFrom(h.app, ATTACKER, '/oauth/token', ccParams(victim, 'wrong'))).status, 400);
    });

    test('spraying many client ids from one address throttles that address only (review #2)', async () => {
      const clients: Seeded[] = [];
      for (let i = 0; i < 6; i++) clients.push(await h.seed());
      let last = 0;
      // 5 × 20 = 100 failures, each client under its own per-(client, address) budget.
      for (const s of clients.slice(0, 5)) {
        for (let i = 0; i < 20; i++) {
          last = (await postFrom(h.app, '203.0.113.67', '/oauth/token', ccParams(s, 'x'))).status;
        }
      }
      assert.equal(last, 400);
      const sixth = clients[5] as Seeded;
      const blocked = await postFrom(h.app, '203.0.113.67', '/oauth/token', ccParams(sixth, 'x'));
      assert.equal(blocked.status, 429, 'the address budget (5 × the per-client one) is spent');
      for (const s of clients) {
        assert.equal((await postFrom(h.app, REAL_CLIENT, '/oauth/token', ccParams(s))).status, 200);
      }
    });
  });

  describe(`security on ${factory.name}: the token request limiter (review #2)`, () => {
    let h: Harness;
    before(async () => {
      h = await harness(factory, {
        services: { requestLimiter: new InProcessRateLimiter({ maxFailures: 10, windowSeconds: 60 }) },
      });
    });
    after(async () => h.close());

    test("requests presenting a client's id do not spend that client's request budget unless it authenticated (review #2)", async () => {
      const victim = await h.seed();
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) {
        statuses.push((await postFrom(h.app, ATTACKER, '/oauth/token', ccParams(victim, 'x'))).status);
      }
      assert.deepEqual(statuses, [...Array(10).fill(400), ...Array(20).fill(429)]);
      // The real client keeps its whole budget: 10 requests, from two addresses.
      for (let i = 0; i < 10; i++) {
        const from = i % 2 === 0 ? REAL_CLIENT : '198.51.100.21';
        const answer = await postFrom(h.app, from, '/oauth/token', ccParams(victim));
        assert.equal(answer.status, 200, `request ${i}: ${JSON.stringify(answer.body)}`);
      }
      // Its own budget is per client across addresses, counted once authenticated.
      const over = await postFrom(h.app, '198.51.100.22', '/oauth/token', ccParams(victim));
      assert.equal(over.status, 429);
      assert.ok(Number(over.headers['retry-after']) > 0);
      const other = await h.seed();
      assert.equal((await postFrom(h.app, '198.51.100.22', '/oauth/token', ccParams(other))).status, 200);
    });
  });

  describe(`security on ${factory.name}: an access token as client_secret (review #3)`, () => {
    let h: Harness;
    before(async () => {
      h = await harness(factory);
    });
    after(async () => h.close());

    test('a client_credentials token cannot mint the next one: the T1 → T2 → T3 chain is refused (review #3)', async () => {
      const s = await h.seed();
      const t1 = await ccToken(h, s);
      for (const params of [
        { grant_type: 'client_credentials', client_secret: t1 } as Record<string, string>,
        { grant_type: 'client_credentials', client_id: s.clientId, client_secret: t1 },
      ]) {
        const t2 = await postFrom(h.app, REAL_CLIENT, '/oauth/token', params);
        assert.equal(t2.status, 400);
        assert.equal(t2.body.error, 'unauthorized_client');
        assert.match(String(t2.body.error_description), /client secret/);
        assert.equal(t2.body.access_token, undefined);
      }
      // Form 3 still works where the mercadopago Java SDK needs it.
      const exchanged = await exchangeCode(h, s, await s.code(), { client_secret: t1 });
      assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
      const refreshed = await postFrom(h.app, REAL_CLIENT, '/oauth/token', {
        grant_type: 'refresh_token',
        client_secret: t1,
        refresh_token: exchanged.body.refresh_token as string,
      });
      assert.equal(refreshed.status, 200);
    });

    test('a cc token stops authenticating when its issuing secret is rotated out with overlap 0 (review #3)', async () => {
      const s = await h.seed();
      const t1 = await ccToken(h, s);
      const { refresh_token } = (await exchangeCode(h, s, await s.code(), { client_secret: t1 })).body as {
        refresh_token: string;
      };
      const rotated = await h.app.inject({
        method: 'POST',
        url: `/admin/applications/${s.clientId}/secret`,
        headers: admin,
        payload: { overlap_seconds: 0 },
      });
      assert.equal(rotated.statusCode, 200);
      const newSecret = rotated.json().client_secret as string;

      const refused = [
        await postFrom(h.app, REAL_CLIENT, '/oauth/token', {
          grant_type: 'refresh_token',
          client_secret: t1,
          refresh_token,
        }),
        await exchangeCode(h, s, await s.code(), { client_secret: t1 }),
        await postFrom(h.app, REAL_CLIENT, '/oauth/introspect', { client_secret: t1, token: t1 }),
        await postFrom(h.app, REAL_CLIENT, '/oauth/token', {
          grant_type: 'client_credentials',
          client_secret: t1,
        }),
      ];
      for (const answer of refused) {
        assert.equal(answer.status, 400);
        assert.equal(answer.body.error, 'invalid_client');
      }
      assert.match(String(refused[0]?.body.error_description), /rotated out/);
      // The refresh token was not spent by the refused attempt; the new secret and its tokens work.
      const withSecret = await postFrom(h.app, REAL_CLIENT, '/oauth/token', {
        grant_type: 'refresh_token',
        client_id: s.clientId,
        client_secret: newSecret,
        refresh_token,
      });
      assert.equal(withSecret.status, 200);
      const t2 = (await postFrom(h.app, REAL_CLIENT, '/oauth/token', ccParams(s, newSecret))).body
        .access_token as string;
      assert.equal((await exchangeCode(h, s, await s.code(), { client_secret: t2 })).status, 200);
    });

    test('a cc token works as a secret during its issuing secret overlap, and not after (review #3)', async () => {
      const s = await h.seed();
      const t1 = await ccToken(h, s);
      const { client_secret: next } = clientSecretView(
        await h.services.applications.rotateClientSecret(s.clientId, 60),
      );
      // A token issued during the overlap with the OLD secret dies with the old secret as well.
      const duringOverlap = await ccToken(h, s);
      const t2 = (await postFrom(h.app, REAL_CLIENT, '/oauth/token', ccParams(s, next))).body
        .access_token as string;
      for (const token of [t1, duringOverlap, t2]) {
        assert.equal((await exchangeCode(h, s, await s.code(), { client_secret: token })).status, 200);
      }
      h.clock.advance(61_000);
      for (const token of [t1, duringOverlap]) {
        const answer = await exchangeCode(h, s, await s.code(), { client_secret: token });
        assert.equal(answer.body.error, 'invalid_client');
      }
      assert.equal((await exchangeCode(h, s, await s.code(), { client_secret: t2 })).status, 200);
    });

    test('a cc token issued before its secret was recorded is judged by its issue time (review #3)', async () => {
      const s = await h.seed();
      const app = await h.services.storage.findApplication(s.clientId);
      assert.ok(app);
      const validator = newValidator(cryptoRandom);
      const issuedAt = h.clock.now();
      // As rows written before migration 4: no issuing secret.
      const { accessTokenId } = await h.services.storage.issueClientCredentialsToken({
        hash: validator.hash,
        scope: 'read',
        issuedAt,
        expiresAt: issuedAt + 3_600_000,
        clientId: s.clientId,
        userId: s.ownerId,
        liveMode: true,
      });
      assert.equal((await h.services.storage.findAccessToken(accessTokenId))?.issuingSecretId, null);
      const legacy = formatAccessToken({
        liveMode: true,
        clientId: s.clientId,
        issuedAt,
        id: accessTokenId,
        secret: validator.secret,
        userId: s.ownerId,
      });
      assert.equal((await exchangeCode(h, s, await s.code(), { client_secret: legacy })).status, 200);
      h.clock.advance(1_000);
      await h.services.applications.rotateClientSecret(s.clientId, 0);
      const answer = await exchangeCode(h, s, await s.code(), { client_secret: legacy });
      assert.equal(answer.body.error, 'invalid_client');
    });
  });

  describe(`security on ${factory.name}: grant types per application (issue 8 item 4)`, () => {
    let h: Harness;
    let ownerId: number;
    before(async () => {
      h = await harness(factory);
      ownerId = (await h.seed()).ownerId;
    });
    after(async () => h.close());

    const createApp = (grantTypes?: unknown) =>
      h.app.inject({
        method: 'POST',
        url: '/admin/applications',
        headers: admin,
        payload: {
          name: 'Restricted',
          owner_user_id: ownerId,
          redirect_uris: ['https://restricted.example/cb'],
          ...(grantTypes === undefined ? {} : { grant_types: grantTypes }),
        },
      });

    test('an application restricted to authorization_code + refresh_token gets unauthorized_client for client_credentials', async () => {
      const created = await createApp(['authorization_code', 'refresh_token']);
      assert.equal(created.statusCode, 201);
      const app = created.json() as { client_id: string; client_secret: string; grant_types: string[] };
      assert.deepEqual(app.grant_types, ['authorization_code', 'refresh_token']);
      const auth = { client_id: app.client_id, client_secret: app.client_secret };
      const cc = await postFrom(h.app, REAL_CLIENT, '/oauth/token', {
        grant_type: 'client_credentials',
        ...auth,
      });
      assert.equal(cc.status, 400);
      assert.equal(cc.body.error, 'unauthorized_client');
      assert.match(String(cc.body.error_description), /client_credentials/);
      assert.equal(cc.body.access_token, undefined);

      const seller = await h.services.accounts.createUser({ email: `gt-${factory.name}@shop.example` });
      const { code } = issuedCodeView(
        await h.services.consent.authorize({ clientId: app.client_id, userId: seller.id }),
      );
      const exchanged = await postFrom(h.app, REAL_CLIENT, '/oauth/token', {
        grant_type: 'authorization_code',
        code,
        redirect_uri: 'https://restricted.example/cb',
        ...auth,
      });
      assert.equal(exchanged.status, 200);
      const refreshed = await postFrom(h.app, REAL_CLIENT, '/oauth/token', {
        grant_type: 'refresh_token',
        refresh_token: exchanged.body.refresh_token as string,
        ...auth,
      });
      assert.equal(refreshed.status, 200);

      // PATCH changes it, at once (no stale cached record).
      const patched = await h.app.inject({
        method: 'PATCH',
        url: `/admin/applications/${app.client_id}`,
        headers: admin,
        payload: { grant_types: ['client_credentials'] },
      });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.deepEqual(patched.json().grant_types, ['client_credentials']);
      assert.equal(patched.json().client_secret, undefined, 'no secret in the answer');
      const ccNow = await postFrom(h.app, REAL_CLIENT, '/oauth/token', {
        grant_type: 'client_credentials',
        ...auth,
      });
      assert.equal(ccNow.status, 200);
      const refreshNow = await postFrom(h.app, REAL_CLIENT, '/oauth/token', {
        grant_type: 'refresh_token',
        refresh_token: refreshed.body.refresh_token as string,
        ...auth,
      });
      assert.equal(refreshNow.body.error, 'unauthorized_client');
      // Without authorization_code, no code is issued either (RFC 6749 §4.1.2.1).
      await assert.rejects(
        h.services.consent.authorize({ clientId: app.client_id, userId: seller.id }),
        (error: Error & { error?: string }) => error.error === 'unauthorized_client',
      );
      const page = await h.app.inject({
        url: `/authorization?${new URLSearchParams({
          client_id: app.client_id,
          response_type: 'code',
          redirect_uri: 'https://restricted.example/cb',
          state: 's1',
        })}`,
      });
      assert.equal(page.statusCode, 302);
      assert.equal(new URL(String(page.headers.location)).searchParams.get('error'), 'unauthorized_client');
    });

    test('an application created without grant_types may use all three (Mercado Pago behaviour)', async () => {
      const created = await createApp();
      assert.equal(created.statusCode, 201);
      assert.deepEqual(created.json().grant_types, [
        'authorization_code',
        'refresh_token',
        'client_credentials',
      ]);
    });

    test('bad grant_types are refused with 400 naming the accepted values', async () => {
      const accepted = /authorization_code, refresh_token, client_credentials/;
      for (const bad of [
        ['password'],
        [],
        ['refresh_token'],
        ['client_credentials', 'implicit'],
        // A bare string is taken as a one-element list (Fastify's coerceTypes: 'array').
        'password',
      ]) {
        const created = await createApp(bad);
        assert.equal(created.statusCode, 400, JSON.stringify(bad));
        assert.equal(created.json().error, 'invalid_request');
        if (!(Array.isArray(bad) && bad.length === 1 && bad[0] === 'refresh_token')) {
          assert.match(created.json().error_description, accepted, JSON.stringify(bad));
        }
      }
      const refreshOnly = await createApp(['refresh_token', 'client_credentials']);
      assert.match(refreshOnly.json().error_description, /refresh_token must also list authorization_code/);
      const existing = (await createApp()).json().client_id as string;
      for (const payload of [{ grant_types: ['password'] }, { grant_types: [] }, {}]) {
        const patched = await h.app.inject({
          method: 'PATCH',
          url: `/admin/applications/${existing}`,
          headers: admin,
          payload,
        });
        assert.equal(patched.statusCode, 400, JSON.stringify(payload));
      }
      const unknown = await h.app.inject({
        method: 'PATCH',
        url: '/admin/applications/1234567890123456',
        headers: admin,
        payload: { grant_types: ['client_credentials'] },
      });
      assert.equal(unknown.statusCode, 404);
    });
  });

  describe(`security on ${factory.name}: PKCE-required applications (review #4)`, () => {
    let h: Harness;
    let s: Seeded;
    before(async () => {
      h = await harness(factory);
      s = await h.seed({ pkceRequired: true });
    });
    after(async () => h.close());

    const challenge = 'p'.repeat(43);

    test('POST /admin/authorizations refuses plain and a missing method on a PKCE-required app (review #4)', async () => {
      for (const method of ['plain', undefined]) {
        const answer = await postJson(
          h.app,
          '/admin/authorizations',
          {
            client_id: s.clientId,
            user_id: s.sellerId,
            code_challenge: challenge,
            ...(method ? { code_challenge_method: method } : {}),
          },
          admin,
        );
        assert.equal(answer.status, 400, String(method));
        assert.equal(answer.body.error, 'invalid_request');
        assert.match(String(answer.body.error_description), /S256/);
        assert.equal(answer.body.code, undefined);
      }
      const s256 = await postJson(
        h.app,
        '/admin/authorizations',
        {
          client_id: s.clientId,
          user_id: s.sellerId,
          code_challenge: challenge,
          code_challenge_method: 'S256',
        },
        admin,
      );
      assert.equal(s256.status, 201);
      // An application without the requirement keeps RFC 7636's plain.
      const relaxed = await h.seed();
      assert.ok(await relaxed.code({ codeChallenge: challenge, codeChallengeMethod: 'plain' }));
    });

    test('GET /authorization redirects with invalid_request for plain or no method on a PKCE-required app (review #4)', async () => {
      for (const extra of [{ code_challenge_method: 'plain' }, {}] as Record<string, string>[]) {
        const query = new URLSearchParams({
          client_id: s.clientId,
          response_type: 'code',
          redirect_uri: s.redirectUri,
          state: 'pkce-state',
          code_challenge: challenge,
          ...extra,
        });
        const answer = await h.app.inject({ url: `/authorization?${query}` });
        assert.equal(answer.statusCode, 302, JSON.stringify(extra));
        const location = new URL(String(answer.headers.location));
        assert.equal(`${location.origin}${location.pathname}`, s.redirectUri);
        assert.equal(location.searchParams.get('error'), 'invalid_request');
        assert.match(String(location.searchParams.get('error_description')), /S256/);
        assert.equal(location.searchParams.get('state'), 'pkce-state');
        assert.equal(location.searchParams.get('code'), null);
      }
      const s256 = new URLSearchParams({
        client_id: s.clientId,
        response_type: 'code',
        redirect_uri: s.redirectUri,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      const page = await h.app.inject({ url: `/authorization?${s256}` });
      assert.equal(page.statusCode, 200, 'S256 proceeds to the login page');
    });
  });

  describe(`security on ${factory.name}: revoking a grant kills its codes (review #5)`, () => {
    let h: Harness;
    before(async () => {
      h = await harness(factory);
    });
    after(async () => h.close());

    test('a code issued before the seller revoked the app stays dead after re-consent (review #5)', async () => {
      const s = await h.seed();
      const c0 = await s.code({ scope: 'offline_access read write' });
      const revoked = await h.app.inject({
        method: 'DELETE',
        url: `/admin/grants/${s.clientId}/${s.sellerId}`,
        headers: admin,
      });
      assert.equal(revoked.statusCode, 204);
      const c2 = await s.code({ scope: 'read' });
      const auth = { client_id: s.clientId, client_secret: s.clientSecret };
      const old = await exchangeCode(h, s, c0, auth);
      assert.equal(old.status, 400);
      assert.equal(old.body.error, 'invalid_grant');
      assert.equal(old.body.access_token, undefined);
      const fresh = await exchangeCode(h, s, c2, auth);
      assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
      assert.equal(fresh.body.scope, 'read');
      // C0 stays dead, and refusing it again did not revoke what C2 issued.
      assert.equal((await exchangeCode(h, s, c0, auth)).body.error, 'invalid_grant');
      const me = await h.app.inject({
        url: '/users/me',
        headers: { authorization: `Bearer ${fresh.body.access_token}` },
      });
      assert.equal(me.statusCode, 200);
    });
  });

  describe(`security on ${factory.name}: oversized identifiers (review #7)`, () => {
    test('a 15 000-character client_id is refused, never becomes a limiter key, and is cut in the log (review #7)', async () => {
      const { logger, lines } = memoryLogger();
      const failures = new InProcessRateLimiter({ maxFailures: 20, windowSeconds: 60 });
      const requests = new InProcessRateLimiter({ maxFailures: 1000, windowSeconds: 60 });
      const h = await harness(factory, {
        http: { logger },
        services: { rateLimiter: failures, requestLimiter: requests },
      });
      try {
        const huge = '1'.repeat(15_000);
        const body = await postFrom(h.app, ATTACKER, '/oauth/token', {
          grant_type: 'client_credentials',
          client_id: huge,
          client_secret: 'x',
        });
        assert.equal(body.status, 400);
        assert.ok(['invalid_client', 'invalid_request'].includes(String(body.body.error)));
        const basic = await postFrom(
          h.app,
          ATTACKER,
          '/oauth/token',
          { grant_type: 'client_credentials' },
          { authorization: `Basic ${Buffer.from(`${'2'.repeat(10_000)}:x`).toString('base64')}` },
        );
        assert.equal(basic.status, 401);
        const introspect = await postFrom(h.app, ATTACKER, '/oauth/introspect', {
          client_id: huge,
          client_secret: 'x',
          token: 'y',
        });
        assert.equal(introspect.status, 400);
        const adminPath = await h.app.inject({
          method: 'POST',
          url: `/admin/applications/${'3'.repeat(8_000)}/secret`,
          headers: admin,
          payload: {},
        });
        // find-my-way refuses a path parameter over 100 characters with 414 before any handler.
        assert.ok([400, 414].includes(adminPath.statusCode), String(adminPath.statusCode));

        for (const limiter of [failures, requests]) {
          assert.ok(limiter.size > 0, 'the address was counted');
          for (const key of limiter.keys()) {
            assert.ok(key.length < 100, `limiter key of ${key.length} characters`);
          }
        }
        assert.ok(failures.has(`addr:${ATTACKER}`));
        assert.ok(lines.length > 0, 'the refusals were logged');
        for (const line of lines) {
          for (const value of stringsOf(line)) {
            assert.ok(value.length <= LOG_FIELD_MAX, `a log value of ${value.length} characters`);
            assert.ok(!/[123]{65}/.test(value), 'no more than LOG_VALUE_MAX characters of the id');
          }
        }
        assert.ok(LOG_VALUE_MAX <= 64);
      } finally {
        await h.close();
      }
    });
  });
}

describe('security: the in-process limiter memory is capped (review #7)', () => {
  test('filling the limiter beyond its cap keeps its size bounded and the newest windows live', async () => {
    const limiter = new InProcessRateLimiter({ maxFailures: 2, windowSeconds: 60, maxKeys: 1_000 });
    const now = Date.UTC(2026, 11, 1);
    for (let i = 0; i < 5_000; i++) {
      await limiter.recordFailure(`addr:10.0.${i >> 8}.${i & 255}`, now + i);
      assert.ok(limiter.size <= 1_000);
    }
    assert.equal(limiter.size, 1_000);
    // The oldest windows gave way; the newest are intact and still limit.
    assert.equal(limiter.has('addr:10.0.0.0'), false);
    const newest = 'addr:10.0.19.135';
    assert.equal(limiter.has(newest), true);
    await limiter.recordFailure(newest, now + 5_000);
    assert.ok((await limiter.retryAfter(newest, now + 5_001)) > 0);
    // Expired windows are dropped first when full.
    await limiter.recordFailure('fresh', now + 120_000);
    assert.ok(limiter.size <= 2, `expired windows swept, ${limiter.size} left`);
    assert.equal(DEFAULT_MAX_KEYS, 100_000, 'the documented default cap');
  });
});

describe('security: grant types from the CLI (issue 8 item 4)', () => {
  const run = promisify(execFile);
  // The compiled CLI, as installed (`npm test` builds first, see scripts/setup.mjs).
  const BIN = join(import.meta.dirname, '../../dist/cli/main.js');
  const renova = async (args: string[]) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [BIN, ...args]);
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'renova-gt-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('renova app create --grant-types and renova app update --grant-types, validated', async () => {
    const db = join(dir, 'r.db');
    const owner = JSON.parse(
      (await renova(['user', 'create', '--email', 'o@gt.test', '--db', db, '--json'])).stdout,
    );
    const create = (grantTypes: string) =>
      renova([
        'app',
        'create',
        '--name',
        'GT',
        '--owner',
        String(owner.id),
        '--redirect-uri',
        'https://gt.test/cb',
        '--grant-types',
        grantTypes,
        '--db',
        db,
        '--json',
      ]);
    const created = await create('authorization_code,refresh_token');
    assert.equal(created.code, 0, created.stderr);
    const app = JSON.parse(created.stdout);
    assert.deepEqual(app.grant_types, ['authorization_code', 'refresh_token']);
    const bad = await create('authorization_code,password');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /accepted values: authorization_code, refresh_token, client_credentials/);
    const updated = await renova([
      'app',
      'update',
      '--client-id',
      app.client_id,
      '--grant-types',
      'client_credentials',
      '--db',
      db,
      '--json',
    ]);
    assert.equal(updated.code, 0, updated.stderr);
    assert.deepEqual(JSON.parse(updated.stdout).grant_types, ['client_credentials']);
    const refused = await renova([
      'app',
      'update',
      '--client-id',
      app.client_id,
      '--grant-types',
      'refresh_token',
      '--db',
      db,
    ]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /authorization_code/);
  });
});
