/**
 * The storage port of {@link TokenKeeper}. Each method is one atomic step; adapters make it so
 * (a single conditional statement, a transaction, or a Lua script). The keeper's correctness rests
 * on three of them: {@link TokenStore.compareAndSwap} (the real guard against double rotation),
 * {@link TokenStore.acquireLease} (keeps processes from spending the same refresh token), and the
 * journal (a server answer is durable the moment it arrives).
 *
 * The batched methods ({@link TokenStore.journalAppendMany}, {@link TokenStore.compareAndSwapMany},
 * {@link TokenStore.journalListMany}, {@link TokenStore.releaseLeases}) are optional: a store that
 * has them lets the keeper write many sellers in one statement (one transaction, one fsync) instead
 * of one per seller; without them the keeper calls the single-seller methods, as before. Every
 * string field of {@link TokenData} is opaque to a store (the keeper may seal tokens before it
 * writes them): stores copy them, never parse or compare them.
 *
 * Times are milliseconds since the Unix epoch. "Now" for leases and for {@link TokenStore.claimDue}
 * is the store's clock (the database's, or Redis's `TIME`), so processes with skewed clocks agree.
 *
 * @module
 */

/** What the keeper knows about one seller's tokens, independent of storage. */
export interface TokenData {
  /** The seller (`user_id`). */
  userId: number;
  /** Current access token. */
  accessToken: string;
  /** Current refresh token; `null` when the server issued none. */
  refreshToken: string | null;
  /** `Bearer`. */
  tokenType: string;
  /** Space-separated scopes. */
  scope: string;
  /** The seller's public key, if sent. */
  publicKey: string | null;
  /** `false` for sandbox tokens. */
  liveMode: boolean;
  /** When the access token expires (conservative: request time + `expires_in`). */
  expiresAt: number;
  /** When the keeper should refresh it; `null` = never (no refresh token). */
  refreshAt: number | null;
}

/** Status of a stored token. */
export type TokenStatus = 'active' | 'reauthorization_required';

/** A stored token with its bookkeeping. */
export interface StoredToken extends TokenData {
  /** Increases by one on every write; the compare-and-swap key. */
  version: number;
  /** `reauthorization_required` after the grant was rejected; the scheduler skips it. */
  status: TokenStatus;
  /** Why re-authorization is required, if it is. */
  reason: string | null;
  /** Last write, by the writer's clock. */
  updatedAt: number;
}

/** A server answer written down the moment it arrived, before the compare-and-swap. */
export interface JournalEntry {
  /** Unique id (UUID). */
  id: string;
  /** The seller. */
  userId: number;
  /** The stored version the refresh started from. */
  fromVersion: number;
  /** The new tokens. */
  token: TokenData;
  /** When the answer arrived. */
  receivedAt: number;
}

/** One page of {@link TokenStore.scanTokens}. */
export interface TokenPage {
  /** Up to the requested number of tokens (Redis may return a few more or fewer per page). */
  tokens: StoredToken[];
  /** Pass this to the next call; `null` when every row has been seen. */
  cursor: string | null;
}

/** One item of {@link TokenStore.compareAndSwapMany}. */
export interface CompareAndSwapRequest {
  /** The seller; distinct within one batch. */
  userId: number;
  /** Swap only if the stored version is still this one. */
  expectedVersion: number;
  /** The new token data (opaque strings, stored as given). */
  next: TokenData;
  /** Journal entry deleted in the same atomic step, only when the swap succeeds. */
  journalId?: string;
  /**
   * Releases this owner's lease on the seller in the same atomic step, whether the swap succeeds or
   * not (compare-and-delete, like {@link TokenStore.releaseLease}): saves the release's own write.
   */
  releaseLeaseOf?: string;
}

/**
 * Storage for seller tokens, leases and the rotation journal. Implementations:
 * `MemoryTokenStore`, `SqliteTokenStore`, `PostgresTokenStore`, `RedisTokenStore`.
 */
export interface TokenStore {
  /** Reads a seller's token, or `null`. */
  get(userId: number): Promise<StoredToken | null>;
  /** Writes a token unconditionally (a fresh authorization): `version` becomes old + 1, status `active`. */
  put(token: TokenData): Promise<StoredToken>;
  /**
   * Replaces the token only if its version is still `expectedVersion` (and then sets version + 1 and
   * status `active`), deleting journal entry `journalId` in the same atomic step.
   *
   * @returns the stored token, or `null` if the version had moved on (nothing written)
   */
  compareAndSwap(
    userId: number,
    expectedVersion: number,
    next: TokenData,
    journalId?: string,
  ): Promise<StoredToken | null>;
  /** Marks the token `reauthorization_required` if its version is still `expectedVersion`. */
  markReauthorizationRequired(userId: number, expectedVersion: number, reason: string): Promise<boolean>;
  /**
   * Takes or renews the refresh lease of a seller for `ttlMs` (store clock). Succeeds when the lease
   * is free, expired, or already held by `owner`.
   */
  acquireLease(userId: number, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the lease if `owner` still holds it (compare-and-delete). */
  releaseLease(userId: number, owner: string): Promise<void>;
  /**
   * Atomically finds up to `limit` active tokens whose `refreshAt` has passed (store clock) and
   * whose lease is free or expired, and leases them to `owner` for `ttlMs`, earliest first.
   */
  claimDue(owner: string, limit: number, ttlMs: number): Promise<StoredToken[]>;
  /** Durably records a server answer. */
  journalAppend(entry: JournalEntry): Promise<void>;
  /** Lists journal entries, of one seller or of all. */
  journalList(userId?: number): Promise<JournalEntry[]>;
  /** Deletes a journal entry (no error if absent). */
  journalDelete(id: string): Promise<void>;
  /**
   * Walks every stored token in pages of about `limit` rows, so a maintenance pass (such as
   * re-sealing under a new key) never loads the whole table. Start with `cursor` `null`; a row
   * written during the walk may or may not be seen, and (Redis) a row may be seen twice.
   */
  scanTokens(cursor: string | null, limit: number): Promise<TokenPage>;
  /**
   * Replaces only the two token strings of the row whose version is still `expectedVersion`,
   * WITHOUT bumping the version or touching status, lease or schedule: for rewriting the same
   * secret in another encoding (re-sealing), so refreshes in flight are not disturbed.
   *
   * @returns whether the row was rewritten (`false`: gone, or its version moved on)
   */
  rewriteTokens(
    userId: number,
    expectedVersion: number,
    accessToken: string,
    refreshToken: string | null,
  ): Promise<boolean>;
  /** Deletes a seller's token, lease and journal entries. */
  delete(userId: number): Promise<void>;
  /**
   * Optional batched {@link TokenStore.journalAppend}: every entry is durably recorded when the
   * promise resolves (one statement or transaction for all of them). On rejection none or only
   * some may have been recorded; appending an entry again with the same id is harmless.
   */
  journalAppendMany?(entries: readonly JournalEntry[]): Promise<void>;
  /**
   * Optional batched {@link TokenStore.compareAndSwap}: each item is its own compare-and-swap (a
   * version mismatch of one does not affect the others), all written in one atomic step. The
   * `userId`s of one call are distinct (stores reject a batch that repeats one with a TypeError).
   *
   * @returns for each item, in order, the stored token or `null` if its version had moved on
   */
  compareAndSwapMany?(requests: readonly CompareAndSwapRequest[]): Promise<(StoredToken | null)[]>;
  /**
   * Optional batched {@link TokenStore.get}: for each seller, in order, its token or `null` (one
   * read for all of them).
   */
  getMany?(userIds: readonly number[]): Promise<(StoredToken | null)[]>;
  /** Optional batched {@link TokenStore.journalList}: the entries of any of these sellers. */
  journalListMany?(userIds: readonly number[]): Promise<JournalEntry[]>;
  /** Optional batched {@link TokenStore.releaseLease}: releases the leases `owner` still holds. */
  releaseLeases?(owner: string, userIds: readonly number[]): Promise<void>;
  /** The store's clock in ms. */
  now(): Promise<number>;
  /** Releases connections. */
  close(): Promise<void>;
}

/** Returns a deep-enough copy of token data (stores must not share mutable objects with callers). */
export function copyTokenData(t: TokenData): TokenData {
  return {
    userId: t.userId,
    accessToken: t.accessToken,
    refreshToken: t.refreshToken,
    tokenType: t.tokenType,
    scope: t.scope,
    publicKey: t.publicKey,
    liveMode: t.liveMode,
    expiresAt: t.expiresAt,
    refreshAt: t.refreshAt,
  };
}

/** Throws a TypeError when a batch names one seller twice (see {@link TokenStore.compareAndSwapMany}). */
export function assertDistinctSellers(requests: readonly { userId: number }[]): void {
  const seen = new Set<number>();
  for (const r of requests) {
    if (seen.has(r.userId)) throw new TypeError(`seller ${r.userId} appears twice in one batch`);
    seen.add(r.userId);
  }
}
