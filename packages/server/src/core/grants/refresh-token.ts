import { InvalidGrantError, InvalidScopeError, UnauthorizedClientError } from '../errors.ts';
import { stringParam } from '../params.ts';
import { ALL_SCOPES, narrowScope } from '../scopes.ts';
import { pairResponse } from '../token-response.ts';
import { newValidator, openReplay, parseGrantToken, sealReplay, sha256 } from '../tokens.ts';
import { GRANT_FAILED, type GrantHandler } from './grant.ts';

const KNOWN_SCOPES = ALL_SCOPES.join(' ');

/** Private log details of the refresh preconditions answered with the generic GRANT_FAILED. */
const INVALID_REFRESH_DETAIL = {
  unknown: 'unknown refresh token',
  other_client: 'refresh token issued to another application',
  expired: 'refresh token expired',
} as const;

/**
 * RFC 6749 §6 with rotation, the replay window and reuse detection (RFC 9700 §4.14.2), in ONE
 * storage call: the checks on the presented token are preconditions of `rotateRefreshToken`,
 * taken inside its atomic step before any state change (storage/contract.ts RotateRefreshToken).
 */
export const refreshTokenGrant: GrantHandler = {
  grantType: 'refresh_token',
  required: ['refresh_token'],
  async handle({ storage, clock, random, lifetimes, events, audit }, { app }, params) {
    const now = clock.now();
    const presented = stringParam(params, 'refresh_token') as string;
    const requestedScope = stringParam(params, 'scope');

    const parsed = parseGrantToken('refresh', presented);
    if (!parsed) throw new InvalidGrantError(GRANT_FAILED, { detail: 'unknown refresh token' });
    // RFC 6749 §3.3: space-delimited scope names; only known ones, in canonical form. Whether they
    // are "originally granted by the resource owner" (§6) is a precondition of the storage step,
    // as set inclusion in the grant's scope.
    const canonicalScope =
      requestedScope === undefined
        ? null
        : narrowScope(requestedScope, KNOWN_SCOPES, 'the scopes Renova knows');

    const access = newValidator(random);
    const refresh = newValidator(random);
    const result = await storage.rotateRefreshToken({
      refreshTokenId: parsed.id,
      // The secret is checked before anything can change state: knowing a row id is not enough to
      // trigger reuse detection against somebody else's family.
      presentedHash: sha256(parsed.secret),
      // RFC 6749 §6: "ensure that the refresh token was issued to the authenticated client".
      clientId: app.clientId,
      // RFC 6749 §6: the new access token may narrow the scope; the new refresh token keeps the
      // grant's scope.
      requestedScope: canonicalScope,
      now,
      graceMs: lifetimes.refreshGraceSeconds * 1000,
      access: { hash: access.hash, issuedAt: now, expiresAt: now + lifetimes.accessTokenSeconds * 1000 },
      refresh: { hash: refresh.hash, issuedAt: now, expiresAt: now + lifetimes.refreshTokenSeconds * 1000 },
      replaySeal: sealReplay(parsed.secret, parsed.id, {
        accessSecret: access.secret,
        refreshSecret: refresh.secret,
      }),
      audit,
    });
    switch (result.outcome) {
      case 'rotated':
        return {
          outcome: 'rotated',
          response: pairResponse({
            clientId: app.clientId,
            userId: result.userId,
            liveMode: result.liveMode,
            publicKeyUuid: result.publicKey,
            accessSecret: access.secret,
            refreshSecret: refresh.secret,
            pair: result,
          }),
        };
      case 'replayed': {
        const first = openReplay(parsed.secret, parsed.id, result.replaySeal);
        if (!first) throw new InvalidGrantError(GRANT_FAILED, { detail: 'replay seal did not open' });
        events.refreshReplayed();
        return {
          outcome: 'replayed',
          response: pairResponse({
            clientId: app.clientId,
            userId: result.userId,
            liveMode: result.liveMode,
            publicKeyUuid: result.publicKey,
            accessSecret: first.accessSecret,
            refreshSecret: first.refreshSecret,
            pair: result,
          }),
        };
      }
      case 'reused':
        // The storage step revoked the family in the same transaction (RFC 9700 §4.14.2).
        events.refreshReuseDetected();
        events.familyRevoked('refresh_reuse');
        throw new InvalidGrantError(
          'this refresh token was already used; every token of this authorization has been revoked for safety. The seller must authorize again',
          { detail: `refresh token reuse, family ${result.familyId} revoked` },
        );
      case 'invalid':
        throw new InvalidGrantError(GRANT_FAILED, { detail: INVALID_REFRESH_DETAIL[result.reason] });
      case 'revoked':
        throw new InvalidGrantError(GRANT_FAILED, { detail: 'refresh token revoked' });
      case 'not_refreshable':
        throw new UnauthorizedClientError(
          'this authorization does not include offline_access, so it cannot be refreshed; ask the seller to authorize again with offline_access',
        );
      case 'scope_not_granted':
        // The same message as a check against the grant's scope: narrowScope throws it here.
        narrowScope(requestedScope as string, result.grantScope, 'the scope the seller granted');
        throw new InvalidScopeError(`scope is outside the scope the seller granted ("${result.grantScope}")`);
    }
  },
};
