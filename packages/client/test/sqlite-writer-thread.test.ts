import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SqliteTokenStore, StoreError, type TokenData } from '../src/index.ts';

const INDEX = resolve(import.meta.dirname, '../src/index.ts');

function token(userId: number, extra: Partial<TokenData> = {}): TokenData {
  return {
    userId,
    accessToken: `APP_USR-${userId}-${Math.random()}`,
    refreshToken: `TG-${userId}-${Math.random()}`,
    tokenType: 'Bearer',
    scope: 'offline_access read write',
    publicKey: null,
    liveMode: true,
    expiresAt: Date.now() + 3_600_000,
    refreshAt: Date.now() + 1_000_000,
    ...extra,
  };
}

describe('the SQLite store’s writer thread', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'renova-writer-'));
    path = join(dir, 'tokens.db');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets a process exit on its own when the store is idle and never closed', () => {
    const script = `
      import { SqliteTokenStore } from ${JSON.stringify(INDEX)};
      const store = new SqliteTokenStore({ path: ${JSON.stringify(path)} });
      const t = await store.put(${JSON.stringify(token(1))});
      console.log(t.version);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: resolve(import.meta.dirname, '..'),
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.error, undefined, `the process did not exit by itself: ${r.error?.message}`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '1');
  });

  it('commits the writes queued before close(), and another connection reads them', async () => {
    const store = new SqliteTokenStore({ path });
    await store.put(token(1)); // opens the store and starts the thread
    const pending = Array.from({ length: 50 }, (_x, i) => store.put(token(100 + i)));
    await store.close();
    const stored = await Promise.all(pending);
    assert.ok(stored.every((t) => t.version === 1));
    const other = new SqliteTokenStore({ path, writerThread: false });
    try {
      for (let i = 0; i < 50; i++) assert.equal((await other.get(100 + i))?.version, 1);
    } finally {
      await other.close();
    }
  });

  it('fails one bad write of a group commit alone, with a StoreError saying why, and commits the others', async () => {
    const store = new SqliteTokenStore({ path });
    try {
      const results = await Promise.allSettled([
        store.put(token(1)),
        store.put(token(2, { accessToken: null as unknown as string })),
        store.put(token(3, { liveMode: 'yes' as unknown as boolean, expiresAt: Number.NaN })),
        store.put(token(4)),
      ]);
      assert.equal(results[0]?.status, 'fulfilled');
      assert.equal(results[3]?.status, 'fulfilled');
      // A NaN expiry binds as NULL: refused by the schema, as a StoreError like any bad row.
      assert.ok(results[2]?.status === 'rejected' && results[2].reason instanceof StoreError);
      const bad = results[1];
      assert.ok(bad?.status === 'rejected');
      assert.ok(bad.reason instanceof StoreError);
      assert.match(bad.reason.message, /^SQLite put failed: NOT NULL constraint failed/);
      assert.equal(await store.get(2), null);
      assert.equal((await store.get(1))?.version, 1);
      assert.equal((await store.get(4))?.version, 1);
      // Still writing after the failures.
      assert.equal((await store.put(token(5))).version, 1);
    } finally {
      await store.close();
    }
  });

  it('reports a database it cannot open as a StoreError, without crashing the process', async () => {
    const store = new SqliteTokenStore({ path: join(dir, 'missing-directory', 'tokens.db') });
    await assert.rejects(
      store.put(token(1)),
      (e: unknown) => e instanceof StoreError && /^SQLite put failed: /.test(e.message),
    );
    await assert.rejects(store.get(1), StoreError);
    await store.close();
  });

  it('refuses a store without a path with a TypeError that says what to pass', () => {
    assert.throws(
      () => new SqliteTokenStore({ path: '' }),
      (e: unknown) => e instanceof TypeError && /needs a path/.test(e.message),
    );
    assert.throws(
      () => new SqliteTokenStore(undefined as never),
      (e: unknown) => e instanceof TypeError && /needs a path/.test(e.message),
    );
  });

  it('keeps the event loop responsive through 2,000 durable writes (inline writes block it for each fsync)', async () => {
    const measure = async (store: SqliteTokenStore) => {
      await store.put(token(0));
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      // The histogram measures between its own ticks: let it tick once before the writes.
      await new Promise((r) => setTimeout(r, 20));
      const started = performance.now();
      // 2,000 writes, 100 at a time, like a busy keeper.
      for (let round = 0; round < 20; round++) {
        await Promise.all(Array.from({ length: 100 }, (_x, i) => store.put(token(1 + round * 100 + i))));
      }
      // Give the histogram's timer a turn: a loop blocked until now records the delay only then.
      await new Promise((r) => setTimeout(r, 20));
      h.disable();
      await store.close();
      return { maxMs: h.max / 1e6, wallMs: performance.now() - started };
    };
    const threaded = await measure(new SqliteTokenStore({ path }));
    const inline = await measure(new SqliteTokenStore({ path: join(dir, 'inline.db'), writerThread: false }));
    // Same run, same disk: the inline store holds the loop for whole batches of fsyncs.
    assert.ok(
      threaded.maxMs < inline.maxMs,
      `event-loop max delay: writer thread ${threaded.maxMs.toFixed(1)} ms, inline ${inline.maxMs.toFixed(1)} ms`,
    );
  });
});
