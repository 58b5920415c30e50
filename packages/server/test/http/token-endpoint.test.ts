import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { clientSecretView } from '../../src/views.ts';
import {
  exchange,
  type Harness,
  harness,
  postForm,
  postJson,
  refresh,
  type Seeded,
} from '../helpers/fixtures.ts';
import { storageFactories } from '../helpers/storages.ts';

const ACCESS = /^APP_USR-[0-9]{16}-[0-9]{6}-[0-9a-f]{48}-[0-9]+$/;
const REFRESH = /^TG-[0-9a-f]{48}-[0-9]+$/;
const PUBLIC_KEY = /^APP_USR-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

function assertError(
  answer: { status: number; body: Record<string, unknown> },
  status: number,
  error: string,
) {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.error, error);
  assert.equal(answer.body.status, status);
  assert.deepEqual(answer.body.cause, []);
  assert.equal(typeof answer.body.message, 'string');
  assert.equal(answer.body.message, answer.body.error_description);
}

for (const factory of storageFactories) {
  describe(`POST /oauth/token on ${factory.name}`, () => {
    let h: Harness;
    let s: Seeded;
    before(async () => {
      h = await harness(factory);
      s = await h.seed();
    });
    after(async () => h.close());

    describe('authorization_code', () => {
      test('exchanges a code for the eight-field response with the documented formats', async () => {
        const code = await s.code();
        const answer = await postJson(h.app, '/oauth/token', {
          grant_type: 'authorization_code',
          client_id: s.clientId,
          client_secret: s.clientSecret,
          code,
          redirect_uri: s.redirectUri,
        });
        assert.equal(answer.status, 200);
        assert.equal(answer.headers['cache-control'], 'no-store');
        assert.deepEqual(Object.keys(answer.body), [
          'access_token',
          'token_type',
          'expires_in',
          'scope',
          'user_id',
          'refresh_token',
          'public_key',
          'live_mode',
        ]);
        assert.match(answer.body.access_token as string, ACCESS);
        assert.ok((answer.body.access_token as string).startsWith(`APP_USR-${s.clientId}-112512-`));
        assert.ok((answer.body.access_token as string).endsWith(`-${s.sellerId}`));
        assert.match(answer.body.refresh_token as string, REFRESH);
        assert.match(answer.body.public_key as string, PUBLIC_KEY);
        assert.equal(answer.body.token_type, 'Bearer');
        assert.equal(answer.body.expires_in, 15552000);
        assert.equal(answer.body.scope, 'offline_access read write');
        assert.equal(answer.body.user_id, s.sellerId);
        assert.equal(answer.body.live_mode, true);
      });

      test('accepts a form body and HTTP Basic client authentication', async () => {
        const answer = await postForm(
          h.app,
          '/oauth/token',
          { grant_type: 'authorization_code', code: await s.code(), redirect_uri: s.redirectUri },
          { authorization: basic(s.clientId, s.clientSecret) },
        );
        assert.equal(answer.status, 200);
        assert.match(answer.body.refresh_token as string, REFRESH);
      });

      test('ignores a Bearer authorization header, as the mercadopago Node SDK sends one', async () => {
        const answer = await postForm(
          h.app,
          '/oauth/token',
          {
            grant_type: 'authorization_code',
            client_id: s.clientId,
            client_secret: s.clientSecret,
            code: await s.code(),
            redirect_uri: s.redirectUri,
          },
          { authorization: 'Bearer APP_USR-integrator-token' },
        );
        assert.equal(answer.status, 200);
      });

      test('issues sandbox tokens for test_token true, as a boolean or a string', async () => {
        for (const testToken of [true, 'true']) {
          const answer = await postJson(h.app, '/oauth/token', {
            grant_type: 'authorization_code',
            client_id: s.clientId,
            client_secret: s.clientSecret,
            code: await s.code(),
            redirect_uri: s.redirectUri,
            test_token: testToken,
          });
          assert.equal(answer.status, 200);
          assert.match(answer.body.access_token as string, /^TEST-/);
          assert.match(answer.body.public_key as string, /^TEST-/);
          assert.equal(answer.body.live_mode, false);
        }
      });

      test('rejects a reused code and revokes every token issued from it', async () => {
        const code = await s.code();
        const params = {
          grant_type: 'authorization_code',
          client_id: s.clientId,
          client_secret: s.clientSecret,
          code,
          redirect_uri: s.redirectUri,
        };
        const first = await postForm(h.app, '/oauth/token', params);
        assert.equal(first.status, 200);
        assertError(await postForm(h.app, '/oauth/token', params), 400, 'invalid_grant');
        const me = await h.app.inject({
          url: '/users/me',
          headers: { authorization: `Bearer ${first.body.access_token}` },
        });
        assert.equal(me.statusCode, 401);
        assertError(await refresh(h.app, s, first.body.refresh_token as string), 400, 'invalid_grant');
      });

      test('rejects an expired code', async () => {
        const code = await s.code();
        h.clock.advance(601_000);
        const answer = await postForm(h.app, '/oauth/token', {
          grant_type: 'authorization_code',
          client_id: s.clientId,
          client_secret: s.clientSecret,
          code,
          redirect_uri: s.redirectUri,
        });
        assertError(answer, 400, 'invalid_grant');
      });

      test('rejects an unknown or malformed code', async () => {
        for (const code of [
          'TG-1000000000000001aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1',
          'TG-nothex-1',
          'garbage',
        ]) {
          const answer = await postForm(h.app, '/oauth/token', {
            grant_type: 'authorization_code',
            client_id: s.clientId,
            client_secret: s.clientSecret,
            code,
            redirect_uri: s.redirectUri,
          });
          assertError(answer, 400, 'invalid_grant');
        }
      });

      test('rejects a code issued to another application', async () => {
        const other = await h.seed();
        const answer = await postForm(h.app, '/oauth/token', {
          grant_type: 'authorization_code',
          client_id: other.clientId,
          client_secret: other.clientSecret,
          code: await s.code(),
          redirect_uri: s.redirectUri,
        });
        assertError(answer, 400, 'invalid_grant');
      });

      test('rejects a redirect_uri that differs from the authorization request', async () => {
        const answer = await postForm(h.app, '/oauth/token', {
          grant_type: 'authorization_code',
          client_id: s.clientId,
          client_secret: s.clientSecret,
          code: await s.code(),
          redirect_uri: 'http://localhost:3000/cb',
        });
        assertError(answer, 400, 'invalid_grant');
        assert.match(answer.body.message as string, /redirect_uri/);
      });
    });

    describe('PKCE', () => {
      const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const params = async (extra: Record<string, string>, codeOptions: Record<string, string>) => ({
        grant_type: 'authorization_code',
        client_id: s.clientId,
        client_secret: s.clientSecret,
        code: await s.code(codeOptions),
        redirect_uri: s.redirectUri,
        ...extra,
      });

      test('accepts the right S256 verifier', async () => {
        const answer = await postForm(
          h.app,
          '/oauth/token',
          await params(
            { code_verifier: verifier },
            { codeChallenge: challenge, codeChallengeMethod: 'S256' },
          ),
        );
        assert.equal(answer.status, 200);
      });

      test('accepts the right plain verifier, plain being the default method', async () => {
        const answer = await postForm(
          h.app,
          '/oauth/token',
          await params({ code_verifier: verifier }, { codeChallenge: verifier }),
        );
        assert.equal(answer.status, 200);
      });

      test('rejects a wrong verifier, a missing verifier, and a verifier without a challenge', async () => {
        const pkce = { codeChallenge: challenge, codeChallengeMethod: 'S256' };
        assertError(
          await postForm(
            h.app,
            '/oauth/token',
            await params({ code_verifier: `${verifier.slice(0, -1)}A` }, pkce),
          ),
          400,
          'invalid_grant',
        );
        assertError(await postForm(h.app, '/oauth/token', await params({}, pkce)), 400, 'invalid_grant');
        assertError(
          await postForm(h.app, '/oauth/token', await params({ code_verifier: verifier }, {})),
          400,
          'invalid_grant',
        );
      });

      test('refuses to issue a code without a challenge for a PKCE-required application', async () => {
        const strict = await h.seed({ pkceRequired: true });
        await assert.rejects(strict.code(), /requires PKCE/);
      });
    });

    describe('refresh_token', () => {
      test('rotates: the new pair works, the old refresh token dies', async () => {
        const first = await exchange(h.app, s);
        const second = await refresh(h.app, s, first.refresh_token);
        assert.equal(second.status, 200);
        assert.notEqual(second.body.refresh_token, first.refresh_token);
        assert.notEqual(second.body.access_token, first.access_token);
        assert.equal(second.body.expires_in, 15552000);
        const third = await refresh(h.app, s, second.body.refresh_token as string);
        assert.equal(third.status, 200);
      });

      test('replays the same pair for the same token inside the window', async () => {
        const first = await exchange(h.app, s);
        const a = await refresh(h.app, s, first.refresh_token);
        h.clock.advance(30_000);
        const b = await refresh(h.app, s, first.refresh_token);
        assert.equal(b.status, 200);
        assert.deepEqual(b.body, a.body);
      });

      test('treats a rotated token as reuse after the window and revokes the family', async () => {
        const first = await exchange(h.app, s);
        const a = await refresh(h.app, s, first.refresh_token);
        h.clock.advance(61_000);
        const late = await refresh(h.app, s, first.refresh_token);
        assertError(late, 400, 'invalid_grant');
        assert.match(late.body.message as string, /already used/);
        assertError(await refresh(h.app, s, a.body.refresh_token as string), 400, 'invalid_grant');
        const me = await h.app.inject({
          url: '/users/me',
          headers: { authorization: `Bearer ${a.body.access_token}` },
        });
        assert.equal(me.statusCode, 401);
      });

      test('treats a rotated token as reuse once its successor was used, even inside the window', async () => {
        const first = await exchange(h.app, s);
        const a = await refresh(h.app, s, first.refresh_token);
        const b = await refresh(h.app, s, a.body.refresh_token as string);
        assert.equal(b.status, 200);
        assertError(await refresh(h.app, s, first.refresh_token), 400, 'invalid_grant');
        assertError(await refresh(h.app, s, b.body.refresh_token as string), 400, 'invalid_grant');
      });

      test('narrows the access token scope while the new refresh token keeps the grant scope', async () => {
        const first = await exchange(h.app, s);
        const narrowed = await refresh(h.app, s, first.refresh_token, { scope: 'read' });
        assert.equal(narrowed.status, 200);
        assert.equal(narrowed.body.scope, 'read');
        const widened = await refresh(h.app, s, narrowed.body.refresh_token as string);
        assert.equal(widened.body.scope, 'offline_access read write');
      });

      test('rejects a scope outside the grant with invalid_scope', async () => {
        const readOnly = await h.seed({ scope: 'offline_access read' });
        const tokens = await exchange(h.app, readOnly);
        assertError(
          await refresh(h.app, readOnly, tokens.refresh_token, { scope: 'read write' }),
          400,
          'invalid_scope',
        );
        assertError(
          await refresh(h.app, readOnly, tokens.refresh_token, { scope: 'payments' }),
          400,
          'invalid_scope',
        );
      });

      test('refuses to refresh a grant without offline_access with unauthorized_client', async () => {
        const online = await h.seed({ scope: 'read write' });
        const tokens = await exchange(h.app, online);
        assert.match(tokens.refresh_token, REFRESH);
        assertError(await refresh(h.app, online, tokens.refresh_token), 400, 'unauthorized_client');
      });

      test('rejects a refresh token of another application, an expired one, and a forged one', async () => {
        const tokens = await exchange(h.app, s);
        const other = await h.seed();
        assertError(await refresh(h.app, other, tokens.refresh_token), 400, 'invalid_grant');
        const forged = tokens.refresh_token.replace(
          /-([0-9a-f]{48})-/,
          (_m, hex: string) => `-${hex.slice(0, 16)}${'0'.repeat(32)}-`,
        );
        assertError(await refresh(h.app, s, forged), 400, 'invalid_grant');
        h.clock.advance(15552000 * 1000 + 1);
        assertError(await refresh(h.app, s, tokens.refresh_token), 400, 'invalid_grant');
      });
    });

    describe('client_credentials', () => {
      test("issues the application's own 6-hour token without a refresh token", async () => {
        const answer = await postForm(h.app, '/oauth/token', {
          grant_type: 'client_credentials',
          client_id: s.clientId,
          client_secret: s.clientSecret,
        });
        assert.equal(answer.status, 200);
        assert.equal(answer.body.expires_in, 21600);
        assert.equal(answer.body.user_id, s.ownerId);
        assert.equal(answer.body.refresh_token, undefined);
        assert.equal(Object.keys(answer.body).length, 7);
        assert.equal(answer.body.scope, 'read write');
      });

      test('accepts its own client_credentials access token as client_secret, as the Java SDK sends', async () => {
        const own = await postForm(h.app, '/oauth/token', {
          grant_type: 'client_credentials',
          client_id: s.clientId,
          client_secret: s.clientSecret,
        });
        const answer = await postJson(h.app, '/oauth/token', {
          grant_type: 'authorization_code',
          client_secret: own.body.access_token,
          code: await s.code(),
          redirect_uri: s.redirectUri,
        });
        assert.equal(answer.status, 200);
        assert.equal(answer.body.user_id, s.sellerId);
      });

      test("refuses a seller's access token as client_secret", async () => {
        const tokens = await exchange(h.app, s);
        const answer = await postJson(h.app, '/oauth/token', {
          grant_type: 'client_credentials',
          client_secret: tokens.access_token,
        });
        assertError(answer, 400, 'invalid_client');
      });
    });

    describe('errors', () => {
      test('lists what is required and what is missing', async () => {
        const answer = await postForm(h.app, '/oauth/token', {
          grant_type: 'refresh_token',
          client_id: s.clientId,
        });
        assertError(answer, 400, 'invalid_request');
        assert.equal(
          answer.body.message,
          'the following parameters are required: grant_type, client_id, client_secret, refresh_token. Missing parameters: client_secret, refresh_token',
        );
        const none = await postForm(h.app, '/oauth/token', {});
        assertError(none, 400, 'invalid_request');
        assert.match(
          none.body.message as string,
          /Missing parameters: grant_type, client_id, client_secret$/,
        );
      });

      test("answers the docs' own curl (refresh-token, trailing comma) with a 400 that says what to fix", async () => {
        const body = `{
  "client_secret": "${s.clientSecret}",
  "client_id": "${s.clientId}",
  "grant_type": "refresh-token",
  "refresh_token": "TG-XXXXXXXX-241983636",
}`;
        const answer = await postJson(h.app, '/oauth/token', body);
        assertError(answer, 400, 'invalid_request');
        assert.match(answer.body.message as string, /line 6, column 1/);
        assert.match(answer.body.message as string, /trailing comma/);
        assert.match(answer.body.message as string, /refresh_token" with an underscore/);
        const fixedComma = await postJson(h.app, '/oauth/token', body.replace('636",\n}', '636"\n}'));
        assertError(fixedComma, 400, 'unsupported_grant_type');
        assert.match(fixedComma.body.message as string, /did you mean "refresh_token"/);
      });

      test('rejects unknown grant types, duplicated form parameters and query-string parameters', async () => {
        assertError(
          await postForm(h.app, '/oauth/token', {
            grant_type: 'password',
            client_id: s.clientId,
            client_secret: 'x',
          }),
          400,
          'unsupported_grant_type',
        );
        const postRaw = (url: string, contentType: string, payload: string) =>
          h.app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload });
        const duplicated = await postRaw(
          '/oauth/token',
          'application/x-www-form-urlencoded',
          'grant_type=client_credentials&grant_type=client_credentials',
        );
        assert.equal(duplicated.statusCode, 400);
        assert.match(duplicated.json().message, /grant_type is given more than once/);
        // The same in JSON (RFC 6749 §3.2), escaped names included: JSON.parse would keep the
        // last one, a proxy in front may read the first.
        for (const payload of [
          `{"grant_type":"client_credentials","client_id":"${s.clientId}","client_id":"1234567890123456"}`,
          '{"grant_type":"client_credentials","grant_\\u0074ype":"refresh_token"}',
          '{"grant_type":"client_credentials","a\\"b":1,"a\\"b":2}',
        ]) {
          const twice = await postRaw('/oauth/token', 'application/json', payload);
          assert.equal(twice.statusCode, 400, payload);
          assert.equal(twice.json().error, 'invalid_request');
          assert.match(twice.json().message, /more than once; send each name once/);
        }
        const revokedTwice = await postRaw('/oauth/revoke', 'application/json', '{"token":"x","token":"y"}');
        assert.equal(revokedTwice.statusCode, 400);
        // A deeply nested body (within the 16 KiB limit) is scanned without trouble: a 400, not a 500.
        const deep = await postRaw(
          '/oauth/token',
          'application/json',
          `{"x":${'['.repeat(5000)}${']'.repeat(5000)}}`,
        );
        assert.equal(deep.statusCode, 400);
        assert.equal(deep.json().error, 'invalid_request');
        assert.match(revokedTwice.json().message, /"token" more than once/);
        const query = await h.app.inject({
          method: 'POST',
          url: `/oauth/token?grant_type=client_credentials&client_id=${s.clientId}`,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: `client_secret=${s.clientSecret}`,
        });
        assert.equal(query.json().error, 'invalid_request');
        assert.match(query.json().message, /query string/);
      });

      test('rejects other content types, JSON that is not an object, and non-string parameters', async () => {
        const text = await h.app.inject({
          method: 'POST',
          url: '/oauth/token',
          headers: { 'content-type': 'text/plain' },
          payload: 'grant_type=client_credentials',
        });
        assert.equal(text.statusCode, 400);
        assert.equal(text.json().error, 'invalid_request');
        assertError(await postJson(h.app, '/oauth/token', '[1,2]'), 400, 'invalid_request');
        assertError(
          await postJson(h.app, '/oauth/token', { grant_type: ['refresh_token'] }),
          400,
          'invalid_request',
        );
        const noType = await h.app.inject({ method: 'POST', url: '/oauth/token', payload: 'grant_type=x' });
        assert.equal(noType.statusCode, 400);
        assert.equal(noType.json().error, 'invalid_request');
      });

      test('answers a body over 16 KiB with 413 invalid_request', async () => {
        const answer = await postForm(h.app, '/oauth/token', {
          grant_type: 'client_credentials',
          pad: 'x'.repeat(17_000),
        });
        assertError(answer, 413, 'invalid_request');
      });

      test('rejects unknown clients and wrong secrets with invalid_client, and Basic failures with 401', async () => {
        assertError(
          await postForm(h.app, '/oauth/token', {
            grant_type: 'client_credentials',
            client_id: '1234567890123456',
            client_secret: s.clientSecret,
          }),
          400,
          'invalid_client',
        );
        assertError(
          await postForm(h.app, '/oauth/token', {
            grant_type: 'client_credentials',
            client_id: s.clientId,
            client_secret: 'wrong',
          }),
          400,
          'invalid_client',
        );
        const viaBasic = await postForm(
          h.app,
          '/oauth/token',
          { grant_type: 'client_credentials' },
          { authorization: basic(s.clientId, 'wrong') },
        );
        assertError(viaBasic, 401, 'invalid_client');
        assert.match(viaBasic.headers['www-authenticate'] as string, /^Basic /);
      });

      test('rejects two client authentication methods at once', async () => {
        const answer = await postForm(
          h.app,
          '/oauth/token',
          { grant_type: 'client_credentials', client_id: s.clientId, client_secret: s.clientSecret },
          { authorization: basic(s.clientId, s.clientSecret) },
        );
        assertError(answer, 401, 'invalid_client');
      });

      test('answers 429 local_rate_limited with Retry-After after repeated failed authentications', async () => {
        const target = await h.seed();
        let last: Awaited<ReturnType<typeof postForm>> | undefined;
        for (let i = 0; i < 25; i++) {
          last = await postForm(h.app, '/oauth/token', {
            grant_type: 'client_credentials',
            client_id: target.clientId,
            client_secret: 'wrong',
          });
        }
        assert.ok(last);
        assertError(last, 429, 'local_rate_limited');
        assert.match(last.headers['retry-after'] as string, /^[0-9]+$/);
        // From the failing address the right secret waits out the window too (the budget is per
        // (client, address); other addresses are unaffected, see security-client-auth.test.ts).
        const blocked = await postForm(h.app, '/oauth/token', {
          grant_type: 'client_credentials',
          client_id: target.clientId,
          client_secret: target.clientSecret,
        });
        assertError(blocked, 429, 'local_rate_limited');
        h.clock.advance(61_000);
        const after = await postForm(h.app, '/oauth/token', {
          grant_type: 'client_credentials',
          client_id: target.clientId,
          client_secret: target.clientSecret,
        });
        assert.equal(after.status, 200);
      });

      test('stops accepting a secret rotated out with no overlap at once, even just after using it', async () => {
        const leaked = await h.seed();
        const params = (secret: string) => ({
          grant_type: 'client_credentials',
          client_id: leaked.clientId,
          client_secret: secret,
        });
        assert.equal((await postForm(h.app, '/oauth/token', params(leaked.clientSecret))).status, 200);
        const { client_secret: next } = clientSecretView(
          await h.services.applications.rotateClientSecret(leaked.clientId, 0),
        );
        assertError(
          await postForm(h.app, '/oauth/token', params(leaked.clientSecret)),
          400,
          'invalid_client',
        );
        assert.equal((await postForm(h.app, '/oauth/token', params(next))).status, 200);
      });

      test('accepts a rotated-out secret during the overlap and refuses it after', async () => {
        const rotating = await h.seed();
        const { client_secret: next } = clientSecretView(
          await h.services.applications.rotateClientSecret(rotating.clientId, 60),
        );
        const params = (secret: string) => ({
          grant_type: 'client_credentials',
          client_id: rotating.clientId,
          client_secret: secret,
        });
        assert.equal((await postForm(h.app, '/oauth/token', params(rotating.clientSecret))).status, 200);
        assert.equal((await postForm(h.app, '/oauth/token', params(next))).status, 200);
        h.clock.advance(61_000);
        assertError(
          await postForm(h.app, '/oauth/token', params(rotating.clientSecret)),
          400,
          'invalid_client',
        );
        assert.equal((await postForm(h.app, '/oauth/token', params(next))).status, 200);
      });
    });
  });
}
