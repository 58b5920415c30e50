import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { WebhookPolicy } from '../../src/core/webhooks.ts';
import { webhookTargetPolicy } from '../../src/runtime.ts';
import { createServices, type Services } from '../../src/services.ts';
import { storageFactories, type TestStorage } from '../helpers/storages.ts';

const FAST: WebhookPolicy = { baseDelayMs: 20, maxDelayMs: 40, maxAttempts: 2, timeoutMs: 2000, pollMs: 20 };

async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

for (const factory of storageFactories) {
  describe(`webhook outbox for application owners on ${factory.name}`, () => {
    let server: Server;
    let url: string;
    let status = 200;
    const bodies: Record<string, unknown>[] = [];
    let testStorage: TestStorage;
    let services: Services;

    before(async () => {
      server = createServer((request, response) => {
        let raw = '';
        request.on('data', (chunk) => {
          raw += chunk;
        });
        request.on('end', () => {
          bodies.push(JSON.parse(raw) as Record<string, unknown>);
          response.statusCode = status;
          response.end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = server.address() as { port: number };
      url = `http://127.0.0.1:${address.port}/hooks`;
      testStorage = await factory.create();
      services = createServices({
        storage: testStorage.storage,
        serverKey: Buffer.alloc(32, 9),
        webhookPolicy: FAST,
        // The receiver listens on loopback over http: the development setting, set explicitly.
        webhookTargets: webhookTargetPolicy({ allowPrivate: true }),
      });
      services.webhooks.start();
    });
    after(async () => {
      await services.webhooks.stop();
      await testStorage.cleanup();
      await new Promise((resolve) => server.close(resolve));
    });

    const newApp = async (notificationUrl: string | undefined) => {
      const owner = await services.accounts.createUser({ email: `o-${Math.random()}@example.com` });
      const created = await services.applications.create({
        name: 'Hooks',
        ownerUserId: owner.id,
        redirectUris: ['https://integrator.example.com/cb'],
        notificationUrl,
      });
      return { clientId: created.clientId, ownerId: owner.id };
    };

    test('"send test event" is a real, signed delivery whose body says live_mode false', async () => {
      status = 200;
      const app = await newApp(url);
      const queued = await services.webhookOutbox.sendTestEvent(app.clientId);
      assert.equal(queued.test, true);
      await until(async () => bodies.some((b) => b.id === queued.id));
      const body = bodies.find((b) => b.id === queued.id);
      assert.equal(body?.live_mode, false);
      assert.equal(body?.type, 'mp-connect');
      assert.equal(body?.application_id, app.clientId);
      assert.equal(body?.user_id, app.ownerId);
      await until(
        async () =>
          (await services.webhookOutbox.listForApplication(app.clientId, { limit: 5 }))[0]?.status ===
          'delivered',
      );
    });

    test('an owner lists and retries only its own dead events', async () => {
      status = 500;
      const mine = await newApp(url);
      const theirs = await newApp(url);
      const dead = await services.webhookOutbox.sendTestEvent(mine.clientId);
      await until(
        async () =>
          (await services.webhookOutbox.listForApplication(mine.clientId, { limit: 5 }))[0]?.status ===
          'dead',
      );
      const [listed] = await services.webhookOutbox.listForApplication(mine.clientId, { limit: 5 });
      assert.equal(listed?.attempts, 2);
      assert.equal(listed?.lastStatus, 500);
      assert.deepEqual(await services.webhookOutbox.listForApplication(theirs.clientId, { limit: 5 }), []);
      await assert.rejects(services.webhookOutbox.retryForApplication(theirs.clientId, dead.id), {
        error: 'not_found',
      });
      status = 200;
      await services.webhookOutbox.retryForApplication(mine.clientId, dead.id);
      await until(
        async () =>
          (await services.webhookOutbox.listForApplication(mine.clientId, { limit: 5 }))[0]?.status ===
          'delivered',
      );
      await assert.rejects(services.webhookOutbox.retryForApplication(mine.clientId, dead.id), {
        error: 'not_found',
      });
    });

    test('refusals: no notification_url, unknown application, bad paging values', async () => {
      const quiet = await newApp(undefined);
      await assert.rejects(services.webhookOutbox.sendTestEvent(quiet.clientId), {
        error: 'invalid_request',
        message: /no notification_url/,
      });
      await assert.rejects(services.webhookOutbox.sendTestEvent('9999999999999999'), { error: 'not_found' });
      await assert.rejects(services.webhookOutbox.listForApplication('abc', { limit: 5 }), {
        error: 'not_found',
      });
      for (const options of [{ limit: 0 }, { limit: 101 }, { limit: 1.5 }, { before: -1 }]) {
        await assert.rejects(services.webhookOutbox.listForApplication(quiet.clientId, options), {
          error: 'invalid_request',
        });
      }
      await assert.rejects(services.webhookOutbox.retryForApplication(quiet.clientId, 0), {
        error: 'not_found',
      });
    });
  });
}
