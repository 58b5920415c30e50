/**
 * Security hardening across instances (issue 8 item 13): three Renova processes on one PostgreSQL
 * database, each with its own authentication cache.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  INSTANCE_ADMIN_TOKEN,
  type Instance,
  postJson,
  type SeededApp,
  seedOverAdminApi,
  startInstance,
} from '../helpers/instances.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

/** The bound the test allows; the cache alone would keep the old secret for 5 s (APP_CACHE_MS). */
const PROPAGATION_BOUND_MS = 2_000;

describe('client secret rotation across three PostgreSQL instances (issue 8 item 13)', () => {
  let db: TestDatabase;
  let instances: Instance[] = [];
  let app: SeededApp;

  before(async () => {
    db = await createTestDatabase();
    instances = await Promise.all([0, 1, 2].map(() => startInstance(db.url, { RENOVA_PG_POOL_MAX: '4' })));
    app = await seedOverAdminApi((instances[0] as Instance).url, 1);
  });

  after(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await db?.drop();
  });

  const clientCredentials = (n: number, secret: string) =>
    postJson(`${(instances[n] as Instance).url}/oauth/token`, {
      grant_type: 'client_credentials',
      client_id: app.clientId,
      client_secret: secret,
    });

  test('a secret rotated out with no overlap on instance 1 stops working on instances 2 and 3 at once, although they had it cached', async () => {
    const old = app.clientSecret;
    // Every instance authenticates with the old secret first, so each has it in its cache.
    for (let n = 0; n < instances.length; n++) {
      assert.equal((await clientCredentials(n, old)).status, 200, `instance ${n + 1} before the rotation`);
    }
    const rotated = await postJson(
      `${(instances[0] as Instance).url}/admin/applications/${app.clientId}/secret`,
      { overlap_seconds: 0 },
      { authorization: `Bearer ${INSTANCE_ADMIN_TOKEN}` },
    );
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    const rotatedAt = Date.now();
    const fresh = rotated.body.client_secret as string;

    assert.equal((await clientCredentials(0, old)).body.error, 'invalid_client', 'instance 1');
    for (const n of [1, 2]) {
      // Polled: the notification travels through PostgreSQL. One failure per instance is enough.
      let answer = await clientCredentials(n, old);
      while (answer.status === 200 && Date.now() - rotatedAt < PROPAGATION_BOUND_MS) {
        await sleep(25);
        answer = await clientCredentials(n, old);
      }
      assert.equal(answer.status, 400, `instance ${n + 1} still accepts the old secret`);
      assert.equal(answer.body.error, 'invalid_client', `instance ${n + 1}`);
    }
    assert.ok(Date.now() - rotatedAt < PROPAGATION_BOUND_MS + 500);
    for (let n = 0; n < instances.length; n++) {
      const answer = await clientCredentials(n, fresh);
      assert.equal(answer.status, 200, `instance ${n + 1} with the new secret`);
      assert.equal((await clientCredentials(n, old)).body.error, 'invalid_client', `instance ${n + 1} later`);
    }
    app.clientSecret = fresh;
  });

  test('grant types narrowed on instance 1 apply on instances 2 and 3 at once, although they had the application cached', async () => {
    for (let n = 0; n < instances.length; n++) {
      assert.equal((await clientCredentials(n, app.clientSecret)).status, 200, `instance ${n + 1} before`);
    }
    const base = (instances[0] as Instance).url;
    const patched = await fetch(`${base}/admin/applications/${app.clientId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${INSTANCE_ADMIN_TOKEN}` },
      body: JSON.stringify({ grant_types: ['authorization_code', 'refresh_token'] }),
    });
    assert.equal(patched.status, 200, await patched.text());
    const patchedAt = Date.now();
    for (const n of [1, 2]) {
      let answer = await clientCredentials(n, app.clientSecret);
      while (answer.status === 200 && Date.now() - patchedAt < PROPAGATION_BOUND_MS) {
        await sleep(25);
        answer = await clientCredentials(n, app.clientSecret);
      }
      assert.equal(
        answer.body.error,
        'unauthorized_client',
        `instance ${n + 1} still allows client_credentials`,
      );
    }
  });
});
