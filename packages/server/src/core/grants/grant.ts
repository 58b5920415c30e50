import type { AuditContext, GrantType, StoragePort } from '../../storage/contract.ts';
import type { AuthenticatedClient } from '../client-auth.ts';
import type { Lifetimes } from '../config.ts';
import type { ProtocolEvents } from '../events.ts';
import type { Params } from '../params.ts';
import type { Clock, RandomSource } from '../ports.ts';
import type { TokenResponse } from '../token-response.ts';

/** What every grant handler works with: the storage port, time, randomness and token lifetimes. */
export interface GrantContext {
  storage: StoragePort;
  clock: Clock;
  random: RandomSource;
  lifetimes: Lifetimes;
  /** Where replays, reuse detections and family revocations are reported (metrics). */
  events: ProtocolEvents;
  /** Who asks (the authenticated application, from where): recorded with the grant's change. */
  audit?: AuditContext;
}

/** What a grant handler returns; `outcome` feeds metrics and logs. */
export interface GrantResult {
  response: TokenResponse;
  outcome: 'issued' | 'rotated' | 'replayed';
}

/**
 * One `grant_type` of the token endpoint (node-oidc-provider's `lib/actions/grants/*` shape). The
 * endpoint has already checked `grant_type`, the `required` parameters, client authentication and
 * that the client is allowed this grant before `handle` runs.
 */
export interface GrantHandler {
  grantType: GrantType;
  /** Parameters the grant needs besides grant_type and client authentication. */
  required: readonly string[];
  handle(context: GrantContext, client: AuthenticatedClient, params: Params): Promise<GrantResult>;
}

/** Mercado Pago's wording for every refused code or refresh token; the reason goes to `detail`. */
export const GRANT_FAILED =
  'Error validating grant. Your authorization code or refresh token may be expired or it was already used.';
