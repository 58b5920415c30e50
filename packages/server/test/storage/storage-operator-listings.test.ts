import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ApplicationRecord, ListedGrant, StoragePort, UserRecord } from '../../src/storage/contract.ts';
import { DAY, hash, must, seedGrant, T0 } from '../helpers/seed.ts';
import { memoryFactory, storageFactories, type TestStorage } from '../helpers/storages.ts';

/** Walks every page of a keyset listing; each page holds at most `limit` rows. */
async function allPages<T, C>(
  limit: number,
  page: (after: C | undefined) => Promise<T[]>,
  cursor: (row: T) => C,
): Promise<T[]> {
  const rows: T[] = [];
  let after: C | undefined;
  for (;;) {
    const batch = await page(after);
    assert.ok(batch.length <= limit, `a page of ${batch.length} rows exceeds the limit ${limit}`);
    rows.push(...batch);
    const last = batch.at(-1);
    if (batch.length < limit || last === undefined) return rows;
    after = cursor(last);
  }
}

for (const factory of [...storageFactories, memoryFactory]) {
  describe(`operator listings (${factory.name})`, () => {
    let t: TestStorage;
    let storage: StoragePort;
    before(async () => {
      t = await factory.create();
      storage = t.storage;
    });
    after(() => t.cleanup());

    test('lists users by ascending id, page after page, without gaps or repeats', async () => {
      for (let i = 0; i < 7; i++) {
        must(
          await storage.createUser({
            email: `list${i}@users.test`,
            nickname: `n${i}`,
            siteId: 'MLA',
            passwordHash: null,
            createdAt: T0,
          }),
        );
      }
      const users = await allPages<UserRecord, number>(
        3,
        (after) => storage.listUsers({ after, limit: 3 }),
        (u) => u.id,
      );
      assert.equal(users.length, 7);
      assert.deepEqual(
        users.map((u) => u.id),
        [...users.map((u) => u.id)].sort((a, b) => a - b),
      );
      assert.equal(new Set(users.map((u) => u.id)).size, 7);
      assert.deepEqual(await storage.listUsers({ after: users.at(-1)?.id, limit: 10 }), []);
      // An id beyond every row, or zero: no error, just the rows after it.
      assert.deepEqual(await storage.listUsers({ after: Number.MAX_SAFE_INTEGER, limit: 10 }), []);
      assert.equal((await storage.listUsers({ after: 0, limit: 100 })).length, 7);
    });

    test('lists applications by client id with their secrets, and grants across applications with filters', async () => {
      const a = await seedGrant(storage);
      const b = await seedGrant(storage);
      const c = await seedGrant(storage);
      // Seller of grant a also authorizes application b; grant c is revoked.
      await storage.recordConsent({
        hash: hash(),
        clientId: b.clientId,
        userId: a.sellerId,
        redirectUri: 'https://a.test/cb',
        scope: 'read',
        codeChallenge: null,
        codeChallengeMethod: null,
        createdAt: T0 + 1,
        expiresAt: T0 + 600_000,
        publicKey: '22222222-2222-4222-8222-222222222222',
      });
      assert.equal(await storage.revokeGrant(c.clientId, c.sellerId, T0 + DAY), true);

      const apps = await allPages<ApplicationRecord, string>(
        2,
        (after) => storage.listApplications({ after, limit: 2 }),
        (app) => app.clientId,
      );
      const ids = apps.map((app) => app.clientId);
      assert.deepEqual(ids, [a.clientId, b.clientId, c.clientId].sort());
      for (const app of apps) {
        assert.equal(app.secrets.length, 1, 'each application comes with its own secrets only');
        assert.equal(app.name, 'App');
      }

      const all = await allPages<ListedGrant, number>(
        2,
        (after) => storage.listGrants({ after, limit: 2 }),
        (g) => g.id,
      );
      assert.equal(all.length, 4);
      const revoked = all.find((g) => g.clientId === c.clientId);
      assert.equal(revoked?.revokedAt, T0 + DAY, 'revoked grants are listed with their revocation time');

      const ofB = await storage.listGrants({ clientId: b.clientId, limit: 10 });
      assert.deepEqual(ofB.map((g) => g.userId).sort(), [a.sellerId, b.sellerId].sort());
      const ofSellerA = await storage.listGrants({ userId: a.sellerId, limit: 10 });
      assert.deepEqual(ofSellerA.map((g) => g.clientId).sort(), [a.clientId, b.clientId].sort());
      const one = await storage.listGrants({ clientId: b.clientId, userId: a.sellerId, limit: 10 });
      assert.equal(one.length, 1);
      assert.equal(one[0]?.scope, 'read');
      // Filters of another tenant's ids find nothing of this one's.
      assert.deepEqual(await storage.listGrants({ clientId: a.clientId, userId: b.sellerId, limit: 10 }), []);
      assert.deepEqual(await storage.listGrants({ clientId: '9999999999999999', limit: 10 }), []);
      assert.deepEqual(
        await storage.listGrants({ clientId: b.clientId, userId: a.sellerId, after: one[0]?.id, limit: 10 }),
        [],
      );
      // The listing carries no public key or secret material: only the grant's own fields.
      assert.deepEqual(Object.keys(one[0] ?? {}).sort(), [
        'clientId',
        'createdAt',
        'id',
        'lastUsedAt',
        'revokedAt',
        'scope',
        'updatedAt',
        'userId',
      ]);
    });

    test("an access token record names its family; a client_credentials token's family is null", async () => {
      const seeded = await seedGrant(storage);
      const issued = await storage.exchangeAuthorizationCode({
        codeId: seeded.codeId,
        now: T0,
        liveMode: true,
        access: { hash: hash(), scope: 'offline_access read write', issuedAt: T0, expiresAt: T0 + DAY },
        refresh: { hash: hash(), issuedAt: T0, expiresAt: T0 + DAY },
      });
      assert.equal(issued.outcome, 'issued');
      if (issued.outcome !== 'issued') return;
      assert.equal((await storage.findAccessToken(issued.accessTokenId))?.familyId, issued.familyId);
      const cc = await storage.issueClientCredentialsToken({
        hash: hash(),
        scope: 'read',
        issuedAt: T0,
        expiresAt: T0 + DAY,
        clientId: seeded.clientId,
        userId: 1,
        liveMode: true,
      });
      assert.equal((await storage.findAccessToken(cc.accessTokenId))?.familyId, null);
    });
  });
}
