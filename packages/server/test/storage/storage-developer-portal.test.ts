import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sha256 } from '../../src/core/tokens.ts';
import type { StoragePort, UserRecord } from '../../src/storage/contract.ts';
import { DAY, hash, must, seedGrant, T0 } from '../helpers/seed.ts';
import { memoryFactory, storageFactories, type TestStorage } from '../helpers/storages.ts';

let seq = 0;
const HOUR = 3_600_000;

async function newUser(storage: StoragePort, nickname: string): Promise<UserRecord> {
  seq += 1;
  return must(
    await storage.createUser({
      email: `portal${seq}-${Date.now()}@x.test`,
      nickname,
      siteId: 'MLA',
      passwordHash: null,
      createdAt: T0,
    }),
  );
}

async function newApplication(storage: StoragePort, ownerId: number, notificationUrl: string | null = null) {
  seq += 1;
  const clientId = String(2_000_000_000_000_000 + seq * 7919 + (Date.now() % 1000));
  await storage.createApplication({
    clientId,
    name: 'Portal app',
    description: 'sells things',
    logoUrl: 'https://logo.test/a.png',
    ownerUserId: ownerId,
    redirectUris: ['https://a.test/cb'],
    scope: 'offline_access read write',
    pkceRequired: false,
    notificationUrl,
    webhookSecretSealed: Buffer.alloc(60),
    ownerPublicKey: '00000000-0000-4000-8000-000000000000',
    secretHash: sha256(`secret-${clientId}`),
    createdAt: T0,
  });
  return clientId;
}

function consent(storage: StoragePort, clientId: string, userId: number, at = T0) {
  return storage.recordConsent({
    hash: hash(),
    clientId,
    userId,
    redirectUri: 'https://a.test/cb',
    scope: 'offline_access read write',
    codeChallenge: null,
    codeChallengeMethod: null,
    createdAt: at,
    expiresAt: at + 600_000,
    publicKey: '11111111-1111-4111-8111-111111111111',
  });
}

const event = (clientId: string, userId: number, at = T0) => ({
  clientId,
  userId,
  action: 'application.authorized' as const,
  url: `https://hooks.test/?data.id=${userId}&type=mp-connect`,
  createdAt: at,
});

for (const factory of [...storageFactories, memoryFactory]) {
  describe(`developer portal storage on ${factory.name}`, () => {
    let ts: TestStorage;
    let storage: StoragePort;
    before(async () => {
      ts = await factory.create();
      storage = ts.storage;
    });
    after(async () => ts.cleanup());

    test('updateApplication changes only the given fields and returns the record', async () => {
      const owner = await newUser(storage, 'OWNER');
      const clientId = await newApplication(storage, owner.id, 'https://hooks.test/n');
      const updated = must(
        await storage.updateApplication(clientId, {
          description: 'new text',
          logoUrl: null,
          pkceRequired: true,
        }),
      );
      assert.equal(updated.description, 'new text');
      assert.equal(updated.logoUrl, null);
      assert.equal(updated.pkceRequired, true);
      assert.equal(updated.name, 'Portal app');
      assert.deepEqual(updated.redirectUris, ['https://a.test/cb']);
      assert.equal(updated.notificationUrl, 'https://hooks.test/n');
      const all = must(
        await storage.updateApplication(clientId, {
          name: 'Renamed',
          redirectUris: ['https://b.test/cb', 'https://c.test/cb'],
          scope: 'read',
          grantTypes: ['client_credentials'],
          notificationUrl: null,
          pkceRequired: false,
        }),
      );
      assert.deepEqual(
        {
          name: all.name,
          redirectUris: all.redirectUris,
          scope: all.scope,
          grantTypes: all.grantTypes,
          notificationUrl: all.notificationUrl,
          pkceRequired: all.pkceRequired,
          description: all.description,
        },
        {
          name: 'Renamed',
          redirectUris: ['https://b.test/cb', 'https://c.test/cb'],
          scope: 'read',
          grantTypes: ['client_credentials'],
          notificationUrl: null,
          pkceRequired: false,
          description: 'new text',
        },
      );
      assert.deepEqual(await storage.findApplication(clientId), all);
      assert.equal(await storage.updateApplication('9999999999999999', { name: 'x' }), null);
    });

    test('deleteApplication revokes every grant, family, token, code and secret in one step; the id stays taken', async () => {
      const seeded = await seedGrant(storage);
      const { clientId } = seeded;
      const issued = await storage.exchangeAuthorizationCode({
        codeId: seeded.codeId,
        now: T0,
        liveMode: true,
        access: { hash: hash(), scope: 'offline_access read write', issuedAt: T0, expiresAt: T0 + DAY },
        refresh: { hash: hash(), issuedAt: T0, expiresAt: T0 + DAY },
      });
      assert.equal(issued.outcome, 'issued');
      if (issued.outcome !== 'issued') return;
      // An unused code of a second seller, a client_credentials token, a pending webhook event.
      const other = await newUser(storage, 'SECOND');
      const { codeId: unusedCode } = await consent(storage, clientId, other.id);
      const app = must(await storage.findApplication(clientId));
      const { accessTokenId: ccId } = await storage.issueClientCredentialsToken({
        hash: hash(),
        scope: 'read write',
        issuedAt: T0,
        expiresAt: T0 + DAY,
        clientId,
        userId: app.ownerUserId,
        liveMode: true,
      });
      const queued = must(await storage.enqueueTestWebhookEvent(event(clientId, app.ownerUserId)));

      assert.equal(await storage.deleteApplication(clientId, T0 + 1000), true);

      assert.equal(await storage.findApplication(clientId), null);
      assert.deepEqual(
        (await storage.listApplicationsByOwner(app.ownerUserId)).map((a) => a.clientId),
        [],
      );
      assert.equal((await storage.findAccessToken(issued.accessTokenId))?.revoked, true);
      assert.equal((await storage.findRefreshToken(issued.refreshTokenId))?.revoked, true);
      assert.equal((await storage.findAccessToken(ccId))?.revoked, true);
      assert.equal((await storage.findGrant(clientId, seeded.sellerId))?.revokedAt, T0 + 1000);
      assert.equal((await storage.findGrant(clientId, other.id))?.revokedAt, T0 + 1000);
      assert.deepEqual(await storage.listActiveGrantsOfUser(seeded.sellerId), []);
      const late = await storage.exchangeAuthorizationCode({
        codeId: unusedCode,
        now: T0 + 2000,
        liveMode: true,
        access: { hash: hash(), scope: 'read', issuedAt: T0, expiresAt: T0 + DAY },
        refresh: { hash: hash(), issuedAt: T0, expiresAt: T0 + DAY },
      });
      assert.equal(late.outcome, 'grant_revoked');
      const [dead] = await storage.listWebhookEvents({ clientId, limit: 10 });
      assert.equal(dead?.id, queued);
      assert.equal(dead?.status, 'dead');
      // Nothing more to do: a second delete, or any change, finds no application.
      assert.equal(await storage.deleteApplication(clientId, T0 + 3000), false);
      assert.equal(await storage.rotateClientSecret(clientId, hash(), T0, T0), false);
      assert.equal(await storage.replaceWebhookSecret(clientId, Buffer.alloc(60)), false);
      assert.equal(await storage.enqueueTestWebhookEvent(event(clientId, 1)), null);
      // The client_id is never issued again.
      await assert.rejects(
        storage.createApplication({
          clientId,
          name: 'Reuse',
          ownerUserId: app.ownerUserId,
          redirectUris: ['https://a.test/cb'],
          scope: 'read',
          pkceRequired: false,
          notificationUrl: null,
          webhookSecretSealed: Buffer.alloc(60),
          ownerPublicKey: '00000000-0000-4000-8000-000000000000',
          secretHash: hash(),
          createdAt: T0,
        }),
      );
    });

    test('listGrantsOfApplication pages by keyset, newest first, with real and test totals apart', async () => {
      const owner = await newUser(storage, 'OWNER');
      const clientId = await newApplication(storage, owner.id);
      const otherApp = await newApplication(storage, owner.id);
      const sellers: UserRecord[] = [];
      for (let i = 0; i < 5; i++) {
        const seller = await newUser(storage, `SELLER${i}`);
        sellers.push(seller);
        await consent(storage, clientId, seller.id, T0 + i);
      }
      // Another application's seller and a revoked grant are never listed.
      const stranger = await newUser(storage, 'SELLER9');
      await consent(storage, otherApp, stranger.id);
      const gone = await newUser(storage, 'SELLERGONE');
      await consent(storage, clientId, gone.id);
      await storage.revokeGrant(clientId, gone.id, T0 + 10);
      const tester = must(
        await storage
          .createTestUser({
            clientId,
            description: 'qa',
            limit: 10,
            user: {
              email: `tu${seq}-${Date.now()}@testuser.com`,
              nickname: 'TESTUSER1',
              siteId: 'MLB',
              passwordHash: 'x',
              createdAt: T0,
            },
          })
          .then((o) => (o.outcome === 'created' ? o.user : null)),
      );
      await consent(storage, clientId, tester.id, T0 + 20);

      const seen: number[] = [];
      let cursor: number | undefined;
      let pages = 0;
      do {
        const page = await storage.listGrantsOfApplication({ clientId, limit: 2, cursor });
        assert.deepEqual(page.totals, { real: 5, test: 1 });
        seen.push(...page.items.map((i) => i.userId));
        cursor = page.nextCursor ?? undefined;
        pages += 1;
      } while (cursor !== undefined);
      assert.equal(pages, 3);
      assert.deepEqual(seen, [tester.id, ...sellers.map((s) => s.id).reverse()]);

      // Exactly one full page: no next cursor.
      const whole = await storage.listGrantsOfApplication({ clientId, limit: 6 });
      assert.equal(whole.items.length, 6);
      assert.equal(whole.nextCursor, null);
      const first = whole.items[0];
      assert.equal(first?.isTestUser, true);
      assert.equal(first?.nickname, 'TESTUSER1');
      assert.equal(first?.scope, 'offline_access read write');
      assert.equal(first?.lastUsedAt, null);
      // A cursor past the last grant: an empty page.
      const lastId = await storage.listGrantsOfApplication({ clientId, limit: 1, cursor: 1 });
      assert.deepEqual(lastId.items, []);
      assert.equal(lastId.nextCursor, null);

      const real = await storage.listGrantsOfApplication({ clientId, limit: 10, testUsers: false });
      assert.deepEqual(
        real.items.map((i) => i.isTestUser),
        [false, false, false, false, false],
      );
      const test = await storage.listGrantsOfApplication({ clientId, limit: 10, testUsers: true });
      assert.deepEqual(
        test.items.map((i) => i.userId),
        [tester.id],
      );
    });

    test('listGrantsOfApplication searches an exact user id or a nickname prefix, LIKE metacharacters literally', async () => {
      const owner = await newUser(storage, 'OWNER');
      const clientId = await newApplication(storage, owner.id);
      const names = ['Ana_Shop', 'AnaXShop', '50%off', '50Xoff', 'back\\slash', 'backXslash', 'ZED'];
      const users = new Map<string, UserRecord>();
      for (const name of names) {
        const user = await newUser(storage, name);
        users.set(name, user);
        await consent(storage, clientId, user.id);
      }
      const find = async (search: string) =>
        (await storage.listGrantsOfApplication({ clientId, limit: 50, search })).items
          .map((i) => i.nickname)
          .sort();
      assert.deepEqual(await find('ana'), ['AnaXShop', 'Ana_Shop']);
      assert.deepEqual(await find('ANA_'), ['Ana_Shop']);
      assert.deepEqual(await find('50%'), ['50%off']);
      assert.deepEqual(await find('%'), []);
      assert.deepEqual(await find('_'), []);
      assert.deepEqual(await find('back\\'), ['back\\slash']);
      assert.deepEqual(await find('zed'), ['ZED']);
      assert.deepEqual(await find('nobody'), []);
      const zed = users.get('ZED') as UserRecord;
      assert.deepEqual(await find(String(zed.id)), ['ZED']);
      const page = await storage.listGrantsOfApplication({ clientId, limit: 50, search: 'ana' });
      assert.deepEqual(page.totals, { real: 2, test: 0 });
      // Another application's id finds nothing here.
      const otherApp = await newApplication(storage, owner.id);
      assert.deepEqual(
        (await storage.listGrantsOfApplication({ clientId: otherApp, limit: 50, search: String(zed.id) }))
          .items,
        [],
      );
    });

    test('touchGrantsLastUsed writes a grant at most once per coarse period', async () => {
      const seeded = await seedGrant(storage);
      const use = (at: number) => [{ clientId: seeded.clientId, userId: seeded.sellerId, at }];
      await storage.touchGrantsLastUsed(use(T0 + 1000), HOUR);
      assert.equal((await storage.findGrant(seeded.clientId, seeded.sellerId))?.lastUsedAt, T0 + 1000);
      await storage.touchGrantsLastUsed(use(T0 + 30 * 60_000), HOUR);
      assert.equal((await storage.findGrant(seeded.clientId, seeded.sellerId))?.lastUsedAt, T0 + 1000);
      await storage.touchGrantsLastUsed(use(T0 + HOUR + 1000), HOUR);
      assert.equal((await storage.findGrant(seeded.clientId, seeded.sellerId))?.lastUsedAt, T0 + HOUR + 1000);
      // Unknown grants in the batch are skipped, the rest still written.
      await storage.touchGrantsLastUsed(
        [{ clientId: '9999999999999999', userId: 1, at: T0 + 5 * HOUR }, ...use(T0 + 5 * HOUR)],
        HOUR,
      );
      assert.equal((await storage.findGrant(seeded.clientId, seeded.sellerId))?.lastUsedAt, T0 + 5 * HOUR);
      await storage.touchGrantsLastUsed([], HOUR);
      const [listed] = await storage.listActiveGrantsOfUser(seeded.sellerId);
      assert.equal(listed?.lastUsedAt, T0 + 5 * HOUR);
      const page = await storage.listGrantsOfApplication({ clientId: seeded.clientId, limit: 5 });
      assert.equal(page.items[0]?.lastUsedAt, T0 + 5 * HOUR);
    });

    test('createTestUser never passes the cap, even with many concurrent callers', async () => {
      const owner = await newUser(storage, 'OWNER');
      const clientId = await newApplication(storage, owner.id);
      const attempt = (i: number) =>
        storage.createTestUser({
          clientId,
          description: `user ${i}`,
          limit: 4,
          user: {
            email: `cap${i}-${clientId}@testuser.com`,
            nickname: `TESTUSER${i}`,
            siteId: 'MLA',
            passwordHash: 'scrypt$x',
            createdAt: T0 + i,
          },
        });
      const outcomes = await Promise.all(Array.from({ length: 12 }, (_, i) => attempt(i)));
      assert.equal(outcomes.filter((o) => o.outcome === 'created').length, 4);
      assert.ok(outcomes.every((o) => o.outcome === 'created' || o.outcome === 'limit_reached'));
      const listed = await storage.listTestUsers(clientId);
      assert.equal(listed.length, 4);
      assert.ok(listed.every((u) => u.description.startsWith('user ')));
      const created = outcomes.find((o) => o.outcome === 'created');
      if (created?.outcome !== 'created') return;
      assert.equal(created.user.testOfClientId, clientId);
      assert.equal((await storage.findUserById(created.user.id))?.testOfClientId, clientId);
      // A real seller is not a test user.
      assert.equal((await storage.findUserById(owner.id))?.testOfClientId, null);
      // Another application's cap is its own.
      const otherApp = await newApplication(storage, owner.id);
      assert.deepEqual(await storage.listTestUsers(otherApp), []);
    });

    test('createTestUser refuses a taken email and an unknown or deleted application, writing nothing', async () => {
      const owner = await newUser(storage, 'OWNER');
      const clientId = await newApplication(storage, owner.id);
      const user = {
        email: owner.email.toUpperCase(),
        nickname: 'TESTUSER',
        siteId: 'MLA',
        passwordHash: 'scrypt$x',
        createdAt: T0,
      };
      assert.deepEqual(await storage.createTestUser({ clientId, description: '', limit: 5, user }), {
        outcome: 'email_taken',
      });
      const fresh = { ...user, email: `fresh-${clientId}@testuser.com` };
      assert.deepEqual(
        await storage.createTestUser({
          clientId: '9999999999999998',
          description: '',
          limit: 5,
          user: fresh,
        }),
        { outcome: 'unknown_application' },
      );
      assert.equal(await storage.deleteApplication(clientId, T0), true);
      assert.deepEqual(await storage.createTestUser({ clientId, description: '', limit: 5, user: fresh }), {
        outcome: 'unknown_application',
      });
      assert.equal(await storage.findUserByEmail(fresh.email), null);
    });

    test('webhook events list per application by keyset; an owner retries only its own; test events say so', async () => {
      const owner = await newUser(storage, 'OWNER');
      const mine = await newApplication(storage, owner.id);
      const theirs = await newApplication(storage, owner.id);
      const ids: number[] = [];
      for (let i = 0; i < 3; i++)
        ids.push(must(await storage.enqueueTestWebhookEvent(event(mine, owner.id, T0 + i))));
      const foreign = must(await storage.enqueueTestWebhookEvent(event(theirs, owner.id)));
      const all = await storage.listWebhookEvents({ clientId: mine, limit: 10 });
      assert.deepEqual(
        all.map((e) => e.id),
        [...ids].reverse(),
      );
      assert.ok(all.every((e) => e.test && e.clientId === mine && e.status === 'pending'));
      const page1 = await storage.listWebhookEvents({ clientId: mine, limit: 2 });
      const page2 = await storage.listWebhookEvents({ clientId: mine, limit: 2, before: page1[1]?.id });
      assert.deepEqual(
        [...page1, ...page2].map((e) => e.id),
        [...ids].reverse(),
      );
      assert.deepEqual(await storage.listWebhookEvents({ clientId: mine, limit: 10, status: 'dead' }), []);
      // Operators' listing still spans applications.
      const everyone = await storage.listWebhookEvents({ limit: 1000 });
      assert.ok(everyone.some((e) => e.id === foreign) && everyone.some((e) => e.id === ids[0]));

      const [claimed] = (
        await storage.claimDueWebhookEvents({ now: T0 + 100, leaseMs: 1000, limit: 100 })
      ).filter((e) => e.id === foreign);
      assert.ok(claimed);
      await storage.recordWebhookAttempt({
        id: foreign,
        at: T0 + 100,
        httpStatus: 500,
        error: 'HTTP 500',
        outcome: 'dead',
      });
      assert.equal(await storage.retryWebhookEvent(foreign, T0 + 200, mine), false);
      assert.equal((await storage.listWebhookEvents({ clientId: theirs, limit: 1 }))[0]?.status, 'dead');
      assert.equal(await storage.retryWebhookEvent(foreign, T0 + 200, theirs), true);
      const retried = (await storage.listWebhookEvents({ clientId: theirs, limit: 1 }))[0];
      assert.equal(retried?.status, 'pending');
      assert.equal(retried?.attempts, 1);
      assert.equal(retried?.lastError, 'HTTP 500');
      assert.equal(await storage.retryWebhookEvent(999_999_999, T0, theirs), false);
    });
  });
}
