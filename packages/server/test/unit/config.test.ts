import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, configurationTable, describeConfig, loadConfig, SETTINGS } from '../../src/config.ts';

describe('configuration', () => {
  test('an empty environment gives the documented defaults', () => {
    const config = loadConfig({});
    assert.equal(config.db, './data/renova.db');
    assert.equal(config.adminToken, undefined);
    assert.equal(config.accessTokenSeconds, 15_552_000);
    assert.equal(config.refreshGraceSeconds, 60);
    assert.deepEqual(config.authFailureLimit, { max: 20, windowSeconds: 60 });
    assert.equal(config.tokenRequestLimit, null);
    assert.equal(config.trustProxy, false);
    assert.equal(config.purgeIntervalSeconds, 300);
  });

  test('a malformed value stops the start, naming the variable and what it accepts', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [
        { RENOVA_PURGE_INTERVAL_SECONDS: 'abc' },
        /RENOVA_PURGE_INTERVAL_SECONDS must be a number of seconds such as 300 or 0.5; got "abc"/,
      ],
      [{ RENOVA_PURGE_INTERVAL_SECONDS: '-5' }, /RENOVA_PURGE_INTERVAL_SECONDS/],
      [{ RENOVA_PURGE_INTERVAL_SECONDS: '1e3' }, /RENOVA_PURGE_INTERVAL_SECONDS/],
      [{ RENOVA_ACCESS_TOKEN_SECONDS: '0' }, /at least 1/],
      [{ RENOVA_PG_POOL_MAX: '99999999999999999999' }, /RENOVA_PG_POOL_MAX/],
      [{ RENOVA_AUTH_FAILURE_LIMIT: '20 per minute' }, /MAX\/WINDOW_SECONDS/],
      [{ RENOVA_ADMIN_TOKEN: 'short' }, /RENOVA_ADMIN_TOKEN must be at least 32 characters.*got \(hidden\)/],
      [{ RENOVA_ADMIN_LISTEN: '8081' }, /RENOVA_ADMIN_LISTEN must be HOST:PORT/],
      [{ RENOVA_SECRET_KEY: 'zz' }, /RENOVA_SECRET_KEY must be at least 64 hex characters/],
      [{ RENOVA_LOG_LEVEL: 'verbose' }, /RENOVA_LOG_LEVEL must be one of fatal, error/],
      [{ RENOVA_TRUST_PROXY: 'yes please' }, /RENOVA_TRUST_PROXY/],
      [{ REDIS_URL: 'localhost:6379' }, /REDIS_URL must be a redis:\/\//],
    ];
    for (const [env, message] of cases) {
      assert.throws(
        () => loadConfig(env),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });

  test('every problem is reported at once, and a secret is never echoed', () => {
    const token = 'not-long-enough-but-secret';
    try {
      loadConfig({ RENOVA_ADMIN_TOKEN: token, RENOVA_REFRESH_GRACE_SECONDS: 'x', RENOVA_DB: '' });
      assert.fail('should throw');
    } catch (error) {
      const message = (error as Error).message;
      assert.match(message, /RENOVA_ADMIN_TOKEN/);
      assert.match(message, /RENOVA_REFRESH_GRACE_SECONDS/);
      assert.ok(!message.includes(token));
    }
  });

  test('renova config shows effective values with secrets and passwords redacted', () => {
    const env = {
      RENOVA_DB: 'postgres://renova:hunter2@db.internal/renova',
      RENOVA_ADMIN_TOKEN: 'a'.repeat(40),
      RENOVA_SECRET_KEY: 'b'.repeat(64),
      REDIS_URL: 'redis://:redispass@cache:6379',
      RENOVA_TRUST_PROXY: '10.0.0.1, 10.1.0.0/16',
    };
    const rows = describeConfig(loadConfig(env), env);
    const text = JSON.stringify(rows);
    for (const secret of ['hunter2', 'a'.repeat(40), 'b'.repeat(64), 'redispass'])
      assert.ok(!text.includes(secret));
    const byName = Object.fromEntries(rows.map((row) => [row.env, row]));
    assert.equal(byName.RENOVA_ADMIN_TOKEN?.value, '(set, hidden)');
    assert.equal(byName.RENOVA_ADMIN_TOKEN?.source, 'environment');
    assert.equal(byName.RENOVA_PURGE_INTERVAL_SECONDS?.source, 'default');
    assert.equal(byName.RENOVA_TRUST_PROXY?.value, '["10.0.0.1","10.1.0.0/16"]');
    assert.equal(rows.length, Object.keys(SETTINGS).length);
  });

  test('the table lists every variable once', () => {
    const table = configurationTable();
    for (const definition of Object.values(SETTINGS)) {
      const rows = table.split('\n').filter((row) => row.startsWith(`| \`${definition.env}\` `));
      assert.equal(rows.length, 1, definition.env);
    }
  });
});

test('the README configuration table is the one generated from the declaration', async () => {
  const { readFileSync } = await import('node:fs');
  const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
  assert.ok(
    readme.includes(`\n${configurationTable()}\n`),
    'README.md configuration table differs from src/config.ts: run `npm run docs:config`',
  );
});
