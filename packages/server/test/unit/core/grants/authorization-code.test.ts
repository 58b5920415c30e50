import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Params } from '../../../../src/core/params.ts';
import {
  coreWorld,
  errorOf,
  outcomeOf,
  REDIRECT_URI,
  type SeededApp,
  withWrongSecret,
} from '../../helpers/core.ts';

/** The form of a code exchange with client_secret_post (RFC 6749 §4.1.3). */
function exchange(app: SeededApp, code: string, extra: Params = {}): Params {
  return {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    client_id: app.clientId,
    client_secret: app.clientSecret,
    ...extra,
  };
}

describe('core/grants/authorization-code', () => {
  it('exchanges a code for an access and a refresh token (RFC 6749 §4.1.4)', async () => {
    const w = coreWorld();
    const app = await w.seed();
    const result = await w.token(exchange(app, await app.code()));
    assert.equal(result.outcome, 'issued');
    const r = result.response;
    assert.deepEqual(Object.keys(r), [
      'access_token',
      'token_type',
      'expires_in',
      'scope',
      'user_id',
      'refresh_token',
      'public_key',
      'live_mode',
    ]);
    assert.equal(r.token_type, 'Bearer');
    assert.equal(r.expires_in, w.lifetimes.accessTokenSeconds);
    assert.equal(r.scope, 'offline_access read write');
    assert.equal(r.user_id, app.sellerId);
    assert.match(r.access_token, new RegExp(`^APP_USR-${app.clientId}-`));
    assert.match(r.public_key, /^APP_USR-/);
    assert.equal(r.live_mode, true);
  });

  it('test_token=true issues test-mode tokens (docs/api.md §4.2)', async () => {
    const w = coreWorld();
    const app = await w.seed();
    const { response } = await w.token(exchange(app, await app.code(), { test_token: 'true' }));
    assert.match(response.access_token, /^TEST-/);
    assert.equal(response.live_mode, false);
  });

  const refusals: {
    name: string;
    request: (w: ReturnType<typeof coreWorld>, app: SeededApp, code: string) => Promise<Params>;
    expected: string;
  }[] = [
    {
      name: 'missing code',
      request: async (_w, app, code) => exchange(app, code, { code: '' }),
      expected: 'invalid_request',
    },
    {
      name: 'missing redirect_uri',
      request: async (_w, app, code) => exchange(app, code, { redirect_uri: undefined }),
      expected: 'invalid_request',
    },
    {
      name: 'malformed code',
      request: async (_w, app, code) => exchange(app, code, { code: 'not-a-code' }),
      expected: 'invalid_grant',
    },
    {
      name: 'a code with a wrong secret',
      request: async (_w, app, code) => exchange(app, code, { code: withWrongSecret(code) }),
      expected: 'invalid_grant',
    },
    {
      name: 'a code issued to another application',
      request: async (w, _app, code) => exchange(await w.seed(), code),
      expected: 'invalid_grant',
    },
    {
      name: 'an expired code (RFC 6749 §4.1.2)',
      request: async (w, app, code) => {
        w.clock.advance(w.lifetimes.authorizationCodeSeconds * 1000);
        return exchange(app, code);
      },
      expected: 'invalid_grant',
    },
    {
      name: 'another redirect_uri than the authorization request (RFC 6749 §4.1.3)',
      request: async (_w, app, code) => exchange(app, code, { redirect_uri: 'https://shop.example/other' }),
      expected: 'invalid_grant',
    },
    {
      name: 'a wrong client secret',
      request: async (_w, app, code) => exchange(app, code, { client_secret: 'wrong' }),
      expected: 'invalid_client',
    },
    {
      name: 'code as a JSON array',
      request: async (_w, app, code) => exchange(app, code, { code: [code] }),
      expected: 'invalid_request',
    },
  ];
  for (const row of refusals) {
    it(`refuses ${row.name}: ${row.expected}`, async () => {
      const w = coreWorld();
      const app = await w.seed();
      const code = await app.code();
      assert.equal(await outcomeOf(w.token(await row.request(w, app, code))), row.expected);
    });
  }

  it('refuses a reused code and revokes every token issued from it (RFC 6749 §4.1.2)', async () => {
    const w = coreWorld();
    const app = await w.seed();
    const code = await app.code();
    const first = await w.token(exchange(app, code));
    const again = await errorOf(w.token(exchange(app, code)));
    assert.equal(again.error, 'invalid_grant');
    assert.match(again.description, /already used/);
    const refresh = {
      grant_type: 'refresh_token',
      refresh_token: first.response.refresh_token,
      client_id: app.clientId,
      client_secret: app.clientSecret,
    };
    assert.equal(await outcomeOf(w.token(refresh)), 'invalid_grant');
  });

  it('refuses an application registered without authorization_code: unauthorized_client (RFC 6749 §5.2)', async () => {
    const w = coreWorld();
    const allowed = await w.seed();
    const code = await allowed.code();
    const app = await w.seed({ grantTypes: ['client_credentials'] });
    const error = await errorOf(w.token(exchange(app, code)));
    assert.equal(error.error, 'unauthorized_client');
    assert.match(error.description, /not allowed the authorization_code grant/);
  });
});
