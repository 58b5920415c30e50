import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type FetchLike,
  OAuth,
  ReauthorizationRequiredError,
  SqliteTokenStore,
  TokenKeeper,
  type TokenStore,
} from '../src/index.ts';
import {
  authorize,
  createApplication,
  createUser,
  type RenovaServer,
  startServer,
} from './helpers/server.ts';
import { createStore, type StoreFixture, type StoreSpec } from './helpers/stores.ts';
import { dueToken } from './helpers/tokens.ts';
import type { WorkerJob } from './helpers/worker.ts';

const WORKER = resolve(import.meta.dirname, 'helpers/worker.ts');

interface WorkerResult {
  tokens: string[];
  errors: string[];
  metrics: { refreshRequests: number; rotations: number; journalRecovered: number };
}

interface Worker {
  ready: Promise<void>;
  done: Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    result: WorkerResult | undefined;
    out: string;
  }>;
  go(): void;
}

function runWorker(job: WorkerJob): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(job)], {
    cwd: resolve(import.meta.dirname, '..'),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('ready\n')) onReady();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const done = new Promise<Awaited<Worker['done']>>((r) =>
    child.once('exit', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      r({ code, signal, result: line === undefined ? undefined : (JSON.parse(line) as WorkerResult), out });
    }),
  );
  return { ready, done, go: () => child.stdin.end('go\n') };
}

interface App {
  clientId: string;
  clientSecret: string;
  oauth: OAuth;
}

/** Onboards a seller (user, consent, code exchange) and stores its token as due for refresh. */
async function onboardDue(server: RenovaServer, app: App, store: TokenStore, userId?: number) {
  const uid = userId ?? (await createUser(server));
  const { code, redirect_uri } = await authorize(server, app.clientId, uid);
  const answer = await app.oauth.create({
    body: { client_id: app.clientId, client_secret: app.clientSecret, code, redirect_uri },
  });
  await store.put(dueToken(answer as unknown as Record<string, unknown>));
  return { userId: uid, answer };
}

async function userOf(server: RenovaServer, accessToken: string): Promise<number> {
  const r = await fetch(`${server.baseUrl}/users/me`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  assert.equal(r.status, 200, `GET /users/me → ${r.status}`);
  return ((await r.json()) as { id: number }).id;
}

async function newApp(server: RenovaServer): Promise<App> {
  const a = await createApplication(server);
  return {
    clientId: a.clientId,
    clientSecret: a.clientSecret,
    oauth: new OAuth({ baseUrl: server.baseUrl }),
  };
}

describe('four processes sharing a store, against a real Renova server without a replay window', () => {
  let server: RenovaServer;
  let app: App;
  before(async () => {
    // Grace 0: a second refresh with the same token would be reuse and revoke the grant, so the
    // test cannot pass by luck of the replay window.
    server = await startServer({ RENOVA_REFRESH_GRACE_SECONDS: '0' });
    app = await newApp(server);
  });
  after(async () => {
    await server.stop();
  });

  for (const kind of ['sqlite', 'postgres'] as StoreSpec['kind'][]) {
    it(`sends exactly one refresh for 4 × 25 concurrent calls sharing a ${kind} store, and all get the same token`, {
      timeout: 120_000,
    }, async () => {
      const fx: StoreFixture = await createStore(kind);
      try {
        const { userId } = await onboardDue(server, app, fx.store);
        const workers = Array.from({ length: 4 }, () =>
          runWorker({
            ...app,
            oauth: undefined,
            baseUrl: server.baseUrl,
            store: fx.spec,
            userId,
            calls: 25,
            waitForGo: true,
          } as WorkerJob),
        );
        await Promise.all(workers.map((w) => w.ready));
        for (const w of workers) w.go();
        const results = await Promise.all(workers.map((w) => w.done));
        const tokens: string[] = [];
        let refreshRequests = 0;
        for (const r of results) {
          assert.equal(r.code, 0, r.out);
          assert.ok(r.result, r.out);
          assert.deepEqual(r.result.errors, []);
          tokens.push(...r.result.tokens);
          refreshRequests += r.result.metrics.refreshRequests;
        }
        assert.equal(tokens.length, 100);
        assert.equal(new Set(tokens).size, 1);
        assert.equal(refreshRequests, 1);
        const stored = await fx.store.get(userId);
        assert.equal(stored?.accessToken, tokens[0]);
        assert.equal(await userOf(server, tokens[0] as string), userId);
      } finally {
        await fx.cleanup();
      }
    });
  }
});

describe('crash recovery and lost grants, against a real Renova server', () => {
  let server: RenovaServer;
  let app: App;
  before(async () => {
    server = await startServer();
    app = await newApp(server);
  });
  after(async () => {
    await server.stop();
  });

  for (const crash of ['after-answer', 'after-journal'] as const) {
    it(`continues without re-authorization after SIGKILL ${crash.replace('-', ' the ')} and a restart`, {
      timeout: 120_000,
    }, async () => {
      const fx = await createStore('sqlite');
      try {
        const { userId, answer } = await onboardDue(server, app, fx.store);
        const base = {
          ...app,
          oauth: undefined,
          baseUrl: server.baseUrl,
          store: fx.spec,
          userId,
          ownerId: 'worker-1',
        };
        const killed = await runWorker({ ...base, calls: 5, crash } as WorkerJob).done;
        assert.equal(killed.signal, 'SIGKILL', killed.out);
        const journal = await fx.store.journalList(userId);
        assert.equal(journal.length, crash === 'after-journal' ? 1 : 0);
        const restarted = await runWorker({ ...base, calls: 5 } as WorkerJob).done;
        assert.equal(restarted.code, 0, restarted.out);
        assert.ok(restarted.result);
        assert.deepEqual(restarted.result.errors, []);
        assert.equal(new Set(restarted.result.tokens).size, 1);
        const token = restarted.result.tokens[0] as string;
        assert.notEqual(token, answer.access_token);
        if (crash === 'after-journal') {
          assert.equal(restarted.result.metrics.refreshRequests, 0);
          assert.equal(restarted.result.metrics.journalRecovered, 1);
          assert.equal(token, journal[0]?.token.accessToken);
        }
        assert.equal(await userOf(server, token), userId);
        // The grant is intact: the stored refresh token still refreshes.
        const stored = await fx.store.get(userId);
        const again = await app.oauth.refresh({
          body: {
            client_id: app.clientId,
            client_secret: app.clientSecret,
            refresh_token: stored?.refreshToken ?? '',
          },
        });
        assert.equal(again.user_id, userId);
      } finally {
        await fx.cleanup();
      }
    });
  }

  it('surfaces a revoked grant as ReauthorizationRequiredError and a reauthorization_required event', {
    timeout: 60_000,
  }, async () => {
    const fx = await createStore('sqlite');
    try {
      const { userId } = await onboardDue(server, app, fx.store);
      await server.admin('DELETE', `/admin/grants/${app.clientId}/${userId}`);
      const keeper = new TokenKeeper({ ...app, store: fx.store });
      const events: number[] = [];
      keeper.on('reauthorization_required', (e) => {
        events.push(e.userId);
      });
      await assert.rejects(keeper.getAccessToken(userId), (e: unknown) => {
        assert.ok(e instanceof ReauthorizationRequiredError);
        assert.equal(e.userId, userId);
        return true;
      });
      assert.deepEqual(events, [userId]);
      assert.equal((await fx.store.get(userId))?.status, 'reauthorization_required');
    } finally {
      await fx.cleanup();
    }
  });
});

describe('the background scheduler, against a real Renova server', () => {
  let server: RenovaServer;
  let app: App;
  before(async () => {
    server = await startServer();
    app = await newApp(server);
  });
  after(async () => {
    await server.stop();
  });

  it('refreshes 10,000 due sellers once each, within the configured rate, with two keepers sharing SQLite', {
    timeout: 400_000,
  }, async () => {
    const N = 10_000;
    const RATE = 150;
    const fx = await createStore('sqlite');
    const second = new SqliteTokenStore({ path: (fx.spec as { path: string }).path });
    try {
      // Onboard N sellers with a pool of concurrent admin calls.
      let next = 0;
      const tokens: ReturnType<typeof dueToken>[] = [];
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < N) {
            next++;
            const uid = await createUser(server);
            const { code, redirect_uri } = await authorize(server, app.clientId, uid);
            const answer = await app.oauth.create({
              body: { client_id: app.clientId, client_secret: app.clientSecret, code, redirect_uri },
            });
            tokens.push(dueToken(answer as unknown as Record<string, unknown>, 3_600_000));
          }
        }),
      );
      await Promise.all(tokens.map((t) => fx.store.put(t)));
      const presented = new Map<string, number>();
      const sendTimes: number[][] = [[], []];
      const keepers = [fx.store, second].map((store, i) => {
        const fetchImpl: FetchLike = (url, init) => {
          sendTimes[i]?.push(performance.now());
          const rt = (JSON.parse(String(init.body)) as { refresh_token: string }).refresh_token;
          presented.set(rt, (presented.get(rt) ?? 0) + 1);
          return fetch(url, init);
        };
        return new TokenKeeper({
          oauth: new OAuth({ baseUrl: server.baseUrl, fetch: fetchImpl }),
          clientId: app.clientId,
          clientSecret: app.clientSecret,
          store,
          scheduler: { intervalMs: 200, concurrency: 16, ratePerSecond: RATE, burst: 1 },
        });
      });
      const errors: unknown[] = [];
      for (const k of keepers) k.on('error', (e) => void errors.push(e.error));
      const finished = new Promise<void>((done) => {
        let rotated = 0;
        for (const k of keepers) {
          k.on('rotated', () => {
            rotated++;
            if (rotated === N) done();
          });
        }
      });
      for (const k of keepers) k.start();
      await finished;
      await Promise.all(keepers.map((k) => k.stop()));
      assert.deepEqual(errors, []);
      assert.equal(presented.size, N);
      assert.ok([...presented.values()].every((n) => n === 1));
      const m = keepers.map((k) => k.metrics());
      assert.equal((m[0]?.rotations ?? 0) + (m[1]?.rotations ?? 0), N);
      assert.equal((m[0]?.refreshRequests ?? 0) + (m[1]?.refreshRequests ?? 0), N);
      assert.deepEqual(await fx.store.claimDue('check', 10, 1000), []);
      // Token-bucket bound: in any one-second window a keeper starts at most rate + burst requests
      // (plus 5 % for the gap between the permit and the send).
      for (const times of sendTimes) {
        let j = 0;
        let worst = 0;
        for (let i = 0; i < times.length; i++) {
          while ((times[j] as number) < (times[i] as number) - 1000) j++;
          worst = Math.max(worst, i - j + 1);
        }
        assert.ok(worst <= Math.ceil(RATE * 1.05) + 1, `a keeper sent ${worst} requests within one second`);
      }
    } finally {
      await second.close();
      await fx.cleanup();
    }
  });
});
