import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import {
  INSTANCE_ADMIN_TOKEN,
  type Instance,
  postJson,
  type SeededApp,
  seedOverAdminApi,
  startInstance,
} from '../helpers/instances.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

/**
 * Issue 4 acceptance: three Renova processes on one PostgreSQL database behave as one. The replay
 * window is short here (8 s, long enough for 300 requests on a loaded 2-core machine) so that
 * "after the window" needs no clock control across processes.
 */
const GRACE_SECONDS = 8;

describe('three Renova instances on one PostgreSQL database', () => {
  let db: TestDatabase;
  let instances: Instance[] = [];
  let sql: pg.Pool;
  let app: SeededApp;

  before(async () => {
    db = await createTestDatabase();
    const env = { RENOVA_REFRESH_GRACE_SECONDS: String(GRACE_SECONDS), RENOVA_PG_POOL_MAX: '8' };
    // Started together: the migration advisory lock makes the three concurrent migrations safe.
    instances = await Promise.all([0, 1, 2].map(() => startInstance(db.url, env)));
    sql = new pg.Pool({ connectionString: db.url, max: 2 });
    app = await seedOverAdminApi((instances[0] as Instance).url, 2);
  });

  after(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await sql?.end();
    await db?.drop();
  });

  const creds = () => ({ client_id: app.clientId, client_secret: app.clientSecret });
  const on = (n: number) => (instances[n % instances.length] as Instance).url;

  test('applied every migration once although the instances started at the same moment', async () => {
    const { rows } = await sql.query(
      'SELECT version, count(*)::int AS n FROM schema_migrations GROUP BY version',
    );
    assert.ok(rows.length >= 2);
    assert.ok(rows.every((r) => r.n === 1));
  });

  test('300 concurrent refreshes of one token across the instances get one pair and one rotation; a later reuse revokes the family everywhere', async () => {
    const seller = app.sellerIds[0] as number;
    const first = await postJson(`${on(0)}/oauth/token`, {
      grant_type: 'authorization_code',
      ...creds(),
      code: await app.code(seller),
      redirect_uri: app.redirectUri,
    });
    assert.equal(first.status, 200);
    const presented = first.body.refresh_token as string;
    const body = { grant_type: 'refresh_token', ...creds(), refresh_token: presented };

    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) => postJson(`${on(i)}/oauth/token`, body)),
    );
    assert.deepEqual(
      [...new Set(answers.map((a) => a.status))],
      [200],
      JSON.stringify(answers.find((a) => a.status !== 200)?.body),
    );
    const pairs = new Set(answers.map((a) => `${a.body.access_token} ${a.body.refresh_token}`));
    assert.equal(pairs.size, 1);
    const next = answers[0]?.body as Record<string, unknown>;
    assert.notEqual(next.refresh_token, presented);

    // Exactly one rotation stored: the family holds the first token (rotated) and its one successor.
    const id = Number.parseInt((presented.split('-')[1] as string).slice(1, 16), 16);
    const family = await sql.query(
      `SELECT count(*)::int AS tokens, count(rotated_at)::int AS rotated
       FROM refresh_tokens WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE id = $1)`,
      [id],
    );
    assert.deepEqual(family.rows[0], { tokens: 2, rotated: 1 });

    // Past the window, counted from the stored rotation time (the instances share this clock).
    const rotated = await sql.query('SELECT rotated_at FROM refresh_tokens WHERE id = $1', [id]);
    await sleep(Math.max(0, Number(rotated.rows[0].rotated_at) + GRACE_SECONDS * 1000 + 500 - Date.now()));
    const late = await postJson(`${on(1)}/oauth/token`, body);
    assert.equal(late.status, 400);
    assert.equal(late.body.error, 'invalid_grant');
    for (let n = 0; n < instances.length; n++) {
      const successor = await postJson(`${on(n)}/oauth/token`, {
        ...body,
        refresh_token: next.refresh_token,
      });
      assert.equal(successor.body.error, 'invalid_grant', `instance ${n}`);
      const introspected = await postJson(`${on(n)}/oauth/introspect`, {
        ...creds(),
        token: next.access_token,
      });
      assert.deepEqual(introspected.body, { active: false }, `instance ${n}`);
      const me = await fetch(`${on(n)}/users/me`, {
        headers: { authorization: `Bearer ${next.access_token}` },
      });
      assert.equal(me.status, 401, `instance ${n}`);
    }
  });

  test('300 concurrent exchanges of one code across the instances: exactly one succeeds', async () => {
    const seller = app.sellerIds[1] as number;
    const code = await app.code(seller);
    const body = { grant_type: 'authorization_code', ...creds(), code, redirect_uri: app.redirectUri };
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) => postJson(`${on(i)}/oauth/token`, body)),
    );
    const ok = answers.filter((a) => a.status === 200);
    assert.equal(ok.length, 1);
    const refused = answers.filter((a) => a.status !== 200);
    assert.ok(refused.every((a) => a.status === 400 && a.body.error === 'invalid_grant'));
    const families = await sql.query(
      `SELECT count(*)::int AS n FROM token_families f JOIN grants g ON g.id = f.grant_id
       WHERE g.client_id = $1 AND g.user_id = $2`,
      [app.clientId, seller],
    );
    assert.equal(families.rows[0].n, 1);
    // RFC 6749 §4.1.2: the code was presented again, so the tokens issued from it are revoked.
    const winner = ok[0]?.body as Record<string, unknown>;
    const refreshed = await postJson(`${on(2)}/oauth/token`, {
      grant_type: 'refresh_token',
      ...creds(),
      refresh_token: winner.refresh_token,
    });
    assert.equal(refreshed.body.error, 'invalid_grant');
  });

  test('a client secret rotated on one instance is accepted by every instance at once', async () => {
    // Every instance has the application in its authentication cache first.
    for (let n = 0; n < instances.length; n++) {
      const warm = await postJson(`${on(n)}/oauth/token`, { grant_type: 'client_credentials', ...creds() });
      assert.equal(warm.status, 200);
    }
    const rotated = await postJson(
      `${on(0)}/admin/applications/${app.clientId}/secret`,
      {},
      { authorization: `Bearer ${INSTANCE_ADMIN_TOKEN}` },
    );
    assert.equal(rotated.status, 200);
    const fresh = rotated.body.client_secret as string;
    for (let n = 0; n < instances.length; n++) {
      const answer = await postJson(`${on(n)}/oauth/token`, {
        grant_type: 'client_credentials',
        client_id: app.clientId,
        client_secret: fresh,
      });
      assert.equal(answer.status, 200, `instance ${n}`);
      // The old secret keeps working during the overlap (24 h by default, docs/api.md §3).
      const old = await postJson(`${on(n)}/oauth/token`, { grant_type: 'client_credentials', ...creds() });
      assert.equal(old.status, 200, `instance ${n}`);
    }
    app.clientSecret = fresh;
  });

  test('/readyz is ready on every instance', async () => {
    for (let n = 0; n < instances.length; n++) {
      const ready = await fetch(`${on(n)}/readyz`);
      assert.equal(ready.status, 200);
    }
  });
});
