/**
 * Group commit across sellers, above the store: the journal appends and compare-and-swaps that the
 * keeper's refreshes ask for while one batch is being written are written together as the next
 * batch, in one call of the store's batched method (one statement or transaction, one fsync).
 * With N refreshes in flight a store write costs about 1/N of a commit per seller instead of one.
 *
 * A store without the batched methods gets the single-seller calls, one per request, as before.
 *
 * @module
 */

import type { CompareAndSwapRequest, JournalEntry, StoredToken, TokenStore } from './store.ts';

interface Item<I, R> {
  input: I;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects requests and writes them with `write`, at most one batch in flight: what arrives while
 * a batch is written waits (a loop turn at least) and goes out as the next one. `key` keeps two
 * requests for one seller out of one batch.
 *
 * A written batch is settled `slice` requests per loop turn (`setImmediate` between slices), while
 * the next batch is already being written: each settled request resumes its refresh (the tail of
 * the rotation, the `rotated` hooks, the next seller's start), and a batch of hundreds resumed in
 * one turn would stall the integrator's event loop for tens of milliseconds.
 */
class Batch<I, R> {
  readonly #write: (inputs: I[]) => Promise<R[]>;
  readonly #key: ((input: I) => number) | undefined;
  readonly #max: number;
  readonly #slice: number;
  #queue: Item<I, R>[] = [];
  #busy = false;

  constructor(write: (inputs: I[]) => Promise<R[]>, max: number, slice: number, key?: (input: I) => number) {
    this.#write = write;
    this.#max = max;
    this.#slice = Math.max(1, Math.floor(slice));
    this.#key = key;
  }

  add(input: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ input, resolve, reject });
      if (!this.#busy) {
        this.#busy = true;
        // setImmediate: everything the event loop delivers in this turn joins the batch.
        setImmediate(() => void this.#flush());
      }
    });
  }

  #take(): Item<I, R>[] {
    if (this.#key === undefined) return this.#queue.splice(0, this.#max);
    const seen = new Set<number>();
    const batch: Item<I, R>[] = [];
    const rest: Item<I, R>[] = [];
    for (const item of this.#queue) {
      const k = this.#key(item.input);
      if (batch.length < this.#max && !seen.has(k)) {
        seen.add(k);
        batch.push(item);
      } else {
        rest.push(item);
      }
    }
    this.#queue = rest;
    return batch;
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#take();
      try {
        const results = await this.#write(batch.map((i) => i.input));
        this.#settle(batch, (item, i) => item.resolve(results[i] as R), 0);
      } catch (error) {
        this.#settle(batch, (item) => item.reject(error), 0);
      }
    }
    this.#busy = false;
  }

  /** Settles `batch[from..]`, `slice` items now and the rest in later loop turns. */
  #settle(batch: Item<I, R>[], settle: (item: Item<I, R>, index: number) => void, from: number): void {
    const end = Math.min(batch.length, from + this.#slice);
    for (let i = from; i < end; i++) settle(batch[i] as Item<I, R>, i);
    if (end < batch.length) setImmediate(() => this.#settle(batch, settle, end));
  }
}

/** The keeper's writes of rotations, batched when the store can (see the module documentation). */
export class StoreBatcher {
  /** Whether the store has the batched methods (and the compare-and-swap can release the lease). */
  readonly batched: boolean;
  readonly #store: TokenStore;
  readonly #journal: Batch<JournalEntry, undefined> | undefined;
  readonly #swaps: Batch<CompareAndSwapRequest, StoredToken | null> | undefined;
  readonly #reads: Batch<number, PromiseSettledResult<StoredToken | null>> | undefined;

  /**
   * @param store - the keeper's store
   * @param settleSlice - most requests of a written batch settled (resumed) per loop turn (the
   *   keeper's `scheduler.perTurn`)
   * @param maxBatch - most requests per store call
   * @param readMany - a batched read, settled per seller (the sealing store's `getEach`); without
   *   it {@link StoreBatcher.get} is the store's `get`
   */
  constructor(
    store: TokenStore,
    settleSlice: number,
    maxBatch = 500,
    readMany?: (userIds: readonly number[]) => Promise<PromiseSettledResult<StoredToken | null>[]>,
  ) {
    this.#store = store;
    if (readMany !== undefined) this.#reads = new Batch(readMany, maxBatch, settleSlice);
    const appendMany = store.journalAppendMany?.bind(store);
    const swapMany = store.compareAndSwapMany?.bind(store);
    this.batched = appendMany !== undefined && swapMany !== undefined;
    if (appendMany !== undefined && swapMany !== undefined) {
      this.#journal = new Batch(
        async (entries) => {
          await appendMany(entries);
          return entries.map(() => undefined);
        },
        maxBatch,
        settleSlice,
      );
      this.#swaps = new Batch(swapMany, maxBatch, settleSlice, (r) => r.userId);
    }
  }

  /**
   * Reads a seller's token (see {@link TokenStore.get}); the reads asked for in one loop turn go
   * out as one batched read when the store has one.
   */
  async get(userId: number): Promise<StoredToken | null> {
    if (this.#reads === undefined) return this.#store.get(userId);
    const r = await this.#reads.add(userId);
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  }

  /** Durably records a server answer (see {@link TokenStore.journalAppend}). */
  journalAppend(entry: JournalEntry): Promise<void> {
    if (this.#journal !== undefined) return this.#journal.add(entry).then(() => {});
    return this.#store.journalAppend(entry);
  }

  /**
   * A compare-and-swap (see {@link TokenStore.compareAndSwapMany}); `releaseLeaseOf` is honoured
   * only when {@link StoreBatcher.batched}.
   */
  compareAndSwap(request: CompareAndSwapRequest): Promise<StoredToken | null> {
    if (this.#swaps !== undefined) return this.#swaps.add(request);
    return this.#store.compareAndSwap(
      request.userId,
      request.expectedVersion,
      request.next,
      request.journalId,
    );
  }
}
