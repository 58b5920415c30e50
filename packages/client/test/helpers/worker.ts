/**
 * A keeper in its own process, for the multi-process and crash tests. Reads its job as JSON from
 * argv[2], prints `ready`, waits for a line on stdin when `waitForGo` is set, runs, and prints one
 * JSON line `{ tokens, errors, metrics }`.
 *
 * Crash modes kill the process with SIGKILL at a chosen point:
 * - `after-answer`: right after the server's answer arrived, before anything was written;
 * - `after-journal`: right after the answer was journaled, before the compare-and-swap.
 */

import { createInterface } from 'node:readline';
import { type FetchLike, OAuth, TokenKeeper, type TokenStore } from '../../src/index.ts';
import { openStore, type StoreSpec } from './stores.ts';
import { wrapStore } from './tokens.ts';

/** The job description passed to the worker. */
export interface WorkerJob {
  /** Server origin. */
  baseUrl: string;
  /** Application id. */
  clientId: string;
  /** Application secret. */
  clientSecret: string;
  /** The shared store. */
  store: StoreSpec;
  /** The seller. */
  userId: number;
  /** Concurrent `getAccessToken` calls. */
  calls: number;
  /** Wait for a line on stdin before firing. */
  waitForGo?: boolean;
  /** Lease owner id. */
  ownerId?: string;
  /** Where to die. */
  crash?: 'after-answer' | 'after-journal';
}

const job = JSON.parse(process.argv[2] ?? '{}') as WorkerJob;
const die = (): never => {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
};

const realFetch: FetchLike = (url, init) => fetch(url, init);
const fetchImpl: FetchLike =
  job.crash === 'after-answer'
    ? async (url, init) => {
        const res = await realFetch(url, init);
        if (String(init.body).includes('"refresh_token"')) die();
        return res;
      }
    : realFetch;

let store: TokenStore = openStore(job.store);
if (job.crash === 'after-journal') {
  const base = store;
  store = wrapStore(base, {
    journalAppend: async (entry) => {
      await base.journalAppend(entry);
      die();
    },
  });
}

const keeper = new TokenKeeper({
  oauth: new OAuth({ baseUrl: job.baseUrl, fetch: fetchImpl, timeout: 10_000 }),
  clientId: job.clientId,
  clientSecret: job.clientSecret,
  store,
  pollIntervalMs: 20,
  ...(job.ownerId === undefined ? {} : { ownerId: job.ownerId }),
});

await store.get(job.userId); // open the store before the start line
process.stdout.write('ready\n');
if (job.waitForGo) {
  const rl = createInterface({ input: process.stdin });
  await new Promise<void>((r) => rl.once('line', () => r()));
  rl.close();
}
const results = await Promise.allSettled(
  Array.from({ length: job.calls }, () => keeper.getAccessToken(job.userId)),
);
const tokens = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
const errors = results.flatMap((r) =>
  r.status === 'rejected' ? [`${(r.reason as Error).name}: ${(r.reason as Error).message}`] : [],
);
process.stdout.write(`${JSON.stringify({ tokens, errors, metrics: keeper.metrics() })}\n`);
await store.close();
