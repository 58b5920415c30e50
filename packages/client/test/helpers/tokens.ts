/** Builds stored token data from a token answer, due for refresh now (expiry close, refresh time passed). */

import type { TokenData, TokenStore } from '../../src/index.ts';

/** Token data from an answer, with `refreshAt` in the past and `expiresAt` soon (or already past). */
export function dueToken(answer: Record<string, unknown>, expiresInMs = 60_000): TokenData {
  return {
    userId: answer.user_id as number,
    accessToken: answer.access_token as string,
    refreshToken: answer.refresh_token as string,
    tokenType: 'Bearer',
    scope: answer.scope as string,
    publicKey: (answer.public_key as string | undefined) ?? null,
    liveMode: true,
    expiresAt: Date.now() + expiresInMs,
    refreshAt: Date.now() - 1_000,
  };
}

/** A seller's token data as a store holds it: live for an hour, due in half an hour unless `extra` says otherwise. */
export function tokenData(userId: number, extra: Partial<TokenData> = {}): TokenData {
  return {
    userId,
    accessToken: `APP_USR-1-010100-${userId}-${Math.random()}`,
    refreshToken: `TG-${userId}-${Math.random()}`,
    tokenType: 'Bearer',
    scope: 'offline_access read write',
    publicKey: 'APP_USR-pk',
    liveMode: true,
    expiresAt: Date.now() + 3_600_000,
    refreshAt: Date.now() + 1_800_000,
    ...extra,
  };
}

/** Resolves after `ms`. */
export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A store that delegates to `base` except for the methods in `overrides` (fault injection). */
export function wrapStore(base: TokenStore, overrides: Partial<TokenStore>): TokenStore {
  const methods = [
    'get',
    'put',
    'compareAndSwap',
    'markReauthorizationRequired',
    'acquireLease',
    'releaseLease',
    'claimDue',
    'journalAppend',
    'journalList',
    'journalDelete',
    'scanTokens',
    'rewriteTokens',
    'delete',
    'now',
    'close',
  ] as const;
  const out: Record<string, unknown> = {};
  for (const m of methods) out[m] = overrides[m] ?? (base[m] as (...a: unknown[]) => unknown).bind(base);
  return out as unknown as TokenStore;
}
