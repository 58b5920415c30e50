import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoragePort } from '../../src/storage/contract.ts';
import { MemoryStorage } from '../../src/storage/memory/adapter.ts';
import { PostgresStorage } from '../../src/storage/postgres/adapter.ts';
import { SqliteStorage } from '../../src/storage/sqlite/adapter.ts';
import { createTestSchema } from './postgres.ts';

/** A migrated, empty storage for one test, and how to throw it away. */
export interface TestStorage {
  storage: StoragePort;
  cleanup(): Promise<void>;
}

export interface StorageFactory {
  name: string;
  create(): Promise<TestStorage>;
}

/** A real file (WAL, synchronous=FULL) in a temp folder: the same code path as production. */
export const sqliteFactory: StorageFactory = {
  name: 'sqlite',
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'renova-test-'));
    const storage = new SqliteStorage({ path: join(dir, 'renova.db') });
    await storage.migrate();
    return {
      storage,
      async cleanup() {
        await storage.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

/** A fresh schema in this run's throwaway database (helpers/postgres.ts); PostgreSQL must be up. */
export const postgresFactory: StorageFactory = {
  name: 'postgres',
  async create() {
    const { url, schema, drop } = await createTestSchema();
    const storage = new PostgresStorage({ connectionString: url, schema, poolMax: 8 });
    await storage.migrate();
    return {
      storage,
      async cleanup() {
        await storage.close();
        await drop();
      },
    };
  },
};

/** Every engine the suites run against. */
export const storageFactories: StorageFactory[] = [sqliteFactory, postgresFactory];

/** Process memory: the contract suite holds it to the same promises, and unit tests run on it. */
export const memoryFactory: StorageFactory = {
  name: 'memory',
  async create() {
    const storage = new MemoryStorage();
    await storage.migrate();
    return { storage, cleanup: () => storage.close() };
  },
};
