import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import {
  type Instance,
  postJson,
  type SeededApp,
  seedOverAdminApi,
  startInstance,
} from '../helpers/instances.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { TcpProxy } from '../helpers/tcp-proxy.ts';

/**
 * docs/api.md §4.3: when storage is unreachable, 503 `temporarily_unavailable` with Retry-After and
 * nothing half-written; issue 4 §5: recovery without a restart. Two instances reach PostgreSQL
 * through a TCP proxy that the test cuts under load and then restores.
 */
describe('PostgreSQL going away under load', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let instances: Instance[] = [];
  let sql: pg.Pool;
  let app: SeededApp;

  before(async () => {
    db = await createTestDatabase();
    const target = new URL(db.url);
    proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const port = await proxy.listen();
    const proxied = new URL(db.url);
    proxied.port = String(port);
    instances = await Promise.all(
      [0, 1].map(() => startInstance(proxied.toString(), { RENOVA_PG_POOL_MAX: '6' })),
    );
    sql = new pg.Pool({ connectionString: db.url, max: 2 });
    app = await seedOverAdminApi((instances[0] as Instance).url, 12);
  });

  after(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await proxy?.close();
    await sql?.end();
    await db?.drop();
  });

  test('requests get 503 temporarily_unavailable with Retry-After, nothing is half-written, and the instances recover', async () => {
    const creds = { client_id: app.clientId, client_secret: app.clientSecret };
    const on = (n: number) => (instances[n % instances.length] as Instance).url;
    // One refresh chain per seller, as integrators run them.
    const chains: string[] = [];
    for (const seller of app.sellerIds) {
      const first = await postJson(`${on(seller)}/oauth/token`, {
        grant_type: 'authorization_code',
        ...creds,
        code: await app.code(seller),
        redirect_uri: app.redirectUri,
      });
      assert.equal(first.status, 200);
      chains.push(first.body.refresh_token as string);
    }

    const statuses = new Map<number, number>();
    const unavailable: { error: unknown; retryAfter: string | null }[] = [];
    let phase: 'before' | 'cut' | 'after' = 'before';
    const okAfterRestore = new Set<number>();
    let stop = false;
    const worker = async (index: number) => {
      let n = index;
      while (!stop) {
        n += 1;
        const answer = await postJson(`${on(n)}/oauth/token`, {
          grant_type: 'refresh_token',
          ...creds,
          refresh_token: chains[index],
        });
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.status === 200) {
          chains[index] = answer.body.refresh_token as string;
          if (phase === 'after') okAfterRestore.add(index);
        } else if (answer.status === 503) {
          unavailable.push({ error: answer.body.error, retryAfter: answer.headers.get('retry-after') });
          // Keep the same refresh token: if the failed request did commit, the replay window
          // answers the retry with the same pair.
          await sleep(50);
        } else {
          throw new Error(`unexpected ${answer.status}: ${JSON.stringify(answer.body)}`);
        }
      }
    };
    const workers = chains.map((_, i) => worker(i));

    await sleep(700);
    phase = 'cut';
    proxy.cut();
    // The database stays away until the instances have noticed (a 503 and an unready /readyz).
    const deadline = Date.now() + 20_000;
    let readyWhileCut = [0, 0];
    while (Date.now() < deadline) {
      readyWhileCut = await Promise.all(instances.map(async (i) => (await fetch(`${i.url}/readyz`)).status));
      if (unavailable.length >= 4 && readyWhileCut.every((s) => s === 503)) break;
      await sleep(100);
    }
    assert.deepEqual(readyWhileCut, [503, 503]);
    assert.ok(unavailable.length >= 4);

    proxy.restore();
    phase = 'after';
    while (Date.now() < deadline + 20_000 && okAfterRestore.size < chains.length) await sleep(100);
    stop = true;
    await Promise.all(workers);

    // Recovered without a restart: every chain moved on, and every instance is ready again.
    assert.equal(okAfterRestore.size, chains.length);
    for (const instance of instances) assert.equal((await fetch(`${instance.url}/readyz`)).status, 200);
    assert.deepEqual([...statuses.keys()].sort(), [200, 503]);
    assert.ok(unavailable.every((u) => u.error === 'temporarily_unavailable' && u.retryAfter === '1'));

    // Nothing half-written: every rotation stored its successor pair, every successor has its
    // rotated predecessor, every refresh token has its access token, and no chain was mistaken for
    // a reuse (no family revoked).
    const check = await sql.query(`
      SELECT
        (SELECT count(*) FROM refresh_tokens r WHERE r.rotated_at IS NOT NULL AND (
           NOT EXISTS (SELECT 1 FROM refresh_tokens s WHERE s.id = r.successor_refresh_id) OR
           NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.id = r.successor_access_id)))::int AS dangling,
        (SELECT count(*) FROM refresh_tokens)::int AS refresh,
        (SELECT count(*) FROM refresh_tokens WHERE rotated_at IS NOT NULL)::int AS rotated,
        (SELECT count(*) FROM token_families)::int AS families,
        (SELECT count(*) FROM access_tokens WHERE family_id IS NOT NULL)::int AS access,
        (SELECT count(*) FROM token_families WHERE revoked_at IS NOT NULL)::int AS revoked`);
    const c = check.rows[0];
    assert.equal(c.dangling, 0);
    assert.equal(c.refresh, c.families + c.rotated);
    assert.equal(c.access, c.refresh);
    assert.equal(c.revoked, 0);
    assert.equal(c.families, chains.length);
  });
});
