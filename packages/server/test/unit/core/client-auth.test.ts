import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { presentedCredentials } from '../../../src/core/client-auth.ts';
import type { Params } from '../../../src/core/params.ts';
import { InProcessRateLimiter } from '../../../src/core/rate-limit.ts';
import {
  ADDRESS,
  basic,
  type CoreWorld,
  coreWorld,
  errorOf,
  outcomeOf,
  REDIRECT_URI,
  type SeededApp,
} from '../helpers/core.ts';

/** Authenticates as the token, revocation and introspection endpoints do. */
function authenticate(w: CoreWorld, params: Params, authorization?: string, address = ADDRESS) {
  return (async () => w.clients.authenticateClient(presentedCredentials(params, authorization), address))();
}

async function clientCredentialsToken(w: CoreWorld, app: SeededApp): Promise<string> {
  const { response } = await w.token({
    grant_type: 'client_credentials',
    client_id: app.clientId,
    client_secret: app.clientSecret,
  });
  return response.access_token;
}

describe('core/client-auth', () => {
  type Row = {
    name: string;
    request: (w: CoreWorld, app: SeededApp) => Promise<{ params: Params; authorization?: string }>;
    expected: string;
    scheme?: string;
  };
  const rows: Row[] = [
    {
      name: 'client_secret_post (RFC 6749 §2.3.1)',
      request: async (_w, app) => ({ params: { client_id: app.clientId, client_secret: app.clientSecret } }),
      expected: 'ok',
      scheme: 'body',
    },
    {
      name: 'client_secret_basic (RFC 6749 §2.3.1)',
      request: async (_w, app) => ({ params: {}, authorization: basic(app.clientId, app.clientSecret) }),
      expected: 'ok',
      scheme: 'basic',
    },
    {
      name: 'Basic and the same client_id in the body',
      request: async (_w, app) => ({
        params: { client_id: app.clientId },
        authorization: basic(app.clientId, app.clientSecret),
      }),
      expected: 'ok',
      scheme: 'basic',
    },
    {
      name: 'Basic and client_secret in the body: two methods (RFC 6749 §2.3)',
      request: async (_w, app) => ({
        params: { client_secret: app.clientSecret },
        authorization: basic(app.clientId, app.clientSecret),
      }),
      expected: 'invalid_client',
    },
    {
      name: 'Basic and another client_id in the body',
      request: async (w, app) => ({
        params: { client_id: (await w.seed()).clientId },
        authorization: basic(app.clientId, app.clientSecret),
      }),
      expected: 'invalid_client',
    },
    {
      name: 'a malformed Basic header',
      request: async () => ({ params: {}, authorization: 'Basic !!!' }),
      expected: 'invalid_client',
    },
    {
      name: 'Basic without a colon',
      request: async () => ({
        params: {},
        authorization: `Basic ${Buffer.from('nocolon').toString('base64')}`,
      }),
      expected: 'invalid_client',
    },
    {
      name: 'a Bearer header is ignored (the mercadopago Node SDK sends one): no credentials',
      request: async () => ({ params: {}, authorization: 'Bearer APP_USR-x' }),
      expected: 'invalid_request',
    },
    {
      name: 'no client_secret',
      request: async (_w, app) => ({ params: { client_id: app.clientId } }),
      expected: 'invalid_request',
    },
    {
      name: 'client_secret without client_id',
      request: async (_w, app) => ({ params: { client_secret: app.clientSecret } }),
      expected: 'invalid_request',
    },
    {
      name: 'a malformed client_id',
      request: async (_w, app) => ({ params: { client_id: '12ab', client_secret: app.clientSecret } }),
      expected: 'invalid_client',
    },
    {
      name: 'an unknown client_id',
      request: async (_w, app) => ({
        params: { client_id: '1234567890123456', client_secret: app.clientSecret },
      }),
      expected: 'invalid_client',
    },
    {
      name: 'a wrong secret',
      request: async (_w, app) => ({ params: { client_id: app.clientId, client_secret: 'wrong' } }),
      expected: 'invalid_client',
    },
    {
      name: "another application's secret",
      request: async (w, app) => ({
        params: { client_id: app.clientId, client_secret: (await w.seed()).clientSecret },
      }),
      expected: 'invalid_client',
    },
    {
      name: 'the previous secret inside its overlap',
      request: async (w, app) => {
        await w.applications.rotateClientSecret(app.clientId, 60);
        w.clock.advance(59_000);
        return { params: { client_id: app.clientId, client_secret: app.clientSecret } };
      },
      expected: 'ok',
      scheme: 'body',
    },
    {
      name: 'the previous secret after its overlap',
      request: async (w, app) => {
        await w.applications.rotateClientSecret(app.clientId, 60);
        w.clock.advance(60_000);
        return { params: { client_id: app.clientId, client_secret: app.clientSecret } };
      },
      expected: 'invalid_client',
    },
    {
      name: 'the new secret right after a rotation',
      request: async (w, app) => {
        const { clientSecret } = await w.applications.rotateClientSecret(app.clientId, 0);
        return { params: { client_id: app.clientId, client_secret: clientSecret } };
      },
      expected: 'ok',
      scheme: 'body',
    },
    {
      name: 'form 3: its own client_credentials access token as client_secret (docs/api.md §4.2)',
      request: async (w, app) => ({ params: { client_secret: await clientCredentialsToken(w, app) } }),
      expected: 'ok',
      scheme: 'access_token',
    },
    {
      name: 'form 3 with the matching client_id',
      request: async (w, app) => ({
        params: { client_id: app.clientId, client_secret: await clientCredentialsToken(w, app) },
      }),
      expected: 'ok',
      scheme: 'access_token',
    },
    {
      name: 'form 3 with another client_id',
      request: async (w, app) => ({
        params: { client_id: (await w.seed()).clientId, client_secret: await clientCredentialsToken(w, app) },
      }),
      expected: 'invalid_client',
    },
    {
      name: "form 3 with a seller's access token (not client_credentials)",
      request: async (w, app) => {
        const { response } = await w.token({
          grant_type: 'authorization_code',
          code: await app.code(),
          redirect_uri: REDIRECT_URI,
          client_id: app.clientId,
          client_secret: app.clientSecret,
        });
        return { params: { client_secret: response.access_token } };
      },
      expected: 'invalid_client',
    },
    {
      name: 'form 3 once its issuing secret is rotated out (security review #3)',
      request: async (w, app) => {
        const token = await clientCredentialsToken(w, app);
        await w.applications.rotateClientSecret(app.clientId, 0);
        return { params: { client_secret: token } };
      },
      expected: 'invalid_client',
    },
    {
      name: 'form 3 with an expired token',
      request: async (w, app) => {
        const token = await clientCredentialsToken(w, app);
        w.clock.advance(w.lifetimes.clientCredentialsTokenSeconds * 1000);
        return { params: { client_secret: token } };
      },
      expected: 'invalid_client',
    },
  ];
  for (const row of rows) {
    it(`${row.name}: ${row.expected}`, async () => {
      const w = coreWorld();
      const app = await w.seed();
      const { params, authorization } = await row.request(w, app);
      const call = authenticate(w, params, authorization);
      assert.equal(await outcomeOf(call), row.expected);
      if (row.scheme !== undefined) {
        const client = await call;
        assert.equal(client.scheme, row.scheme);
        assert.equal(client.app.clientId, app.clientId);
      }
    });
  }

  it('throttles failures per (client, address), not per client (security review #2)', async () => {
    const limiter = new InProcessRateLimiter({ maxFailures: 3, windowSeconds: 60 });
    const w = coreWorld({ rateLimiter: limiter });
    const app = await w.seed();
    const wrong = { client_id: app.clientId, client_secret: 'wrong' };
    for (let i = 0; i < 3; i += 1) assert.equal(await outcomeOf(authenticate(w, wrong)), 'invalid_client');
    const limited = await errorOf(
      authenticate(w, { client_id: app.clientId, client_secret: app.clientSecret }),
    );
    assert.equal(limited.error, 'local_rate_limited');
    // The same client from another address is not locked out.
    const elsewhere = authenticate(
      w,
      { client_id: app.clientId, client_secret: app.clientSecret },
      undefined,
      '198.51.100.1',
    );
    assert.equal(await outcomeOf(elsewhere), 'ok');
    w.clock.advance(60_000);
    assert.equal(
      await outcomeOf(authenticate(w, { client_id: app.clientId, client_secret: app.clientSecret })),
      'ok',
    );
  });

  it('never makes a malformed client_id a limiter key (security review #7)', async () => {
    const limiter = new InProcessRateLimiter({ maxFailures: 3, windowSeconds: 60 });
    const w = coreWorld({ rateLimiter: limiter });
    const long = '9'.repeat(15_000);
    assert.equal(await outcomeOf(authenticate(w, { client_id: long, client_secret: 'x' })), 'invalid_client');
    assert.equal(limiter.has(`client:${long}@${ADDRESS}`), false);
    assert.equal(limiter.has(`addr:${ADDRESS}`), true);
  });
});
