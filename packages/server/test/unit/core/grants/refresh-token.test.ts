import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Params } from '../../../../src/core/params.ts';
import {
  type CoreWorld,
  coreWorld,
  errorOf,
  outcomeOf,
  REDIRECT_URI,
  type SeededApp,
  withWrongSecret,
} from '../../helpers/core.ts';

/** A seeded application and a refresh token issued to it by a code exchange. */
async function issued(w: CoreWorld, options: { scope?: string } = {}) {
  const app = await w.seed();
  const { response } = await w.token({
    grant_type: 'authorization_code',
    code: await app.code(options),
    redirect_uri: REDIRECT_URI,
    client_id: app.clientId,
    client_secret: app.clientSecret,
  });
  return { app, refreshToken: response.refresh_token as string, first: response };
}

function refresh(app: SeededApp, refreshToken: string, extra: Params = {}): Params {
  return {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: app.clientId,
    client_secret: app.clientSecret,
    ...extra,
  };
}

describe('core/grants/refresh-token', () => {
  it('rotates: a new access and refresh token, the grant scope kept (RFC 6749 §6)', async () => {
    const w = coreWorld();
    const { app, refreshToken, first } = await issued(w);
    const result = await w.token(refresh(app, refreshToken));
    assert.equal(result.outcome, 'rotated');
    assert.notEqual(result.response.refresh_token, refreshToken);
    assert.notEqual(result.response.access_token, first.access_token);
    assert.equal(result.response.scope, 'offline_access read write');
    assert.equal(result.response.user_id, app.sellerId);
  });

  it('answers a retry inside the replay window with the same pair (RFC 9700 §4.14.2)', async () => {
    const w = coreWorld();
    const { app, refreshToken } = await issued(w);
    const first = await w.token(refresh(app, refreshToken));
    w.clock.advance(w.lifetimes.refreshGraceSeconds * 1000 - 1);
    const retry = await w.token(refresh(app, refreshToken));
    assert.equal(retry.outcome, 'replayed');
    assert.equal(retry.response.access_token, first.response.access_token);
    assert.equal(retry.response.refresh_token, first.response.refresh_token);
  });

  it('treats a reuse after the replay window as theft and revokes the family (RFC 9700 §4.14.2)', async () => {
    const w = coreWorld();
    const { app, refreshToken } = await issued(w);
    const rotated = await w.token(refresh(app, refreshToken));
    // The window includes its last millisecond (storage/contract.ts RotateRefreshToken).
    w.clock.advance(w.lifetimes.refreshGraceSeconds * 1000 + 1);
    const reuse = await errorOf(w.token(refresh(app, refreshToken)));
    assert.equal(reuse.error, 'invalid_grant');
    assert.match(reuse.description, /already used/);
    assert.equal(
      await outcomeOf(w.token(refresh(app, rotated.response.refresh_token as string))),
      'invalid_grant',
    );
  });

  const cases: {
    name: string;
    request: (w: CoreWorld) => Promise<Params>;
    expected: string;
    scope?: string;
  }[] = [
    {
      name: 'narrowing the scope to read (RFC 6749 §6)',
      request: async (w) => {
        const { app, refreshToken } = await issued(w);
        return refresh(app, refreshToken, { scope: 'read' });
      },
      expected: 'ok',
    },
    {
      name: 'a scope outside the grant',
      request: async (w) => {
        const { app, refreshToken } = await issued(w, { scope: 'offline_access read' });
        return refresh(app, refreshToken, { scope: 'read write' });
      },
      expected: 'invalid_scope',
    },
    {
      name: 'an unknown scope',
      request: async (w) => {
        const { app, refreshToken } = await issued(w);
        return refresh(app, refreshToken, { scope: 'admin' });
      },
      expected: 'invalid_scope',
    },
    {
      name: 'missing refresh_token',
      request: async (w) => {
        const { app } = await issued(w);
        return refresh(app, '');
      },
      expected: 'invalid_request',
    },
    {
      name: 'a malformed refresh token',
      request: async (w) => {
        const { app } = await issued(w);
        return refresh(app, 'TG-nothex-1');
      },
      expected: 'invalid_grant',
    },
    {
      name: 'a refresh token with a wrong secret',
      request: async (w) => {
        const { app, refreshToken } = await issued(w);
        return refresh(app, withWrongSecret(refreshToken));
      },
      expected: 'invalid_grant',
    },
    {
      name: "another application's refresh token (RFC 6749 §6)",
      request: async (w) => {
        const { refreshToken } = await issued(w);
        const other = await w.seed();
        return refresh(other, refreshToken);
      },
      expected: 'invalid_grant',
    },
    {
      name: 'an expired refresh token',
      request: async (w) => {
        const { app, refreshToken } = await issued(w);
        w.clock.advance(w.lifetimes.refreshTokenSeconds * 1000);
        return refresh(app, refreshToken);
      },
      expected: 'invalid_grant',
    },
    {
      name: 'a grant without offline_access',
      request: async (w) => {
        const { app, refreshToken } = await issued(w, { scope: 'read write' });
        return refresh(app, refreshToken);
      },
      expected: 'unauthorized_client',
    },
    {
      name: 'an application registered without refresh_token',
      request: async (w) => {
        const { app, refreshToken } = await issued(w);
        await w.applications.update(app.clientId, { grantTypes: ['authorization_code'] });
        return refresh(app, refreshToken);
      },
      expected: 'unauthorized_client',
    },
  ];
  for (const row of cases) {
    it(`${row.name}: ${row.expected}`, async () => {
      const w = coreWorld();
      assert.equal(await outcomeOf(w.token(await row.request(w))), row.expected);
    });
  }

  it('a revoked grant refreshes no more', async () => {
    const w = coreWorld();
    const { app, refreshToken } = await issued(w);
    await w.consent.revokeGrant(app.clientId, app.sellerId);
    assert.equal(await outcomeOf(w.token(refresh(app, refreshToken))), 'invalid_grant');
  });
});
