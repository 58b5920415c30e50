import type { GrantType } from '../../storage/contract.ts';
import { authorizationCodeGrant } from './authorization-code.ts';
import { clientCredentialsGrant } from './client-credentials.ts';
import type { GrantHandler } from './grant.ts';
import { refreshTokenGrant } from './refresh-token.ts';

export type { GrantContext, GrantHandler, GrantResult } from './grant.ts';

/** The grants of the token endpoint by their wire `grant_type`, in the order they are listed. */
export const GRANTS: ReadonlyMap<GrantType, GrantHandler> = new Map(
  [authorizationCodeGrant, refreshTokenGrant, clientCredentialsGrant].map((g) => [g.grantType, g]),
);

/**
 * The ONE list of grant types: RFC 8414 `grant_types_supported`, the metrics labels, the accepted
 * values of an application's RFC 7591 `grant_types` (and its default) and the token endpoint's
 * "use one of" all read it.
 */
export const GRANT_TYPES: readonly GrantType[] = [...GRANTS.keys()];

export function isGrantType(value: string): value is GrantType {
  return GRANTS.has(value as GrantType);
}
