import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Throwaway PostgreSQL databases for tests. PostgreSQL must be reachable (127.0.0.1:5432 on these
 * machines, or RENOVA_TEST_PG_URL): when it is not, the suites that use it FAIL, they do not skip.
 */
export const PG_ADMIN_URL = process.env.RENOVA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The URL of database `name` on the admin URL's server. */
export function databaseUrl(name: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `PostgreSQL is required by this test suite and is not reachable at ${PG_ADMIN_URL} (set RENOVA_TEST_PG_URL): ${(error as Error).message}`,
    );
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** `CREATE DATABASE renova_test_<random>`; `drop()` removes it, closing leftover connections. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `renova_test_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: databaseUrl(name),
    drop: () =>
      admin(async (client) => void (await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  };
}

let runDatabase: Promise<TestDatabase> | undefined;

/**
 * One database per test run (per test file process), created on first use and dropped when the
 * process is about to exit; each storage then gets its own schema in it, which is much cheaper
 * than a database per test.
 */
export function runTestDatabase(): Promise<TestDatabase> {
  if (!runDatabase) {
    runDatabase = createTestDatabase();
    let dropped = false;
    process.on('beforeExit', () => {
      if (dropped) return;
      dropped = true;
      void runDatabase?.then((db) => db.drop()).catch(() => {});
    });
  }
  return runDatabase;
}

let schemas = 0;

/** A fresh schema in the run's database. */
export async function createTestSchema(): Promise<{ url: string; schema: string; drop(): Promise<void> }> {
  const db = await runTestDatabase();
  schemas += 1;
  const schema = `t${process.pid}_${schemas}`;
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await client.end();
  }
  return {
    url: db.url,
    schema,
    async drop() {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA ${schema} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}
