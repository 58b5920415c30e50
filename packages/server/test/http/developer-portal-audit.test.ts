import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Harness, harness } from '../helpers/fixtures.ts';
import { Browser, secretOf, validForm } from '../helpers/portal-browser.ts';
import { storageFactories } from '../helpers/storages.ts';

/**
 * What an owner does in the developer portal reaches the audit trail as that owner (actor
 * `seller`, their user id, the request's id and address), never as `system`, and never with a
 * secret in it.
 */
for (const factory of storageFactories) {
  describe(`developer portal actions in the audit trail on ${factory.name}`, () => {
    let h: Harness;
    before(async () => {
      h = await harness(factory, { realClock: true });
    });
    after(async () => h.close());

    test('create, rotate, change, revoke a seller, test user, delete: each recorded with the owner as actor', async () => {
      const owner = await h.services.accounts.createUser({
        email: 'audited-owner@example.com',
        password: 'correct horse',
        nickname: 'AUDITED',
      });
      const browser = new Browser(h.app);
      await browser.signIn('audited-owner@example.com');

      await browser.get('/developers/applications/new');
      const created = await browser.post(
        '/developers/applications',
        validForm({ pkce_required: [], notification_url: 'https://hooks.acme.example/renova' }),
      );
      assert.equal(created.statusCode, 303, created.body);
      const clientId = /applications\/(\d{16})\/reveal$/.exec(String(created.headers.location))?.[1];
      assert.ok(clientId);
      const revealed = await browser.get(String(created.headers.location));
      const secrets = [secretOf(revealed.body, 'client-secret'), secretOf(revealed.body, 'webhook-secret')];

      const base = `/developers/applications/${clientId}`;
      await browser.get(base);
      assert.equal(
        (await browser.post(`${base}/client-secret`, { overlap_seconds: '3600' })).statusCode,
        303,
      );
      secrets.push(secretOf((await browser.get(`${base}/reveal`)).body, 'client-secret'));
      await browser.get(base);
      assert.equal((await browser.post(`${base}/webhook-secret`, {})).statusCode, 303);
      secrets.push(secretOf((await browser.get(`${base}/reveal`)).body, 'webhook-secret'));
      await browser.get(`${base}/settings`);
      const changed = await browser.post(
        `${base}/settings`,
        validForm({
          name: 'Renamed Store Sync',
          pkce_required: [],
          notification_url: 'https://hooks.acme.example/renova',
        }),
      );
      assert.equal(changed.statusCode, 303, changed.body);

      const seller = await h.services.accounts.createUser({ email: 'audited-seller@example.com' });
      await h.services.consent.authorize({ clientId, userId: seller.id });
      await browser.get(`${base}/sellers`);
      const revoked = await browser.post(`${base}/sellers/revoke`, { user_id: String(seller.id) });
      assert.equal(revoked.statusCode, 303, revoked.body);
      // The consent queued an application.authorized delivery: the owner retries it.
      const [delivery] = await h.services.webhookOutbox.listForApplication(clientId, { limit: 1 });
      assert.ok(delivery, 'the consent queued a delivery');
      await browser.get(`${base}/webhooks`);
      const retried = await browser.post(`${base}/webhooks/retry`, { event_id: String(delivery?.id) });
      assert.equal(retried.statusCode, 303, retried.body);

      await browser.get(`${base}/testing`);
      const testUser = await browser.post(`${base}/testing/users`, { site_id: 'MLA', description: 'qa' });
      assert.equal(testUser.statusCode, 303, testUser.body);

      await browser.get(`${base}/delete`);
      const deleted = await browser.post(`${base}/delete`, { confirm_name: 'Renamed Store Sync' });
      assert.equal(deleted.statusCode, 303, deleted.body);

      const { events } = await h.services.audit.list({ clientId, limit: 200 });
      const byType = new Map(events.map((e) => [e.type, e]));
      for (const type of [
        'application.created',
        'client_secret.rotated',
        'webhook_secret.rotated',
        'application.changed',
        'grant.revoked',
        'webhook.retried',
        'user.created',
        'application.deleted',
      ] as const) {
        const event = byType.get(type);
        assert.ok(event, `${type} is recorded (got ${[...byType.keys()].join(', ')})`);
        assert.equal(event.actor, 'seller', `${type} actor`);
        assert.equal(event.actorId, String(owner.id), `${type} actor id`);
        assert.match(String(event.requestId), /^[0-9a-f-]{36}$/, `${type} request id`);
        assert.equal(event.remoteAddress, '127.0.0.1', `${type} address`);
      }
      const text = JSON.stringify(events);
      for (const secret of secrets) {
        assert.ok(secret && secret.length >= 16);
        assert.ok(!text.includes(secret), 'no secret in the audit trail');
      }
    });
  });
}
