import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  ClientHaltedError,
  ConnectionError,
  type JournalEntry,
  MAX_TIMER_MS,
  MemoryTokenStore,
  OAuth,
  RateLimitedError,
  ReauthorizationRequiredError,
  RefreshOutcomeUnknownError,
  StoreError,
  type TokenData,
  TokenKeeper,
  type TokenKeeperOptions,
  TokenNotFoundError,
  type TokenStore,
} from '../src/index.ts';
import { type FakeServer, startFakeServer } from './helpers/fake-server.ts';
import { freePort } from './helpers/server.ts';
import { dueToken, wrapStore } from './helpers/tokens.ts';

let fake: FakeServer;

function keeper(store: TokenStore, extra: Partial<TokenKeeperOptions> = {}): TokenKeeper {
  return new TokenKeeper({
    oauth: new OAuth({ baseUrl: fake.baseUrl, timeout: 2_000 }),
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    store,
    retry: { baseDelayMs: 5, maxDelayMs: 2_000 },
    ...extra,
  });
}

async function seedDue(store: TokenStore, userId: number): Promise<Record<string, unknown>> {
  const answer = fake.issue(userId);
  await store.put(dueToken(answer));
  return answer;
}

describe('TokenKeeper (against a scripted token endpoint)', () => {
  before(async () => {
    fake = await startFakeServer();
  });
  after(async () => {
    await fake.close();
  });
  beforeEach(() => {
    fake.requests.length = 0;
    fake.faults.length = 0;
  });

  it('hands out the stored access token without a request while it is not due', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    const answer = fake.issue(101);
    await k.save(101, answer as never);
    assert.equal(await k.getAccessToken(101), answer.access_token);
    assert.equal(fake.requests.length, 0);
    const stored = await store.get(101);
    assert.ok(stored !== null && stored.refreshAt !== null);
    assert.ok(stored.refreshAt < stored.expiresAt - 0.2 * 15_552_000_000 + 1);
  });

  it('throws TokenNotFoundError for a seller it has never seen', async () => {
    await assert.rejects(keeper(new MemoryTokenStore()).getAccessToken(999), TokenNotFoundError);
  });

  it('refuses to save an answer that belongs to another seller', async () => {
    const k = keeper(new MemoryTokenStore());
    await assert.rejects(k.save(1, fake.issue(2) as never), TypeError);
  });

  it('makes one refresh for fifty concurrent calls in one process and gives all of them the same token', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    await seedDue(store, 102);
    const tokens = await Promise.all(Array.from({ length: 50 }, () => k.getAccessToken(102)));
    assert.equal(fake.refreshes().length, 1);
    assert.equal(new Set(tokens).size, 1);
    const stored = await store.get(102);
    assert.equal(stored?.accessToken, tokens[0]);
    assert.equal(k.metrics().rotations, 1);
  });

  it('stores the rotated refresh token before any caller or hook sees the new access token', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    const old = await seedDue(store, 103);
    const seen: string[] = [];
    k.on('rotated', async (e) => {
      const stored = await store.get(103);
      assert.equal(stored?.refreshToken, e.token.refreshToken);
      assert.notEqual(stored?.refreshToken, old.refresh_token);
      await new Promise((r) => setTimeout(r, 20));
      seen.push('hook done');
    });
    const token = await k.getAccessToken(103);
    seen.push('caller got token');
    assert.deepEqual(seen, ['hook done', 'caller got token']);
    assert.equal((await store.get(103))?.accessToken, token);
  });

  it('keeps the old refresh token when an answer carries none', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    const answer = fake.issue(104);
    const { refresh_token: _rt, ...withoutRt } = answer;
    await store.put(dueToken(answer));
    const saved = await k.save(104, withoutRt as never);
    assert.equal(saved.refreshToken, null);
    await store.put(dueToken(answer));
    const stored = await store.get(104);
    assert.equal(stored?.refreshToken, answer.refresh_token);
  });

  it('lets two keepers sharing a store make one refresh between them, the loser adopting the winner token', async () => {
    const store = new MemoryTokenStore();
    const a = keeper(store, { pollIntervalMs: 5 });
    const b = keeper(store, { pollIntervalMs: 5 });
    await seedDue(store, 105);
    fake.faults.push({ delayMs: 100 });
    const tokens = await Promise.all([
      ...Array.from({ length: 10 }, () => a.getAccessToken(105)),
      ...Array.from({ length: 10 }, () => b.getAccessToken(105)),
    ]);
    assert.equal(fake.refreshes().length, 1);
    assert.equal(new Set(tokens).size, 1);
    assert.equal(a.metrics().leaseWaits + b.metrics().leaseWaits, 1);
  });

  it('adopts the stored token when its compare-and-swap loses to a newer authorization', async () => {
    const base = new MemoryTokenStore();
    const fresh = fake.issue(106);
    let injected = false;
    const store = wrapStore(base, {
      async journalAppend(entry: JournalEntry) {
        await base.journalAppend(entry);
        if (!injected) {
          injected = true;
          await base.put({ ...dueToken(fresh), refreshAt: Date.now() + 3_600_000 });
        }
      },
    });
    const k = keeper(store);
    await seedDue(base, 106);
    assert.equal(await k.getAccessToken(106), fresh.access_token);
    assert.equal(k.metrics().casConflicts, 1);
    assert.deepEqual(await base.journalList(106), []);
  });

  it('finishes a journaled rotation after a crash without asking the server again', async () => {
    const base = new MemoryTokenStore();
    await seedDue(base, 107);
    // First keeper: the answer reaches the journal, then every save fails (as if the process died).
    const broken = wrapStore(base, {
      compareAndSwap: async () => {
        throw new StoreError('disk gone');
      },
    });
    const k1 = keeper(broken, { retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 5 } });
    await assert.rejects(k1.refresh(107), StoreError);
    assert.equal(fake.refreshes().length, 1);
    const journaled = await base.journalList(107);
    assert.equal(journaled.length, 1);
    const k2 = keeper(base);
    const token = await k2.getAccessToken(107);
    assert.equal(token, journaled[0]?.token.accessToken);
    assert.equal(fake.refreshes().length, 1);
    assert.equal(k2.metrics().journalRecovered, 1);
    assert.deepEqual(await base.journalList(107), []);
  });

  it('recover() finishes every pending journal entry and drops obsolete ones', async () => {
    const store = new MemoryTokenStore();
    const a = await seedDue(store, 108);
    const cur = await store.get(108);
    assert.ok(cur);
    const next: TokenData = { ...dueToken(fake.issue(108)), refreshAt: Date.now() + 1_000_000 };
    await store.journalAppend({
      id: 'j1',
      userId: 108,
      fromVersion: cur.version,
      token: next,
      receivedAt: 1,
    });
    await store.journalAppend({
      id: 'j0',
      userId: 108,
      fromVersion: cur.version - 1,
      token: dueToken(a),
      receivedAt: 0,
    });
    const k = keeper(store);
    assert.equal(await k.recover(), 1);
    assert.equal((await store.get(108))?.accessToken, next.accessToken);
    assert.deepEqual(await store.journalList(), []);
  });

  it('re-presents the refresh token when the answer was lost and gets the same pair from the replay window', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    await seedDue(store, 109);
    fake.faults.push({ drop: 'after' });
    const token = await k.getAccessToken(109);
    assert.equal(fake.refreshes().length, 2);
    assert.equal(fake.refreshes()[0]?.body.refresh_token, fake.refreshes()[1]?.body.refresh_token);
    assert.equal(fake.rotations > 0, true);
    assert.equal((await store.get(109))?.accessToken, token);
    assert.equal(k.metrics().unknownOutcomes, 1);
  });

  it('treats a timeout after sending as an unknown outcome and resolves it inside the replay window', async () => {
    const store = new MemoryTokenStore();
    const k = new TokenKeeper({
      oauth: new OAuth({ baseUrl: fake.baseUrl, timeout: 100 }),
      clientId: fake.clientId,
      clientSecret: fake.clientSecret,
      store,
      retry: { baseDelayMs: 5 },
    });
    await seedDue(store, 110);
    fake.faults.push({ delayMs: 400 });
    const rotationsBefore = fake.rotations;
    await k.refresh(110);
    assert.equal(fake.refreshes().length, 2);
    assert.equal(fake.rotations - rotationsBefore, 1);
    assert.equal(k.metrics().unknownOutcomes, 1);
  });

  it('never re-presents a refresh token with an unknown outcome when the replay window is off', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store, { replayWindowSeconds: 0 });
    const answer = await seedDue(store, 111);
    fake.faults.push({ drop: 'after' });
    await assert.rejects(k.refresh(111), RefreshOutcomeUnknownError);
    assert.equal(fake.refreshes().length, 1);
    assert.equal((await store.get(111))?.refreshToken, answer.refresh_token);
  });

  it('adopts a newer stored token on invalid_grant instead of asking for re-authorization', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    await seedDue(store, 112);
    const newer = fake.issue(112);
    fake.faults.push({
      before: async () => {
        await store.put({ ...dueToken(newer), refreshAt: Date.now() + 3_600_000 });
      },
      status: 400,
      body: { error: 'invalid_grant', message: 'used', status: 400, cause: [] },
    });
    const events: unknown[] = [];
    k.on('reauthorization_required', (e) => {
      events.push(e);
    });
    assert.equal(await k.getAccessToken(112), newer.access_token);
    assert.deepEqual(events, []);
    assert.equal((await store.get(112))?.status, 'active');
  });

  it('raises ReauthorizationRequiredError and an event when the grant is gone, and stops asking the server', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    await seedDue(store, 113);
    fake.revoke(113);
    const events: number[] = [];
    k.on('reauthorization_required', (e) => {
      events.push(e.userId);
    });
    await assert.rejects(k.getAccessToken(113), (e: unknown) => {
      assert.ok(e instanceof ReauthorizationRequiredError);
      assert.equal(e.userId, 113);
      assert.equal(e.error, 'reauthorization_required');
      return true;
    });
    assert.deepEqual(events, [113]);
    assert.equal((await store.get(113))?.status, 'reauthorization_required');
    await assert.rejects(k.getAccessToken(113), ReauthorizationRequiredError);
    assert.equal(fake.refreshes().length, 1);
    await k.save(113, fake.issue(113) as never);
    assert.equal((await store.get(113))?.status, 'active');
  });

  it('halts refreshing for every seller on invalid_client without marking any of them', async () => {
    const store = new MemoryTokenStore();
    const k = new TokenKeeper({
      oauth: new OAuth({ baseUrl: fake.baseUrl }),
      clientId: fake.clientId,
      clientSecret: 'wrong',
      store,
    });
    const a = await seedDue(store, 114);
    await seedDue(store, 115);
    await store.put({ ...dueToken(fake.issue(116), -1_000) });
    const errors: unknown[] = [];
    k.on('error', (e) => {
      errors.push(e.error);
    });
    assert.equal(await k.getAccessToken(114), a.access_token);
    assert.ok(k.halted !== null);
    await k.getAccessToken(115);
    await assert.rejects(k.getAccessToken(116), ClientHaltedError);
    assert.equal(fake.refreshes().length, 1);
    assert.ok(errors[0] instanceof ClientHaltedError);
    for (const id of [114, 115, 116]) assert.equal((await store.get(id))?.status, 'active');
    k.setClientCredentials(fake.clientId, fake.clientSecret);
    assert.notEqual(await k.getAccessToken(115), undefined);
    assert.equal(k.halted, null);
    assert.equal(fake.refreshes().length, 2);
  });

  it('retries 5xx, 503 and 429 answers with the same refresh token and succeeds', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    const answer = await seedDue(store, 117);
    fake.faults.push(
      { status: 500, body: { error: 'server_error', message: 'x', status: 500, cause: [] } },
      {
        status: 503,
        body: { error: 'temporarily_unavailable', message: 'x', status: 503, cause: [] },
        headers: { 'retry-after': '0' },
      },
      {
        status: 429,
        body: { error: 'local_rate_limited', message: 'x', status: 429, cause: [] },
        headers: { 'retry-after': '0' },
      },
    );
    await k.getAccessToken(117);
    const sent = fake.refreshes().map((r) => r.body.refresh_token);
    assert.deepEqual(sent, Array(4).fill(answer.refresh_token));
    assert.equal(k.metrics().retries, 3);
    assert.equal(k.metrics().rotations, 1);
  });

  it('gives up at once when Retry-After asks for longer than the backoff cap', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store, { retry: { maxDelayMs: 1_000 } });
    await seedDue(store, 118);
    fake.faults.push({
      status: 429,
      body: { error: 'local_rate_limited', message: 'slow down', status: 429, cause: [] },
      headers: { 'retry-after': '120' },
    });
    await assert.rejects(
      k.refresh(118),
      (e: unknown) => e instanceof RateLimitedError && e.retryAfter === 120,
    );
    assert.equal(fake.refreshes().length, 1);
  });

  it('retries a connection that was refused (nothing sent) and stops after the configured attempts', async () => {
    const store = new MemoryTokenStore();
    let calls = 0;
    const k = new TokenKeeper({
      oauth: new OAuth({
        baseUrl: `http://127.0.0.1:${await freePort()}`,
        fetch: (url, init) => {
          calls++;
          return fetch(url, init);
        },
      }),
      clientId: 'a',
      clientSecret: 'b',
      store,
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    });
    await store.put(dueToken(fake.issue(119), -1));
    await assert.rejects(
      k.getAccessToken(119),
      (e: unknown) => e instanceof ConnectionError && e.requestSent === false,
    );
    assert.equal(calls, 3);
  });

  it('serves the current access token when a refresh fails but the token is still valid', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store, { retry: { attempts: 1 } });
    const answer = await seedDue(store, 120);
    fake.faults.push({ status: 500, body: { error: 'server_error', message: 'x', status: 500, cause: [] } });
    assert.equal(await k.getAccessToken(120), answer.access_token);
    assert.equal(k.metrics().staleServed, 1);
  });

  it('waits for another process that holds the lease and adopts its result', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store, { pollIntervalMs: 5 });
    await seedDue(store, 121);
    assert.equal(await store.acquireLease(121, 'someone-else', 60_000), true);
    const next = fake.issue(121);
    setTimeout(async () => {
      const cur = await store.get(121);
      if (cur)
        await store.compareAndSwap(121, cur.version, { ...dueToken(next), refreshAt: Date.now() + 1e9 });
    }, 50);
    assert.equal(await k.getAccessToken(121), next.access_token);
    assert.equal(fake.refreshes().length, 0);
    assert.equal(k.metrics().adopted, 1);
  });

  it('takes over a lease whose holder died once it expires', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store, { pollIntervalMs: 5 });
    await seedDue(store, 122);
    await store.acquireLease(122, 'dead-process', 60);
    await k.refresh(122);
    assert.equal(fake.refreshes().length, 1);
  });

  it('never arms a timer longer than 2^31-1 ms, even with a 180-day interval', async () => {
    const base = new MemoryTokenStore();
    let claims = 0;
    const store = wrapStore(base, {
      claimDue: async (...args) => {
        claims++;
        return base.claimDue(...args);
      },
    });
    const k = keeper(store, { scheduler: { intervalMs: 180 * 86_400_000 } });
    k.start();
    await new Promise((r) => setTimeout(r, 300));
    await k.stop();
    assert.equal(claims, 1);
    assert.equal(MAX_TIMER_MS, 2147483647);
  });
});
