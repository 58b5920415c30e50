import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { StoredToken, TokenStore } from '../src/index.ts';
import { createStore, type StoreFixture, type StoreSpec } from './helpers/stores.ts';
import { tokenData } from './helpers/tokens.ts';

async function scanAll(store: TokenStore, limit: number): Promise<{ pages: number; rows: StoredToken[] }> {
  const rows: StoredToken[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await store.scanTokens(cursor, limit);
    rows.push(...page.tokens);
    cursor = page.cursor;
    pages++;
    assert.ok(pages < 1000, 'the scan must end');
  } while (cursor !== null);
  return { pages, rows };
}

for (const kind of ['memory', 'sqlite', 'postgres', 'redis'] as StoreSpec['kind'][]) {
  describe(`scanTokens and rewriteTokens on the ${kind} store`, () => {
    let fx: StoreFixture;
    let store: TokenStore;
    before(async () => {
      fx = await createStore(kind);
      store = fx.store;
    });
    after(async () => {
      await fx.cleanup();
    });

    it('walks an empty store in one page that ends the walk', async () => {
      const { rows } = await scanAll(store, 10);
      assert.deepEqual(rows, []);
    });

    it('visits every row (including ones marked for re-authorization) in bounded pages', async () => {
      const ids = Array.from({ length: 23 }, (_, i) => 1000 + i * 7);
      for (const id of ids) await store.put(tokenData(id));
      const marked = (await store.get(ids[3] as number)) as StoredToken;
      assert.equal(await store.markReauthorizationRequired(marked.userId, marked.version, 'gone'), true);
      const { pages, rows } = await scanAll(store, 5);
      const seen = [...new Set(rows.map((r) => r.userId))].sort((a, b) => a - b);
      assert.deepEqual(seen, ids);
      assert.ok(pages >= 3, `23 rows in pages of ~5 took ${pages} page(s)`);
      if (kind !== 'redis') {
        // Keyset paging: exact page sizes, ascending, no duplicates.
        assert.equal(rows.length, ids.length);
        assert.deepEqual(
          rows.map((r) => r.userId),
          ids,
        );
      }
      const fromScan = rows.find((r) => r.userId === ids[3]);
      assert.equal(fromScan?.status, 'reauthorization_required');
      assert.deepEqual(fromScan, await store.get(ids[3] as number));
      for (const id of ids) await store.delete(id);
    });

    it('rewrites only the token strings, only on the expected version, and keeps version, status and schedule', async () => {
      const t = tokenData(77);
      const stored = await store.put(t);
      assert.equal(await store.rewriteTokens(77, stored.version + 1, 'x', 'y'), false);
      assert.equal(await store.rewriteTokens(78, 1, 'x', 'y'), false, 'an absent row is not created');
      assert.equal(await store.get(78), null);
      assert.equal(await store.rewriteTokens(77, stored.version, 'sealed-access', 'sealed-refresh'), true);
      const after = (await store.get(77)) as StoredToken;
      assert.deepEqual(
        { ...after },
        { ...stored, accessToken: 'sealed-access', refreshToken: 'sealed-refresh' },
      );
      // A null refresh token stays null.
      assert.equal(await store.rewriteTokens(77, stored.version, 'a2', null), true);
      assert.equal((await store.get(77))?.refreshToken, null);
      // The rewritten row is still due on its old schedule and still swappable on its old version.
      const swapped = await store.compareAndSwap(77, stored.version, tokenData(77));
      assert.equal(swapped?.version, stored.version + 1);
      await store.delete(77);
    });

    it('leaves a row marked for re-authorization marked after a rewrite', async () => {
      const stored = await store.put(tokenData(88));
      await store.markReauthorizationRequired(88, stored.version, 'invalid_grant: revoked');
      const marked = (await store.get(88)) as StoredToken;
      assert.equal(await store.rewriteTokens(88, marked.version, 'a', 'r'), true);
      const after = (await store.get(88)) as StoredToken;
      assert.equal(after.status, 'reauthorization_required');
      assert.equal(after.reason, 'invalid_grant: revoked');
      assert.equal(after.refreshAt, null);
      assert.equal(after.accessToken, 'a');
      await store.delete(88);
    });
  });
}
