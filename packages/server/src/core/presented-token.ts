import type {
  AccessTokenRecord,
  ApplicationRecord,
  RefreshTokenRecord,
  StoragePort,
} from '../storage/contract.ts';
import { type ClientAuthenticator, type ClientRequest, presentedCredentials } from './client-auth.ts';
import { requireParams, stringParam } from './params.ts';
import { parseAccessToken, parseGrantToken, sameDigest, sha256 } from './tokens.ts';

/** A presented token found in storage with its secret checked; which kind it is says its shape. */
export type PresentedToken =
  | { type: 'access'; record: AccessTokenRecord }
  | { type: 'refresh'; record: RefreshTokenRecord }
  | null;

/** Finds a token by its selector and checks its secret; the shape says which kind it is. */
export async function findPresentedToken(storage: StoragePort, token: string): Promise<PresentedToken> {
  const refresh = parseGrantToken('refresh', token);
  if (refresh) {
    const record = await storage.findRefreshToken(refresh.id);
    return record && sameDigest(record.hash, sha256(refresh.secret)) ? { type: 'refresh', record } : null;
  }
  const access = parseAccessToken(token);
  if (access) {
    const record = await storage.findAccessToken(access.id);
    return record && sameDigest(record.hash, sha256(access.secret)) ? { type: 'access', record } : null;
  }
  return null;
}

/**
 * The shared first steps of revocation (RFC 7009 §2.1) and introspection (RFC 7662 §2.1): the
 * client authenticates, the `token` parameter is required, and the token is looked up.
 */
export async function authenticatedTokenRequest(
  clients: ClientAuthenticator,
  storage: StoragePort,
  request: ClientRequest,
): Promise<{ app: ApplicationRecord; found: PresentedToken }> {
  const credentials = presentedCredentials(request.params, request.authorization);
  requireParams(request.params, ['token']);
  const app = await clients.authenticate(credentials, request.remoteAddress);
  return { app, found: await findPresentedToken(storage, stringParam(request.params, 'token') as string) };
}
