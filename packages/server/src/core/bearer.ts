import type { AccessTokenRecord, StoragePort, UserRecord } from '../storage/contract.ts';
import { InvalidTokenError } from './errors.ts';
import type { Clock } from './ports.ts';
import { findPresentedToken } from './presented-token.ts';

/** Bearer validation for the resource endpoints (`GET /users/me`). */
export class BearerTokens {
  readonly #storage: StoragePort;
  readonly #clock: Clock;

  constructor(storage: StoragePort, clock: Clock) {
    this.#storage = storage;
    this.#clock = clock;
  }

  /** RFC 6750 §2.1 bearer validation for `GET /users/me`. */
  async userOfBearer(
    authorization: string | undefined,
  ): Promise<{ user: UserRecord; token: AccessTokenRecord }> {
    const match = authorization === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) {
      throw new InvalidTokenError('send the access token as "Authorization: Bearer APP_USR-…"');
    }
    const found = await findPresentedToken(this.#storage, match[1]);
    const now = this.#clock.now();
    if (found?.type !== 'access' || found.record.revoked || found.record.expiresAt <= now) {
      throw new InvalidTokenError('the access token is invalid, expired or revoked');
    }
    const user = await this.#storage.findUserById(found.record.userId);
    if (!user) throw new InvalidTokenError('the access token is invalid, expired or revoked');
    return { user, token: found.record };
  }
}
