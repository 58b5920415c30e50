import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { StoragePort } from '../../src/storage/contract.ts';
import { hash, seedGrant, T0 } from '../helpers/seed.ts';
import { memoryFactory, storageFactories, type TestStorage } from '../helpers/storages.ts';

/** StoragePort.webhookQueueStats, read by the metrics on each scrape (docs/operations.md). */
for (const factory of [...storageFactories, memoryFactory]) {
  describe(`webhookQueueStats on ${factory.name}`, () => {
    let testStorage: TestStorage;
    let storage: StoragePort;
    before(async () => {
      testStorage = await factory.create();
      storage = testStorage.storage;
    });
    after(async () => testStorage.cleanup());

    test('counts pending and dead events and dates the oldest pending one', async () => {
      assert.deepEqual(await storage.webhookQueueStats(), {
        pending: 0,
        oldestPendingCreatedAt: null,
        dead: 0,
      });
      const seeded = await seedGrant(storage);
      const consent = (userId: number, createdAt: number) =>
        storage.recordConsent(
          {
            hash: hash(),
            clientId: seeded.clientId,
            userId,
            redirectUri: 'https://a.test/cb',
            scope: 'read',
            codeChallenge: null,
            codeChallengeMethod: null,
            createdAt,
            expiresAt: createdAt + 600_000,
            publicKey: '33333333-3333-4333-8333-333333333333',
          },
          {
            clientId: seeded.clientId,
            userId,
            action: 'application.authorized',
            url: 'https://hooks.test/n',
            createdAt,
          },
        );
      const users = await Promise.all(
        [1, 2, 3].map((i) =>
          storage.createUser({
            email: `q${i}-${factory.name}@x.test`,
            nickname: 'Q',
            siteId: 'MLA',
            passwordHash: null,
            createdAt: T0,
          }),
        ),
      );
      for (const [i, user] of users.entries())
        await consent((user as { id: number }).id, T0 + 1000 * (i + 1));
      assert.deepEqual(await storage.webhookQueueStats(), {
        pending: 3,
        oldestPendingCreatedAt: T0 + 1000,
        dead: 0,
      });
      const [oldest] = await storage.claimDueWebhookEvents({ now: T0 + 10_000, leaseMs: 1000, limit: 1 });
      assert.ok(oldest);
      await storage.recordWebhookAttempt({
        id: oldest.id,
        at: T0 + 10_000,
        httpStatus: 500,
        error: 'x',
        outcome: 'dead',
      });
      assert.deepEqual(await storage.webhookQueueStats(), {
        pending: 2,
        oldestPendingCreatedAt: T0 + 2000,
        dead: 1,
      });
    });
  });
}
