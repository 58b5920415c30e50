import type { AccessTokenRecord, ApplicationRecord, StoragePort, UserRecord } from '../storage/contract.ts';
import { InsufficientScopeError, InvalidTokenError } from './errors.ts';
import { isClientId } from './identifiers.ts';
import type { Clock } from './ports.ts';
import { findPresentedToken } from './presented-token.ts';

const INVALID = 'the access token is invalid, expired or revoked';

/** Bearer validation for the resource endpoints (`GET /users/me`, the application-owner API). */
export class BearerTokens {
  readonly #storage: StoragePort;
  readonly #clock: Clock;
  readonly #onGrantUsed: (clientId: string, userId: number) => void;

  constructor(
    storage: StoragePort,
    clock: Clock,
    /** Told when a seller's token was used (core/grant-use.ts); must not wait or throw. */
    onGrantUsed: (clientId: string, userId: number) => void = () => {},
  ) {
    this.#storage = storage;
    this.#clock = clock;
    this.#onGrantUsed = onGrantUsed;
  }

  /** RFC 6750 §2.1: a live access token from `Authorization: Bearer …`, or InvalidTokenError. */
  async #liveToken(authorization: string | undefined): Promise<AccessTokenRecord> {
    const match = authorization === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) {
      throw new InvalidTokenError('send the access token as "Authorization: Bearer APP_USR-…"');
    }
    const found = await findPresentedToken(this.#storage, match[1]);
    const now = this.#clock.now();
    if (found?.type !== 'access' || found.record.revoked || found.record.expiresAt <= now) {
      throw new InvalidTokenError(INVALID);
    }
    return found.record;
  }

  /** RFC 6750 §2.1 bearer validation for `GET /users/me`. */
  async userOfBearer(
    authorization: string | undefined,
  ): Promise<{ user: UserRecord; token: AccessTokenRecord }> {
    const token = await this.#liveToken(authorization);
    const user = await this.#storage.findUserById(token.userId);
    if (!user) throw new InvalidTokenError(INVALID);
    if (token.kind === 'user') this.#onGrantUsed(token.clientId, token.userId);
    return { user, token };
  }

  /**
   * The application-owner endpoints (`POST /users/test_user`, `/applications/{client_id}/grants`):
   * the token must be a live client_credentials token (RFC 6749 §4.4) of an existing application,
   * and, when `clientId` is given, of that application. A seller's token, or another application's,
   * is valid but not enough: InsufficientScopeError (RFC 6750 §3.1, 403).
   */
  async applicationOfBearer(
    authorization: string | undefined,
    clientId?: string,
  ): Promise<{ app: ApplicationRecord; token: AccessTokenRecord }> {
    const token = await this.#liveToken(authorization);
    if (token.kind !== 'client_credentials') {
      throw new InsufficientScopeError(
        "this endpoint needs the application's own token: obtain it with grant_type=client_credentials, not a seller's token",
      );
    }
    // A deleted application's tokens were revoked with it; an unknown one cannot have tokens.
    const app = await this.#storage.findApplication(token.clientId);
    if (!app) throw new InvalidTokenError(INVALID);
    if (clientId !== undefined) this.requireSameApplication(app, clientId);
    return { app, token };
  }

  /** The caller (an application authenticated by applicationOfBearer) acts only on itself. */
  requireSameApplication(caller: ApplicationRecord, clientId: string): void {
    if (!isClientId(clientId) || clientId !== caller.clientId) {
      throw new InsufficientScopeError(
        "this token belongs to another application: call with that application's own client_credentials token",
      );
    }
  }
}
