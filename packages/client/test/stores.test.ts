import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TokenData, TokenStore } from '../src/index.ts';
import { createStore, type StoreFixture, type StoreSpec } from './helpers/stores.ts';
import { delay, tokenData } from './helpers/tokens.ts';

const token = (userId: number, refreshAt: number | null, extra: Partial<TokenData> = {}): TokenData =>
  tokenData(userId, { refreshAt, ...extra });

for (const kind of ['memory', 'sqlite', 'postgres', 'redis'] as StoreSpec['kind'][]) {
  describe(`the ${kind} token store`, () => {
    let fx: StoreFixture;
    let store: TokenStore;
    before(async () => {
      fx = await createStore(kind);
      store = fx.store;
    });
    after(async () => {
      await fx.cleanup();
    });

    it('returns null for a seller it does not hold', async () => {
      assert.equal(await store.get(424242), null);
    });

    it('round-trips every field and bumps the version on each unconditional write', async () => {
      const t = token(1, 1_700_000_000_123, { liveMode: false, publicKey: null });
      const first = await store.put(t);
      assert.equal(first.version, 1);
      assert.deepEqual(
        { ...(await store.get(1)), updatedAt: 0 },
        { ...t, version: 1, status: 'active', reason: null, updatedAt: 0 },
      );
      const second = await store.put(token(1, null));
      assert.equal(second.version, 2);
      assert.equal((await store.get(1))?.refreshAt, null);
    });

    it('compare-and-swaps only on the expected version and deletes the journal entry with it', async () => {
      const v = (await store.put(token(2, Date.now()))).version;
      const next = token(2, Date.now() + 1000);
      await store.journalAppend({ id: `j-${kind}-2`, userId: 2, fromVersion: v, token: next, receivedAt: 1 });
      assert.equal(await store.compareAndSwap(2, v + 5, token(2, 1)), null);
      assert.equal((await store.get(2))?.version, v);
      const swapped = await store.compareAndSwap(2, v, next, `j-${kind}-2`);
      assert.equal(swapped?.version, v + 1);
      assert.equal(swapped?.accessToken, next.accessToken);
      assert.deepEqual(await store.journalList(2), []);
      assert.equal(await store.compareAndSwap(2, v, token(2, 1)), null);
    });

    it('lets exactly one of twenty concurrent compare-and-swaps on one version win', async () => {
      const v = (await store.put(token(3, Date.now()))).version;
      const results = await Promise.all(
        Array.from({ length: 20 }, () => store.compareAndSwap(3, v, token(3, 5))),
      );
      assert.equal(results.filter((r) => r !== null).length, 1);
      assert.equal((await store.get(3))?.version, v + 1);
    });

    it('marks a token as needing re-authorization only on the expected version and stops scheduling it', async () => {
      const v = (await store.put(token(4, Date.now() - 10))).version;
      assert.equal(await store.markReauthorizationRequired(4, v + 1, 'nope'), false);
      assert.equal(await store.markReauthorizationRequired(4, v, 'invalid_grant: revoked'), true);
      const t = await store.get(4);
      assert.equal(t?.status, 'reauthorization_required');
      assert.equal(t?.reason, 'invalid_grant: revoked');
      assert.equal(t?.refreshAt, null);
      const claimed = await store.claimDue('x', 100, 1000);
      assert.equal(
        claimed.some((c) => c.userId === 4),
        false,
      );
      for (const c of claimed) await store.releaseLease(c.userId, 'x');
      await store.put(token(4, null));
      assert.equal((await store.get(4))?.status, 'active');
    });

    it('grants a lease to one owner at a time, renews it for the holder and releases only for the holder', async () => {
      await store.put(token(5, null));
      assert.equal(await store.acquireLease(5, 'a', 10_000), true);
      assert.equal(await store.acquireLease(5, 'b', 10_000), false);
      assert.equal(await store.acquireLease(5, 'a', 10_000), true);
      await store.releaseLease(5, 'b');
      assert.equal(await store.acquireLease(5, 'b', 10_000), false);
      await store.releaseLease(5, 'a');
      assert.equal(await store.acquireLease(5, 'b', 10_000), true);
      await store.releaseLease(5, 'b');
    });

    it('hands an expired lease to the next owner', async () => {
      await store.put(token(6, null));
      assert.equal(await store.acquireLease(6, 'dead', 30), true);
      await delay(80);
      assert.equal(await store.acquireLease(6, 'alive', 10_000), true);
      await store.releaseLease(6, 'alive');
    });

    it('claims due tokens earliest first, skips leased and future ones, and never gives one to two owners', async () => {
      for (let id = 1; id < 10; id++) await store.delete(id);
      const now = await store.now();
      for (const id of [10, 11, 12, 13]) await store.put(token(id, now - 1000 * (20 - id)));
      await store.put(token(14, now + 3_600_000));
      await store.acquireLease(13, 'other', 10_000);
      const first = await store.claimDue('me', 2, 10_000);
      assert.deepEqual(
        first.map((t) => t.userId),
        [10, 11],
      );
      const second = await store.claimDue('you', 10, 10_000);
      assert.deepEqual(
        second.map((t) => t.userId),
        [12],
      );
      assert.deepEqual(await store.claimDue('third', 10, 10_000), []);
      for (const id of [10, 11]) await store.releaseLease(id, 'me');
      await store.releaseLease(12, 'you');
      await store.releaseLease(13, 'other');
      for (const id of [10, 11, 12, 13, 14]) await store.delete(id);
    });

    it('appends, lists and deletes journal entries', async () => {
      const t = token(7, 1);
      await store.journalAppend({ id: `a-${kind}`, userId: 7, fromVersion: 1, token: t, receivedAt: 10 });
      await store.journalAppend({
        id: `b-${kind}`,
        userId: 8,
        fromVersion: 3,
        token: token(8, 1),
        receivedAt: 20,
      });
      const mine = await store.journalList(7);
      assert.equal(mine.length, 1);
      assert.deepEqual(mine[0], { id: `a-${kind}`, userId: 7, fromVersion: 1, token: t, receivedAt: 10 });
      assert.equal((await store.journalList()).length >= 2, true);
      await store.journalDelete(`a-${kind}`);
      await store.journalDelete('absent');
      assert.deepEqual(await store.journalList(7), []);
      await store.delete(8);
      assert.deepEqual(await store.journalList(8), []);
    });

    it('deletes a seller entirely', async () => {
      await store.put(token(9, 1));
      await store.delete(9);
      assert.equal(await store.get(9), null);
    });

    it("reports the store's clock in milliseconds since the epoch", async () => {
      const now = await store.now();
      assert.ok(Math.abs(now - Date.now()) < 60_000, `store clock ${now} vs local ${Date.now()}`);
    });
  });
}
