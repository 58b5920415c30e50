/**
 * How many sellers per second the TokenKeeper refreshes against a local Renova, and what limits it.
 *
 *   npm run bench --workspace @renova/client            # defaults
 *   BENCH_SELLERS=4000 BENCH_STORE=postgres npm run bench --workspace @renova/client
 *
 * Three measurements over the same kind of work:
 * 1. server ceiling: raw `OAuth.refresh` calls, N in flight, no store;
 * 2. store ceiling: journal append + compare-and-swap per seller, no HTTP;
 * 3. keeper: the background scheduler refreshing every due seller (lease, journal, CAS, hooks),
 *    with the rate limit set out of the way, at several concurrency caps.
 * The keeper's figure is compared with the two ceilings to say what limits it.
 */

import { cpus } from 'node:os';
import { type FetchLike, OAuth, TokenKeeper, type TokenStore } from '../src/index.ts';
import { authorize, createApplication, createUser, startServer } from '../test/helpers/server.ts';
import { createStore, type StoreSpec } from '../test/helpers/stores.ts';
import { dueToken, wrapStore } from '../test/helpers/tokens.ts';

const N = Number(process.env.BENCH_SELLERS ?? 2000);
const KIND = (process.env.BENCH_STORE ?? 'sqlite') as StoreSpec['kind'];
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '8,32,64').split(',').map(Number);

const server = await startServer({ LOG_LEVEL: 'error' });
const log = (s: string) => process.stdout.write(`${s}\n`);
try {
  log(
    `Renova keeper benchmark: ${N} sellers, ${KIND} store, ${cpus().length} cores, Node ${process.version}`,
  );
  const app = await createApplication(server);
  const oauth = new OAuth({ baseUrl: server.baseUrl });
  const creds = { client_id: app.clientId, client_secret: app.clientSecret };

  /** N fresh sellers with their token answers. */
  async function onboard(): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < N) {
          next++;
          const uid = await createUser(server);
          const { code, redirect_uri } = await authorize(server, app.clientId, uid);
          out.push(
            (await oauth.create({ body: { ...creds, code, redirect_uri } })) as unknown as Record<
              string,
              unknown
            >,
          );
        }
      }),
    );
    return out;
  }

  const t0 = performance.now();
  const answers = await onboard();
  log(
    `onboarded ${N} sellers in ${((performance.now() - t0) / 1000).toFixed(1)} s (admin API + code exchange)`,
  );

  // 1. Server ceiling: each seller's refresh, 32 in flight.
  {
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < answers.length) {
          const a = answers[next++] as Record<string, unknown>;
          const r = await oauth.refresh({ body: { ...creds, refresh_token: a.refresh_token as string } });
          a.refresh_token = r.refresh_token;
          a.access_token = r.access_token;
        }
      }),
    );
    const s = (performance.now() - start) / 1000;
    log(`server ceiling: ${(N / s).toFixed(0)} refreshes/s (raw OAuth.refresh, 32 in flight, no store)`);
  }

  // 2. Store ceiling: journal + CAS per seller, 32 in flight.
  {
    const fx = await createStore(KIND);
    const versions = await Promise.all(answers.map((a) => fx.store.put(dueToken(a)).then((t) => t.version)));
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < answers.length) {
          const i = next++;
          const t = dueToken(answers[i] as Record<string, unknown>);
          const id = globalThis.crypto.randomUUID();
          await fx.store.journalAppend({
            id,
            userId: t.userId,
            fromVersion: versions[i] as number,
            token: t,
            receivedAt: 0,
          });
          await fx.store.compareAndSwap(t.userId, versions[i] as number, t, id);
        }
      }),
    );
    const s = (performance.now() - start) / 1000;
    log(
      `store ceiling: ${(N / s).toFixed(0)} saves/s (${KIND}: journal append + compare-and-swap, 32 in flight)`,
    );
    await fx.cleanup();
  }

  // 3. Keeper: the scheduler over N due sellers.
  for (const concurrency of CONCURRENCY) {
    const fx = await createStore(KIND);
    await Promise.all(answers.map((a) => fx.store.put(dueToken(a))));
    let httpMs = 0;
    let storeMs = 0;
    const timed =
      <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
      async (...a: A): Promise<R> => {
        const s = performance.now();
        try {
          return await fn(...a);
        } finally {
          storeMs += performance.now() - s;
        }
      };
    const b = fx.store;
    const store: TokenStore = wrapStore(b, {
      get: timed(b.get.bind(b)),
      compareAndSwap: timed(b.compareAndSwap.bind(b)),
      acquireLease: timed(b.acquireLease.bind(b)),
      releaseLease: timed(b.releaseLease.bind(b)),
      journalAppend: timed(b.journalAppend.bind(b)),
      journalList: timed(b.journalList.bind(b)),
      claimDue: timed(b.claimDue.bind(b)),
    });
    const fetchImpl: FetchLike = async (url, init) => {
      const s = performance.now();
      try {
        const r = await fetch(url, init);
        await r.clone().arrayBuffer();
        return r;
      } finally {
        httpMs += performance.now() - s;
      }
    };
    const keeper = new TokenKeeper({
      oauth: new OAuth({ baseUrl: server.baseUrl, fetch: fetchImpl }),
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      store,
      scheduler: { intervalMs: 100, concurrency, ratePerSecond: 1_000_000, burst: concurrency },
    });
    let rotated = 0;
    const done = new Promise<void>((r) =>
      keeper.on('rotated', () => {
        if (++rotated === N) r();
      }),
    );
    const errors: unknown[] = [];
    keeper.on('error', (e) => void errors.push(e.error));
    const start = performance.now();
    keeper.start();
    await done;
    const wall = performance.now() - start;
    await keeper.stop();
    const m = keeper.metrics();
    const perSeller = (x: number) => (x / N).toFixed(2);
    log(
      `keeper, concurrency ${String(concurrency).padStart(2)}: ${(N / (wall / 1000)).toFixed(0)} sellers/s ` +
        `(${m.refreshRequests} requests, ${m.rotations} rotations, ${errors.length} errors; per seller: ` +
        `${perSeller(httpMs)} ms in HTTP, ${perSeller(storeMs)} ms in the store, summed over ${concurrency} in flight)`,
    );
    await fx.cleanup();
  }
  log(
    'what limits it: each seller costs one HTTP refresh plus four durable store writes (lease, journal append, ' +
      'compare-and-swap, lease release) and three reads; compare the keeper figure with the server and store ' +
      'ceilings above (client, server and store share the same cores here)',
  );
} finally {
  await server.stop();
}
