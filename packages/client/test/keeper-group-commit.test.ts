import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import {
  OAuth,
  SqliteTokenStore,
  type StoredToken,
  StoreError,
  TokenKeeper,
  type TokenStore,
} from '../src/index.ts';
import { type FakeServer, startFakeServer } from './helpers/fake-server.ts';
import { dueToken, wrapStore } from './helpers/tokens.ts';

/** Counts the calls of every method of a store, batched ones included. */
function counting(base: TokenStore, overrides: Partial<Record<keyof TokenStore, unknown>> = {}) {
  const calls: Record<string, number> = {};
  const store = new Proxy(base, {
    get(target, property, receiver) {
      const own = overrides[property as keyof TokenStore];
      const value = own ?? Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls[String(property)] = (calls[String(property)] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(own === undefined ? target : undefined, args);
      };
    },
  });
  return { store, calls };
}

let fake: FakeServer;
let dir: string;
let path: string;
let store: SqliteTokenStore;

function keeper(s: TokenStore, concurrency = 50): TokenKeeper {
  return new TokenKeeper({
    oauth: new OAuth({ baseUrl: fake.baseUrl, timeout: 5_000 }),
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    store: s,
    retry: { baseDelayMs: 5, maxDelayMs: 200 },
    scheduler: { intervalMs: 50, concurrency, ratePerSecond: 1_000_000, burst: concurrency },
  });
}

async function seed(ids: number[]): Promise<void> {
  await Promise.all(ids.map((id) => store.put(dueToken(fake.issue(id)))));
}

/** Starts the scheduler and resolves once `n` rotations were stored. */
async function runUntil(k: TokenKeeper, n: number): Promise<{ errors: unknown[]; rotated: StoredToken[] }> {
  const errors: unknown[] = [];
  const rotated: StoredToken[] = [];
  k.on('error', (e) => void errors.push(e.error));
  const done = new Promise<void>((r) =>
    k.on('rotated', (e) => {
      rotated.push(e.token);
      if (rotated.length === n) r();
    }),
  );
  k.start();
  await done;
  await k.stop();
  return { errors, rotated };
}

describe('TokenKeeper group commit on the SQLite store (writer thread)', () => {
  before(async () => {
    // No replay window: presenting a spent refresh token twice is reuse, and revokes the grant,
    // so a keeper that refreshed any seller twice fails these tests instead of passing by luck.
    fake = await startFakeServer({ graceMs: 0 });
  });
  after(async () => {
    await fake.close();
  });
  beforeEach(() => {
    fake.requests.length = 0;
    fake.faults.length = 0;
    dir = mkdtempSync(join(tmpdir(), 'renova-group-'));
    path = join(dir, 'tokens.db');
    store = new SqliteTokenStore({ path });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refreshes 300 due sellers once each with fewer store writes than sellers: batched journal and swap, no per-seller lease calls', async () => {
    const ids = Array.from({ length: 300 }, (_x, i) => 1_000 + i);
    await seed(ids);
    const { store: s, calls } = counting(store);
    const k = keeper(s);
    const { errors, rotated } = await runUntil(k, ids.length);
    assert.deepEqual(errors, []);
    assert.equal(fake.refreshes().length, ids.length);
    assert.equal(new Set(rotated.map((t) => t.userId)).size, ids.length);
    const m = k.metrics();
    assert.equal(m.rotations, ids.length);
    assert.equal(m.scheduledClaimed, ids.length);
    assert.equal(m.casConflicts, 0);
    // Batched: far fewer swap and journal calls than sellers, and the single-seller writes unused.
    assert.ok(
      (calls.compareAndSwapMany ?? 0) < ids.length / 2,
      `compareAndSwapMany × ${calls.compareAndSwapMany}`,
    );
    assert.ok(
      (calls.journalAppendMany ?? 0) < ids.length / 2,
      `journalAppendMany × ${calls.journalAppendMany}`,
    );
    for (const single of ['compareAndSwap', 'journalAppend', 'acquireLease', 'releaseLease']) {
      assert.equal(calls[single] ?? 0, 0, `${single} × ${calls[single]}`);
    }
    // Every lease was released by the swap, every journal entry deleted with it.
    assert.deepEqual(await store.journalList(), []);
    for (const id of ids.slice(0, 20))
      assert.equal(await store.acquireLease(id, 'another-process', 1_000), true);
  });

  it('has the rotated refresh token on disk before the rotated hook runs and before getAccessToken returns', async () => {
    await seed([2_001, 2_002]);
    const k = keeper(store);
    const onDisk: (string | null | undefined)[] = [];
    k.on('rotated', async (e) => {
      // A separate connection on this thread, not the writer's: it sees only committed data.
      const other = new SqliteTokenStore({ path, writerThread: false });
      try {
        onDisk.push((await other.get(e.userId))?.refreshToken);
        assert.equal((await other.get(e.userId))?.refreshToken, e.token.refreshToken);
      } finally {
        await other.close();
      }
    });
    const [a, b] = await Promise.all([k.getToken(2_001), k.getToken(2_002)]);
    assert.deepEqual(onDisk.sort(), [a.refreshToken, b.refreshToken].sort());
    const other = new SqliteTokenStore({ path, writerThread: false });
    assert.equal((await other.get(2_001))?.accessToken, a.accessToken);
    await other.close();
  });

  it('uses the single-seller methods, one per seller, when the store has no batched ones', async () => {
    const ids = Array.from({ length: 40 }, (_x, i) => 3_000 + i);
    await seed(ids);
    const { store: s, calls } = counting(wrapStore(store, {}));
    const { errors } = await runUntil(keeper(s, 8), ids.length);
    assert.deepEqual(errors, []);
    assert.equal(calls.compareAndSwap, ids.length);
    assert.equal(calls.journalAppend, ids.length);
    assert.equal(calls.releaseLease, ids.length);
    assert.equal(fake.refreshes().length, ids.length);
  });

  it('never presents a spent refresh token when a claim hands back rows it already rotated', async () => {
    const ids = Array.from({ length: 30 }, (_x, i) => 4_000 + i);
    await seed(ids);
    // A claim that answers with the first claim's rows (versions and refresh tokens since spent)
    // every time, as a claim racing with this keeper's own commits could.
    let first: StoredToken[] | undefined;
    const { store: s } = counting(store, {
      claimDue: async (owner: string, limit: number, ttl: number) => {
        const rows = await store.claimDue(owner, limit, ttl);
        first ??= rows;
        return rows.length > 0 ? rows : first.map((t) => ({ ...t }));
      },
    });
    const k = keeper(s, 10);
    const reauth: number[] = [];
    k.on('reauthorization_required', (e) => void reauth.push(e.userId));
    const { errors } = await runUntil(k, ids.length);
    // Let a few more claims of stale rows run through the scheduler.
    const k2 = keeper(s, 10);
    k2.start();
    await new Promise((r) => setTimeout(r, 400));
    await k2.stop();
    assert.deepEqual(errors, []);
    assert.deepEqual(reauth, []);
    assert.equal(fake.refreshes().length, ids.length);
    const sent = fake.refreshes().map((r) => r.body.refresh_token);
    assert.equal(new Set(sent).size, ids.length);
    for (const id of ids) assert.equal((await store.get(id))?.status, 'active');
  });

  it('retries a batched swap that failed, and stores every rotation exactly once', async () => {
    const ids = Array.from({ length: 20 }, (_x, i) => 5_000 + i);
    await seed(ids);
    let failed = 0;
    const { store: s } = counting(store, {
      compareAndSwapMany: async (requests: Parameters<NonNullable<TokenStore['compareAndSwapMany']>>[0]) => {
        if (failed++ === 0) throw new StoreError('SQLite compare-and-swap failed: disk I/O error (injected)');
        return store.compareAndSwapMany(requests);
      },
    });
    const k = keeper(s, 20);
    const { errors } = await runUntil(k, ids.length);
    assert.ok(errors.length >= 1 && errors.every((e) => e instanceof StoreError));
    assert.equal(fake.refreshes().length, ids.length);
    assert.equal(k.metrics().rotations, ids.length);
    assert.deepEqual(await store.journalList(), []);
  });

  it('releases the queued sellers’ leases in one call when stopped', async () => {
    const ids = Array.from({ length: 12 }, (_x, i) => 6_000 + i);
    await seed(ids);
    for (let i = 0; i < ids.length; i++) fake.faults.push({ delayMs: 300 });
    const { store: s, calls } = counting(store);
    const k = keeper(s, 1);
    k.start();
    while ((calls.claimDue ?? 0) === 0 || k.metrics().inFlight === 0)
      await new Promise((r) => setTimeout(r, 10));
    assert.ok(k.metrics().queued > 0);
    await k.stop();
    assert.equal(calls.releaseLeases, 1);
    const free = await Promise.all(ids.map((id) => store.acquireLease(id, 'next-process', 1_000)));
    assert.ok(free.every((x) => x));
  });
});
