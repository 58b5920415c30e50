import { InvalidGrantError } from '../errors.ts';
import { booleanParam, stringParam } from '../params.ts';
import { verifyPkce } from '../pkce.ts';
import { pairResponse } from '../token-response.ts';
import { newValidator, parseGrantToken, sameDigest, sha256 } from '../tokens.ts';
import { GRANT_FAILED, type GrantHandler } from './grant.ts';

/** RFC 6749 §4.1.3 with RFC 7636 §4.5-4.6; single use per RFC 6749 §4.1.2. */
export const authorizationCodeGrant: GrantHandler = {
  grantType: 'authorization_code',
  required: ['code', 'redirect_uri'],
  async handle({ storage, clock, random, lifetimes, events, audit }, { app }, params) {
    const now = clock.now();
    const codeParam = stringParam(params, 'code') as string;
    const redirectUri = stringParam(params, 'redirect_uri') as string;
    const verifier = stringParam(params, 'code_verifier');
    const liveMode = !booleanParam(params, 'test_token');

    const parsed = parseGrantToken('code', codeParam);
    const code = parsed ? await storage.findAuthorizationCode(parsed.id) : null;
    if (!parsed || !code || !sameDigest(code.hash, sha256(parsed.secret))) {
      throw new InvalidGrantError(GRANT_FAILED, { detail: 'unknown authorization code' });
    }
    if (code.clientId !== app.clientId) {
      throw new InvalidGrantError(GRANT_FAILED, { detail: 'code issued to another application' });
    }
    if (code.expiresAt <= now) throw new InvalidGrantError(GRANT_FAILED, { detail: 'code expired' });
    // RFC 6749 §4.1.3: "ensure that the redirect_uri parameter is present if [it] was included in the
    // initial authorization request ... and if included ensure that their values are identical."
    if (redirectUri !== code.redirectUri) {
      throw new InvalidGrantError(
        'redirect_uri does not match the one of the authorization request; send exactly the same URI',
      );
    }
    verifyPkce(code.codeChallenge, code.codeChallengeMethod, verifier);

    const access = newValidator(random);
    const refresh = newValidator(random);
    const result = await storage.exchangeAuthorizationCode({
      codeId: code.id,
      now,
      liveMode,
      access: {
        hash: access.hash,
        scope: code.scope,
        issuedAt: now,
        expiresAt: now + lifetimes.accessTokenSeconds * 1000,
      },
      refresh: { hash: refresh.hash, issuedAt: now, expiresAt: now + lifetimes.refreshTokenSeconds * 1000 },
      audit,
    });
    if (result.outcome === 'code_reused') {
      // RFC 6749 §4.1.2: "the authorization server MUST deny the request and SHOULD revoke (when
      // possible) all tokens previously issued based on that authorization code" (done by the step).
      events.codeReuseDetected();
      events.familyRevoked('code_reuse');
      throw new InvalidGrantError(
        'this authorization code was already used; every token issued from it has been revoked. Start a new authorization',
        { detail: 'authorization code reuse' },
      );
    }
    if (result.outcome === 'grant_revoked') {
      throw new InvalidGrantError(GRANT_FAILED, { detail: 'grant revoked before exchange' });
    }
    const response = pairResponse({
      clientId: app.clientId,
      userId: code.userId,
      liveMode,
      publicKeyUuid: result.publicKey,
      accessSecret: access.secret,
      refreshSecret: refresh.secret,
      pair: {
        accessTokenId: result.accessTokenId,
        refreshTokenId: result.refreshTokenId,
        access: { scope: code.scope, issuedAt: now, expiresAt: now + lifetimes.accessTokenSeconds * 1000 },
      },
    });
    return { response, outcome: 'issued' };
  },
};
