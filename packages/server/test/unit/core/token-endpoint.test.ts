import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GRANT_TYPES, GRANTS } from '../../../src/core/grants/index.ts';
import type { Params } from '../../../src/core/params.ts';
import { basic, coreWorld, errorOf } from '../helpers/core.ts';

describe('core/token-endpoint: the steps every grant shares', () => {
  it('GRANT_TYPES is the one list, in the order metadata lists it', () => {
    assert.deepEqual(GRANT_TYPES, ['authorization_code', 'refresh_token', 'client_credentials']);
    for (const grantType of GRANT_TYPES) assert.equal(GRANTS.get(grantType)?.grantType, grantType);
  });

  const cases: {
    name: string;
    params: (clientId: string, secret: string) => Params;
    authorization?: boolean;
    expected: string;
    message: RegExp;
  }[] = [
    {
      name: 'no grant_type, no credentials: both listed',
      params: () => ({}),
      expected: 'invalid_request',
      message:
        /required: grant_type, client_id, client_secret\. Missing parameters: grant_type, client_id, client_secret/,
    },
    {
      name: 'no grant_type with Basic credentials: only grant_type missing',
      params: () => ({}),
      authorization: true,
      expected: 'invalid_request',
      message: /Missing parameters: grant_type$/,
    },
    {
      name: 'an unknown grant_type (RFC 6749 §5.2)',
      params: () => ({ grant_type: 'password' }),
      expected: 'unsupported_grant_type',
      message: /use one of: authorization_code, refresh_token, client_credentials/,
    },
    {
      name: 'a grant_type with a dash: the hint names the right one',
      params: () => ({ grant_type: 'client-credentials' }),
      expected: 'unsupported_grant_type',
      message: /did you mean "client_credentials"/,
    },
    {
      name: 'a grant_type in upper case',
      params: () => ({ grant_type: 'REFRESH_TOKEN' }),
      expected: 'unsupported_grant_type',
      message: /did you mean "refresh_token"/,
    },
    {
      name: "the grant's own required parameters are listed with the credentials",
      params: (clientId) => ({ grant_type: 'authorization_code', client_id: clientId }),
      expected: 'invalid_request',
      message:
        /required: grant_type, client_id, client_secret, code, redirect_uri\. Missing parameters: client_secret, code, redirect_uri/,
    },
    {
      name: 'grant_type as a number',
      params: () => ({ grant_type: { a: 1 } }),
      expected: 'invalid_request',
      message: /grant_type must be a string/,
    },
    {
      name: 'a wrong secret is refused before the grant runs',
      params: (clientId) => ({
        grant_type: 'refresh_token',
        refresh_token: 'x',
        client_id: clientId,
        client_secret: 'no',
      }),
      expected: 'invalid_client',
      message: /client authentication failed/,
    },
  ];
  for (const row of cases) {
    it(`${row.name}: ${row.expected}`, async () => {
      const w = coreWorld();
      const app = await w.seed();
      const error = await errorOf(
        w.token(
          row.params(app.clientId, app.clientSecret),
          row.authorization ? basic(app.clientId, app.clientSecret) : undefined,
        ),
      );
      assert.equal(error.error, row.expected);
      assert.match(error.description, row.message);
    });
  }

  it('calls onAuthenticated with the verified client before the grant runs', async () => {
    const w = coreWorld();
    const app = await w.seed();
    const seen: string[] = [];
    await w.tokens.handle({
      params: { grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret },
      authorization: undefined,
      remoteAddress: '203.0.113.7',
      onAuthenticated: async (clientId) => {
        seen.push(clientId);
      },
    });
    assert.deepEqual(seen, [app.clientId]);
  });
});
