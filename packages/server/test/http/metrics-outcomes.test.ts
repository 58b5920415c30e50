import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { InProcessRateLimiter } from '../../src/core/rate-limit.ts';
import { buildApp } from '../../src/http/app.ts';
import { createServices } from '../../src/services.ts';
import { StorageUnavailableError } from '../../src/storage/contract.ts';
import {
  ADMIN_TOKEN,
  exchange,
  type Harness,
  harness,
  METRICS_TOKEN,
  postForm,
  postJson,
  refresh,
  TestClock,
} from '../helpers/fixtures.ts';
import { sqliteFactory, storageFactories } from '../helpers/storages.ts';

/** One scrape of /metrics, with the metrics token. */
async function scrape(app: FastifyInstance): Promise<string> {
  const answer = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(answer.statusCode, 200);
  return answer.body;
}

/** The value of one sample (`name{a="b"} 3`); 0 when the labelled series does not exist yet. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = (match[2] ?? '').split(',').filter(Boolean).sort();
    if (wanted.every((w) => have.includes(w)) && have.length === wanted.length) return Number(match[3]);
  }
  return 0;
}

/** How much each sample moved while `action` ran. */
async function moved(
  app: FastifyInstance,
  series: [string, Record<string, string>?][],
  action: () => Promise<unknown>,
): Promise<number[]> {
  const before = await scrape(app);
  await action();
  const afterwards = await scrape(app);
  return series.map(([name, labels]) => sample(afterwards, name, labels) - sample(before, name, labels));
}

for (const factory of storageFactories) {
  describe(`protocol outcome metrics on ${factory.name}`, () => {
    let h: Harness;
    before(async () => {
      h = await harness(factory, {
        services: { requestLimiter: new InProcessRateLimiter({ maxFailures: 1000, windowSeconds: 60 }) },
      });
    });
    after(async () => h.close());

    test('a replayed refresh counts one replay and nothing else', async () => {
      const s = await h.seed();
      const tokens = await exchange(h.app, s);
      assert.equal((await refresh(h.app, s, tokens.refresh_token)).status, 200);
      const delta = await moved(
        h.app,
        [
          ['renova_refresh_replays_total'],
          ['renova_token_reuse_detected_total', { kind: 'refresh_token' }],
          ['renova_token_family_revocations_total', { reason: 'refresh_reuse' }],
        ],
        async () => assert.equal((await refresh(h.app, s, tokens.refresh_token)).status, 200),
      );
      assert.deepEqual(delta, [1, 0, 0]);
    });

    test('refresh token reuse counts one detection and one family revocation', async () => {
      const s = await h.seed();
      const first = await exchange(h.app, s);
      const second = (await refresh(h.app, s, first.refresh_token)).body as { refresh_token: string };
      // The successor was used: presenting the first token again is reuse, not a replay.
      assert.equal((await refresh(h.app, s, second.refresh_token)).status, 200);
      const delta = await moved(
        h.app,
        [
          ['renova_token_reuse_detected_total', { kind: 'refresh_token' }],
          ['renova_token_family_revocations_total', { reason: 'refresh_reuse' }],
          ['renova_refresh_replays_total'],
        ],
        async () => assert.equal((await refresh(h.app, s, first.refresh_token)).status, 400),
      );
      assert.deepEqual(delta, [1, 1, 0]);
    });

    test('authorization code reuse counts one detection and one family revocation', async () => {
      const s = await h.seed();
      const code = await s.code();
      const params = {
        grant_type: 'authorization_code',
        client_id: s.clientId,
        client_secret: s.clientSecret,
        code,
        redirect_uri: s.redirectUri,
      };
      assert.equal((await postForm(h.app, '/oauth/token', params)).status, 200);
      const delta = await moved(
        h.app,
        [
          ['renova_token_reuse_detected_total', { kind: 'authorization_code' }],
          ['renova_token_family_revocations_total', { reason: 'code_reuse' }],
        ],
        async () => assert.equal((await postForm(h.app, '/oauth/token', params)).status, 400),
      );
      assert.deepEqual(delta, [1, 1]);
    });

    test('revoking a refresh token counts a family revocation; revoking an access token does not', async () => {
      const s = await h.seed();
      const tokens = await exchange(h.app, s);
      const creds = { client_id: s.clientId, client_secret: s.clientSecret };
      const family = ['renova_token_family_revocations_total', { reason: 'revocation_endpoint' }] as [
        string,
        Record<string, string>,
      ];
      assert.deepEqual(
        await moved(h.app, [family], () =>
          postForm(h.app, '/oauth/revoke', { ...creds, token: tokens.access_token }),
        ),
        [0],
      );
      assert.deepEqual(
        await moved(h.app, [family], () =>
          postForm(h.app, '/oauth/revoke', { ...creds, token: tokens.refresh_token }),
        ),
        [1],
      );
      // An unknown token (RFC 7009 §2.2: still 200) revokes nothing.
      assert.deepEqual(
        await moved(h.app, [family], () =>
          postForm(h.app, '/oauth/revoke', { ...creds, token: 'TG-nope-1' }),
        ),
        [0],
      );
    });

    test('storage outages are counted by kind, once per failed call', async () => {
      const storage = h.services.storage;
      const original = storage.findApplication.bind(storage);
      const outage = (code: string) => () =>
        Promise.reject(
          new StorageUnavailableError('the token store is busy or unavailable; retry shortly', {
            cause: Object.assign(new Error('driver said no'), { code }),
          }),
        );
      const tokenRequest = async () => {
        const s = await h.seed();
        return postForm(h.app, '/oauth/token', {
          grant_type: 'client_credentials',
          client_id: s.clientId,
          client_secret: s.clientSecret,
        });
      };
      try {
        for (const [code, kind] of [
          ['SQLITE_READONLY', 'read_only'],
          ['SQLITE_FULL', 'disk_full'],
          ['53300', 'too_many_connections'],
          ['ECONNREFUSED', 'unreachable'],
          ['57P01', 'shutting_down'],
        ] as const) {
          const delta = await moved(h.app, [['renova_storage_errors_total', { kind }]], async () => {
            storage.findApplication = outage(code);
            try {
              assert.equal((await tokenRequest()).status, 503);
            } finally {
              storage.findApplication = original;
            }
          });
          assert.deepEqual(delta, [1], code);
        }
      } finally {
        storage.findApplication = original;
      }
    });

    test('the webhook outbox gauges read the storage on each scrape', async () => {
      const text = await scrape(h.app);
      for (const name of [
        'renova_webhook_queue_pending',
        'renova_webhook_queue_oldest_age_seconds',
        'renova_webhook_dead_events',
      ]) {
        assert.match(text, new RegExp(`^${name} \\d`, 'm'), name);
      }
    });
  });
}

describe('rate-limit rejections by limiter', () => {
  test('token requests, client authentications and admin authentications each count their 429s', async () => {
    const h = await harness(sqliteFactory, {
      services: {
        // Four requests per address: room for the client-authentication case to hit its own limit.
        requestLimiter: new InProcessRateLimiter({ maxFailures: 4, windowSeconds: 60 }),
        rateLimiter: new InProcessRateLimiter({ maxFailures: 2, windowSeconds: 60 }),
      },
    });
    try {
      const s = await h.seed();
      const good = { grant_type: 'client_credentials', client_id: s.clientId, client_secret: s.clientSecret };
      const limiter = (name: string) =>
        ['renova_rate_limited_total', { limiter: name }] as [string, Record<string, string>];
      // Client authentication: two failures from one address, then a 429 per attempt.
      const wrong = { ...good, client_secret: 'wrong'.padEnd(32, 'x') };
      const clientAuth = await moved(h.app, [limiter('client_auth')], async () => {
        for (let i = 0; i < 2; i++) await postForm(h.app, '/oauth/token', wrong, {}, '198.51.100.1');
        assert.equal((await postForm(h.app, '/oauth/token', wrong, {}, '198.51.100.1')).status, 429);
        assert.equal((await postForm(h.app, '/oauth/token', wrong, {}, '198.51.100.1')).status, 429);
      });
      assert.deepEqual(clientAuth, [2]);
      // Token requests: four per address, the fifth is refused.
      const requests = await moved(h.app, [limiter('token_requests')], async () => {
        for (let i = 0; i < 4; i++) await postForm(h.app, '/oauth/token', good, {}, '198.51.100.2');
        assert.equal((await postForm(h.app, '/oauth/token', good, {}, '198.51.100.2')).status, 429);
      });
      assert.deepEqual(requests, [1]);
      // Admin authentication: 10 failures per address in 5 minutes (ADMIN_FAILURE_LIMIT), then 429.
      const adminAuth = await moved(h.app, [limiter('admin_auth')], async () => {
        const bad = { authorization: 'Bearer wrong' };
        for (let i = 0; i < 10; i++) await postJson(h.app, '/admin/users', { email: 'a@b.test' }, bad);
        assert.equal((await postJson(h.app, '/admin/users', { email: 'a@b.test' }, bad)).status, 429);
        // The right token is never throttled, and counts nothing.
        assert.equal(
          (
            await postJson(
              h.app,
              '/admin/users',
              { email: 'a@b.test' },
              { authorization: `Bearer ${ADMIN_TOKEN}` },
            )
          ).status,
          201,
        );
      });
      assert.deepEqual(adminAuth, [1]);
    } finally {
      await h.close();
    }
  });
});

describe('seller sign-in and metrics scraper throttling', () => {
  test('a throttled sign-in counts seller_sign_in; a throttled metrics guess counts metrics_auth', async () => {
    const h = await harness(sqliteFactory);
    try {
      const page = await h.app.inject({ url: '/account/applications' });
      const raw = page.headers['set-cookie'];
      const cookie = String(Array.isArray(raw) ? raw[0] : raw).split(';')[0] ?? '';
      const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
      const login = () =>
        h.app.inject({
          method: 'POST',
          url: '/login',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
          payload: new URLSearchParams({
            csrf,
            email: 'nobody@example.com',
            password: 'wrong password',
          }).toString(),
        });
      const limiter = (name: string) =>
        ['renova_rate_limited_total', { limiter: name }] as [string, Record<string, string>];
      // Five failures per (address, email) in 15 minutes, then a wait (services.ts).
      const signIn = await moved(h.app, [limiter('seller_sign_in')], async () => {
        for (let i = 0; i < 5; i++) assert.equal((await login()).statusCode, 401);
        assert.equal((await login()).statusCode, 429);
      });
      assert.deepEqual(signIn, [1]);
      // Ten failed metrics tokens per address (the admin budget), then 429; the real token still works.
      const metricsAuth = await moved(h.app, [limiter('metrics_auth')], async () => {
        for (let i = 0; i < 10; i++)
          await h.app.inject({
            url: '/metrics',
            headers: { authorization: 'Bearer wrong' },
            remoteAddress: '192.0.2.9',
          });
        const refused = await h.app.inject({
          url: '/metrics',
          headers: { authorization: 'Bearer wrong' },
          remoteAddress: '192.0.2.9',
        });
        assert.equal(refused.statusCode, 429);
      });
      assert.deepEqual(metricsAuth, [1]);
    } finally {
      await h.close();
    }
  });
});

describe('SQLite group commit metrics', () => {
  test('one write moves batches and writes by exactly one; the queue is empty at rest', async () => {
    const h = await harness(sqliteFactory);
    try {
      const delta = await moved(
        h.app,
        [['renova_sqlite_group_commit_batches_total'], ['renova_sqlite_group_commit_writes_total']],
        async () => h.services.accounts.createUser({ email: `one-${Date.now()}@example.com` }),
      );
      assert.deepEqual(delta, [1, 1]);
      // Concurrent writes share batches: more writes than batches, and the largest batch shows it.
      const concurrent = await moved(
        h.app,
        [['renova_sqlite_group_commit_batches_total'], ['renova_sqlite_group_commit_writes_total']],
        () =>
          Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              h.services.accounts.createUser({ email: `c${i}-${Date.now()}@x.test` }),
            ),
          ),
      );
      assert.equal(concurrent[1], 20);
      assert.ok((concurrent[0] ?? 0) >= 1 && (concurrent[0] ?? 0) < 20, `batches ${concurrent[0]}`);
      const text = await scrape(h.app);
      assert.equal(sample(text, 'renova_sqlite_writer_queue_depth'), 0);
      // The maxima are those since the previous scrape: this one saw no batch.
      assert.equal(sample(text, 'renova_sqlite_group_commit_batch_size_max'), 0);
      assert.ok(sample(text, 'renova_sqlite_group_commit_wait_seconds_total') > 0);
    } finally {
      await h.close();
    }
  });
});

describe('webhook and audit metrics', () => {
  test('delivery attempts by outcome, and the outbox gauges before and after', async () => {
    const factory = sqliteFactory;
    const testStorage = await factory.create();
    const clock = new TestClock();
    let answer = 500;
    const services = createServices({
      storage: testStorage.storage,
      serverKey: Buffer.alloc(32, 7),
      clock,
      webhookPolicy: { baseDelayMs: 0, maxDelayMs: 0, maxAttempts: 2, timeoutMs: 1000, pollMs: 60_000 },
      webhookTargets: { allowPrivate: true, allowHttp: () => true },
      webhookFetch: (async () => new Response(null, { status: answer })) as typeof fetch,
    });
    const app = await buildApp(services, {
      issuer: 'http://renova.test',
      logger: false,
      metricsToken: METRICS_TOKEN,
    });
    try {
      const owner = await services.accounts.createUser({ email: 'hook-owner@example.com' });
      const seller = await services.accounts.createUser({ email: 'hook-seller@example.com' });
      const created = await services.applications.create({
        name: 'Hooks',
        ownerUserId: owner.id,
        redirectUris: ['https://hooks.example/cb'],
        notificationUrl: 'http://127.0.0.1:9/notify',
      });
      await services.consent.authorize({ clientId: created.clientId, userId: seller.id });
      clock.advance(30_000);
      let text = await scrape(app);
      assert.equal(sample(text, 'renova_webhook_queue_pending'), 1);
      assert.equal(sample(text, 'renova_webhook_queue_oldest_age_seconds'), 30);
      const attempt = (outcome: string) =>
        ['renova_webhook_attempts_total', { outcome }] as [string, Record<string, string>];
      assert.deepEqual(
        await moved(app, [attempt('retry'), attempt('dead')], () => services.webhooks.runOnce()),
        [1, 0],
      );
      assert.deepEqual(
        await moved(app, [attempt('retry'), attempt('dead')], () => services.webhooks.runOnce()),
        [0, 1],
      );
      text = await scrape(app);
      assert.equal(sample(text, 'renova_webhook_queue_pending'), 0);
      assert.equal(sample(text, 'renova_webhook_queue_oldest_age_seconds'), 0);
      assert.equal(sample(text, 'renova_webhook_dead_events'), 1);
      // A second authorization's webhook is delivered.
      answer = 204;
      const other = await services.accounts.createUser({ email: 'hook-seller2@example.com' });
      await services.consent.authorize({ clientId: created.clientId, userId: other.id });
      assert.deepEqual(await moved(app, [attempt('delivered')], () => services.webhooks.runOnce()), [1]);
    } finally {
      await app.close();
      await services.webhooks.stop();
      await testStorage.cleanup();
    }
  });

  test('/metrics stays closed without the metrics token', async () => {
    const h = await harness(sqliteFactory);
    try {
      assert.equal((await h.app.inject({ url: '/metrics' })).statusCode, 401);
      const open = await buildApp(h.services, { issuer: 'http://x.test', logger: false });
      assert.equal((await open.inject({ url: '/metrics' })).statusCode, 404);
      await open.close();
    } finally {
      await h.close();
    }
  });
});
