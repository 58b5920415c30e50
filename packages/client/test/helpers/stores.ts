/** Store factories for tests: each gives a fresh, isolated store and a cleanup that removes its data. */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  MemoryTokenStore,
  PostgresTokenStore,
  RedisTokenStore,
  SqliteTokenStore,
  type TokenStore,
} from '../../src/index.ts';

/** PostgreSQL used by the tests (must be reachable: tests fail, never skip, without it). */
export const PG_URL = process.env.RENOVA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** Redis used by the tests. */
export const REDIS_URL = process.env.RENOVA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A store under test and how to get rid of it. */
export interface StoreFixture {
  /** The store. */
  store: TokenStore;
  /** Options another process needs to open the same store (see `helpers/worker.ts`). */
  spec: StoreSpec;
  /** Closes the store and deletes its data. */
  cleanup(): Promise<void>;
}

/** Serializable description of a store, to open it again in another process. */
export type StoreSpec =
  | { kind: 'memory' }
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; connectionString: string; schema: string }
  | { kind: 'redis'; url: string; keyPrefix: string };

/** Opens a store from its spec. */
export function openStore(spec: StoreSpec): TokenStore {
  switch (spec.kind) {
    case 'memory':
      return new MemoryTokenStore();
    case 'sqlite':
      return new SqliteTokenStore({ path: spec.path });
    case 'postgres':
      return new PostgresTokenStore({ connectionString: spec.connectionString, schema: spec.schema });
    case 'redis':
      return new RedisTokenStore({ url: spec.url, keyPrefix: spec.keyPrefix });
  }
}

const suffix = () => globalThis.crypto.randomUUID().replace(/-/g, '').slice(0, 12);

/** Creates a fresh store of the given kind. */
export async function createStore(kind: StoreSpec['kind']): Promise<StoreFixture> {
  if (kind === 'memory') {
    return { store: new MemoryTokenStore(), spec: { kind }, cleanup: async () => {} };
  }
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'renova-store-'));
    const spec: StoreSpec = { kind, path: join(dir, 'tokens.db') };
    const store = openStore(spec);
    return {
      store,
      spec,
      cleanup: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (kind === 'postgres') {
    const spec: StoreSpec = { kind, connectionString: PG_URL, schema: `renova_client_test_${suffix()}` };
    const store = openStore(spec);
    return {
      store,
      spec,
      cleanup: async () => {
        await store.close();
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        try {
          await client.query(`DROP SCHEMA IF EXISTS "${spec.schema}" CASCADE`);
        } finally {
          await client.end();
        }
      },
    };
  }
  const spec: StoreSpec = { kind, url: REDIS_URL, keyPrefix: `renova-test:${suffix()}:` };
  const store = openStore(spec) as RedisTokenStore;
  return {
    store,
    spec,
    cleanup: async () => {
      await store.clear();
      await store.close();
    },
  };
}
