import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AuditContext, AuditEventRecord, StoragePort } from '../../src/storage/contract.ts';
import { seedGrant, T0 } from '../helpers/seed.ts';
import { memoryFactory, storageFactories, type TestStorage } from '../helpers/storages.ts';

/**
 * The developer portal's application steps (branch portal-core) in the audit trail, on every
 * engine: update, delete and test-user creation each write exactly their event in their own step,
 * and a refused one writes none.
 */
const CTX: AuditContext = {
  actor: 'operator',
  actorId: 'admin-api',
  requestId: 'r-1',
  remoteAddress: '192.0.2.1',
};

async function appended(storage: StoragePort, step: () => Promise<unknown>): Promise<AuditEventRecord[]> {
  const before = (await storage.listAuditEvents({ limit: 1 }))[0]?.id ?? 0;
  await step();
  return (await storage.listAuditEvents({ limit: 100 })).filter((e) => e.id > before).reverse();
}

for (const factory of [...storageFactories, memoryFactory]) {
  describe(`audit trail of the developer portal's steps on ${factory.name}`, () => {
    let t: TestStorage;
    let storage: StoragePort;
    before(async () => {
      t = await factory.create();
      storage = t.storage;
    });
    after(() => t.cleanup());

    test('updateApplication: application.changed naming the fields, never their values', async () => {
      const { clientId } = await seedGrant(storage);
      const events = await appended(storage, () =>
        storage.updateApplication(
          clientId,
          { name: 'Renamed secretly', redirectUris: ['https://b.test/cb'] },
          CTX,
        ),
      );
      assert.deepEqual(
        events.map((e) => [e.type, e.clientId, e.detail, e.actorId]),
        [['application.changed', clientId, 'name,redirectUris', 'admin-api']],
      );
      assert.ok(!JSON.stringify(events).includes('Renamed secretly'));
      assert.deepEqual(
        await appended(storage, () => storage.updateApplication('4999999999999999', { name: 'x' }, CTX)),
        [],
      );
    });

    test('createTestUser: user.created of the application; refused ones write nothing', async () => {
      const { clientId } = await seedGrant(storage);
      const user = (n: number) => ({
        email: `test_user_${n}@testuser.test`,
        nickname: `TEST${n}`,
        siteId: 'MLA',
        passwordHash: 'hash',
        createdAt: T0,
      });
      const events = await appended(storage, () =>
        storage.createTestUser({ clientId, user: user(1), description: 'd', limit: 1 }, CTX),
      );
      assert.equal(events.length, 1);
      assert.equal(events[0]?.type, 'user.created');
      assert.equal(events[0]?.clientId, clientId);
      assert.equal(events[0]?.detail, 'test_user');
      assert.ok(events[0]?.userId);
      assert.deepEqual(
        await appended(storage, () =>
          storage.createTestUser({ clientId, user: user(2), description: 'd', limit: 1 }, CTX),
        ),
        [],
        'over the cap: no user, no event',
      );
    });

    test('deleteApplication: application.deleted once, in the step that revokes everything', async () => {
      const { clientId } = await seedGrant(storage);
      const events = await appended(storage, () => storage.deleteApplication(clientId, T0 + 5, CTX));
      assert.deepEqual(
        events.map((e) => [e.type, e.clientId, e.at]),
        [['application.deleted', clientId, T0 + 5]],
      );
      assert.deepEqual(await appended(storage, () => storage.deleteApplication(clientId, T0 + 6, CTX)), []);
      // The application is gone; its trail stays (no foreign key ties events to it).
      assert.ok((await storage.listAuditEvents({ clientId, limit: 10 })).length >= 2);
    });
  });
}
