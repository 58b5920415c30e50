import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  MemoryTokenStore,
  type NotificationEvent,
  OAuth,
  ReauthorizationRequiredError,
  type ReauthorizationRequiredEvent,
  StoreError,
  TokenKeeper,
  type TokenKeeperOptions,
  type TokenStore,
} from '../src/index.ts';
import { type FakeServer, startFakeServer } from './helpers/fake-server.ts';
import { wrapStore } from './helpers/tokens.ts';

const SECRET = 'whsec-keeper-tests-0123456789abcdef';
let fake: FakeServer;

function keeper(store: TokenStore, extra: Partial<TokenKeeperOptions> = {}): TokenKeeper {
  return new TokenKeeper({
    oauth: new OAuth({ baseUrl: fake.baseUrl, timeout: 2_000 }),
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    store,
    webhooks: { secret: SECRET },
    ...extra,
  });
}

interface Delivery {
  headers: Record<string, string>;
  body: string;
  url: string;
}

/** A delivery exactly as Renova's dispatcher builds it (CONTRACT.md §4.6). */
function delivery(
  userId: number,
  action: 'application.authorized' | 'application.deauthorized',
  extra: { id?: number; clientId?: string; dateCreated?: number; secret?: string; ts?: number } = {},
): Delivery {
  const body = JSON.stringify({
    id: extra.id ?? Math.floor(Math.random() * 1e9) + 1,
    live_mode: true,
    type: 'mp-connect',
    action,
    application_id: extra.clientId ?? fake.clientId,
    user_id: userId,
    api_version: 'v1',
    date_created: new Date(extra.dateCreated ?? Date.now()).toISOString(),
    data: { id: String(userId) },
  });
  const requestId = randomUUID();
  const ts = extra.ts ?? Math.floor(Date.now() / 1000);
  const v1 = createHmac('sha256', extra.secret ?? SECRET)
    .update(`id:${userId};request-id:${requestId};ts:${ts};`)
    .digest('hex');
  return {
    headers: {
      'content-type': 'application/json',
      'x-request-id': requestId,
      'x-signature': `ts=${ts},v1=${v1}`,
    },
    body,
    url: `/hooks/mp?data.id=${userId}&type=mp-connect`,
  };
}

before(async () => {
  fake = await startFakeServer();
});
after(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.requests.length = 0;
});

describe('TokenKeeper.handleNotification', () => {
  it('application.deauthorized marks the seller at once: no refresh, ReauthorizationRequiredError, events', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    await k.save(11, fake.issue(11) as never);
    const reauth: ReauthorizationRequiredEvent[] = [];
    const notes: NotificationEvent[] = [];
    k.on('reauthorization_required', (e) => {
      reauth.push(e);
    });
    k.on('notification', (e) => {
      notes.push(e);
    });
    await new Promise((r) => setTimeout(r, 5));
    const result = await k.handleNotification(delivery(11, 'application.deauthorized'));
    assert.equal(result.status, 200);
    assert.equal(result.outcome, 'marked');
    assert.deepEqual(result.body, { received: true, action: 'application.deauthorized', outcome: 'marked' });
    assert.equal((await store.get(11))?.status, 'reauthorization_required');
    await assert.rejects(k.getAccessToken(11), (e: unknown) => {
      assert.ok(e instanceof ReauthorizationRequiredError);
      assert.equal(e.userId, 11);
      assert.match(e.reason, /application\.deauthorized/);
      return true;
    });
    await assert.rejects(k.refresh(11), ReauthorizationRequiredError);
    assert.equal(fake.requests.length, 0, 'not one refresh was spent to find out');
    assert.equal(reauth.length, 1);
    assert.equal(reauth[0]?.userId, 11);
    assert.equal(notes.length, 1);
    assert.equal(notes[0]?.outcome, 'marked');
    assert.equal(notes[0]?.notification.action, 'application.deauthorized');
    assert.equal(k.metrics().reauthorizationRequired, 1);
    // A second deauthorization (a retry) changes nothing.
    const again = await k.handleNotification(delivery(11, 'application.deauthorized'));
    assert.equal(again.outcome, 'already_marked');
    assert.equal(reauth.length, 1);
    // A new authorization saved afterwards lifts the mark.
    await k.save(11, fake.issue(11) as never);
    assert.match(await k.getAccessToken(11), /^APP_USR-/);
  });

  it('application.authorized is reported as an event and changes nothing stored', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    const saved = await k.save(12, fake.issue(12) as never);
    const notes: NotificationEvent[] = [];
    k.on('notification', (e) => {
      notes.push(e);
    });
    const d = delivery(12, 'application.authorized', { id: 77 });
    const result = await k.handleNotification(d);
    assert.equal(result.status, 200);
    assert.equal(result.outcome, 'reported');
    assert.equal(result.notification?.id, 77);
    assert.equal(result.notification?.userId, 12);
    assert.equal(notes.length, 1);
    assert.equal(notes[0]?.notification.action, 'application.authorized');
    assert.deepEqual(await store.get(12), saved);
  });

  it('a deauthorization older than the last stored authorization is not applied (out-of-order delivery)', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    const revokedAt = Date.now() - 60_000;
    await k.save(13, fake.issue(13) as never);
    const result = await k.handleNotification(
      delivery(13, 'application.deauthorized', { dateCreated: revokedAt }),
    );
    assert.equal(result.status, 200);
    assert.equal(result.outcome, 'newer_authorization');
    assert.equal((await store.get(13))?.status, 'active');
  });

  it('a deauthorization for a seller the store does not hold is acknowledged', async () => {
    const result = await keeper(new MemoryTokenStore()).handleNotification(
      delivery(14, 'application.deauthorized'),
    );
    assert.equal(result.status, 200);
    assert.equal(result.outcome, 'not_stored');
  });

  it('refuses unsigned, wrongly signed, stale and tampered requests with 401 and changes nothing', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    await k.save(15, fake.issue(15) as never);
    const d = delivery(15, 'application.deauthorized');
    const cases: Delivery[] = [
      { ...d, headers: { 'x-request-id': d.headers['x-request-id'] as string } },
      delivery(15, 'application.deauthorized', { secret: 'not the secret' }),
      delivery(15, 'application.deauthorized', { ts: Math.floor(Date.now() / 1000) - 3600 }),
      delivery(15, 'application.deauthorized', { ts: Math.floor(Date.now() / 1000) + 3600 }),
      { ...d, headers: { ...d.headers, 'x-signature': `${d.headers['x-signature']},v1=${'0'.repeat(64)}` } },
    ];
    for (const bad of cases) {
      const result = await k.handleNotification(bad);
      assert.equal(result.status, 401, JSON.stringify(result.body));
      assert.equal(result.body.error, 'invalid_signature');
      assert.equal(result.body.status, 401);
      assert.deepEqual(result.body.cause, []);
      assert.equal(typeof result.body.message, 'string');
    }
    assert.equal((await store.get(15))?.status, 'active');
  });

  it('refuses a captured request replayed with another body while its signature is fresh', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    await k.save(16, fake.issue(16) as never);
    const original = delivery(16, 'application.authorized', { id: 5 });
    assert.equal((await k.handleNotification(original)).outcome, 'reported');
    // Same signed headers (data.id, request id, ts unchanged), action swapped: the body is not signed.
    const forged = {
      ...original,
      body: original.body.replace('application.authorized', 'application.deauthorized'),
    };
    const result = await k.handleNotification(forged);
    assert.equal(result.status, 401);
    assert.match(String(result.body.message), /already used with another body/);
    assert.equal((await store.get(16))?.status, 'active');
    // The very same request again is a harmless duplicate.
    const dup = await k.handleNotification(original);
    assert.equal(dup.status, 200);
    assert.equal(dup.outcome, 'duplicate');
  });

  it('refuses bodies that are not a notification for this application with 400, whatever they carry', async () => {
    const k = keeper(new MemoryTokenStore());
    const d = delivery(17, 'application.deauthorized');
    const body = JSON.parse(d.body) as Record<string, unknown>;
    const variants: [string | Uint8Array, RegExp][] = [
      ['', /not UTF-8 JSON/],
      ['{', /not UTF-8 JSON/],
      ['[]', /not a JSON object/],
      ['null', /not a JSON object/],
      ['"x"', /not a JSON object/],
      [new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /not UTF-8 JSON/],
      [JSON.stringify({ ...body, type: 'payment' }), /type is not mp-connect/],
      [JSON.stringify({ ...body, action: 'application.exploded' }), /action/],
      [JSON.stringify({ ...body, user_id: '17' }), /user_id/],
      [JSON.stringify({ ...body, user_id: -17 }), /user_id/],
      [JSON.stringify({ ...body, user_id: 1.5 }), /user_id/],
      [JSON.stringify({ ...body, user_id: 2 ** 60 }), /user_id/],
      [JSON.stringify({ ...body, id: 0 }), /id is not/],
      [JSON.stringify({ ...body, data: { id: '18' } }), /does not match user_id/],
      [JSON.stringify({ ...body, data: null }), /data.id is missing/],
      [JSON.stringify({ ...body, application_id: '' }), /application_id/],
      [JSON.stringify({ ...body, date_created: 'yesterday' }), /date_created/],
      [JSON.stringify({ ...body, pad: 'x'.repeat(20_000) }), /larger than/],
    ];
    for (const [raw, reason] of variants) {
      const result = await k.handleNotification({ ...d, body: raw });
      assert.equal(result.status, 400, `${String(raw).slice(0, 40)} → ${result.status}`);
      assert.equal(result.body.error, 'invalid_request');
      assert.match(String(result.body.message), reason);
    }
    // data.id of the query must agree with the body, and appear once.
    for (const url of ['/hooks?data.id=18', '/hooks?data.id=17&data.id=17']) {
      const result = await k.handleNotification({ ...d, url });
      assert.equal(result.status, 400);
      assert.match(String(result.body.message), /data\.id/);
    }
    // Signed with our secret but for another application (a shared secret across apps).
    const other = delivery(17, 'application.deauthorized', { clientId: '1111111111111111' });
    const result = await k.handleNotification(other);
    assert.equal(result.status, 400);
    assert.match(String(result.body.message), /for application 1111111111111111/);
  });

  it('answers 503 (so Renova delivers again) when the store fails, and reports the error', async () => {
    const base = new MemoryTokenStore();
    const k0 = keeper(base);
    await k0.save(19, fake.issue(19) as never);
    let failing = true;
    const store = wrapStore(base, {
      markReauthorizationRequired: async (u, v, r) => {
        if (failing) throw new StoreError('database is down');
        return base.markReauthorizationRequired(u, v, r);
      },
    });
    const k = keeper(store);
    const errors: unknown[] = [];
    k.on('error', (e) => {
      errors.push(e.error);
    });
    const result = await k.handleNotification(delivery(19, 'application.deauthorized'));
    assert.equal(result.status, 503);
    assert.equal(result.body.error, 'temporarily_unavailable');
    assert.ok(errors[0] instanceof StoreError);
    failing = false;
    const retry = await k.handleNotification(delivery(19, 'application.deauthorized'));
    assert.equal(retry.outcome, 'marked');
  });

  it('marks a seller whose sealed row this keeper cannot even open (the grant is gone either way)', async () => {
    const store = new MemoryTokenStore();
    const { randomBytes } = await import('node:crypto');
    await keeper(store, { sealing: { keys: [{ id: 'a', key: randomBytes(32) }] } }).save(
      20,
      fake.issue(20) as never,
    );
    const k = keeper(store, { sealing: { keys: [{ id: 'b', key: randomBytes(32) }] } });
    const result = await k.handleNotification(delivery(20, 'application.deauthorized'));
    assert.equal(result.outcome, 'marked');
    assert.equal((await store.get(20))?.status, 'reauthorization_required');
  });

  it('is a programming error without webhooks.secret, or with a parsed body', async () => {
    const d = delivery(21, 'application.authorized');
    await assert.rejects(
      keeper(new MemoryTokenStore(), { webhooks: undefined }).handleNotification(d),
      /webhooks: \{ secret \}/,
    );
    await assert.rejects(
      keeper(new MemoryTokenStore()).handleNotification({ ...d, body: JSON.parse(d.body) as never }),
      /raw body/,
    );
  });
});
