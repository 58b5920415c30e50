import type { IssuedPair } from '../storage/contract.ts';
import { formatAccessToken, formatGrantToken } from './tokens.ts';

/** The success body of docs/api.md §4.2, fields in the documented order. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  user_id: number;
  refresh_token?: string;
  public_key: string;
  live_mode: boolean;
}

/** `{uuid}` as `APP_USR-{uuid}` or `TEST-{uuid}` (docs/api.md §2). */
export function publicKey(uuid: string, liveMode: boolean): string {
  return `${liveMode ? 'APP_USR' : 'TEST'}-${uuid}`;
}

/** The response for an access and refresh token issued together (a code exchange or a refresh). */
export function pairResponse(args: {
  clientId: string;
  userId: number;
  liveMode: boolean;
  publicKeyUuid: string;
  accessSecret: Buffer;
  refreshSecret: Buffer;
  pair: IssuedPair;
}): TokenResponse {
  const { pair } = args;
  return {
    access_token: formatAccessToken({
      liveMode: args.liveMode,
      clientId: args.clientId,
      issuedAt: pair.access.issuedAt,
      id: pair.accessTokenId,
      secret: args.accessSecret,
      userId: args.userId,
    }),
    token_type: 'Bearer',
    expires_in: Math.round((pair.access.expiresAt - pair.access.issuedAt) / 1000),
    scope: pair.access.scope,
    user_id: args.userId,
    refresh_token: formatGrantToken('refresh', pair.refreshTokenId, args.refreshSecret, args.userId),
    public_key: publicKey(args.publicKeyUuid, args.liveMode),
    live_mode: args.liveMode,
  };
}
