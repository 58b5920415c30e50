import type { AccessTokenRecord, RefreshTokenRecord, StoragePort } from '../storage/contract.ts';
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
