import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import {
  type KeeperStats,
  MemoryTokenStore,
  OAuth,
  TokenKeeper,
  type TokenKeeperOptions,
  type TokenStore,
} from '../src/index.ts';
import { type FakeServer, startFakeServer } from './helpers/fake-server.ts';
import { wrapStore } from './helpers/tokens.ts';

let fake: FakeServer;
const SECRET = 'whsec-observability';

function keeper(store: TokenStore, extra: Partial<TokenKeeperOptions> = {}): TokenKeeper {
  return new TokenKeeper({
    oauth: new OAuth({ baseUrl: fake.baseUrl, timeout: 2_000 }),
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    store,
    retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 20 },
    webhooks: { secret: SECRET },
    ...extra,
  });
}

const counters = (s: KeeperStats) => ({
  due: s.due,
  refreshed: s.refreshed,
  failed: s.failed,
  reauthorizationRequired: s.reauthorizationRequired,
  refreshRequests: s.refreshLatency.count,
});

function deauthorization(userId: number) {
  const requestId = randomUUID();
  const ts = Math.floor(Date.now() / 1000);
  const v1 = createHmac('sha256', SECRET)
    .update(`id:${userId};request-id:${requestId};ts:${ts};`)
    .digest('hex');
  return {
    headers: { 'x-request-id': requestId, 'x-signature': `ts=${ts},v1=${v1}` },
    body: JSON.stringify({
      id: 1,
      live_mode: true,
      type: 'mp-connect',
      action: 'application.deauthorized',
      application_id: fake.clientId,
      user_id: userId,
      api_version: 'v1',
      date_created: new Date(Date.now() + 1000).toISOString(),
      data: { id: String(userId) },
    }),
  };
}

before(async () => {
  fake = await startFakeServer();
});
after(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.faults.length = 0;
});

/** Drives one keeper through every outcome and checks the exact movement after each step. */
async function scenario(k: TokenKeeper, check: (expected: ReturnType<typeof counters>) => Promise<void>) {
  for (const id of [1, 2, 3, 4]) await k.save(id, fake.issue(id) as never);
  await check({ due: 0, refreshed: 0, failed: 0, reauthorizationRequired: 0, refreshRequests: 0 });
  await k.getAccessToken(1); // not due: nothing moves
  await check({ due: 0, refreshed: 0, failed: 0, reauthorizationRequired: 0, refreshRequests: 0 });
  await k.refresh(1);
  await check({ due: 1, refreshed: 1, failed: 0, reauthorizationRequired: 0, refreshRequests: 1 });
  // A 500 then a 500: two requests, one failure, nothing stored.
  fake.faults.push(
    { status: 500, body: { error: 'server_error' } },
    { status: 500, body: { error: 'server_error' } },
  );
  await assert.rejects(k.refresh(2));
  await check({ due: 2, refreshed: 1, failed: 1, reauthorizationRequired: 0, refreshRequests: 3 });
  // A 500 then success: two requests, one refresh.
  fake.faults.push({ status: 500, body: { error: 'server_error' } });
  await k.refresh(2);
  await check({ due: 3, refreshed: 2, failed: 1, reauthorizationRequired: 0, refreshRequests: 5 });
  // The grant is gone: a re-authorization, not a failure.
  fake.revoke(3);
  await assert.rejects(k.refresh(3));
  await check({ due: 4, refreshed: 2, failed: 1, reauthorizationRequired: 1, refreshRequests: 6 });
  // A deauthorization webhook: a re-authorization without any request.
  assert.equal((await k.handleNotification(deauthorization(4))).outcome, 'marked');
  await check({ due: 4, refreshed: 2, failed: 1, reauthorizationRequired: 2, refreshRequests: 6 });
}

describe('keeper.stats()', () => {
  it('moves each counter exactly once per outcome', async () => {
    const k = keeper(new MemoryTokenStore());
    await scenario(k, async (expected) => assert.deepEqual(counters(k.stats()), expected));
  });

  it('times refresh requests and every store call by method, with cumulative buckets', async () => {
    const base = new MemoryTokenStore();
    const slow = wrapStore(base, {
      get: async (id) => {
        await new Promise((r) => setTimeout(r, 30));
        return base.get(id);
      },
    });
    const k = keeper(slow);
    await k.save(9, fake.issue(9) as never);
    fake.faults.push({ delayMs: 120 });
    await k.refresh(9);
    const s = k.stats();
    assert.equal(s.refreshLatency.count, 1);
    assert.ok(s.refreshLatency.sumSeconds >= 0.12, `refresh took ${s.refreshLatency.sumSeconds}s`);
    const le = (h: KeeperStats['refreshLatency'], bound: number) =>
      h.buckets.find((b) => b.le === bound)?.count;
    assert.equal(le(s.refreshLatency, 0.1), 0);
    assert.equal(le(s.refreshLatency, 0.25), 1);
    assert.equal(le(s.refreshLatency, 10), 1);
    const get = s.storeLatency.get;
    assert.ok(get !== undefined && get.count >= 2, JSON.stringify(Object.keys(s.storeLatency)));
    assert.ok(get.sumSeconds >= 0.03 * get.count);
    assert.equal(le(get, 0.025), 0, 'every get took at least 30 ms');
    assert.equal(le(get, 1), get.count);
    assert.equal(s.storeLatency.put?.count, 1);
    assert.ok(
      (s.storeLatency.compareAndSwap?.count ?? 0) + (s.storeLatency.compareAndSwapMany?.count ?? 0) >= 1,
    );
    for (const h of Object.values(s.storeLatency)) {
      const counts = h.buckets.map((b) => b.count);
      assert.deepEqual(
        counts,
        [...counts].sort((a, b) => a - b),
        'buckets are cumulative',
      );
    }
  });
});

describe('keeper.prometheus()', () => {
  async function value(registry: Registry, name: string): Promise<number> {
    // A histogram's `_count` is one of its values (metricName), under the histogram's own name.
    const base = name.replace(/_count$/, '');
    const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name || m.name === base);
    assert.ok(metric !== undefined, `${name} is registered`);
    return metric.values.reduce((sum, v) => {
      const own = (v as { metricName?: string }).metricName ?? metric.name;
      return sum + (own === name ? v.value : 0);
    }, 0);
  }

  it('exposes the same counters, moving exactly as stats() does, and the histograms', async () => {
    const registry = new Registry();
    const k = keeper(new MemoryTokenStore());
    await k.prometheus({ registry });
    await scenario(k, async (expected) => {
      assert.equal(await value(registry, 'renova_keeper_refresh_due_total'), expected.due);
      assert.equal(await value(registry, 'renova_keeper_refreshed_total'), expected.refreshed);
      assert.equal(await value(registry, 'renova_keeper_refresh_failed_total'), expected.failed);
      assert.equal(
        await value(registry, 'renova_keeper_reauthorization_required_total'),
        expected.reauthorizationRequired,
      );
      assert.equal(
        await value(registry, 'renova_keeper_refresh_duration_seconds_count'),
        expected.refreshRequests,
      );
    });
    const text = await registry.metrics();
    assert.match(text, /renova_keeper_store_operation_duration_seconds_count\{operation="get"\} \d+/);
    assert.match(text, /renova_keeper_refreshes_in_flight 0/);
    assert.match(text, /# TYPE renova_keeper_refresh_due_total counter/);
    assert.match(text, /# TYPE renova_keeper_refresh_duration_seconds histogram/);
  });

  it('starts counters at the totals so far, takes a prefix, and refuses a bad prefix or a second registration', async () => {
    const k = keeper(new MemoryTokenStore());
    await k.save(20, fake.issue(20) as never);
    await k.refresh(20);
    const registry = new Registry();
    await k.prometheus({ registry, prefix: 'shop_a_' });
    assert.equal(await value(registry, 'shop_a_refreshed_total'), 1);
    assert.equal(await value(registry, 'shop_a_refresh_due_total'), 1);
    await assert.rejects(k.prometheus({ registry, prefix: 'shop_a_' }), /already been registered/);
    await assert.rejects(k.prometheus({ registry, prefix: 'bad-prefix' }), TypeError);
    await assert.rejects(k.prometheus({ registry, prefix: '9x' }), TypeError);
  });

  it('is imported only when asked for: without prom-client the package works and prometheus() says what to install', async () => {
    const cwd = resolve(import.meta.dirname, '..');
    const script = `
      const { MemoryTokenStore, OAuth, TokenKeeper } = await import('./src/index.ts');
      const k = new TokenKeeper({ oauth: new OAuth({ baseUrl: 'http://127.0.0.1:1' }), clientId: '1', clientSecret: 's', store: new MemoryTokenStore() });
      await k.save(1, { access_token: 'a', token_type: 'Bearer', expires_in: 3600, scope: '', user_id: 1, refresh_token: 'r' });
      console.log('stats', JSON.stringify(k.stats().storeLatency.put.count));
      try { await k.prometheus(); console.log('loaded'); } catch (e) { console.log(e.name + ': ' + e.message); }
    `;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        './test/helpers/no-prom-client.mjs',
        '--input-type=module',
        '-e',
        script,
      ],
      { cwd },
    );
    assert.match(stdout, /^stats 1$/m);
    assert.match(
      stdout,
      /StoreError: TokenKeeper\.prometheus\(\) needs the optional dependency prom-client: npm install prom-client@\^15/,
    );
  });
});
