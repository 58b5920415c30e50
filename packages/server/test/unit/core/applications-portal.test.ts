import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidApplicationFieldsError } from '../../../src/core/errors.ts';
import { GrantUseTracker } from '../../../src/core/grant-use.ts';
import { PasswordHasher } from '../../../src/core/passwords.ts';
import { cryptoRandom } from '../../../src/core/random.ts';
import { TestUsers } from '../../../src/core/test-users.ts';
import { coreWorld, errorOf, REDIRECT_URI } from '../helpers/core.ts';

/** Cheap scrypt parameters: these tests are about the rules, not the hash's cost. */
const cheapHasher = () => new PasswordHasher({ params: { N: 1024, r: 8, p: 1 } });

describe('core/applications for the developer portal', () => {
  it('reports every invalid field of a new application at once, keyed by its wire name', async () => {
    const w = coreWorld();
    const owner = await w.accounts.createUser({ email: 'fields@example.com' });
    const error = await errorOf(
      w.applications.create({
        name: '  ',
        description: 'x'.repeat(1001),
        logoUrl: 'http://logo.example/a.png',
        ownerUserId: owner.id,
        redirectUris: ['https://ok.example/cb', 'http://not-loopback.example/cb'],
        scope: 'read admin',
        grantTypes: ['password'],
        notificationUrl: 'https://127.0.0.1/hook',
      }),
    );
    assert.ok(error instanceof InvalidApplicationFieldsError);
    assert.equal(error.error, 'invalid_request');
    assert.deepEqual(Object.keys(error.fields).sort(), [
      'description',
      'grant_types',
      'logo_url',
      'name',
      'notification_url',
      'redirect_uris',
      'scopes',
    ]);
    for (const message of Object.values(error.fields)) assert.ok(error.description.includes(message));
  });

  it('an unknown owner is a field error too, and a single field keeps its own message', async () => {
    const w = coreWorld();
    const error = await errorOf(
      w.applications.create({ name: 'A', ownerUserId: 424242, redirectUris: [REDIRECT_URI] }),
    );
    assert.ok(error instanceof InvalidApplicationFieldsError);
    assert.deepEqual(Object.keys(error.fields), ['owner_user_id']);
    assert.equal(error.description, error.fields.owner_user_id);
  });

  it('keeps description and logo, validates control characters, and accepts line breaks', async () => {
    const w = coreWorld();
    const owner = await w.accounts.createUser({ email: 'desc@example.com' });
    const created = await w.applications.create({
      name: 'Shop',
      description: ' Two\nlines ',
      logoUrl: 'https://cdn.example/logo.png',
      ownerUserId: owner.id,
      redirectUris: [REDIRECT_URI],
    });
    assert.equal(created.description, 'Two\nlines');
    assert.equal(created.logoUrl, 'https://cdn.example/logo.png');
    const bad = await errorOf(
      w.applications.update(created.clientId, { name: 'a\u0007b', description: 'x\u0000' }),
    );
    assert.ok(bad instanceof InvalidApplicationFieldsError);
    assert.deepEqual(Object.keys(bad.fields).sort(), ['description', 'name']);
    const cleared = await w.applications.update(created.clientId, { logoUrl: null, notificationUrl: '' });
    assert.equal(cleared.logoUrl, null);
    assert.equal(cleared.notificationUrl, null);
    assert.equal((await errorOf(w.applications.update(created.clientId, {}))).error, 'invalid_request');
  });

  it('secrets lists the valid secrets with dates, never a hash; credentials separate production and test', async () => {
    const w = coreWorld();
    const app = await w.seed();
    await w.applications.rotateClientSecret(app.clientId, 3600);
    const secrets = await w.applications.secrets(app.clientId);
    assert.equal(secrets.length, 2);
    assert.deepEqual(Object.keys(secrets[0] ?? {}).sort(), ['createdAt', 'expiresAt', 'id']);
    assert.equal(secrets[0]?.expiresAt, w.clock.now() + 3_600_000);
    assert.equal(secrets[1]?.expiresAt, null);
    w.clock.advance(3_600_001);
    assert.equal((await w.applications.secrets(app.clientId)).length, 1);
    const credentials = await w.applications.credentials(app.clientId);
    assert.match(credentials.production.publicKey, /^APP_USR-[0-9a-f-]{36}$/);
    assert.equal(credentials.test.publicKey, credentials.production.publicKey.replace('APP_USR-', 'TEST-'));
  });

  it('sellers validates limit, cursor and search before asking the storage', async () => {
    const w = coreWorld();
    const app = await w.seed();
    await app.code();
    const page = await w.applications.sellers(app.clientId, {});
    assert.equal(page.total, 1);
    assert.equal(page.limit, 50);
    assert.equal(page.nextCursor, null);
    for (const options of [
      { limit: 0 },
      { limit: 101 },
      { cursor: '0' },
      { cursor: 'abc' },
      { search: 'x'.repeat(101) },
    ]) {
      assert.equal((await errorOf(w.applications.sellers(app.clientId, options))).error, 'invalid_request');
    }
    assert.equal((await errorOf(w.applications.sellers('0000000000000000'))).error, 'not_found');
  });

  it('delete makes the application unknown and drops its cached credentials', async () => {
    const w = coreWorld();
    const app = await w.seed();
    await w.token({
      grant_type: 'client_credentials',
      client_id: app.clientId,
      client_secret: app.clientSecret,
    });
    await w.applications.delete(app.clientId);
    const refused = await errorOf(
      w.token({ grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret }),
    );
    assert.equal(refused.error, 'invalid_client');
    assert.equal((await errorOf(w.applications.delete(app.clientId))).error, 'not_found');
  });
});

describe('core/test-users', () => {
  it('creates Mercado Pago shaped test users, refuses unknown sites, and stops at the limit', async () => {
    const w = coreWorld();
    const app = await w.seed();
    const testUsers = new TestUsers({
      storage: w.storage,
      clock: w.clock,
      random: cryptoRandom,
      passwords: cheapHasher(),
      limit: 2,
    });
    const created = await testUsers.create(app.clientId, { siteId: 'MLU', description: 'qa' });
    assert.equal(created.site_id, 'MLU');
    assert.equal(created.site_status, 'active');
    const stored = await w.storage.findUserById(created.id);
    assert.ok(stored?.passwordHash && !stored.passwordHash.includes(created.password));
    for (const siteId of ['XXX', '', 'mla', 5, undefined, 'M'.repeat(5000)]) {
      assert.equal((await errorOf(testUsers.create(app.clientId, { siteId }))).error, 'invalid_request');
    }
    await testUsers.create(app.clientId, { siteId: 'MLA' });
    const full = await errorOf(testUsers.create(app.clientId, { siteId: 'MLA' }));
    assert.match(full.description, /already has 2 test users/);
    assert.equal((await testUsers.list(app.clientId)).length, 2);
    const off = new TestUsers({
      storage: w.storage,
      clock: w.clock,
      random: cryptoRandom,
      passwords: cheapHasher(),
      limit: 0,
    });
    assert.match((await errorOf(off.create(app.clientId, { siteId: 'MLA' }))).description, /turned off/);
  });
});

describe('core/grant-use', () => {
  it('queues a grant at most once per hour and writes the batch in one storage call', async () => {
    const w = coreWorld();
    const app = await w.seed();
    await app.code();
    let calls = 0;
    const storage = new Proxy(w.storage, {
      get(target, property) {
        const value = Reflect.get(target, property);
        if (property === 'touchGrantsLastUsed') {
          return (...args: Parameters<typeof target.touchGrantsLastUsed>) => {
            calls += 1;
            return target.touchGrantsLastUsed(...args);
          };
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const tracker = new GrantUseTracker({ storage, clock: w.clock });
    for (let i = 0; i < 100; i++) tracker.seen(app.clientId, app.sellerId);
    tracker.seen(app.clientId, 999);
    assert.equal(tracker.pending, 2);
    await tracker.flush();
    assert.equal(calls, 1);
    assert.equal((await w.storage.findGrant(app.clientId, app.sellerId))?.lastUsedAt, w.clock.now());
    w.clock.advance(59 * 60_000);
    tracker.seen(app.clientId, app.sellerId);
    assert.equal(tracker.pending, 0);
    await tracker.flush();
    assert.equal(calls, 1);
    w.clock.advance(2 * 60_000);
    tracker.seen(app.clientId, app.sellerId);
    await tracker.stop();
    assert.equal(calls, 2);
    assert.equal((await w.storage.findGrant(app.clientId, app.sellerId))?.lastUsedAt, w.clock.now());
  });

  it('keeps a batch the storage refused, and writes it at the next flush', async () => {
    const w = coreWorld();
    const app = await w.seed();
    await app.code();
    let fail = true;
    const errors: unknown[] = [];
    const storage = new Proxy(w.storage, {
      get(target, property) {
        const value = Reflect.get(target, property);
        if (property === 'touchGrantsLastUsed') {
          return (...args: Parameters<typeof target.touchGrantsLastUsed>) =>
            fail ? Promise.reject(new Error('down')) : target.touchGrantsLastUsed(...args);
        }
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const tracker = new GrantUseTracker({ storage, clock: w.clock, onFlushError: (e) => errors.push(e) });
    tracker.seen(app.clientId, app.sellerId);
    await tracker.flush();
    assert.equal(errors.length, 1);
    assert.equal(tracker.pending, 1);
    fail = false;
    await tracker.flush();
    assert.equal(tracker.pending, 0);
    assert.notEqual((await w.storage.findGrant(app.clientId, app.sellerId))?.lastUsedAt, null);
  });
});
