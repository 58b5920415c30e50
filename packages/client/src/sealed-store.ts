/**
 * The store the keeper actually talks to: the integrator's {@link TokenStore} with sealing above
 * it. Tokens are sealed before every write and unsealed after every read, so the stores keep
 * opaque strings and know nothing about keys (docs/client-guide.md, "Sealing tokens at rest").
 *
 * @module
 */

import type { TokenSealer } from './sealing.ts';
import type {
  CompareAndSwapRequest,
  JournalEntry,
  StoredToken,
  TokenData,
  TokenPage,
  TokenStore,
} from './store.ts';

/** Seals {@link TokenData} on the way in and unseals {@link StoredToken}s on the way out. */
export class SealingTokenStore implements TokenStore {
  readonly #inner: TokenStore;
  readonly #sealer: TokenSealer;
  readonly #onUnreadable: (userId: number, error: unknown) => void;
  // The batched methods exist here exactly when the wrapped store has them, so the keeper's
  // batching (which checks for them) behaves as it would on the bare store.
  /** {@inheritDoc TokenStore.journalAppendMany} */
  readonly journalAppendMany?: (entries: readonly JournalEntry[]) => Promise<void>;
  /** {@inheritDoc TokenStore.compareAndSwapMany} */
  readonly compareAndSwapMany?: (
    requests: readonly CompareAndSwapRequest[],
  ) => Promise<(StoredToken | null)[]>;
  /** {@inheritDoc TokenStore.journalListMany} */
  readonly journalListMany?: (userIds: readonly number[]) => Promise<JournalEntry[]>;
  /** {@inheritDoc TokenStore.releaseLeases} */
  readonly releaseLeases?: (owner: string, userIds: readonly number[]) => Promise<void>;
  /**
   * The batched read ({@link TokenStore.getMany}) when the wrapped store has one, settled per
   * seller: a row that does not unseal fails for its seller only, not for the whole batch.
   */
  readonly getEach?: (userIds: readonly number[]) => Promise<PromiseSettledResult<StoredToken | null>[]>;

  /**
   * @param inner - the integrator's store
   * @param sealer - the key ring
   * @param onUnreadable - told about a claimed row that does not unseal (it is left out of the claim)
   */
  constructor(
    inner: TokenStore,
    sealer: TokenSealer,
    onUnreadable: (userId: number, error: unknown) => void,
  ) {
    this.#inner = inner;
    this.#sealer = sealer;
    this.#onUnreadable = onUnreadable;
    const appendMany = inner.journalAppendMany?.bind(inner);
    if (appendMany !== undefined) {
      this.journalAppendMany = async (entries) =>
        appendMany(
          await Promise.all(
            entries.map(async (e) => ({ ...e, token: await this.#sealData(e.token, e.userId) })),
          ),
        );
    }
    const swapMany = inner.compareAndSwapMany?.bind(inner);
    if (swapMany !== undefined) {
      this.compareAndSwapMany = async (requests) => {
        const sealed = await Promise.all(
          requests.map(async (r) => ({ ...r, next: await this.#sealData(r.next, r.userId) })),
        );
        const stored = await swapMany(sealed);
        return stored.map((t, i) => {
          const next = (requests[i] as CompareAndSwapRequest).next;
          return t === null ? null : { ...t, accessToken: next.accessToken, refreshToken: next.refreshToken };
        });
      };
    }
    const listMany = inner.journalListMany?.bind(inner);
    if (listMany !== undefined) {
      this.journalListMany = async (userIds) =>
        Promise.all(
          (await listMany(userIds)).map(async (e) => ({
            ...e,
            token: await this.#unsealData(e.token, e.userId),
          })),
        );
    }
    const getMany = inner.getMany?.bind(inner);
    if (getMany !== undefined) {
      this.getEach = async (userIds) =>
        Promise.allSettled(
          (await getMany(userIds)).map((t, i) =>
            t === null ? null : this.#unsealData(t, userIds[i] as number),
          ),
        );
    }
    const releaseMany = inner.releaseLeases?.bind(inner);
    if (releaseMany !== undefined) this.releaseLeases = releaseMany;
  }

  /** The wrapped store (raw, sealed strings). */
  get inner(): TokenStore {
    return this.#inner;
  }

  async #sealData(t: TokenData, userId = t.userId): Promise<TokenData> {
    return {
      ...t,
      userId,
      accessToken: await this.#sealer.seal(userId, 'access', t.accessToken),
      refreshToken: await this.#sealer.sealNullable(userId, 'refresh', t.refreshToken),
    };
  }

  async #unsealData<T extends TokenData>(t: T, userId = t.userId): Promise<T> {
    return {
      ...t,
      accessToken: await this.#sealer.unseal(userId, 'access', t.accessToken),
      refreshToken: await this.#sealer.unsealNullable(userId, 'refresh', t.refreshToken),
    };
  }

  /** {@inheritDoc TokenStore.get} */
  async get(userId: number): Promise<StoredToken | null> {
    const t = await this.#inner.get(userId);
    return t === null ? null : this.#unsealData(t, userId);
  }

  /** {@inheritDoc TokenStore.put} */
  async put(token: TokenData): Promise<StoredToken> {
    const stored = await this.#inner.put(await this.#sealData(token));
    return { ...stored, accessToken: token.accessToken, refreshToken: token.refreshToken };
  }

  /** {@inheritDoc TokenStore.compareAndSwap} */
  async compareAndSwap(
    userId: number,
    expectedVersion: number,
    next: TokenData,
    journalId?: string,
  ): Promise<StoredToken | null> {
    const stored = await this.#inner.compareAndSwap(
      userId,
      expectedVersion,
      await this.#sealData(next, userId),
      journalId,
    );
    return stored === null
      ? null
      : { ...stored, accessToken: next.accessToken, refreshToken: next.refreshToken };
  }

  /** {@inheritDoc TokenStore.markReauthorizationRequired} */
  markReauthorizationRequired(userId: number, expectedVersion: number, reason: string): Promise<boolean> {
    return this.#inner.markReauthorizationRequired(userId, expectedVersion, reason);
  }

  /** {@inheritDoc TokenStore.acquireLease} */
  acquireLease(userId: number, owner: string, ttlMs: number): Promise<boolean> {
    return this.#inner.acquireLease(userId, owner, ttlMs);
  }

  /** {@inheritDoc TokenStore.releaseLease} */
  releaseLease(userId: number, owner: string): Promise<void> {
    return this.#inner.releaseLease(userId, owner);
  }

  /**
   * {@inheritDoc TokenStore.claimDue}
   *
   * A claimed row that does not unseal is released and reported, not returned: one bad row must
   * not stop the scheduler from refreshing every other seller.
   */
  async claimDue(owner: string, limit: number, ttlMs: number): Promise<StoredToken[]> {
    const claimed = await this.#inner.claimDue(owner, limit, ttlMs);
    const out: StoredToken[] = [];
    for (const t of claimed) {
      try {
        out.push(await this.#unsealData(t));
      } catch (error) {
        await this.#inner.releaseLease(t.userId, owner).catch(() => {});
        this.#onUnreadable(t.userId, error);
      }
    }
    return out;
  }

  /** {@inheritDoc TokenStore.journalAppend} */
  async journalAppend(entry: JournalEntry): Promise<void> {
    await this.#inner.journalAppend({ ...entry, token: await this.#sealData(entry.token, entry.userId) });
  }

  /** {@inheritDoc TokenStore.journalList} */
  async journalList(userId?: number): Promise<JournalEntry[]> {
    const entries = await this.#inner.journalList(userId);
    return Promise.all(
      entries.map(async (e) => ({ ...e, token: await this.#unsealData(e.token, e.userId) })),
    );
  }

  /** {@inheritDoc TokenStore.journalDelete} */
  journalDelete(id: string): Promise<void> {
    return this.#inner.journalDelete(id);
  }

  /** {@inheritDoc TokenStore.scanTokens} */
  async scanTokens(cursor: string | null, limit: number): Promise<TokenPage> {
    const page = await this.#inner.scanTokens(cursor, limit);
    return { cursor: page.cursor, tokens: await Promise.all(page.tokens.map((t) => this.#unsealData(t))) };
  }

  /** {@inheritDoc TokenStore.rewriteTokens} */
  async rewriteTokens(
    userId: number,
    expectedVersion: number,
    accessToken: string,
    refreshToken: string | null,
  ): Promise<boolean> {
    return this.#inner.rewriteTokens(
      userId,
      expectedVersion,
      await this.#sealer.seal(userId, 'access', accessToken),
      await this.#sealer.sealNullable(userId, 'refresh', refreshToken),
    );
  }

  /** {@inheritDoc TokenStore.delete} */
  delete(userId: number): Promise<void> {
    return this.#inner.delete(userId);
  }

  /** {@inheritDoc TokenStore.now} */
  now(): Promise<number> {
    return this.#inner.now();
  }

  /** {@inheritDoc TokenStore.close} */
  close(): Promise<void> {
    return this.#inner.close();
  }
}
