/**
 * Redis {@link TokenStore} on `ioredis` (^5). Each compound step is a Lua script, so it is atomic;
 * leases are keys with a Redis-side expiry, and "now" is Redis's `TIME`. Durability is Redis's:
 * run it with `appendonly yes` and `appendfsync always` if a rotated refresh token must survive a
 * Redis crash. Single-instance (or primary-only) Redis: the scripts touch keys they derive from
 * the prefix, which Redis Cluster does not allow across slots. The driver is loaded on first use.
 *
 * @module
 */

import type { Redis, RedisOptions } from 'ioredis';
import { StoreError } from '../errors.ts';
import {
  assertDistinctSellers,
  type CompareAndSwapRequest,
  copyTokenData,
  type JournalEntry,
  type StoredToken,
  type TokenData,
  type TokenPage,
  type TokenStore,
} from '../store.ts';
import { loadDriver } from './driver.ts';

/** Options of {@link RedisTokenStore}. */
export interface RedisTokenStoreOptions {
  /** `redis://host:port/db`. Ignored when `client` is given. */
  url?: string;
  /** An existing ioredis client (not closed by {@link RedisTokenStore.close}). */
  client?: Redis;
  /** Extra ioredis options. */
  redisOptions?: RedisOptions;
  /** Key prefix. Default `renova:`. */
  keyPrefix?: string;
}

const PUT = `
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'status', 'active', 'reason', '', 'updated_at', ARGV[3])
if ARGV[2] == '' then redis.call('ZREM', KEYS[2], ARGV[4]) else redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4]) end
return v`;

const CAS = `
local cur = redis.call('HGET', KEYS[1], 'version')
if cur == false or cur ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', tonumber(cur) + 1, 'data', ARGV[2], 'status', 'active', 'reason', '',
  'updated_at', ARGV[4])
if ARGV[3] == '' then redis.call('ZREM', KEYS[2], ARGV[5]) else redis.call('ZADD', KEYS[2], ARGV[3], ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HDEL', KEYS[3], ARGV[6]) end
return 1`;

const MARK = `
local cur = redis.call('HGET', KEYS[1], 'version')
if cur == false or cur ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', tonumber(cur) + 1, 'status', 'reauthorization_required', 'reason', ARGV[2],
  'updated_at', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[4])
return 1`;

const LEASE = `
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`;

const CLAIM = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[3])
local picked = {}
local offset = 0
while #picked < limit do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', offset, 256)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local lk = ARGV[1] .. 'lease:' .. id
    local cur = redis.call('GET', lk)
    if cur == false or cur == ARGV[2] then
      redis.call('SET', lk, ARGV[2], 'PX', ARGV[4])
      picked[#picked + 1] = id
      if #picked >= limit then break end
    end
  end
  offset = offset + #ids
end
return picked`;

const REWRITE = `
local cur = redis.call('HGET', KEYS[1], 'version')
if cur == false or cur ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2])
return 1`;

/** Escapes Redis glob metacharacters so a key prefix matches only itself in `SCAN MATCH`. */
function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

// KEYS: due, journal, then token and lease key of each item. ARGV: now, then six per item:
// expected version, data, refreshAt ('' = none), user id, journal id ('' = none), lease owner ('' = keep).
const CAS_MANY = `
local out = {}
local n = (#KEYS - 2) / 2
for i = 1, n do
  local tok = KEYS[1 + 2 * i]
  local lease = KEYS[2 + 2 * i]
  local a = 1 + 6 * (i - 1)
  local cur = redis.call('HGET', tok, 'version')
  if cur ~= false and cur == ARGV[a + 1] then
    redis.call('HSET', tok, 'version', tonumber(cur) + 1, 'data', ARGV[a + 2], 'status', 'active', 'reason', '',
      'updated_at', ARGV[1])
    if ARGV[a + 3] == '' then redis.call('ZREM', KEYS[1], ARGV[a + 4]) else redis.call('ZADD', KEYS[1], ARGV[a + 3], ARGV[a + 4]) end
    if ARGV[a + 5] ~= '' then redis.call('HDEL', KEYS[2], ARGV[a + 5]) end
    out[i] = 1
  else
    out[i] = 0
  end
  if ARGV[a + 6] ~= '' and redis.call('GET', lease) == ARGV[a + 6] then redis.call('DEL', lease) end
end
return out`;

interface Scripted {
  renovaPut(
    tok: string,
    due: string,
    data: string,
    refreshAt: string,
    now: string,
    id: string,
  ): Promise<number>;
  renovaCas(
    tok: string,
    due: string,
    journal: string,
    expected: string,
    data: string,
    refreshAt: string,
    now: string,
    id: string,
    journalId: string,
  ): Promise<number>;
  renovaMark(
    tok: string,
    due: string,
    expected: string,
    reason: string,
    now: string,
    id: string,
  ): Promise<number>;
  renovaLease(lease: string, owner: string, ttl: string): Promise<number>;
  renovaRelease(lease: string, owner: string): Promise<number>;
  renovaRewrite(tok: string, expected: string, data: string): Promise<number>;
  renovaCasMany(numberOfKeys: number, ...keysAndArgs: string[]): Promise<number[]>;
  renovaClaim(due: string, prefix: string, owner: string, limit: string, ttl: string): Promise<string[]>;
}

type Client = Redis & Scripted;

function decode(userId: number, h: Record<string, string>): StoredToken | null {
  if (h.data === undefined || h.version === undefined) return null;
  const data = JSON.parse(h.data) as TokenData;
  return {
    ...copyTokenData(data),
    userId,
    version: Number(h.version),
    status: h.status === 'reauthorization_required' ? 'reauthorization_required' : 'active',
    reason: h.reason === undefined || h.reason === '' ? null : h.reason,
    refreshAt: h.status === 'reauthorization_required' ? null : data.refreshAt,
    updatedAt: Number(h.updated_at ?? 0),
  };
}

/** A {@link TokenStore} in Redis. */
export class RedisTokenStore implements TokenStore {
  readonly #options: RedisTokenStoreOptions;
  readonly #p: string;
  #ready: Promise<Client> | undefined;
  #owns = false;

  /** @param options - connection and key prefix */
  constructor(options: RedisTokenStoreOptions) {
    if (options.client === undefined && options.url === undefined) {
      throw new TypeError('RedisTokenStore needs a url or a client');
    }
    this.#options = options;
    this.#p = options.keyPrefix ?? 'renova:';
  }

  #open(): Promise<Client> {
    this.#ready ??= (async () => {
      let client = this.#options.client;
      if (client === undefined) {
        const { Redis: RedisClass } = await loadDriver(
          'RedisTokenStore',
          'ioredis',
          '^5',
          () => import('ioredis'),
        );
        client = new RedisClass(this.#options.url as string, {
          maxRetriesPerRequest: 2,
          ...this.#options.redisOptions,
        });
        this.#owns = true;
      }
      client.defineCommand('renovaPut', { numberOfKeys: 2, lua: PUT });
      client.defineCommand('renovaCas', { numberOfKeys: 3, lua: CAS });
      client.defineCommand('renovaMark', { numberOfKeys: 2, lua: MARK });
      client.defineCommand('renovaLease', { numberOfKeys: 1, lua: LEASE });
      client.defineCommand('renovaRelease', { numberOfKeys: 1, lua: RELEASE });
      client.defineCommand('renovaCasMany', { lua: CAS_MANY });
      client.defineCommand('renovaClaim', { numberOfKeys: 1, lua: CLAIM });
      client.defineCommand('renovaRewrite', { numberOfKeys: 1, lua: REWRITE });
      return client as Client;
    })();
    return this.#ready;
  }

  async #do<T>(what: string, fn: (c: Client) => Promise<T>): Promise<T> {
    const c = await this.#open();
    try {
      return await fn(c);
    } catch (error) {
      throw new StoreError(`Redis ${what} failed: ${(error as Error).message}`, error);
    }
  }

  #tok(userId: number): string {
    return `${this.#p}tok:${userId}`;
  }

  get #due(): string {
    return `${this.#p}due`;
  }

  get #journal(): string {
    return `${this.#p}journal`;
  }

  /** {@inheritDoc TokenStore.get} */
  get(userId: number): Promise<StoredToken | null> {
    return this.#do('get', async (c) => decode(userId, await c.hgetall(this.#tok(userId))));
  }

  /** {@inheritDoc TokenStore.getMany} (one pipeline) */
  getMany(userIds: readonly number[]): Promise<(StoredToken | null)[]> {
    if (userIds.length === 0) return Promise.resolve([]);
    return this.#do('get', async (c) => {
      const pipe = c.pipeline();
      for (const userId of userIds) pipe.hgetall(this.#tok(userId));
      const results = (await pipe.exec()) ?? [];
      return userIds.map((userId, i) => {
        const [error, h] = results[i] ?? [new Error('no reply')];
        if (error) throw error;
        return decode(userId, h as Record<string, string>);
      });
    });
  }

  /** {@inheritDoc TokenStore.put} */
  put(token: TokenData): Promise<StoredToken> {
    return this.#do('put', async (c) => {
      const now = Date.now();
      const data = copyTokenData(token);
      const version = await c.renovaPut(
        this.#tok(token.userId),
        this.#due,
        JSON.stringify(data),
        token.refreshAt === null ? '' : String(Math.round(token.refreshAt)),
        String(now),
        String(token.userId),
      );
      return { ...data, version: Number(version), status: 'active', reason: null, updatedAt: now };
    });
  }

  /** {@inheritDoc TokenStore.compareAndSwap} */
  compareAndSwap(
    userId: number,
    expectedVersion: number,
    next: TokenData,
    journalId?: string,
  ): Promise<StoredToken | null> {
    return this.#do('compare-and-swap', async (c) => {
      const now = Date.now();
      const data = { ...copyTokenData(next), userId };
      const ok = await c.renovaCas(
        this.#tok(userId),
        this.#due,
        this.#journal,
        String(expectedVersion),
        JSON.stringify(data),
        next.refreshAt === null ? '' : String(Math.round(next.refreshAt)),
        String(now),
        String(userId),
        journalId ?? '',
      );
      if (Number(ok) !== 1) return null;
      return { ...data, version: expectedVersion + 1, status: 'active', reason: null, updatedAt: now };
    });
  }

  /** {@inheritDoc TokenStore.compareAndSwapMany} (one Lua script: atomic as a whole) */
  async compareAndSwapMany(requests: readonly CompareAndSwapRequest[]): Promise<(StoredToken | null)[]> {
    assertDistinctSellers(requests);
    if (requests.length === 0) return [];
    return this.#do('compare-and-swap', async (c) => {
      const now = Date.now();
      const keys = [this.#due, this.#journal];
      const args = [String(now)];
      const data = requests.map((r) => ({ ...copyTokenData(r.next), userId: r.userId }));
      requests.forEach((r, i) => {
        keys.push(this.#tok(r.userId), `${this.#p}lease:${r.userId}`);
        args.push(
          String(r.expectedVersion),
          JSON.stringify(data[i]),
          r.next.refreshAt === null ? '' : String(Math.round(r.next.refreshAt)),
          String(r.userId),
          r.journalId ?? '',
          r.releaseLeaseOf ?? '',
        );
      });
      const ok = await c.renovaCasMany(keys.length, ...keys, ...args);
      return requests.map((r, i): StoredToken | null =>
        Number(ok[i]) === 1
          ? {
              ...(data[i] as TokenData),
              version: r.expectedVersion + 1,
              status: 'active',
              reason: null,
              updatedAt: now,
            }
          : null,
      );
    });
  }

  /** {@inheritDoc TokenStore.markReauthorizationRequired} */
  markReauthorizationRequired(userId: number, expectedVersion: number, reason: string): Promise<boolean> {
    return this.#do('mark', async (c) => {
      const ok = await c.renovaMark(
        this.#tok(userId),
        this.#due,
        String(expectedVersion),
        reason,
        String(Date.now()),
        String(userId),
      );
      return Number(ok) === 1;
    });
  }

  /** {@inheritDoc TokenStore.acquireLease} */
  acquireLease(userId: number, owner: string, ttlMs: number): Promise<boolean> {
    return this.#do('lease', async (c) => {
      if ((await c.exists(this.#tok(userId))) === 0) return false;
      return Number(await c.renovaLease(`${this.#p}lease:${userId}`, owner, String(Math.ceil(ttlMs)))) === 1;
    });
  }

  /** {@inheritDoc TokenStore.releaseLease} */
  async releaseLease(userId: number, owner: string): Promise<void> {
    await this.#do('release', (c) => c.renovaRelease(`${this.#p}lease:${userId}`, owner));
  }

  /** {@inheritDoc TokenStore.releaseLeases} */
  async releaseLeases(owner: string, userIds: readonly number[]): Promise<void> {
    if (userIds.length === 0) return;
    await this.#do('release', async (c) => {
      // A pipeline has the scripts defined on the client too; ioredis's types do not say so.
      const pipe = c.pipeline() as ReturnType<Client['pipeline']> & {
        renovaRelease(lease: string, owner: string): unknown;
      };
      for (const userId of userIds) pipe.renovaRelease(`${this.#p}lease:${userId}`, owner);
      const results = (await pipe.exec()) ?? [];
      const failed = results.find(([error]) => error !== null);
      if (failed) throw failed[0];
    });
  }

  /** {@inheritDoc TokenStore.claimDue} */
  claimDue(owner: string, limit: number, ttlMs: number): Promise<StoredToken[]> {
    return this.#do('claim', async (c) => {
      if (limit <= 0) return [];
      const ids = await c.renovaClaim(
        this.#due,
        this.#p,
        owner,
        String(Math.floor(limit)),
        String(Math.ceil(ttlMs)),
      );
      if (ids.length === 0) return [];
      const pipe = c.pipeline();
      for (const id of ids) pipe.hgetall(this.#tok(Number(id)));
      const results = (await pipe.exec()) ?? [];
      const out: StoredToken[] = [];
      ids.forEach((id, i) => {
        const h = results[i]?.[1] as Record<string, string> | undefined;
        const t = h === undefined ? null : decode(Number(id), h);
        if (t !== null && t.status === 'active') out.push(t);
      });
      return out;
    });
  }

  /** {@inheritDoc TokenStore.journalAppend} */
  async journalAppend(entry: JournalEntry): Promise<void> {
    await this.#do('journal append', (c) => c.hset(this.#journal, entry.id, JSON.stringify(entry)));
  }

  /** {@inheritDoc TokenStore.journalAppendMany} */
  async journalAppendMany(entries: readonly JournalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.#do('journal append', (c) =>
      c.hset(this.#journal, Object.fromEntries(entries.map((e) => [e.id, JSON.stringify(e)]))),
    );
  }

  /** {@inheritDoc TokenStore.journalListMany} */
  async journalListMany(userIds: readonly number[]): Promise<JournalEntry[]> {
    if (userIds.length === 0) return [];
    const wanted = new Set(userIds);
    return (await this.journalList()).filter((e) => wanted.has(e.userId));
  }

  /** {@inheritDoc TokenStore.journalList} */
  journalList(userId?: number): Promise<JournalEntry[]> {
    return this.#do('journal list', async (c) => {
      const all = Object.values(await c.hgetall(this.#journal)).map((v) => JSON.parse(v) as JournalEntry);
      return all
        .filter((e) => userId === undefined || e.userId === userId)
        .sort((a, b) => a.receivedAt - b.receivedAt);
    });
  }

  /** {@inheritDoc TokenStore.journalDelete} */
  async journalDelete(id: string): Promise<void> {
    await this.#do('journal delete', (c) => c.hdel(this.#journal, id));
  }

  /** {@inheritDoc TokenStore.scanTokens} */
  scanTokens(cursor: string | null, limit: number): Promise<TokenPage> {
    return this.#do('scan', async (c) => {
      // SCAN, not KEYS: it walks the keyspace incrementally without blocking Redis; COUNT is a hint,
      // so a page may hold a few more or fewer rows, and a key may come back twice (documented).
      const [next, keys] = await c.scan(
        cursor ?? '0',
        'MATCH',
        `${globEscape(this.#p)}tok:*`,
        'COUNT',
        Math.max(1, Math.floor(limit)),
      );
      const ids = keys
        .map((k) => k.slice(this.#p.length + 'tok:'.length))
        .filter((id) => /^-?[0-9]+$/.test(id))
        .map(Number);
      const pipe = c.pipeline();
      for (const id of ids) pipe.hgetall(this.#tok(id));
      const results = (await pipe.exec()) ?? [];
      const tokens: StoredToken[] = [];
      ids.forEach((id, i) => {
        const h = results[i]?.[1] as Record<string, string> | undefined;
        const t = h === undefined ? null : decode(id, h);
        if (t !== null) tokens.push(t);
      });
      return { tokens, cursor: next === '0' ? null : next };
    });
  }

  /** {@inheritDoc TokenStore.rewriteTokens} */
  rewriteTokens(
    userId: number,
    expectedVersion: number,
    accessToken: string,
    refreshToken: string | null,
  ): Promise<boolean> {
    return this.#do('rewrite', async (c) => {
      const h = await c.hgetall(this.#tok(userId));
      if (h.data === undefined || h.version !== String(expectedVersion)) return false;
      // The data field only changes together with the version, so the script's version check makes
      // this read-modify-write safe: a concurrent put or swap makes it a no-op.
      const data = { ...(JSON.parse(h.data) as TokenData), accessToken, refreshToken };
      return (
        Number(await c.renovaRewrite(this.#tok(userId), String(expectedVersion), JSON.stringify(data))) === 1
      );
    });
  }

  /** {@inheritDoc TokenStore.delete} */
  async delete(userId: number): Promise<void> {
    const entries = await this.journalList(userId);
    await this.#do('delete', async (c) => {
      const m = c.multi().del(this.#tok(userId), `${this.#p}lease:${userId}`).zrem(this.#due, String(userId));
      for (const e of entries) m.hdel(this.#journal, e.id);
      await m.exec();
    });
  }

  /** {@inheritDoc TokenStore.now} */
  now(): Promise<number> {
    return this.#do('now', async (c) => {
      const [s, us] = await c.time();
      return Number(s) * 1000 + Math.floor(Number(us) / 1000);
    });
  }

  /** {@inheritDoc TokenStore.close} */
  async close(): Promise<void> {
    const ready = this.#ready;
    this.#ready = undefined;
    if (ready === undefined) return;
    const c = await ready;
    if (this.#owns) await c.quit();
  }

  /** Deletes every key under this store's prefix (tests and teardown). */
  async clear(): Promise<void> {
    await this.#do('clear', async (c) => {
      let cursor = '0';
      do {
        const [next, keys] = await c.scan(cursor, 'MATCH', `${this.#p}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await c.del(...keys);
      } while (cursor !== '0');
    });
  }
}
