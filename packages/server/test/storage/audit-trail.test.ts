import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sha256 } from '../../src/core/tokens.ts';
import type {
  AuditContext,
  AuditEventRecord,
  AuditEventType,
  RotateRefreshToken,
  StoragePort,
} from '../../src/storage/contract.ts';
import { Housekeeper } from '../../src/storage/housekeeping.ts';
import { DAY, hash, must, seedGrant, T0 } from '../helpers/seed.ts';
import { memoryFactory, storageFactories, type TestStorage } from '../helpers/storages.ts';

/**
 * The audit trail's storage contract (issue 12 item 1), on SQLite, PostgreSQL and memory: every
 * step that changes state writes exactly its event, in the same atomic step; a step whose
 * precondition fails writes neither change nor event; a step that fails midway leaves neither.
 */

const CTX: AuditContext = {
  actor: 'operator',
  actorId: 'cli',
  requestId: '5b7c0d6e-1111-4222-8333-944455556666',
  remoteAddress: '203.0.113.9',
};

/** Every event, oldest first. */
async function all(storage: StoragePort): Promise<AuditEventRecord[]> {
  return (await storage.listAuditEvents({ limit: 10_000 })).reverse();
}

/** Runs `step` and returns the events it appended, oldest first. */
async function appended(storage: StoragePort, step: () => Promise<unknown>): Promise<AuditEventRecord[]> {
  const before = (await storage.listAuditEvents({ limit: 1 }))[0]?.id ?? 0;
  await step();
  return (await all(storage)).filter((e) => e.id > before);
}

/** Asserts that `step` appended exactly one event of `type`, about `subject`, with CTX's actor. */
async function expectOne(
  storage: StoragePort,
  type: AuditEventType,
  subject: { userId?: number | null; clientId?: string | null; familyId?: number | null },
  step: () => Promise<unknown>,
  context: AuditContext = CTX,
): Promise<AuditEventRecord> {
  const events = await appended(storage, step);
  assert.deepEqual(
    events.map((e) => e.type),
    [type],
    `${type}: exactly one event, got ${events.map((e) => e.type).join(', ')}`,
  );
  const event = events[0] as AuditEventRecord;
  assert.equal(event.actor, context.actor);
  assert.equal(event.actorId, context.actorId);
  assert.equal(event.requestId, context.requestId);
  assert.equal(event.remoteAddress, context.remoteAddress);
  for (const [field, value] of Object.entries(subject)) {
    assert.equal(event[field as keyof AuditEventRecord], value, `${type}: ${field}`);
  }
  return event;
}

async function expectNone(storage: StoragePort, step: () => Promise<unknown>, why: string): Promise<void> {
  const events = await appended(storage, step);
  assert.deepEqual(
    events.map((e) => e.type),
    [],
    why,
  );
}

function rotation(
  refreshTokenId: number,
  refreshHash: Buffer,
  clientId: string,
  now: number,
  overrides: Partial<RotateRefreshToken> = {},
): RotateRefreshToken {
  return {
    refreshTokenId,
    presentedHash: refreshHash,
    clientId,
    requestedScope: null,
    now,
    graceMs: 60_000,
    access: { hash: hash(), issuedAt: now, expiresAt: now + DAY },
    refresh: { hash: hash(), issuedAt: now, expiresAt: now + 180 * DAY },
    replaySeal: randomBytes(60),
    audit: { ...CTX, actor: 'application', actorId: clientId },
    ...overrides,
  };
}

async function exchangeCode(storage: StoragePort, codeId: number, now: number, audit?: AuditContext) {
  const refreshHash = hash();
  const outcome = await storage.exchangeAuthorizationCode({
    codeId,
    now,
    liveMode: true,
    access: { hash: hash(), scope: 'offline_access read write', issuedAt: now, expiresAt: now + DAY },
    refresh: { hash: refreshHash, issuedAt: now, expiresAt: now + 180 * DAY },
    audit,
  });
  return { outcome, refreshHash };
}

async function newCode(
  storage: StoragePort,
  clientId: string,
  userId: number,
  at: number,
  audit?: AuditContext,
) {
  const { codeId } = await storage.recordConsent(
    {
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
    },
    undefined,
    audit,
  );
  return codeId;
}

for (const factory of [...storageFactories, memoryFactory]) {
  describe(`audit trail storage contract on ${factory.name}`, () => {
    let t: TestStorage;
    let storage: StoragePort;
    before(async () => {
      t = await factory.create();
      storage = t.storage;
    });
    after(() => t.cleanup());

    test('users, applications and their secrets: each change writes exactly its event', async () => {
      const owner = await expectOne(storage, 'user.created', {}, () =>
        storage.createUser(
          { email: 'owner@a.test', nickname: 'O', siteId: 'MLA', passwordHash: 'h1', createdAt: T0 },
          CTX,
        ),
      );
      assert.ok(owner.userId !== null);
      await expectNone(
        storage,
        () =>
          storage.createUser(
            { email: 'OWNER@a.test', nickname: 'O', siteId: 'MLA', passwordHash: null, createdAt: T0 },
            CTX,
          ),
        'a taken email creates no user and no event',
      );
      const clientId = '4000000000000001';
      const app = {
        clientId,
        name: 'Audited',
        ownerUserId: owner.userId as number,
        redirectUris: ['https://a.test/cb'],
        scope: 'offline_access read write',
        pkceRequired: false,
        notificationUrl: null,
        webhookSecretSealed: Buffer.alloc(60),
        ownerPublicKey: '00000000-0000-4000-8000-000000000000',
        secretHash: sha256('secret'),
        createdAt: T0,
      };
      const created = await expectOne(
        storage,
        'application.created',
        { clientId, userId: owner.userId },
        () => storage.createApplication(app, CTX),
      );
      assert.equal(created.at, T0);
      // A step that fails midway (a duplicate client id) writes neither the change nor its event.
      const failed = await appended(storage, () =>
        storage.createApplication({ ...app, name: 'Duplicate' }, CTX).then(
          () => assert.fail('a duplicate client id must be refused'),
          () => undefined,
        ),
      );
      assert.deepEqual(failed, []);
      assert.equal(must(await storage.findApplication(clientId)).name, 'Audited');

      await expectOne(storage, 'client_secret.rotated', { clientId }, () =>
        storage.rotateClientSecret(clientId, sha256('s2'), T0 + 1000, T0 + 1, CTX),
      );
      await expectNone(
        storage,
        () => storage.rotateClientSecret('4000000000000999', sha256('s3'), T0, T0, CTX),
        'rotating the secret of an unknown application writes nothing',
      );
      const changed = await expectOne(storage, 'application.changed', { clientId }, () =>
        storage.updateApplicationGrantTypes(clientId, ['authorization_code', 'refresh_token'], {
          ...CTX,
          at: T0 + 5,
        }),
      );
      assert.equal(changed.at, T0 + 5, "a step without its own clock records the context's time");
      assert.equal(changed.detail, 'grant_types');
      await expectNone(
        storage,
        () => storage.updateApplicationGrantTypes('4000000000000999', ['refresh_token'], CTX),
        'no application, no change, no event',
      );
      await expectOne(storage, 'webhook_secret.rotated', { clientId }, () =>
        storage.replaceWebhookSecret(clientId, Buffer.alloc(60, 1), CTX),
      );
      await expectNone(
        storage,
        () => storage.replaceWebhookSecret('4000000000000999', Buffer.alloc(60, 1), CTX),
        'no application, no change, no event',
      );
      await expectOne(storage, 'seller.password_rehashed', { userId: owner.userId }, () =>
        storage.updatePasswordHash(owner.userId as number, 'h1', 'h2', CTX),
      );
      await expectNone(
        storage,
        () => storage.updatePasswordHash(owner.userId as number, 'h1', 'h3', CTX),
        'a rehash that lost to a password change writes nothing',
      );
    });

    test('consent, exchange, code reuse, rotation, replay, reuse: each step writes its event', async () => {
      const { clientId, sellerId, codeId } = await seedGrant(storage);
      const app = { ...CTX, actor: 'application' as const, actorId: clientId };
      const seller = { ...CTX, actor: 'seller' as const, actorId: String(sellerId) };

      const first = await exchangeCode(storage, codeId, T0 + 1000, app);
      assert.equal(first.outcome.outcome, 'issued');
      const familyId = first.outcome.outcome === 'issued' ? first.outcome.familyId : 0;
      const exchangeEvents = (await all(storage)).filter(
        (e) => e.type === 'code.exchanged' && e.familyId === familyId,
      );
      assert.equal(exchangeEvents.length, 1);
      assert.equal(exchangeEvents[0]?.userId, sellerId);
      assert.equal(exchangeEvents[0]?.clientId, clientId);

      await expectOne(
        storage,
        'code.reused',
        { userId: sellerId, clientId, familyId },
        () => exchangeCode(storage, codeId, T0 + 2000, app),
        app,
      );
      assert.ok(
        must(
          await storage.findRefreshToken(
            first.outcome.outcome === 'issued' ? first.outcome.refreshTokenId : 0,
          ),
        ).revoked,
      );

      const codeB = await expectOne(
        storage,
        'consent.granted',
        { userId: sellerId, clientId },
        () => newCode(storage, clientId, sellerId, T0 + 3000, seller),
        seller,
      );
      assert.equal(codeB.at, T0 + 3000);
      const codes = await storage.listAuditEvents({ type: 'consent.granted', userId: sellerId, limit: 1 });
      assert.equal(codes.length, 1);
      const codeIdB = await newCode(storage, clientId, sellerId, T0 + 3001, seller);
      const b = await exchangeCode(storage, codeIdB, T0 + 4000, app);
      assert.equal(b.outcome.outcome, 'issued');
      if (b.outcome.outcome !== 'issued') return;
      const famB = b.outcome.familyId;

      // A failed precondition (wrong secret, another client, expired) writes neither change nor event.
      await expectNone(
        storage,
        () =>
          storage.rotateRefreshToken(
            rotation(
              b.outcome.outcome === 'issued' ? b.outcome.refreshTokenId : 0,
              hash(),
              clientId,
              T0 + 5000,
            ),
          ),
        'a wrong secret writes nothing',
      );
      await expectNone(
        storage,
        () =>
          storage.rotateRefreshToken(
            rotation(
              b.outcome.outcome === 'issued' ? b.outcome.refreshTokenId : 0,
              b.refreshHash,
              '4000000000000777',
              T0 + 5000,
            ),
          ),
        "another client's presentation writes nothing",
      );
      await expectNone(
        storage,
        () =>
          storage.rotateRefreshToken(
            rotation(
              b.outcome.outcome === 'issued' ? b.outcome.refreshTokenId : 0,
              b.refreshHash,
              clientId,
              T0 + 200 * DAY,
            ),
          ),
        'an expired token writes nothing',
      );
      const rid = b.outcome.refreshTokenId;
      await expectOne(
        storage,
        'refresh.rotated',
        { userId: sellerId, clientId, familyId: famB },
        () => storage.rotateRefreshToken(rotation(rid, b.refreshHash, clientId, T0 + 6000)),
        app,
      );
      await expectOne(
        storage,
        'refresh.replayed',
        { userId: sellerId, clientId, familyId: famB },
        () => storage.rotateRefreshToken(rotation(rid, b.refreshHash, clientId, T0 + 7000)),
        app,
      );
      await expectOne(
        storage,
        'refresh.reused',
        { userId: sellerId, clientId, familyId: famB },
        () => storage.rotateRefreshToken(rotation(rid, b.refreshHash, clientId, T0 + 7000 + 120_000)),
        app,
      );
      await expectNone(
        storage,
        () => storage.rotateRefreshToken(rotation(rid, b.refreshHash, clientId, T0 + 8000 + 120_000)),
        'a revoked family refuses with nothing written',
      );
    });

    test('revocations, client_credentials, sessions, webhooks retry: each change writes its event', async () => {
      const { clientId, sellerId, codeId } = await seedGrant(storage);
      const app = { ...CTX, actor: 'application' as const, actorId: clientId };
      const first = await exchangeCode(storage, codeId, T0 + 1000, app);
      if (first.outcome.outcome !== 'issued') return assert.fail('exchange');
      const { familyId, accessTokenId } = first.outcome;

      await expectOne(
        storage,
        'token.revoked',
        { userId: sellerId, clientId, familyId },
        () => storage.revokeAccessToken(accessTokenId, T0 + 2000, app),
        app,
      );
      await expectNone(
        storage,
        () => storage.revokeAccessToken(accessTokenId, T0 + 2001, app),
        'already revoked',
      );
      await expectOne(
        storage,
        'family.revoked',
        { userId: sellerId, clientId, familyId },
        () => storage.revokeFamily(familyId, T0 + 3000, app),
        app,
      );
      await expectNone(storage, () => storage.revokeFamily(familyId, T0 + 3001, app), 'already revoked');

      const cc = await expectOne(
        storage,
        'client_credentials.issued',
        { clientId, userId: sellerId },
        () =>
          storage.issueClientCredentialsToken(
            {
              hash: hash(),
              scope: 'read',
              issuedAt: T0 + 4000,
              expiresAt: T0 + DAY,
              clientId,
              userId: sellerId,
              liveMode: true,
            },
            app,
          ),
        app,
      );
      assert.equal(cc.at, T0 + 4000);

      const seller = { ...CTX, actor: 'seller' as const, actorId: String(sellerId) };
      const session = hash();
      await expectOne(
        storage,
        'seller.signed_in',
        { userId: sellerId },
        () =>
          storage.createSellerSession(
            { hash: session, userId: sellerId, createdAt: T0, expiresAt: T0 + DAY },
            seller,
          ),
        seller,
      );
      await expectOne(
        storage,
        'seller.signed_out',
        { userId: sellerId },
        () => storage.deleteSellerSession(session, seller),
        seller,
      );
      await expectNone(storage, () => storage.deleteSellerSession(session, seller), 'no session, no event');

      // The webhook event a revocation queues can be retried by an operator.
      const event = {
        clientId,
        userId: sellerId,
        action: 'application.deauthorized' as const,
        url: 'https://a.test/hook?data.id=1&type=mp-connect',
        createdAt: T0 + 5000,
      };
      await expectOne(
        storage,
        'grant.revoked',
        { userId: sellerId, clientId },
        () => storage.revokeGrant(clientId, sellerId, T0 + 5000, event, seller),
        seller,
      );
      await expectNone(
        storage,
        () => storage.revokeGrant(clientId, sellerId, T0 + 5001, event, seller),
        'no active grant, no change, no event',
      );
      const [queued] = await storage
        .listWebhookEvents({ limit: 100 })
        .then((all) => all.filter((e) => e.clientId === clientId));
      assert.ok(queued);
      const retried = await expectOne(storage, 'webhook.retried', { userId: sellerId, clientId }, () =>
        storage.retryWebhookEvent(queued.id, T0 + 6000, undefined, CTX),
      );
      assert.equal(retried.detail, `event ${queued.id}`);
      await expectNone(
        storage,
        () => storage.retryWebhookEvent(999_999, T0, undefined, CTX),
        'unknown event',
      );
    });

    test('a step without a context is recorded as the system', async () => {
      const { clientId } = await seedGrant(storage);
      const events = await appended(storage, () =>
        storage.rotateClientSecret(clientId, sha256('x'), T0, T0 + 9),
      );
      assert.equal(events.length, 1);
      assert.equal(events[0]?.actor, 'system');
      assert.equal(events[0]?.actorId, null);
      assert.equal(events[0]?.requestId, null);
    });

    test('50 concurrent refreshes of one token: exactly one refresh.rotated, the rest replayed', async () => {
      const { clientId, codeId } = await seedGrant(storage);
      const issued = await exchangeCode(storage, codeId, T0 + 1000);
      if (issued.outcome.outcome !== 'issued') return assert.fail('exchange');
      const { refreshTokenId, familyId } = issued.outcome;
      const outcomes = await Promise.all(
        Array.from({ length: 50 }, () =>
          storage.rotateRefreshToken(rotation(refreshTokenId, issued.refreshHash, clientId, T0 + 2000)),
        ),
      );
      const events = (await all(storage)).filter(
        (e) => e.familyId === familyId && e.type.startsWith('refresh.'),
      );
      const count = (type: string) => events.filter((e) => e.type === type).length;
      assert.equal(outcomes.filter((o) => o.outcome === 'rotated').length, 1);
      assert.equal(count('refresh.rotated'), 1);
      assert.equal(count('refresh.replayed'), outcomes.filter((o) => o.outcome === 'replayed').length);
      assert.equal(count('refresh.replayed'), 49);
      assert.equal(events.length, 50);
    });

    test('listing: filters combine, newest first, keyset pages of stable content', async () => {
      const base = T0 + 100 * DAY;
      const add = (type: AuditEventType, userId: number | null, clientId: string | null, at: number) =>
        storage.appendAuditEvent({
          at,
          type,
          actor: 'system',
          actorId: null,
          userId,
          clientId,
          familyId: null,
          requestId: null,
          remoteAddress: null,
          detail: null,
        });
      await add('consent.denied', 900_001, '4100000000000001', base);
      await add('seller.sign_in_failed', 900_001, null, base + 1);
      await add('consent.denied', 900_002, '4100000000000001', base + 2);
      await add('consent.denied', 900_001, '4100000000000002', base + 3);
      const mine = await storage.listAuditEvents({ userId: 900_001, limit: 10 });
      assert.deepEqual(
        mine.map((e) => e.at),
        [base + 3, base + 1, base],
      );
      const denied = await storage.listAuditEvents({ userId: 900_001, type: 'consent.denied', limit: 10 });
      assert.deepEqual(
        denied.map((e) => e.clientId),
        ['4100000000000002', '4100000000000001'],
      );
      const ofClient = await storage.listAuditEvents({ clientId: '4100000000000001', limit: 10 });
      assert.deepEqual(
        ofClient.map((e) => e.userId),
        [900_002, 900_001],
      );
      const since = await storage.listAuditEvents({ since: base + 2, limit: 10 });
      assert.ok(since.every((e) => e.at >= base + 2));
      assert.equal(since.filter((e) => e.userId !== null && e.userId >= 900_001).length, 2);
      const page1 = await storage.listAuditEvents({ userId: 900_001, limit: 2 });
      const page2 = await storage.listAuditEvents({
        userId: 900_001,
        limit: 2,
        beforeId: page1[1]?.id as number,
      });
      assert.deepEqual(
        [...page1, ...page2].map((e) => e.id),
        mine.map((e) => e.id),
      );
    });

    test('retention: purged oldest first in bounded batches, by the housekeeper too', async () => {
      const old = T0 - 1000 * DAY;
      for (let i = 0; i < 5; i++) {
        await storage.appendAuditEvent({
          at: old + i,
          type: 'consent.denied',
          actor: 'system',
          actorId: null,
          userId: 990_000 + i,
          clientId: null,
          familyId: null,
          requestId: null,
          remoteAddress: null,
          detail: null,
        });
      }
      const total = (await all(storage)).length;
      assert.equal(await storage.purgeAuditEvents({ before: old + 2, limit: 1 }), 1);
      assert.equal(
        await storage.purgeAuditEvents({ before: old + 2, limit: 5 }),
        1,
        'only events older than before',
      );
      assert.equal((await all(storage)).length, total - 2);
      assert.deepEqual(
        (await storage.listAuditEvents({ userId: 990_000, limit: 5 })).length,
        0,
        'the oldest went first',
      );
      const housekeeper = new Housekeeper({
        storage,
        batchSize: 2,
        maxBatchesPerRound: 10,
        auditRetentionMs: 999 * DAY,
        now: () => T0,
      });
      const totals = await housekeeper.runOnce();
      assert.equal(totals.auditEvents, 3, 'the three remaining old events, in batches of two');
      assert.equal((await all(storage)).length, total - 5);
      const none = await new Housekeeper({ storage, now: () => T0 }).runOnce();
      assert.equal(none.auditEvents, undefined, 'without a retention, the trail is left alone');
    });
  });
}
