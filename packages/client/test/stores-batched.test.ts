import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SqliteTokenStore, type TokenData, type TokenStore } from '../src/index.ts';
import { createStore, type StoreFixture, type StoreSpec } from './helpers/stores.ts';
import { tokenData } from './helpers/tokens.ts';

const token = (userId: number, refreshAt: number | null, extra: Partial<TokenData> = {}): TokenData =>
  tokenData(userId, { refreshAt, ...extra });

/** The batched methods, which every bundled store has (they are optional in the interface). */
function batched(store: TokenStore) {
  const { journalAppendMany, compareAndSwapMany, journalListMany, releaseLeases } = store;
  assert.ok(journalAppendMany && compareAndSwapMany && journalListMany && releaseLeases);
  return {
    journalAppendMany: journalAppendMany.bind(store),
    compareAndSwapMany: compareAndSwapMany.bind(store),
    journalListMany: journalListMany.bind(store),
    releaseLeases: releaseLeases.bind(store),
  };
}

type Kind = StoreSpec['kind'] | 'sqlite-inline';

for (const kind of ['memory', 'sqlite', 'sqlite-inline', 'postgres', 'redis'] as Kind[]) {
  describe(`the batched methods of the ${kind} token store`, () => {
    let fx: StoreFixture;
    let store: TokenStore;
    let inline: SqliteTokenStore | undefined;
    before(async () => {
      fx = await createStore(kind === 'sqlite-inline' ? 'sqlite' : kind);
      store = fx.store;
      if (kind === 'sqlite-inline') {
        inline = new SqliteTokenStore({ path: (fx.spec as { path: string }).path, writerThread: false });
        store = inline;
      }
    });
    after(async () => {
      await inline?.close();
      await fx.cleanup();
    });

    it('swaps each item on its own version, deletes only the swapped items’ journal entries, and releases the leases either way', async () => {
      const b = batched(store);
      const v1 = (await store.put(token(101, Date.now()))).version;
      const v2 = (await store.put(token(102, Date.now()))).version;
      const v3 = (await store.put(token(103, Date.now()))).version;
      for (const id of [101, 102]) assert.equal(await store.acquireLease(id, 'me', 60_000), true);
      assert.equal(await store.acquireLease(103, 'someone-else', 60_000), true);
      const next = [token(101, Date.now() + 1000), token(102, Date.now() + 1000), token(103, 5)];
      await b.journalAppendMany([
        { id: `${kind}-j1`, userId: 101, fromVersion: v1, token: next[0] as TokenData, receivedAt: 1 },
        { id: `${kind}-j2`, userId: 102, fromVersion: v2, token: next[1] as TokenData, receivedAt: 2 },
      ]);
      const out = await b.compareAndSwapMany([
        {
          userId: 101,
          expectedVersion: v1,
          next: next[0] as TokenData,
          journalId: `${kind}-j1`,
          releaseLeaseOf: 'me',
        },
        {
          userId: 102,
          expectedVersion: v2 + 7,
          next: next[1] as TokenData,
          journalId: `${kind}-j2`,
          releaseLeaseOf: 'me',
        },
        { userId: 103, expectedVersion: v3, next: next[2] as TokenData, releaseLeaseOf: 'me' },
        { userId: 104, expectedVersion: 1, next: token(104, 1) },
      ]);
      assert.equal(out.length, 4);
      assert.equal(out[0]?.version, v1 + 1);
      assert.equal(out[0]?.accessToken, next[0]?.accessToken);
      assert.equal(out[0]?.status, 'active');
      assert.equal(out[1], null);
      assert.equal(out[2]?.version, v3 + 1);
      assert.equal(out[3], null);
      assert.equal((await store.get(101))?.refreshToken, next[0]?.refreshToken);
      assert.equal((await store.get(102))?.version, v2);
      assert.equal(await store.get(104), null);
      // Swapped: journal entry gone. Not swapped: kept (the keeper deletes it when it adopts).
      assert.deepEqual(
        (await b.journalListMany([101, 102])).map((e) => e.id),
        [`${kind}-j2`],
      );
      // 'me' held 101 and 102: both released, swapped or not; 103's holder is someone else.
      assert.equal(await store.acquireLease(101, 'other', 60_000), true);
      assert.equal(await store.acquireLease(102, 'other', 60_000), true);
      assert.equal(await store.acquireLease(103, 'other', 60_000), false);
      for (const id of [101, 102, 103, 104]) await store.delete(id);
    });

    it('refuses a batch that names one seller twice, and writes nothing of it', async () => {
      const b = batched(store);
      const v = (await store.put(token(111, null))).version;
      await assert.rejects(
        b.compareAndSwapMany([
          { userId: 111, expectedVersion: v, next: token(111, 1) },
          { userId: 111, expectedVersion: v, next: token(111, 2) },
        ]),
        (e: unknown) => e instanceof TypeError && /seller 111 appears twice/.test(e.message),
      );
      assert.equal((await store.get(111))?.version, v);
      await store.delete(111);
    });

    it('answers empty batches without a write', async () => {
      const b = batched(store);
      assert.deepEqual(await b.compareAndSwapMany([]), []);
      assert.deepEqual(await b.journalListMany([]), []);
      await b.journalAppendMany([]);
      await b.releaseLeases('me', []);
    });

    it('keeps token strings opaque: quotes, SQL and Lua syntax, control characters, emoji and 64 KB values round-trip', async () => {
      const b = batched(store);
      const odd = [
        `it's "quoted" \\ back\\slash`,
        "'); DROP TABLE renova_tokens; --",
        "]] end redis.call('FLUSHALL') --[[",
        'tab\tnew\nline\r\u0001\u001f\u007f',
        'sealed:v1:🔐:ñandú:中文',
        'x'.repeat(65_536),
      ];
      const reqs = [];
      for (const [i, s] of odd.entries()) {
        const userId = 120 + i;
        const v = (await store.put(token(userId, null))).version;
        reqs.push({
          userId,
          expectedVersion: v,
          next: token(userId, null, {
            accessToken: s,
            refreshToken: s,
            scope: s,
            publicKey: s,
            tokenType: s,
          }),
        });
      }
      const out = await b.compareAndSwapMany(reqs);
      for (const [i, s] of odd.entries()) {
        assert.equal(out[i]?.accessToken, s);
        const got = await store.get(120 + i);
        assert.deepEqual(
          [got?.accessToken, got?.refreshToken, got?.scope, got?.publicKey, got?.tokenType],
          [s, s, s, s, s],
        );
      }
      const entries = odd.map((s, i) => ({
        id: `${kind}-odd-${i}`,
        userId: 120 + i,
        fromVersion: 9,
        token: token(120 + i, null, { refreshToken: s }),
        receivedAt: i,
      }));
      await b.journalAppendMany(entries);
      const listed = await b.journalListMany(odd.map((_s, i) => 120 + i));
      assert.deepEqual(
        listed.map((e) => e.token.refreshToken),
        odd,
      );
      for (const [i] of odd.entries()) await store.delete(120 + i);
    });

    it('writes a batch of 1,200 sellers (more than one transaction’s worth) and lists only the sellers asked for', async () => {
      const b = batched(store);
      const ids = Array.from({ length: 1200 }, (_x, i) => 10_000 + i);
      const versions = await Promise.all(ids.map((id) => store.put(token(id, null)).then((t) => t.version)));
      await b.journalAppendMany(
        ids.map((id) => ({
          id: `${kind}-big-${id}`,
          userId: id,
          fromVersion: 1,
          token: token(id, null),
          receivedAt: id,
        })),
      );
      const listed = await b.journalListMany(ids.slice(0, 10));
      assert.deepEqual(
        listed.map((e) => e.userId).sort((x, y) => x - y),
        ids.slice(0, 10),
      );
      const out = await b.compareAndSwapMany(
        ids.map((id, i) => ({
          userId: id,
          expectedVersion: versions[i] as number,
          next: token(id, null),
          journalId: `${kind}-big-${id}`,
        })),
      );
      assert.equal(out.filter((t) => t !== null).length, ids.length);
      assert.deepEqual(await b.journalListMany(ids), []);
      for (const id of ids) await store.delete(id);
    });

    it('releases only the leases the owner still holds', async () => {
      const b = batched(store);
      for (const id of [131, 132, 133]) await store.put(token(id, null));
      assert.equal(await store.acquireLease(131, 'me', 60_000), true);
      assert.equal(await store.acquireLease(132, 'me', 60_000), true);
      assert.equal(await store.acquireLease(133, 'you', 60_000), true);
      await b.releaseLeases('me', [131, 132, 133, 999]);
      assert.equal(await store.acquireLease(131, 'third', 60_000), true);
      assert.equal(await store.acquireLease(132, 'third', 60_000), true);
      assert.equal(await store.acquireLease(133, 'third', 60_000), false);
      for (const id of [131, 132, 133]) await store.delete(id);
    });

    it('reads many sellers in one call (PostgreSQL, Redis, memory): in order, null when absent, the same rows as get', async () => {
      if (store.getMany === undefined) {
        // SQLite reads are synchronous and in-process: a batched read would save nothing.
        assert.ok(kind.startsWith('sqlite'), `${kind} should have getMany`);
        return;
      }
      const ids = [141, 142, 143];
      for (const id of ids) await store.put(token(id, Date.now()));
      await store.markReauthorizationRequired(143, 1, 'revoked');
      const many = await store.getMany([143, 999, 141, 142, 141]);
      assert.equal(many.length, 5);
      assert.equal(many[1], null);
      for (const [i, id] of [143, 999, 141, 142, 141].entries()) {
        assert.deepEqual(many[i], await store.get(id));
      }
      assert.equal(many[0]?.status, 'reauthorization_required');
      assert.deepEqual(await store.getMany([]), []);
      for (const id of ids) await store.delete(id);
    });
  });
}
