import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  KeeperThread,
  KeeperThreadError,
  OAuth,
  type RotatedEvent,
  SqliteTokenStore,
  TokenKeeper,
} from '../src/index.ts';
import { type FakeServer, startFakeServer } from './helpers/fake-server.ts';
import { delay, dueToken } from './helpers/tokens.ts';

const MODULE = new URL('./fixtures/keeper-module.mjs', import.meta.url);

/** Resolves when `predicate` holds, polling; fails the test after `ms`. */
async function until(predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await delay(10);
  }
}

describe('KeeperThread: the scheduler on a worker thread', () => {
  let fake: FakeServer;
  let dir: string;
  let path: string;
  let store: SqliteTokenStore;
  const threads: KeeperThread[] = [];

  before(async () => {
    // No replay window: a seller refreshed twice would lose its grant, and the tests would see it.
    fake = await startFakeServer({ graceMs: 0 });
  });
  after(async () => {
    await fake.close();
  });
  afterEach(async () => {
    await Promise.all(threads.splice(0).map((t) => t.stop()));
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh SQLite file with `n` due sellers from `first` on; what the module needs to open it. */
  async function seed(first: number, n: number) {
    dir = mkdtempSync(join(tmpdir(), 'renova-keeper-thread-'));
    path = join(dir, 'tokens.db');
    store = new SqliteTokenStore({ path });
    const ids = Array.from({ length: n }, (_x, i) => first + i);
    for (const id of ids) await store.put(dueToken(fake.issue(id)));
    return {
      ids,
      data: { path, baseUrl: fake.baseUrl, clientId: fake.clientId, clientSecret: fake.clientSecret },
    };
  }

  async function start(options: Parameters<typeof KeeperThread.start>[1]) {
    const thread = await KeeperThread.start(MODULE, options);
    threads.push(thread);
    return thread;
  }

  it('refreshes every due seller once on its own thread, relays the rotations, and stops', async () => {
    const { ids, data } = await seed(1_000, 60);
    const before = fake.refreshes().length;
    const rotated: RotatedEvent[] = [];
    const thread = await start({ data });
    assert.equal(thread.running, true);
    assert.equal(typeof thread.threadId, 'number');
    thread.on('rotated', (e) => void rotated.push(e));
    await until(() => rotated.length === ids.length, 'every rotation');
    assert.deepEqual(
      rotated.map((e) => e.userId).sort((a, b) => a - b),
      ids,
    );
    assert.ok(rotated.every((e) => e.source === 'refresh' && e.token.version === 2));
    assert.equal(fake.refreshes().length - before, ids.length);
    // The thread wrote the store the main thread reads.
    for (const e of rotated) assert.equal((await store.get(e.userId))?.refreshToken, e.token.refreshToken);
    const metrics = await thread.metrics();
    assert.equal(metrics.rotations, ids.length);
    assert.equal(metrics.refreshRequests, ids.length);
    const stats = await thread.stats();
    assert.equal(stats.refreshed, ids.length);
    assert.equal(stats.refreshLatency.count, ids.length);
    assert.ok((stats.storeLatency.compareAndSwapMany?.count ?? 0) > 0);
    // Prometheus: the thread's registry, rebuilt here and merged with the main thread's own.
    const prom = (await import('prom-client')).default;
    const mine = new prom.Registry();
    new prom.Counter({ name: 'app_requests_total', help: 'the app', registers: [mine] }).inc(3);
    const merged = prom.Registry.merge([mine, await thread.prometheusRegistry()]);
    const text = await merged.metrics();
    assert.match(text, /^app_requests_total 3$/m);
    assert.match(text, new RegExp(`^renova_keeper_refreshed_total ${ids.length}$`, 'm'));
    assert.match(text, /^renova_keeper_refresh_duration_seconds_count/m);
    // Read afresh on each call (the counters started at the totals so far).
    assert.match(
      await (await thread.prometheusRegistry()).metrics(),
      new RegExp(`refreshed_total ${ids.length}`),
    );
    await thread.stop();
    await thread.stop();
    assert.equal(thread.running, false);
    assert.equal(thread.threadId, undefined);
    await assert.rejects(thread.metrics(), /not running/);
    await assert.rejects(thread.stats(), /not running/);
  });

  it('refuses a Prometheus prefix that is no metric name, as the keeper would, and stays usable', async () => {
    const { data } = await seed(1_900, 1);
    const thread = await start({ data });
    await assert.rejects(thread.prometheusRegistry({ prefix: 'bad prefix-' }), (e: unknown) => {
      assert.ok(e instanceof KeeperThreadError);
      assert.equal(e.name, 'TypeError');
      assert.match(e.message, /is not a Prometheus metric name prefix/);
      return true;
    });
    const registry = await thread.prometheusRegistry({ prefix: 'mp_sync_' });
    assert.match(await registry.metrics(), /^mp_sync_refresh_due_total/m);
  });

  it('delivers every event to listeners added before start(), and start() twice is one thread', async () => {
    const { ids, data } = await seed(1_500, 20);
    const thread = new KeeperThread(MODULE, { data });
    threads.push(thread);
    let rotations = 0;
    thread.on('rotated', () => {
      rotations++;
    });
    const first = thread.start();
    assert.equal(thread.start(), first);
    await first;
    const id = thread.threadId;
    await thread.start();
    assert.equal(thread.threadId, id);
    await until(() => rotations === ids.length, 'every rotation');
    await thread.stop();
    await assert.rejects(thread.start(), /was stopped/);
    const never = new KeeperThread(MODULE, { data });
    await never.stop();
    await assert.rejects(never.start(), /was stopped; create a new one/);
  });

  it('relays an event only while the main thread listens to it, and from the moment a listener is added', async () => {
    const { ids, data } = await seed(1_700, 5);
    const thread = await start({ data });
    for (let i = 0; (await thread.metrics()).rotations < ids.length; i++) {
      if (i > 500) assert.fail('the first rotations never happened');
      await delay(10);
    }
    const seen: number[] = [];
    thread.on('rotated', (e) => void seen.push(e.userId));
    const later = Array.from({ length: 5 }, (_x, i) => 1_800 + i);
    for (const id of later) await store.put(dueToken(fake.issue(id)));
    await until(() => seen.length === later.length, 'the later rotations');
    assert.deepEqual(
      seen.sort((a, b) => a - b),
      later,
    );
    for (const bogus of ['bogus', 'constructor', '__proto__', 'toString']) {
      assert.throws(() => thread.on(bogus as 'rotated', () => {}), /a keeper has no .* event/, bogus);
      thread.off(bogus as 'rotated', () => {});
    }
  });

  it('passes its execArgv to the thread (a Node option the module can see), and refuses a bad one there', async () => {
    const { ids, data } = await seed(2_500, 2);
    let rotations = 0;
    const thread = new KeeperThread(MODULE, {
      data,
      exportName: 'needsNoDeprecation',
      execArgv: ['--no-deprecation'],
    });
    threads.push(thread);
    thread.on('rotated', () => {
      rotations++;
    });
    await thread.start();
    await until(() => rotations === ids.length, 'every rotation');
    await assert.rejects(
      KeeperThread.start(MODULE, { data, execArgv: ['--no-such-node-option'] }),
      /--no-such-node-option/,
    );
  });

  it('ends the thread on stop() when the module gives no close (the store stays open there)', async () => {
    const { ids, data } = await seed(2_000, 5);
    let rotations = 0;
    const thread = await start({ data, exportName: 'bareKeeper' });
    thread.on('rotated', () => {
      rotations++;
    });
    await until(() => rotations === ids.length, 'every rotation');
    await thread.stop();
    assert.equal(thread.running, false);
  });

  it('shares the store with a keeper on the main thread: getAccessToken and the scheduler never both rotate a seller', async () => {
    const { ids, data } = await seed(3_000, 40);
    const before = fake.refreshes().length;
    const main = new TokenKeeper({
      oauth: new OAuth({ baseUrl: fake.baseUrl }),
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      store,
    });
    const reauth: number[] = [];
    main.on('reauthorization_required', (e) => void reauth.push(e.userId));
    const thread = await start({ data });
    const failures: unknown[] = [];
    thread.on('reauthorization_required', (e) => void failures.push(e));
    // The main thread asks for every seller's token while the thread's scheduler refreshes them.
    const tokens = await Promise.all(ids.map((id) => main.getAccessToken(id)));
    assert.equal(tokens.length, ids.length);
    await thread.stop();
    // One rotation per seller in all, whoever did it: a second one would have spent a dead token.
    assert.equal(fake.refreshes().length - before, ids.length);
    assert.deepEqual(reauth, []);
    assert.deepEqual(failures, []);
    for (const id of ids) assert.equal((await store.get(id))?.version, 2);
  });

  it('relays errors as KeeperThreadError with their name and fields: a revoked grant, a failing hook', async () => {
    const { ids, data } = await seed(4_000, 3);
    fake.revoke(ids[0] as number);
    const reauth: { userId: number; error: unknown }[] = [];
    const errors: { during: string; error: unknown; userId?: number }[] = [];
    const thread = await start({ data: { ...data, failFor: ids[1] }, exportName: 'withHook' });
    thread.on('reauthorization_required', (e) => void reauth.push(e));
    thread.on('error', (e) => void errors.push(e));
    await until(() => reauth.length === 1 && errors.some((e) => e.during === 'hook'), 'the two failures');
    const [r] = reauth;
    assert.ok(r !== undefined);
    assert.equal(r.userId, ids[0]);
    assert.ok(r.error instanceof KeeperThreadError);
    assert.equal(r.error.name, 'ReauthorizationRequiredError');
    assert.equal((r.error as unknown as { userId: number }).userId, ids[0]);
    const hook = errors.find((e) => e.during === 'hook');
    assert.ok(hook !== undefined);
    assert.ok(hook.error instanceof KeeperThreadError);
    assert.equal(hook.error.message, 'hook failed');
    assert.equal((hook.error as unknown as { code: string }).code, 'E_HOOK');
    assert.equal(hook.userId, ids[1]);
  });

  it('keeps relaying when a listener here throws, and reports it as an error during hook', async () => {
    const { ids, data } = await seed(5_000, 10);
    const errors: string[] = [];
    let seen = 0;
    const thread = await start({ data });
    thread.on('rotated', () => {
      seen++;
      throw new Error('listener failed');
    });
    thread.on('error', (e) => void errors.push(`${e.during}: ${(e.error as Error).message}`));
    await until(() => seen === ids.length, 'every rotation');
    assert.equal(errors.length, ids.length);
    assert.ok(errors.every((e) => e === 'hook: listener failed'));
  });

  it('starts a thread that died again, says so, and gives up after maxRestarts in a row', async () => {
    const { data } = await seed(6_000, 1);
    const errors: string[] = [];
    const thread = await start({
      data: { ...data, crashAfterMs: 50 },
      exportName: 'crashing',
      maxRestarts: 2,
      restartDelayMs: 10,
    });
    thread.on('error', (e) => {
      if (e.during === 'thread') errors.push((e.error as Error).message);
    });
    await until(() => errors.some((m) => /not restarted/.test(m)), 'the last restart');
    assert.equal(thread.running, false);
    // Each death: the crash itself, then "starting it again" (twice), then "not restarted".
    assert.equal(errors.filter((m) => m === 'the thread crashed').length, 3);
    assert.equal(errors.filter((m) => /starting it again in (10|20) ms/.test(m)).length, 2);
  });

  it('loses no rotation when the thread dies with refreshes in flight: the next thread finishes them under the replay window', async () => {
    const replaying = await startFakeServer();
    try {
      dir = mkdtempSync(join(tmpdir(), 'renova-keeper-thread-'));
      path = join(dir, 'tokens.db');
      store = new SqliteTokenStore({ path });
      const ids = Array.from({ length: 12 }, (_x, i) => 8_000 + i);
      for (const id of ids) await store.put(dueToken(replaying.issue(id)));
      // The server rotates each of the first requests, then holds its answer past the crash.
      for (const _ of ids) replaying.faults.push({ delayMs: 400 });
      const errors: string[] = [];
      const reauth: number[] = [];
      const thread = new KeeperThread(MODULE, {
        data: {
          path,
          baseUrl: replaying.baseUrl,
          clientId: replaying.clientId,
          clientSecret: replaying.clientSecret,
          ownerId: 'keeper-thread-test',
          marker: join(dir, 'crashed'),
          crashAfterMs: 150,
        },
        exportName: 'crashingOnce',
        restartDelayMs: 10,
      });
      threads.push(thread);
      thread.on('error', (e) => void errors.push((e.error as Error).message));
      thread.on('reauthorization_required', (e) => void reauth.push(e.userId));
      await thread.start();
      await until(() => errors.includes('the thread crashed mid-refresh'), 'the crash');
      const rotationsAtCrash = replaying.rotations;
      assert.ok(rotationsAtCrash > 0, 'no refresh was in flight at the crash');
      // The answers of those rotations never reached the dead thread: the store still holds the
      // old tokens until the next thread re-presents them and gets the same answers back.
      for (const id of ids) {
        for (let i = 0; ((await store.get(id))?.version ?? 0) < 2; i++) {
          if (i > 1_000) assert.fail(`seller ${id} was never rotated after the restart`);
          await delay(10);
        }
      }
      assert.equal(replaying.rotations, ids.length, 'one rotation per seller at the server');
      assert.deepEqual(reauth, []);
      assert.ok(errors.some((m) => /starting it again/.test(m)));
      assert.equal(thread.running, true);
    } finally {
      await Promise.all(threads.splice(0).map((t) => t.stop()));
      await replaying.close();
    }
  });

  it('refuses a module that does not build a keeper, with the module’s own error', async () => {
    const { data } = await seed(7_000, 1);
    await assert.rejects(KeeperThread.start(MODULE, { data, exportName: 'throwing' }), (e: unknown) => {
      assert.ok(e instanceof KeeperThreadError);
      assert.equal(e.message, 'RENOVA_CLIENT_SECRET is not set');
      assert.equal((e as unknown as { code: string }).code, 'E_CONFIG');
      return true;
    });
    await assert.rejects(
      KeeperThread.start(MODULE, { data, exportName: 'notAKeeper' }),
      /notAKeeper\(\) must return a TokenKeeper or \{ keeper, close \}/,
    );
    await assert.rejects(
      KeeperThread.start(MODULE, { data, exportName: 'notAFunction' }),
      /has no function export named notAFunction/,
    );
    await assert.rejects(
      KeeperThread.start(MODULE, { data, exportName: 'missing' }),
      /has no function export named missing/,
    );
    await assert.rejects(
      KeeperThread.start(new URL('./fixtures/no-such-module.mjs', import.meta.url), { data }),
      /Cannot find module|ERR_MODULE_NOT_FOUND|no-such-module/,
    );
  });

  it('refuses a module that is not a file, and an empty export name, before starting a thread', async () => {
    for (const bad of [
      '',
      'https://example.com/keeper.js',
      'data:text/javascript,export{}',
      new URL('http://x/k.js'),
    ]) {
      await assert.rejects(KeeperThread.start(bad as string), TypeError, String(bad));
    }
    await assert.rejects(KeeperThread.start(MODULE, { exportName: '' }), TypeError);
    await assert.rejects(KeeperThread.start(42 as unknown as string), TypeError);
    assert.throws(() => new KeeperThread('ftp://host/keeper.js'), /must be a file: URL or a path/);
    // `data` must clone: a function (a KMS callback, a store) belongs in the module.
    const withFunction = new KeeperThread(MODULE, { data: { kms: () => 'key' } });
    await assert.rejects(withFunction.start(), /could not be cloned/);
    assert.equal(withFunction.running, false);
    assert.throws(() => new KeeperThread(MODULE, { exportName: 7 as unknown as string }), TypeError);
    assert.throws(
      () => new KeeperThread(MODULE, { execArgv: '--inspect' as unknown as string[] }),
      /execArgv must be an array of strings/,
    );
    assert.throws(
      () => new KeeperThread(MODULE, { execArgv: [1] as unknown as string[] }),
      /execArgv must be an array of strings/,
    );
    for (const maxRestarts of [-1, Number.NaN, '3' as unknown as number]) {
      assert.throws(
        () => new KeeperThread(MODULE, { maxRestarts }),
        /maxRestarts must be a number ≥ 0/,
        String(maxRestarts),
      );
    }
    for (const restartDelayMs of [-1, Number.NaN, Number.POSITIVE_INFINITY, '10' as unknown as number]) {
      assert.throws(
        () => new KeeperThread(MODULE, { restartDelayMs }),
        /restartDelayMs must be a finite number ≥ 0/,
        String(restartDelayMs),
      );
    }
    assert.doesNotThrow(
      () => new KeeperThread(MODULE, { maxRestarts: Number.POSITIVE_INFINITY, restartDelayMs: 0 }),
    );
  });
});
