import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  type FetchLike,
  type NotificationEvent,
  type NotificationResult,
  OAuth,
  ReauthorizationRequiredError,
  SqliteTokenStore,
  TokenKeeper,
} from '../src/index.ts';
import { authorize, createUser, type RenovaServer, startServer } from './helpers/server.ts';

/**
 * A real Renova process delivering real webhooks to a `node:http` receiver that hands them to
 * `keeper.handleNotification`, exactly as docs/client-guide.md shows.
 */
describe('webhooks from a real Renova server, received by TokenKeeper.handleNotification', () => {
  let server: RenovaServer;
  let receiver: Server;
  let receiverUrl = '';
  let dir: string;
  let keeper: TokenKeeper | undefined;
  const answered: NotificationResult[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'renova-client-webhooks-'));
    server = await startServer({
      // The receiver is on 127.0.0.1 over http: the development setting allows it.
      RENOVA_WEBHOOK_ALLOW_PRIVATE: 'true',
      RENOVA_WEBHOOK_BASE_DELAY_MS: '20',
      RENOVA_WEBHOOK_MAX_DELAY_MS: '80',
      RENOVA_WEBHOOK_POLL_MS: '25',
    });
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        if (keeper === undefined) {
          res.writeHead(503).end();
          return;
        }
        const result = await keeper.handleNotification({
          headers: req.headers,
          body: Buffer.concat(chunks),
          url: req.url ?? '/',
        });
        answered.push(result);
        res.writeHead(result.status, { 'content-type': 'application/json' }).end(JSON.stringify(result.body));
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/mp?source=renova`;
  });

  after(async () => {
    await keeper?.stop();
    receiver.closeAllConnections();
    await new Promise((r) => receiver.close(r));
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('authorized is reported, deauthorized marks the seller with no refresh, and forgeries are refused', {
    timeout: 60_000,
  }, async () => {
    const owner = await createUser(server);
    const redirectUri = 'https://integrator.example/callback';
    const app = await server.admin<{ client_id: string; client_secret: string; webhook_secret: string }>(
      'POST',
      '/admin/applications',
      {
        name: 'webhook e2e',
        owner_user_id: owner,
        redirect_uris: [redirectUri],
        notification_url: receiverUrl,
      },
    );
    assert.equal(typeof app.webhook_secret, 'string');
    let tokenRequests = 0;
    const counting: FetchLike = (url, init) => {
      tokenRequests++;
      return fetch(url, init);
    };
    const store = new SqliteTokenStore({ path: join(dir, 'tokens.db') });
    const k = new TokenKeeper({
      oauth: new OAuth({ baseUrl: server.baseUrl, fetch: counting }),
      clientId: app.client_id,
      clientSecret: app.client_secret,
      store,
      sealing: { keys: [{ id: 'e2e', key: randomBytes(32) }] },
      webhooks: { secret: app.webhook_secret },
    });
    keeper = k;
    const events: NotificationEvent[] = [];
    const waitFor = (action: string) =>
      new Promise<NotificationEvent>((resolve) => {
        const found = events.find((e) => e.notification.action === action);
        if (found) return resolve(found);
        const off = k.on('notification', (e) => {
          if (e.notification.action === action) {
            off();
            resolve(e);
          }
        });
      });
    k.on('notification', (e) => {
      events.push(e);
    });

    const seller = await createUser(server);
    const authorizedSeen = waitFor('application.authorized');
    const { code } = await authorize(server, app.client_id, seller);
    const authorized = await authorizedSeen;
    assert.equal(authorized.outcome, 'reported');
    assert.equal(authorized.notification.userId, seller);
    assert.equal(authorized.notification.applicationId, app.client_id);

    const answer = await k.save(
      seller,
      await new OAuth({ baseUrl: server.baseUrl }).create({
        body: { client_id: app.client_id, client_secret: app.client_secret, code, redirect_uri: redirectUri },
      }),
    );
    assert.equal(await k.getAccessToken(seller), answer.accessToken);
    const before = tokenRequests;

    const deauthorizedSeen = waitFor('application.deauthorized');
    await server.admin('DELETE', `/admin/grants/${app.client_id}/${seller}`);
    const deauthorized = await deauthorizedSeen;
    assert.equal(deauthorized.outcome, 'marked');
    await assert.rejects(k.getAccessToken(seller), (e: unknown) => {
      assert.ok(e instanceof ReauthorizationRequiredError);
      assert.match(e.reason, /application\.deauthorized/);
      return true;
    });
    assert.equal(tokenRequests, before, 'no refresh was spent to discover the revocation');
    assert.ok(
      answered.every((r) => r.status === 200),
      JSON.stringify(answered.map((r) => r.status)),
    );

    // A forged delivery to the same receiver: the right shape, a made-up signature.
    const forged = await fetch(`${receiverUrl}&data.id=${seller}&type=mp-connect`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-request-id': globalThis.crypto.randomUUID(),
        'x-signature': `ts=${Math.floor(Date.now() / 1000)},v1=${'ab'.repeat(32)}`,
      },
      body: JSON.stringify({ ...deauthorizedBody(deauthorized), action: 'application.authorized' }),
    });
    assert.equal(forged.status, 401);
    assert.equal(((await forged.json()) as { error: string }).error, 'invalid_signature');
    await store.close();
  });
});

function deauthorizedBody(e: NotificationEvent): Record<string, unknown> {
  return {
    id: e.notification.id,
    live_mode: true,
    type: 'mp-connect',
    action: e.notification.action,
    application_id: e.notification.applicationId,
    user_id: e.notification.userId,
    api_version: 'v1',
    date_created: new Date(e.notification.dateCreated).toISOString(),
    data: { id: e.notification.dataId },
  };
}
