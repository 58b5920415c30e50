import type { AccessTokenRecord, RefreshTokenRecord, StoragePort, UserRecord } from '../storage/contract.ts';
import type { ClientAuthenticator } from './client-auth.ts';
import { presentedCredentials } from './client-auth.ts';
import { InvalidTokenError } from './errors.ts';
import { type Params, requireParams, stringParam } from './params.ts';
import type { Clock } from './ports.ts';
import { parseAccessToken, parseGrantToken, sameDigest, sha256 } from './tokens.ts';

export interface ClientRequest {
  params: Params;
  authorization: string | undefined;
  remoteAddress: string;
}

/** RFC 7662 §2.2 response; `{active:false}` says nothing more. */
export type IntrospectionResponse =
  | { active: false }
  | {
      active: true;
      scope: string;
      client_id: string;
      user_id: number;
      token_type: 'Bearer' | 'refresh_token';
      exp: number;
      iat: number;
      live_mode: boolean;
    };

type FoundToken =
  | { type: 'access'; record: AccessTokenRecord }
  | { type: 'refresh'; record: RefreshTokenRecord }
  | null;

const seconds = (ms: number) => Math.floor(ms / 1000);

/** Revocation (RFC 7009), introspection (RFC 7662) and bearer validation for resource endpoints. */
export class TokenInspection {
  readonly #storage: StoragePort;
  readonly #clock: Clock;
  readonly #clients: ClientAuthenticator;

  constructor(storage: StoragePort, clock: Clock, clients: ClientAuthenticator) {
    this.#storage = storage;
    this.#clock = clock;
    this.#clients = clients;
  }

  /** Finds a token by its selector and checks its secret; the shape says which kind it is. */
  async #find(token: string): Promise<FoundToken> {
    const refresh = parseGrantToken('refresh', token);
    if (refresh) {
      const record = await this.#storage.findRefreshToken(refresh.id);
      return record && sameDigest(record.hash, sha256(refresh.secret)) ? { type: 'refresh', record } : null;
    }
    const access = parseAccessToken(token);
    if (access) {
      const record = await this.#storage.findAccessToken(access.id);
      return record && sameDigest(record.hash, sha256(access.secret)) ? { type: 'access', record } : null;
    }
    return null;
  }

  /**
   * RFC 7009 §2.1: revoking a refresh token revokes its family and the access tokens issued from it;
   * revoking an access token revokes it alone. §2.2: "invalid tokens do not cause an error response",
   * and a token of another client is left alone without telling the caller it exists.
   */
  async revoke(request: ClientRequest): Promise<void> {
    const credentials = presentedCredentials(request.params, request.authorization);
    requireParams(request.params, ['token']);
    const app = await this.#clients.authenticate(credentials, request.remoteAddress);
    const found = await this.#find(stringParam(request.params, 'token') as string);
    if (!found || found.record.clientId !== app.clientId) return;
    const now = this.#clock.now();
    if (found.type === 'refresh') await this.#storage.revokeFamily(found.record.familyId, now);
    else await this.#storage.revokeAccessToken(found.record.id, now);
  }

  /** RFC 7662 §2: only tokens of the calling application are described. */
  async introspect(request: ClientRequest): Promise<IntrospectionResponse> {
    const credentials = presentedCredentials(request.params, request.authorization);
    requireParams(request.params, ['token']);
    const app = await this.#clients.authenticate(credentials, request.remoteAddress);
    const found = await this.#find(stringParam(request.params, 'token') as string);
    const now = this.#clock.now();
    if (
      !found ||
      found.record.clientId !== app.clientId ||
      found.record.revoked ||
      found.record.expiresAt <= now
    ) {
      return { active: false };
    }
    if (found.type === 'refresh' && found.record.rotatedAt !== null) return { active: false };
    const { record } = found;
    return {
      active: true,
      scope: record.scope,
      client_id: record.clientId,
      user_id: record.userId,
      token_type: found.type === 'access' ? 'Bearer' : 'refresh_token',
      exp: seconds(record.expiresAt),
      iat: seconds(record.issuedAt),
      live_mode: record.liveMode,
    };
  }

  /** RFC 6750 §2.1 bearer validation for `GET /users/me`. */
  async userOfBearer(
    authorization: string | undefined,
  ): Promise<{ user: UserRecord; token: AccessTokenRecord }> {
    const match = authorization === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) {
      throw new InvalidTokenError('send the access token as "Authorization: Bearer APP_USR-…"');
    }
    const found = await this.#find(match[1]);
    const now = this.#clock.now();
    if (found?.type !== 'access' || found.record.revoked || found.record.expiresAt <= now) {
      throw new InvalidTokenError('the access token is invalid, expired or revoked');
    }
    const user = await this.#storage.findUserById(found.record.userId);
    if (!user) throw new InvalidTokenError('the access token is invalid, expired or revoked');
    return { user, token: found.record };
  }
}
