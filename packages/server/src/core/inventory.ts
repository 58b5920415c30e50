import type {
  AccessTokenRecord,
  ApplicationRecord,
  GrantRecord,
  ListedGrant,
  RefreshTokenRecord,
  StoragePort,
  UserRecord,
} from '../storage/contract.ts';
import { InvalidRequestError, NotFoundError } from './errors.ts';
import { isClientId } from './identifiers.ts';
import type { Clock } from './ports.ts';
import { parseAccessToken, parseGrantToken, sameDigest, sha256 } from './tokens.ts';

/** The most rows one listing call returns: a page stays one short read on every engine. */
export const MAX_PAGE = 1_000;

/** What Renova knows about a presented token (`renova token inspect`); never its secret. */
export type InspectedToken =
  | {
      kind: 'access_token';
      record: AccessTokenRecord;
      grant: GrantRecord | null;
      expired: boolean;
    }
  | {
      kind: 'refresh_token';
      record: RefreshTokenRecord;
      grant: GrantRecord | null;
      expired: boolean;
    };

/**
 * The operator's read-only view of the data (`renova app list|show`, `user list|show`, `grant
 * list`, `token inspect`): listings by keyset pages of at most MAX_PAGE rows, and what is known of
 * a token found by its selector.
 */
export class Inventory {
  readonly #storage: StoragePort;
  readonly #clock: Clock;

  constructor(storage: StoragePort, clock: Clock) {
    this.#storage = storage;
    this.#clock = clock;
  }

  listUsers(page: { after?: number | undefined; limit: number }): Promise<UserRecord[]> {
    return this.#storage.listUsers({ after: page.after, limit: checkedLimit(page.limit) });
  }

  async showUser(id: number): Promise<UserRecord> {
    const user = await this.#storage.findUserById(id);
    if (!user) throw new NotFoundError(`user ${id} does not exist`);
    return user;
  }

  async showUserByEmail(email: string): Promise<UserRecord> {
    const user = await this.#storage.findUserByEmail(email);
    if (!user) throw new NotFoundError(`no user has the email ${JSON.stringify(email)}`);
    return user;
  }

  listApplications(page: {
    after?: string | undefined;
    ownerUserId?: number | undefined;
    limit: number;
  }): Promise<ApplicationRecord[]> {
    const limit = checkedLimit(page.limit);
    if (page.after !== undefined && !isClientId(page.after))
      throw new InvalidRequestError('the cursor (--after) must be a client id of 16 digits');
    if (page.ownerUserId !== undefined) {
      // One owner has few applications: listed whole, then paged here.
      return this.#storage.listApplicationsByOwner(page.ownerUserId).then((apps) =>
        apps
          .filter((app) => page.after === undefined || app.clientId > page.after)
          .sort((a, b) => (a.clientId < b.clientId ? -1 : 1))
          .slice(0, limit),
      );
    }
    return this.#storage.listApplications({ after: page.after, limit });
  }

  async showApplication(clientId: string): Promise<ApplicationRecord> {
    const app = await this.#storage.findApplication(clientId);
    if (!app) throw new NotFoundError(`application ${clientId} does not exist`);
    return app;
  }

  listGrants(filter: {
    clientId?: string | undefined;
    userId?: number | undefined;
    after?: number | undefined;
    limit: number;
  }): Promise<ListedGrant[]> {
    return this.#storage.listGrants({ ...filter, limit: checkedLimit(filter.limit) });
  }

  /**
   * Finds the token by the selector it carries and checks its secret half against the stored
   * hash (in constant time), as the token endpoint would: a token whose selector exists but
   * whose secret differs is reported as not Renova's, so that a mistyped or forged value is never
   * described as the real token it collides with.
   */
  async inspectToken(token: string): Promise<InspectedToken> {
    const now = this.#clock.now();
    const refresh = parseGrantToken('refresh', token);
    if (refresh) {
      const record = await this.#storage.findRefreshToken(refresh.id);
      if (!record || !sameDigest(record.hash, sha256(refresh.secret))) throw unknownToken(record !== null);
      return {
        kind: 'refresh_token',
        record,
        grant: await this.#storage.findGrant(record.clientId, record.userId),
        expired: record.expiresAt <= now,
      };
    }
    const access = parseAccessToken(token);
    if (access) {
      const record = await this.#storage.findAccessToken(access.id);
      if (!record || !sameDigest(record.hash, sha256(access.secret))) throw unknownToken(record !== null);
      return {
        kind: 'access_token',
        record,
        grant: record.kind === 'user' ? await this.#storage.findGrant(record.clientId, record.userId) : null,
        expired: record.expiresAt <= now,
      };
    }
    if (parseGrantToken('code', token))
      throw new InvalidRequestError(
        'this is an authorization code: codes are single-use and live minutes; inspect the access or refresh token it was exchanged for',
      );
    throw new InvalidRequestError(
      'not a Renova token: expected an access token (APP_USR-… or TEST-…) or a refresh token (TG-…)',
    );
  }
}

function unknownToken(selectorExists: boolean): NotFoundError {
  return new NotFoundError(
    selectorExists
      ? 'Renova did not issue this token: a token with its selector exists, but the secret part differs (mistyped, truncated or forged)'
      : 'Renova knows no such token: never issued here, or purged after it expired',
  );
}

function checkedLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE)
    throw new InvalidRequestError(`the page size (--limit) must be 1 to ${MAX_PAGE}`);
  return limit;
}
