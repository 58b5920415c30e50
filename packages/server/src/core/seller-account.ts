import type {
  ApplicationRecord,
  AuditContext,
  SellerGrantRecord,
  StoragePort,
  UserRecord,
} from '../storage/contract.ts';
import { sha256 } from './tokens.ts';

/**
 * What the seller's pages read and what their sessions store: the consent screen's context, the
 * account page's list of authorizations, and the sessions behind the cookie (only SHA-256 of a
 * cookie value is ever stored).
 */
export class SellerAccount {
  readonly #storage: StoragePort;

  constructor(storage: StoragePort) {
    this.#storage = storage;
  }

  /** Who publishes the application, and since when this seller has authorized it (if they have). */
  async consentContext(
    app: ApplicationRecord,
    userId: number,
  ): Promise<{ ownerNickname: string | undefined; authorizedSince: number | undefined }> {
    const [owner, grant] = await Promise.all([
      this.#storage.findUserById(app.ownerUserId),
      this.#storage.findGrant(app.clientId, userId),
    ]);
    return {
      ownerNickname: owner?.nickname,
      authorizedSince: grant && grant.revokedAt === null ? grant.createdAt : undefined,
    };
  }

  /** The applications the seller has authorized and not revoked, newest consent first. */
  authorizations(userId: number): Promise<SellerGrantRecord[]> {
    return this.#storage.listActiveGrantsOfUser(userId);
  }

  async applicationName(clientId: string): Promise<string | undefined> {
    return (await this.#storage.findApplication(clientId))?.name;
  }

  /** The signed-in user of a session cookie, or null when it is unknown or expired at `now`. */
  async userOfSession(cookie: string, now: number): Promise<UserRecord | null> {
    const session = await this.#storage.findSellerSession(sha256(cookie), now);
    return session ? this.#storage.findUserById(session.userId) : null;
  }

  /** A successful sign-in: the session and its `seller.signed_in` event, in one step. */
  startSession(
    args: { cookie: string; userId: number; now: number; expiresAt: number },
    audit?: AuditContext,
  ): Promise<void> {
    return this.#storage.createSellerSession(
      {
        hash: sha256(args.cookie),
        userId: args.userId,
        createdAt: args.now,
        expiresAt: args.expiresAt,
      },
      audit,
    );
  }

  endSession(cookie: string, audit?: AuditContext): Promise<void> {
    return this.#storage.deleteSellerSession(sha256(cookie), audit);
  }
}
