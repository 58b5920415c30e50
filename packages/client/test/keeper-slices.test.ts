import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StoreBatcher } from '../src/batcher.ts';
import {
  MemoryTokenStore,
  OAuth,
  type StoredToken,
  type TokenData,
  TokenKeeper,
  type TokenStore,
} from '../src/index.ts';
import { type FakeServer, startFakeServer } from './helpers/fake-server.ts';
import { dueToken } from './helpers/tokens.ts';

/** Counts loop turns: a self-renewing setImmediate bumps `turn` once per event-loop iteration. */
function turnCounter() {
  const c = { turn: 0, stop: () => {} };
  let stopped = false;
  const bump = () => {
    if (stopped) return;
    c.turn++;
    setImmediate(bump);
  };
  setImmediate(bump);
  c.stop = () => {
    stopped = true;
  };
  return c;
}

/** Counts the calls of every method of a store, batched ones included. */
function counting(base: TokenStore) {
  const calls: Record<string, number> = {};
  const store = new Proxy(base, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls[String(property)] = (calls[String(property)] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls };
}

function data(userId: number): TokenData {
  return {
    userId,
    accessToken: `APP_USR-${userId}`,
    refreshToken: `TG-${userId}`,
    tokenType: 'Bearer',
    scope: 'offline_access',
    publicKey: null,
    liveMode: true,
    expiresAt: Date.now() + 60_000,
    refreshAt: Date.now() - 1_000,
  };
}

describe('StoreBatcher settles a written batch in slices', () => {
  it('writes 40 swaps in one call, resumes them at most 8 per loop turn, and swaps each seller exactly once', async () => {
    const { store, calls } = counting(new MemoryTokenStore());
    const ids = Array.from({ length: 40 }, (_x, i) => 500 + i);
    const before = await Promise.all(ids.map((id) => store.put(data(id))));
    const batcher = new StoreBatcher(store, 8);
    const turns = turnCounter();
    const resumedAt: number[] = [];
    const results = await Promise.all(
      before.map(async (t) => {
        const r = await batcher.compareAndSwap({
          userId: t.userId,
          expectedVersion: t.version,
          next: { ...data(t.userId), accessToken: `APP_USR-new-${t.userId}` },
        });
        resumedAt.push(turns.turn);
        return r;
      }),
    );
    turns.stop();
    assert.equal(calls.compareAndSwapMany, 1);
    assert.equal(calls.compareAndSwap ?? 0, 0);
    const perTurn = new Map<number, number>();
    for (const t of resumedAt) perTurn.set(t, (perTurn.get(t) ?? 0) + 1);
    assert.ok(perTurn.size >= 5, `resumed in ${perTurn.size} turns`);
    assert.ok(Math.max(...perTurn.values()) <= 8, `per turn: ${[...perTurn.values()]}`);
    for (const [i, r] of results.entries()) {
      assert.equal(r?.userId, ids[i]);
      assert.equal(r?.version, (before[i] as StoredToken).version + 1);
      assert.equal((await store.get(ids[i] as number))?.accessToken, `APP_USR-new-${ids[i]}`);
    }
  });

  it('rejects every request of a failed batch, in slices too', async () => {
    const base = new MemoryTokenStore();
    const failing = Object.assign(Object.create(base) as TokenStore, {
      journalAppendMany: async () => {
        throw new Error('disk full');
      },
      compareAndSwapMany: base.compareAndSwapMany.bind(base),
    });
    const batcher = new StoreBatcher(failing, 4);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_x, i) =>
        batcher.journalAppend({ id: `j${i}`, userId: i, fromVersion: 1, token: data(i), receivedAt: 0 }),
      ),
    );
    assert.deepEqual(
      outcomes.map((o) => o.status),
      Array(10).fill('rejected'),
    );
  });

  it('batches reads asked for in one turn into one getMany, one answer per seller (null when absent)', async () => {
    const { store, calls } = counting(new MemoryTokenStore());
    await store.put(data(1));
    await store.put(data(2));
    const batcher = new StoreBatcher(store, 16, 500, async (userIds) =>
      (await (store.getMany as NonNullable<TokenStore['getMany']>)(userIds)).map((value) => ({
        status: 'fulfilled' as const,
        value,
      })),
    );
    const [a, b, c] = await Promise.all([batcher.get(1), batcher.get(2), batcher.get(3)]);
    assert.equal(a?.userId, 1);
    assert.equal(b?.userId, 2);
    assert.equal(c, null);
    assert.equal(calls.getMany, 1);
    assert.equal(calls.get ?? 0, 0);
  });
});

describe('the TokenKeeper scheduler under a large claim', () => {
  let fake: FakeServer;
  before(async () => {
    // No replay window: a seller refreshed twice would have its grant revoked and fail the test.
    fake = await startFakeServer({ graceMs: 0 });
  });
  after(async () => {
    await fake.close();
  });

  /** Refreshes 400 due sellers (concurrency 200) and says in which loop turn each request started. */
  async function refreshAll(firstId: number, perTurn?: number) {
    const ids = Array.from({ length: 400 }, (_x, i) => firstId + i);
    const base = new MemoryTokenStore();
    await Promise.all(ids.map((id) => base.put(dueToken(fake.issue(id)))));
    const { store, calls } = counting(base);
    const turns = turnCounter();
    const startedAt: number[] = [];
    const keeper = new TokenKeeper({
      oauth: new OAuth({
        baseUrl: fake.baseUrl,
        fetch: (url, init) => {
          startedAt.push(turns.turn);
          return fetch(url, init);
        },
      }),
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      store,
      scheduler: { intervalMs: 50, concurrency: 200, ratePerSecond: 1_000_000, burst: 200, perTurn },
    });
    const rotated = new Map<number, number>();
    const errors: unknown[] = [];
    keeper.on('error', (e) => void errors.push(e.error));
    const done = new Promise<void>((resolve) =>
      keeper.on('rotated', (e) => {
        rotated.set(e.userId, (rotated.get(e.userId) ?? 0) + 1);
        if (rotated.size === ids.length) resolve();
      }),
    );
    keeper.start();
    await done;
    await keeper.stop();
    turns.stop();
    assert.deepEqual(errors, []);
    for (const id of ids) {
      assert.equal(rotated.get(id), 1, `seller ${id} rotated ${rotated.get(id)} times`);
      assert.equal((await base.get(id))?.version, 2);
    }
    assert.deepEqual(await base.journalList(), []);
    const perTurnCount = new Map<number, number>();
    for (const t of startedAt) perTurnCount.set(t, (perTurnCount.get(t) ?? 0) + 1);
    return { ids, calls, most: Math.max(...perTurnCount.values()) };
  }

  it('starts a claim of 400 sellers (concurrency 200) a few per loop turn, re-reads them in batches, and rotates each exactly once', async () => {
    const before = fake.refreshes().length;
    const { ids, calls, most } = await refreshAll(7_000);
    assert.equal(fake.refreshes().length - before, ids.length);
    // `perTurn` (2 by default); the slack covers a turn in which a resumed refresh also starts one.
    assert.ok(most <= 4, `requests started per turn: at most ${most}`);
    // The claimed rows are re-read in batches (the first 200 start in pairs, later ones as
    // refreshes finish, often alone), never with one get per seller.
    const reads = calls.getMany ?? 0;
    assert.ok(reads > 0 && reads < ids.length * 0.75, `getMany × ${reads}`);
    assert.equal(calls.get ?? 0, 0);
  });

  it('starts up to scheduler.perTurn refreshes per loop turn when it is raised, and still rotates each seller once', async () => {
    const { calls, most } = await refreshAll(8_000, 8);
    assert.ok(most > 4 && most <= 16, `requests started per turn: at most ${most}`);
    assert.equal(calls.get ?? 0, 0);
  });

  it('refuses a scheduler.perTurn that is not an integer from 1 to 64', () => {
    for (const perTurn of [0, -1, 65, 2.5, Number.NaN, Number.POSITIVE_INFINITY, '8' as unknown as number]) {
      assert.throws(
        () =>
          new TokenKeeper({
            oauth: new OAuth({ baseUrl: fake.baseUrl }),
            clientId: fake.clientId,
            clientSecret: fake.clientSecret,
            store: new MemoryTokenStore(),
            scheduler: { perTurn },
          }),
        (e: unknown) => e instanceof RangeError && /perTurn must be an integer from 1 to 64/.test(e.message),
        `perTurn ${String(perTurn)}`,
      );
    }
  });

  it('claims at most 256 rows at a time by default, however high the rate, and still refreshes every seller once', async () => {
    const ids = Array.from({ length: 700 }, (_x, i) => 9_000 + i);
    const base = new MemoryTokenStore();
    await Promise.all(ids.map((id) => base.put(dueToken(fake.issue(id)))));
    const limits: number[] = [];
    const store = new Proxy(base, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        // The store's methods use private fields: call them on the store, not on the proxy.
        if (property !== 'claimDue') return (value as (...a: unknown[]) => unknown).bind(target);
        return (owner: string, limit: number, ttlMs: number) => {
          limits.push(limit);
          return target.claimDue(owner, limit, ttlMs);
        };
      },
    });
    const keeper = new TokenKeeper({
      oauth: new OAuth({ baseUrl: fake.baseUrl }),
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      store,
      scheduler: { intervalMs: 50, concurrency: 64, ratePerSecond: 1_000_000, burst: 64 },
    });
    const rotated = new Set<number>();
    const errors: unknown[] = [];
    keeper.on('error', (e) => void errors.push(e.error));
    const done = new Promise<void>((resolve) =>
      keeper.on('rotated', (e) => {
        rotated.add(e.userId);
        if (rotated.size === ids.length) resolve();
      }),
    );
    keeper.start();
    // A stuck scheduler fails the assertions below instead of hanging the file.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 20_000)))]);
    clearTimeout(timer);
    await keeper.stop();
    assert.deepEqual(errors, []);
    assert.equal(rotated.size, ids.length);
    assert.ok(limits.length >= 3, `claims: ${limits}`);
    assert.ok(Math.max(...limits) <= 256, `claim limits: ${limits}`);
    assert.deepEqual(errors, []);
    for (const id of ids) assert.equal((await base.get(id))?.version, 2);
  });
});
