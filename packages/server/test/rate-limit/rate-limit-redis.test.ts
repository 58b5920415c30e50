import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { RedisRateLimiter, rateLimitRedis } from '../../src/rate-limit/redis.ts';
import {
  type Instance,
  postJson,
  type SeededApp,
  seedOverAdminApi,
  startInstance,
} from '../helpers/instances.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';

const REDIS_URL = process.env.RENOVA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('rate limits shared through Redis by two instances', () => {
  let db: TestDatabase;
  let instances: Instance[] = [];
  let app: SeededApp;

  before(async () => {
    db = await createTestDatabase();
    const env = {
      REDIS_URL,
      // A prefix per run: counters of earlier runs (same address, same window) do not leak in.
      RENOVA_REDIS_PREFIX: `renova-test:${randomBytes(6).toString('hex')}:`,
      RENOVA_AUTH_FAILURE_LIMIT: '5/60',
      RENOVA_TOKEN_REQUEST_LIMIT: '30/60',
    };
    instances = await Promise.all([0, 1].map(() => startInstance(db.url, env)));
    app = await seedOverAdminApi((instances[0] as Instance).url, 1);
  });

  after(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await db?.drop();
  });

  const on = (n: number) => (instances[n % instances.length] as Instance).url;

  test('failed client authentications counted on both instances lead to 429 local_rate_limited with Retry-After', async () => {
    const wrong = {
      grant_type: 'client_credentials',
      client_id: app.clientId,
      client_secret: 'x'.repeat(32),
    };
    for (let i = 0; i < 5; i++) {
      const answer = await postJson(`${on(i)}/oauth/token`, wrong);
      assert.equal(answer.body.error, 'invalid_client');
    }
    for (let n = 0; n < instances.length; n++) {
      // Even the right secret waits now, from this address: the budget of this (client, address)
      // is spent on every instance.
      const answer = await postJson(`${on(n)}/oauth/token`, { ...wrong, client_secret: app.clientSecret });
      assert.equal(answer.status, 429);
      assert.equal(answer.body.error, 'local_rate_limited');
      const retryAfter = Number(answer.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60);
    }
  });

  test('token requests per address are limited across the instances', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const answer = await postJson(`${on(i)}/oauth/token`, { grant_type: 'client_credentials' });
      statuses.push(answer.status);
      if (answer.status === 429) {
        assert.equal(answer.body.error, 'local_rate_limited');
        assert.ok(answer.headers.get('retry-after'));
      }
    }
    // The previous test spent 7 of this address's 30 requests; the rest run out here, whichever
    // instance answers.
    assert.equal(statuses.filter((s) => s !== 429).length, 30 - 7);
    assert.ok(statuses.slice(-5).every((s) => s === 429));
  });
});

describe('the Redis rate limiter', () => {
  test('counts across limiter objects that share one Redis, and forgets after the window', async () => {
    const prefix = `renova-test:${randomBytes(6).toString('hex')}:`;
    const a = rateLimitRedis(REDIS_URL);
    const b = rateLimitRedis(REDIS_URL);
    // The client does not queue commands while connecting (it fails open instead): wait for it.
    await Promise.all([a, b].map((r) => new Promise((resolve) => r.once('ready', resolve))));
    try {
      const one = new RedisRateLimiter({ redis: a, prefix, maxFailures: 3, windowSeconds: 60 });
      const two = new RedisRateLimiter({ redis: b, prefix, maxFailures: 3, windowSeconds: 60 });
      const now = 1_800_000_000_000;
      await one.recordFailure('client:1', now);
      await two.recordFailure('client:1', now);
      assert.equal(await one.retryAfter('client:1', now), 0);
      await one.recordFailure('client:1', now);
      assert.equal(await two.retryAfter('client:1', now + 10_000), 50);
      assert.equal(await two.retryAfter('client:2', now), 0);
      assert.equal(await one.retryAfter('client:1', now + 60_000), 0);
    } finally {
      a.disconnect();
      b.disconnect();
    }
  });

  test('lets requests through and reports the error when Redis is unreachable', async () => {
    const redis = rateLimitRedis('redis://127.0.0.1:1');
    const errors: unknown[] = [];
    try {
      const limiter = new RedisRateLimiter({
        redis,
        prefix: 'x:',
        maxFailures: 1,
        windowSeconds: 60,
        onError: (error) => errors.push(error),
      });
      await limiter.recordFailure('k', 0);
      await limiter.recordFailure('k', 0);
      assert.equal(await limiter.retryAfter('k', 0), 0);
      assert.equal(errors.length, 3);
    } finally {
      redis.disconnect();
    }
  });
});
