import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Params } from '../../../../src/core/params.ts';
import { type CoreWorld, coreWorld, errorOf, outcomeOf, type SeededApp } from '../../helpers/core.ts';

function clientCredentials(app: SeededApp, extra: Params = {}): Params {
  return {
    grant_type: 'client_credentials',
    client_id: app.clientId,
    client_secret: app.clientSecret,
    ...extra,
  };
}

describe('core/grants/client-credentials', () => {
  it("issues the application's own token: its owner's, no refresh token (RFC 6749 §4.4.3)", async () => {
    const w = coreWorld();
    const app = await w.seed();
    const result = await w.token(clientCredentials(app));
    assert.equal(result.outcome, 'issued');
    const r = result.response;
    assert.equal(r.refresh_token, undefined);
    assert.equal(r.user_id, app.ownerId);
    assert.equal(r.scope, 'read write');
    assert.equal(r.expires_in, w.lifetimes.clientCredentialsTokenSeconds);
    assert.match(r.access_token, new RegExp(`^APP_USR-${app.clientId}-`));
    assert.equal(r.live_mode, true);
  });

  const cases: { name: string; scope?: string; extra: Params; expected: string; grantedScope?: string }[] = [
    {
      name: 'no scope: the application scopes without offline_access',
      extra: {},
      expected: 'ok',
      grantedScope: 'read write',
    },
    { name: 'scope=read narrows', extra: { scope: 'read' }, expected: 'ok', grantedScope: 'read' },
    {
      name: 'scope=offline_access (no refresh token here)',
      extra: { scope: 'offline_access' },
      expected: 'invalid_scope',
    },
    { name: 'an unknown scope', extra: { scope: 'admin' }, expected: 'invalid_scope' },
    {
      name: "a scope outside the application's",
      scope: 'offline_access read',
      extra: { scope: 'write' },
      expected: 'invalid_scope',
    },
    { name: 'test_token=true', extra: { test_token: 'true' }, expected: 'ok' },
    { name: 'test_token=maybe', extra: { test_token: 'maybe' }, expected: 'invalid_request' },
    { name: 'a wrong client secret', extra: { client_secret: 'wrong' }, expected: 'invalid_client' },
    { name: 'missing client_secret', extra: { client_secret: undefined }, expected: 'invalid_request' },
  ];
  for (const row of cases) {
    it(`${row.name}: ${row.expected}`, async () => {
      const w = coreWorld();
      const app = await w.seed({ scope: row.scope });
      const call = w.token(clientCredentials(app, row.extra));
      assert.equal(await outcomeOf(call), row.expected);
      if (row.grantedScope !== undefined) assert.equal((await call).response.scope, row.grantedScope);
    });
  }

  it('refuses an access token as client_secret: unauthorized_client (security review #3)', async () => {
    const w = coreWorld();
    const app = await w.seed();
    const { response } = await w.token(clientCredentials(app));
    const error = await errorOf(
      w.token({ grant_type: 'client_credentials', client_secret: response.access_token }),
    );
    assert.equal(error.error, 'unauthorized_client');
    assert.match(error.description, /cannot be used as client_secret/);
  });

  it('refuses an application registered without client_credentials: unauthorized_client', async () => {
    const w: CoreWorld = coreWorld();
    const app = await w.seed({ grantTypes: ['authorization_code', 'refresh_token'] });
    const error = await errorOf(w.token(clientCredentials(app)));
    assert.equal(error.error, 'unauthorized_client');
    assert.match(error.description, /its grant_types: authorization_code, refresh_token/);
  });
});
