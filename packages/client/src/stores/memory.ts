/**
 * In-memory {@link TokenStore}: for tests and single-process development. Not durable: a restart
 * loses every token, so never use it in production with rotating refresh tokens.
 *
 * @module
 */

import {
  assertDistinctSellers,
  type CompareAndSwapRequest,
  copyTokenData,
  type JournalEntry,
  type StoredToken,
  type TokenData,
  type TokenPage,
  type TokenStore,
} from '../store.ts';

interface Lease {
  owner: string;
  until: number;
}

/** A {@link TokenStore} in process memory. */
export class MemoryTokenStore implements TokenStore {
  readonly #tokens = new Map<number, StoredToken>();
  readonly #leases = new Map<number, Lease>();
  readonly #journal = new Map<string, JournalEntry>();
  readonly #clock: () => number;

  /** @param options - `clock` replaces `Date.now` (tests) */
  constructor(options: { clock?: () => number } = {}) {
    this.#clock = options.clock ?? Date.now;
  }

  /** {@inheritDoc TokenStore.get} */
  async get(userId: number): Promise<StoredToken | null> {
    const t = this.#tokens.get(userId);
    return t === undefined ? null : { ...t };
  }

  /** {@inheritDoc TokenStore.put} */
  async put(token: TokenData): Promise<StoredToken> {
    const prev = this.#tokens.get(token.userId);
    const stored: StoredToken = {
      ...copyTokenData(token),
      version: (prev?.version ?? 0) + 1,
      status: 'active',
      reason: null,
      updatedAt: this.#clock(),
    };
    this.#tokens.set(token.userId, stored);
    return { ...stored };
  }

  /** {@inheritDoc TokenStore.compareAndSwap} */
  async compareAndSwap(
    userId: number,
    expectedVersion: number,
    next: TokenData,
    journalId?: string,
  ): Promise<StoredToken | null> {
    const prev = this.#tokens.get(userId);
    if (prev === undefined || prev.version !== expectedVersion) return null;
    const stored: StoredToken = {
      ...copyTokenData(next),
      userId,
      version: expectedVersion + 1,
      status: 'active',
      reason: null,
      updatedAt: this.#clock(),
    };
    this.#tokens.set(userId, stored);
    if (journalId !== undefined) this.#journal.delete(journalId);
    return { ...stored };
  }

  /** {@inheritDoc TokenStore.markReauthorizationRequired} */
  async markReauthorizationRequired(
    userId: number,
    expectedVersion: number,
    reason: string,
  ): Promise<boolean> {
    const prev = this.#tokens.get(userId);
    if (prev === undefined || prev.version !== expectedVersion) return false;
    this.#tokens.set(userId, {
      ...prev,
      version: prev.version + 1,
      status: 'reauthorization_required',
      reason,
      refreshAt: null,
      updatedAt: this.#clock(),
    });
    return true;
  }

  /** {@inheritDoc TokenStore.acquireLease} */
  async acquireLease(userId: number, owner: string, ttlMs: number): Promise<boolean> {
    const now = this.#clock();
    const lease = this.#leases.get(userId);
    if (lease !== undefined && lease.owner !== owner && lease.until > now) return false;
    this.#leases.set(userId, { owner, until: now + ttlMs });
    return true;
  }

  /** {@inheritDoc TokenStore.releaseLease} */
  async releaseLease(userId: number, owner: string): Promise<void> {
    if (this.#leases.get(userId)?.owner === owner) this.#leases.delete(userId);
  }

  /** {@inheritDoc TokenStore.claimDue} */
  async claimDue(owner: string, limit: number, ttlMs: number): Promise<StoredToken[]> {
    const now = this.#clock();
    const due: StoredToken[] = [];
    for (const t of this.#tokens.values()) {
      if (t.status !== 'active' || t.refreshAt === null || t.refreshAt > now) continue;
      const lease = this.#leases.get(t.userId);
      if (lease !== undefined && lease.until > now && lease.owner !== owner) continue;
      due.push(t);
    }
    due.sort((a, b) => (a.refreshAt ?? 0) - (b.refreshAt ?? 0));
    const picked = due.slice(0, Math.max(0, limit));
    for (const t of picked) this.#leases.set(t.userId, { owner, until: now + ttlMs });
    return picked.map((t) => ({ ...t }));
  }

  /** {@inheritDoc TokenStore.journalAppend} */
  async journalAppend(entry: JournalEntry): Promise<void> {
    this.#journal.set(entry.id, { ...entry, token: copyTokenData(entry.token) });
  }

  /** {@inheritDoc TokenStore.journalList} */
  async journalList(userId?: number): Promise<JournalEntry[]> {
    return [...this.#journal.values()].filter((e) => userId === undefined || e.userId === userId);
  }

  /** {@inheritDoc TokenStore.journalDelete} */
  async journalDelete(id: string): Promise<void> {
    this.#journal.delete(id);
  }

  /** {@inheritDoc TokenStore.scanTokens} */
  async scanTokens(cursor: string | null, limit: number): Promise<TokenPage> {
    const after = cursor === null ? Number.NEGATIVE_INFINITY : Number(cursor);
    const ids = [...this.#tokens.keys()].filter((id) => id > after).sort((a, b) => a - b);
    const page = ids.slice(0, Math.max(1, Math.floor(limit)));
    const tokens = page.map((id) => ({ ...(this.#tokens.get(id) as StoredToken) }));
    const last = page.at(-1);
    return { tokens, cursor: page.length < ids.length && last !== undefined ? String(last) : null };
  }

  /** {@inheritDoc TokenStore.rewriteTokens} */
  async rewriteTokens(
    userId: number,
    expectedVersion: number,
    accessToken: string,
    refreshToken: string | null,
  ): Promise<boolean> {
    const prev = this.#tokens.get(userId);
    if (prev === undefined || prev.version !== expectedVersion) return false;
    this.#tokens.set(userId, { ...prev, accessToken, refreshToken });
    return true;
  }

  /** {@inheritDoc TokenStore.delete} */
  async delete(userId: number): Promise<void> {
    this.#tokens.delete(userId);
    this.#leases.delete(userId);
    for (const [id, e] of this.#journal) if (e.userId === userId) this.#journal.delete(id);
  }

  /** {@inheritDoc TokenStore.getMany} */
  async getMany(userIds: readonly number[]): Promise<(StoredToken | null)[]> {
    const out: (StoredToken | null)[] = [];
    for (const userId of userIds) out.push(await this.get(userId));
    return out;
  }

  /** {@inheritDoc TokenStore.journalAppendMany} */
  async journalAppendMany(entries: readonly JournalEntry[]): Promise<void> {
    for (const e of entries) await this.journalAppend(e);
  }

  /** {@inheritDoc TokenStore.compareAndSwapMany} */
  async compareAndSwapMany(requests: readonly CompareAndSwapRequest[]): Promise<(StoredToken | null)[]> {
    assertDistinctSellers(requests);
    const out: (StoredToken | null)[] = [];
    for (const r of requests) {
      out.push(await this.compareAndSwap(r.userId, r.expectedVersion, r.next, r.journalId));
      if (r.releaseLeaseOf !== undefined) await this.releaseLease(r.userId, r.releaseLeaseOf);
    }
    return out;
  }

  /** {@inheritDoc TokenStore.journalListMany} */
  async journalListMany(userIds: readonly number[]): Promise<JournalEntry[]> {
    const wanted = new Set(userIds);
    return [...this.#journal.values()].filter((e) => wanted.has(e.userId));
  }

  /** {@inheritDoc TokenStore.releaseLeases} */
  async releaseLeases(owner: string, userIds: readonly number[]): Promise<void> {
    for (const userId of userIds) await this.releaseLease(userId, owner);
  }

  /** {@inheritDoc TokenStore.now} */
  async now(): Promise<number> {
    return this.#clock();
  }

  /** {@inheritDoc TokenStore.close} */
  async close(): Promise<void> {}
}
