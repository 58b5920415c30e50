import { timingSafeEqual } from 'node:crypto';
import type { RotateOutcome, RotateRefreshToken } from './contract.ts';

/**
 * The refresh rotation decision (contract.ts `RotateRefreshToken`), expressed once as a pure
 * function. The SQLite write step and the memory adapter read the state, ask this function, then
 * carry out the answer; PostgreSQL runs the same decision inside `renova_rotate_refresh`
 * (postgres/migrations.ts), and test/storage/storage-rotation.test.ts holds all three to one table.
 */

/** What the decision needs to know about the presented token, its family and grant. */
export interface RotationState {
  hash: Uint8Array;
  /** The grant's application. */
  clientId: string;
  /** The token itself or its family is revoked. */
  revoked: boolean;
  expiresAt: number;
  /** The family's (grant's) scope. */
  grantScope: string;
  rotatedAt: number | null;
  /**
   * For a rotated token: its successor, or undefined when that is gone (purged). Read only when
   * `rotatedAt` is set, so a caller may leave it out for an unrotated token.
   */
  successor?: { rotated: boolean; revoked: boolean } | undefined;
}

/** A failed precondition: what the port answers; nothing may be written. */
export type RotationRefusal = Extract<
  RotateOutcome,
  { outcome: 'invalid' | 'revoked' | 'not_refreshable' | 'scope_not_granted' }
>;

export type RotationDecision =
  | { action: 'refuse'; refusal: RotationRefusal }
  /** Rotate: issue a new pair; the new access token's scope is `accessScope`. */
  | { action: 'rotate'; accessScope: string }
  /** Answer the first rotation's pair again (inside the replay window, successor unused). */
  | { action: 'replay' }
  /** Reuse of a rotated token (RFC 9700 §4.14.2): revoke the family. */
  | { action: 'reuse' };

export type RotationArgs = Pick<
  RotateRefreshToken,
  'presentedHash' | 'clientId' | 'requestedScope' | 'now' | 'graceMs'
>;

/**
 * The presented secret's digest against the stored one, in constant time. Both are SHA-256
 * digests, so an early exit would only tell how many leading digest bytes matched, which does not
 * help anyone choose a secret (the PostgreSQL function therefore uses plain `=`); here constant
 * time costs nothing, so it stays.
 */
function sameHash(stored: Uint8Array, presented: Uint8Array): boolean {
  return stored.length === presented.length && timingSafeEqual(stored, presented);
}

/** Scopes are stored and passed in canonical form (core/scopes.ts): space-separated names. */
function scopeNames(scope: string): string[] {
  return scope.split(' ').filter((name) => name.length > 0);
}

const refuse = (refusal: RotationRefusal): RotationDecision => ({ action: 'refuse', refusal });

/** `state` undefined: no such token (or its family or grant is gone). */
export function decideRotation(state: RotationState | undefined, args: RotationArgs): RotationDecision {
  // Preconditions, all before the first write, in the port's order: a failed one changes nothing.
  // The secret comes first, so knowing a row id is not enough to trigger reuse detection against
  // somebody else's family.
  if (!state || !sameHash(state.hash, args.presentedHash))
    return refuse({ outcome: 'invalid', reason: 'unknown' });
  // RFC 6749 §6: "ensure that the refresh token was issued to the authenticated client".
  if (state.clientId !== args.clientId) return refuse({ outcome: 'invalid', reason: 'other_client' });
  if (state.revoked) return refuse({ outcome: 'revoked' });
  if (state.expiresAt <= args.now) return refuse({ outcome: 'invalid', reason: 'expired' });
  const granted = new Set(scopeNames(state.grantScope));
  if (!granted.has('offline_access')) return refuse({ outcome: 'not_refreshable' });
  // RFC 6749 §6: the requested scope "MUST NOT include any scope not originally granted by the
  // resource owner". Core has parsed it; here it is only set inclusion.
  if (args.requestedScope !== null && !scopeNames(args.requestedScope).every((n) => granted.has(n))) {
    return refuse({ outcome: 'scope_not_granted', grantScope: state.grantScope });
  }
  // RFC 6749 §6: the new access token may be narrowed; the new refresh token keeps the family
  // (grant) scope, which is where its scope lives.
  if (state.rotatedAt === null)
    return { action: 'rotate', accessScope: args.requestedScope ?? state.grantScope };
  // Already rotated. A replay is allowed only inside the window and only while the successor has
  // not been used itself (docs/api.md §4.2); anything else is reuse (RFC 9700 §4.14.2).
  const insideWindow = args.graceMs > 0 && args.now - state.rotatedAt <= args.graceMs;
  const successor = state.successor;
  if (insideWindow && successor && !successor.rotated && !successor.revoked) return { action: 'replay' };
  return { action: 'reuse' };
}
