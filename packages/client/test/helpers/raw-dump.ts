/**
 * Everything a store holds, as the bytes an attacker with a backup would see: the SQLite files,
 * every row of the PostgreSQL tables, every Redis key and value under the prefix, and (memory, which
 * has no outside) everything its own methods return without the keeper's unsealing.
 */

import { existsSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { TokenStore } from '../../src/index.ts';
import type { StoreSpec } from './stores.ts';

/** Returns the raw contents of the store as one string (latin1 for the SQLite bytes). */
export async function rawDump(spec: StoreSpec, store: TokenStore): Promise<string> {
  switch (spec.kind) {
    case 'memory': {
      const rows: unknown[] = [];
      let cursor: string | null = null;
      do {
        const page = await store.scanTokens(cursor, 1000);
        rows.push(...page.tokens);
        cursor = page.cursor;
      } while (cursor !== null);
      return JSON.stringify({ rows, journal: await store.journalList() });
    }
    case 'sqlite': {
      // The WAL holds the latest pages until a checkpoint: read the main file and the log.
      let out = '';
      for (const f of [spec.path, `${spec.path}-wal`, `${spec.path}-shm`, `${spec.path}-journal`]) {
        if (existsSync(f)) out += readFileSync(f).toString('latin1');
      }
      return out;
    }
    case 'postgres': {
      const client = new pg.Client({ connectionString: spec.connectionString });
      await client.connect();
      try {
        const tables = await client.query<{ table_name: string }>(
          'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
          [spec.schema],
        );
        let out = '';
        for (const { table_name } of tables.rows) {
          const rows = await client.query(
            `SELECT row_to_json(t)::text AS j FROM "${spec.schema}"."${table_name}" t`,
          );
          for (const r of rows.rows as { j: string }[]) out += `${r.j}\n`;
        }
        return out;
      } finally {
        await client.end();
      }
    }
    case 'redis': {
      const c = new Redis(spec.url);
      try {
        let out = '';
        let cursor = '0';
        do {
          const [next, keys] = await c.scan(cursor, 'MATCH', `${spec.keyPrefix}*`, 'COUNT', 1000);
          cursor = next;
          for (const k of keys) {
            out += `${k}\n`;
            const type = await c.type(k);
            if (type === 'hash') out += JSON.stringify(await c.hgetall(k));
            else if (type === 'string') out += await c.get(k);
            else if (type === 'zset') out += JSON.stringify(await c.zrange(k, 0, -1, 'WITHSCORES'));
            else if (type === 'set') out += JSON.stringify(await c.smembers(k));
            else if (type === 'list') out += JSON.stringify(await c.lrange(k, 0, -1));
            else out += `<${type}>`;
            out += '\n';
          }
        } while (cursor !== '0');
        return out;
      } finally {
        c.disconnect();
      }
    }
  }
}
