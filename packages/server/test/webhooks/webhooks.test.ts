import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { nextRetryDelay, type WebhookPolicy } from '../../src/core/webhooks.ts';
import { startServer, webhookTargetPolicy } from '../../src/runtime.ts';
import { createServices, type Services } from '../../src/services.ts';
import { createdApplicationView, issuedCodeView, webhookSecretView } from '../../src/views.ts';
import { storageFactories, type TestStorage } from '../helpers/storages.ts';

/** Fast retries so tests never sleep for long; the schedule's shape is tested on its own below. */
const FAST: WebhookPolicy = { baseDelayMs: 20, maxDelayMs: 80, maxAttempts: 3, timeoutMs: 2_000, pollMs: 25 };
const FAST_ENV = {
  // The receiver listens on 127.0.0.1 over http: allowed only by the development setting.
  RENOVA_WEBHOOK_ALLOW_PRIVATE: 'true',
  RENOVA_WEBHOOK_BASE_DELAY_MS: '20',
  RENOVA_WEBHOOK_MAX_DELAY_MS: '80',
  RENOVA_WEBHOOK_MAX_ATTEMPTS: '3',
  RENOVA_WEBHOOK_POLL_MS: '25',
};
/** The receivers below listen on http://127.0.0.1: the development setting, set explicitly. */
const LOOPBACK_RECEIVER = webhookTargetPolicy({ allowPrivate: true });

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** A webhook receiver: answers with the queued statuses (then 200) and records every request. */
class Receiver {
  readonly received: Received[] = [];
  statuses: number[] = [];
  #server: Server;
  #waiters: { count: number; resolve: () => void }[] = [];
  url = '';

  constructor() {
    this.#server = createServer((request, response) => {
      let raw = '';
      request.on('data', (chunk) => {
        raw += chunk;
      });
      request.on('end', () => {
        this.received.push({ url: request.url ?? '', headers: request.headers, body: JSON.parse(raw) });
        response.statusCode = this.statuses.shift() ?? 200;
        response.end('ok');
        for (const w of this.#waiters.filter((w) => this.received.length >= w.count)) w.resolve();
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hooks/mp?source=renova`;
  }

  /** Resolves once `count` requests have arrived (no timing assumption: the test runner's timeout bounds it). */
  waitFor(count: number): Promise<void> {
    if (this.received.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * What a receiver does, written from Mercado Pago's documentation rather than with Renova's code:
 * take `ts` and `v1` from x-signature, build `id:<data.id>;request-id:<x-request-id>;ts:<ts>;`
 * with data.id from the query string, HMAC-SHA256 it with the secret, compare.
 */
function receiverVerifies(secret: string, received: Received): boolean {
  const signature = String(received.headers['x-signature'] ?? '');
  const requestId = String(received.headers['x-request-id'] ?? '');
  const dataId = new URL(received.url, 'http://receiver').searchParams.get('data.id');
  let ts = '';
  let v1 = '';
  for (const part of signature.split(',')) {
    const [key, value] = part.split('=').map((s) => s.trim());
    if (key === 'ts') ts = value ?? '';
    if (key === 'v1') v1 = value ?? '';
  }
  const manifest = `id:${dataId};request-id:${requestId};ts:${ts};`;
  const expected = createHmac('sha256', secret).update(manifest).digest('hex');
  return v1.length === expected.length && timingSafeEqual(Buffer.from(v1), Buffer.from(expected));
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function seed(services: Services, notificationUrl: string) {
  const owner = await services.accounts.createUser({ email: `owner-${Math.random()}@example.com` });
  const seller = await services.accounts.createUser({ email: `seller-${Math.random()}@example.com` });
  const app = createdApplicationView(
    await services.applications.create({
      name: 'Webhook App',
      ownerUserId: owner.id,
      redirectUris: ['https://integrator.example.com/callback'],
      notificationUrl,
    }),
  );
  return { sellerId: seller.id, app };
}

for (const factory of storageFactories) {
  describe(`mp-connect webhooks on ${factory.name}`, () => {
    let receiver: Receiver;
    let testStorage: TestStorage;
    let services: Services;

    before(async () => {
      receiver = new Receiver();
      await receiver.start();
      testStorage = await factory.create();
      services = createServices({
        storage: testStorage.storage,
        serverKey: Buffer.alloc(32, 9),
        webhookPolicy: FAST,
        webhookTargets: LOOPBACK_RECEIVER,
      });
      services.webhooks.start();
    });
    after(async () => {
      await services.webhooks.stop();
      await testStorage.cleanup();
      await receiver.close();
    });

    test('delivers application.authorized once per new grant, signed so a receiver can verify it', async () => {
      const start = receiver.received.length;
      const { sellerId, app } = await seed(services, receiver.url);
      issuedCodeView(await services.consent.authorize({ clientId: app.client_id, userId: sellerId }));
      await receiver.waitFor(start + 1);
      const got = receiver.received[start] as Received;

      const url = new URL(got.url, 'http://receiver');
      assert.equal(url.pathname, '/hooks/mp');
      assert.equal(url.searchParams.get('source'), 'renova');
      assert.equal(url.searchParams.get('data.id'), String(sellerId));
      assert.equal(url.searchParams.get('type'), 'mp-connect');
      assert.equal(got.headers['content-type'], 'application/json');
      assert.match(String(got.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      assert.match(String(got.headers['x-signature']), /^ts=\d+,v1=[0-9a-f]{64}$/);
      assert.equal(receiverVerifies(app.webhook_secret, got), true);
      assert.equal(receiverVerifies('not-the-secret', got), false);

      const { id, date_created, ...rest } = got.body;
      assert.equal(typeof id, 'number');
      assert.match(String(date_created), /^\d{4}-\d\d-\d\dT/);
      assert.deepEqual(rest, {
        live_mode: true,
        type: 'mp-connect',
        action: 'application.authorized',
        application_id: app.client_id,
        user_id: sellerId,
        api_version: 'v1',
        data: { id: String(sellerId) },
      });

      // A re-consent of an active grant is not news: no second event.
      issuedCodeView(await services.consent.authorize({ clientId: app.client_id, userId: sellerId }));
      const events = (await services.storage.listWebhookEvents({ limit: 100 })).filter(
        (e) => e.clientId === app.client_id,
      );
      assert.equal(events.length, 1);
      await until(
        async () => (await services.storage.listWebhookEvents({ limit: 100 }))[0]?.status === 'delivered',
      );
    });

    test('delivers application.deauthorized when the grant is revoked', async () => {
      const { sellerId, app } = await seed(services, receiver.url);
      issuedCodeView(await services.consent.authorize({ clientId: app.client_id, userId: sellerId }));
      await until(async () => receiver.received.some((r) => r.body.application_id === app.client_id));
      const start = receiver.received.length;
      await services.consent.revokeGrant(app.client_id, sellerId);
      await receiver.waitFor(start + 1);
      const got = receiver.received[start] as Received;
      assert.equal(got.body.action, 'application.deauthorized');
      assert.equal(got.body.user_id, sellerId);
      assert.equal(receiverVerifies(app.webhook_secret, got), true);
    });

    test('signs with a rotated webhook secret from the next delivery on', async () => {
      const { sellerId, app } = await seed(services, receiver.url);
      const { webhook_secret: rotated } = webhookSecretView(
        await services.applications.rotateWebhookSecret(app.client_id),
      );
      assert.match(rotated, /^[0-9a-f]{64}$/);
      assert.notEqual(rotated, app.webhook_secret);
      const start = receiver.received.length;
      issuedCodeView(await services.consent.authorize({ clientId: app.client_id, userId: sellerId }));
      await receiver.waitFor(start + 1);
      const got = receiver.received[start] as Received;
      assert.equal(receiverVerifies(rotated, got), true);
      assert.equal(receiverVerifies(app.webhook_secret, got), false);
      await assert.rejects(services.applications.rotateWebhookSecret('1234567890123456'), /does not exist/);
    });

    test('retries after the receiver fails, with the same event id and a new request id', async () => {
      const start = receiver.received.length;
      receiver.statuses = [500, 503];
      const { sellerId, app } = await seed(services, receiver.url);
      issuedCodeView(await services.consent.authorize({ clientId: app.client_id, userId: sellerId }));
      await receiver.waitFor(start + 3);
      const [first, second, third] = receiver.received.slice(start) as [Received, Received, Received];
      assert.equal(first.body.id, second.body.id);
      assert.equal(second.body.id, third.body.id);
      assert.notEqual(first.headers['x-request-id'], second.headers['x-request-id']);
      for (const r of [first, second, third]) assert.equal(receiverVerifies(app.webhook_secret, r), true);
      await until(async () => {
        const [event] = (await services.storage.listWebhookEvents({ limit: 100 })).filter(
          (e) => e.clientId === app.client_id,
        );
        return event?.status === 'delivered';
      });
      const [event] = (await services.storage.listWebhookEvents({ limit: 100 })).filter(
        (e) => e.clientId === app.client_id,
      );
      assert.equal(event?.attempts, 3);
      assert.equal(event?.lastStatus, 200);
    });

    test('marks an event dead after the last attempt, and an operator retry delivers it', async () => {
      const start = receiver.received.length;
      receiver.statuses = [500, 500, 500];
      const { sellerId, app } = await seed(services, receiver.url);
      issuedCodeView(await services.consent.authorize({ clientId: app.client_id, userId: sellerId }));
      const mine = async () =>
        (await services.storage.listWebhookEvents({ limit: 100 })).find((e) => e.clientId === app.client_id);
      await until(async () => (await mine())?.status === 'dead');
      const dead = await mine();
      assert.equal(dead?.attempts, FAST.maxAttempts);
      assert.equal(dead?.lastStatus, 500);
      assert.equal(dead?.lastError, 'receiver answered HTTP 500');
      assert.equal(receiver.received.length - start, 3);
      assert.equal(await services.storage.retryWebhookEvent(dead?.id ?? 0, Date.now()), true);
      services.webhooks.nudge();
      await until(async () => (await mine())?.status === 'delivered');
    });

    test('leases an event to one dispatcher at a time', async () => {
      const other = await factory.create();
      try {
        const s = createServices({
          storage: other.storage,
          serverKey: Buffer.alloc(32, 9),
          webhookTargets: LOOPBACK_RECEIVER,
        });
        const { sellerId, app } = await seed(s, 'http://127.0.0.1:9/never');
        issuedCodeView(await s.consent.authorize({ clientId: app.client_id, userId: sellerId }));
        const now = Date.now();
        const [a, b] = await Promise.all([
          other.storage.claimDueWebhookEvents({ now, leaseMs: 60_000, limit: 10 }),
          other.storage.claimDueWebhookEvents({ now, leaseMs: 60_000, limit: 10 }),
        ]);
        assert.equal(a.length + b.length, 1);
        assert.equal(
          (await other.storage.claimDueWebhookEvents({ now: now + 60_000, leaseMs: 1, limit: 10 })).length,
          1,
          'an expired lease makes the event claimable again',
        );
      } finally {
        await other.cleanup();
      }
    });
  });
}

describe('webhook delivery across a restart', () => {
  let dir: string;
  let receiver: Receiver;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'renova-webhooks-'));
    receiver = new Receiver();
    await receiver.start();
  });
  after(async () => {
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('an event queued before a restart is delivered by the next server process', async () => {
    const db = join(dir, 'renova.db');
    const env = { ...process.env, ...FAST_ENV, RENOVA_SECRET_KEY: 'ab'.repeat(32) };
    // First process: the change and its event commit, then the server stops before delivering.
    const first = await startServer({ host: '127.0.0.1', port: 0, db, logger: false, webhooks: false }, env);
    const { sellerId, app } = await seed(first.services, receiver.url);
    issuedCodeView(await first.services.consent.authorize({ clientId: app.client_id, userId: sellerId }));
    await first.close();
    assert.equal(receiver.received.length, 0);

    const list = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'webhooks', 'list', '--json', '--db', db],
      { env, cwd: join(import.meta.dirname, '../..') },
    );
    const listed = JSON.parse(list.stdout) as { status: string; action: string; attempts: number }[];
    assert.deepEqual(
      listed.map((e) => [e.status, e.action, e.attempts]),
      [['pending', 'application.authorized', 0]],
    );

    const second = await startServer({ host: '127.0.0.1', port: 0, db, logger: false }, env);
    try {
      await receiver.waitFor(1);
      assert.equal(receiverVerifies(app.webhook_secret, receiver.received[0] as Received), true);
      await until(
        async () =>
          (await second.services.storage.listWebhookEvents({ limit: 1 }))[0]?.status === 'delivered',
      );
    } finally {
      await second.close();
    }
  });
});

describe('retry schedule', () => {
  const policy: WebhookPolicy = {
    baseDelayMs: 10_000,
    maxDelayMs: 3_600_000,
    maxAttempts: 20,
    timeoutMs: 1,
    pollMs: 1,
  };

  test('doubles after each failure, with jitter between half and the full delay, capped at one hour', () => {
    assert.equal(nextRetryDelay(policy, 1, 0), 5_000);
    assert.equal(nextRetryDelay(policy, 1, 1), 10_000);
    assert.equal(nextRetryDelay(policy, 3, 0), 20_000);
    assert.equal(nextRetryDelay(policy, 3, 1), 40_000);
    assert.equal(nextRetryDelay(policy, 19, 1), 3_600_000);
    assert.equal(nextRetryDelay(policy, 19, 0), 1_800_000);
  });
});
