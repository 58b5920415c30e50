import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { StoragePort } from '../../src/storage/contract.ts';
import { Housekeeper } from '../../src/storage/housekeeping.ts';
import { DAY, hash, seedGrant, T0 } from '../helpers/seed.ts';
import { storageFactories, type TestStorage } from '../helpers/storages.ts';

/** A grant with one exchanged code; tokens live `lifetimeMs`. */
async function family(storage: StoragePort, lifetimeMs: number) {
  const { clientId, sellerId: userId, codeId } = await seedGrant(storage);
  const refreshHash = hash();
  const issued = await storage.exchangeAuthorizationCode({
    codeId,
    now: T0,
    liveMode: true,
    access: { hash: hash(), scope: 'read', issuedAt: T0, expiresAt: T0 + lifetimeMs },
    refresh: { hash: refreshHash, issuedAt: T0, expiresAt: T0 + lifetimeMs },
  });
  if (issued.outcome !== 'issued') throw new Error('exchange failed');
  return { codeId, clientId, userId, refreshHash, ...issued };
}

async function rotate(
  storage: StoragePort,
  presented: { refreshTokenId: number; refreshHash: Buffer; clientId: string },
  now: number,
  lifetimeMs: number,
) {
  const refreshHash = hash();
  const result = await storage.rotateRefreshToken({
    refreshTokenId: presented.refreshTokenId,
    presentedHash: presented.refreshHash,
    clientId: presented.clientId,
    requestedScope: 'read',
    now,
    graceMs: 60_000,
    access: { hash: hash(), issuedAt: now, expiresAt: now + lifetimeMs },
    refresh: { hash: refreshHash, issuedAt: now, expiresAt: now + lifetimeMs },
    replaySeal: Buffer.alloc(48),
  });
  if (result.outcome !== 'rotated') throw new Error(`expected a rotation, got ${result.outcome}`);
  return { ...result, refreshHash, clientId: presented.clientId };
}

for (const factory of storageFactories) {
  describe(`housekeeping on ${factory.name}`, () => {
    let t: TestStorage;
    let storage: StoragePort;
    before(async () => {
      t = await factory.create();
      storage = t.storage;
    });
    after(async () => t.cleanup());

    test('purges expired codes, access tokens and refresh tokens in bounded batches and keeps the rest', async () => {
      const short = await family(storage, DAY);
      const shortNext = await rotate(storage, short, T0 + 1000, DAY);
      const long = await family(storage, 180 * DAY);
      const longNext = await rotate(storage, long, T0 + 1000, 180 * DAY);
      const now = T0 + 2 * DAY;

      // limit 1: each call deletes at most one row per table and says whether more is left.
      const first = await storage.purgeExpired({ now, codeGraceMs: 60_000, limit: 1 });
      assert.deepEqual(first, { codes: 1, accessTokens: 1, refreshTokens: 1, webhookEvents: 0, more: true });
      let rest = { codes: 0, accessTokens: 0, refreshTokens: 0 };
      for (;;) {
        const r = await storage.purgeExpired({ now, codeGraceMs: 60_000, limit: 1 });
        rest = {
          codes: rest.codes + r.codes,
          accessTokens: rest.accessTokens + r.accessTokens,
          refreshTokens: rest.refreshTokens + r.refreshTokens,
        };
        if (!r.more) break;
      }
      // Both codes expired 10 minutes after T0; the short family's two pairs expired after a day.
      assert.deepEqual(rest, { codes: 1, accessTokens: 1, refreshTokens: 1 });

      assert.equal(await storage.findAuthorizationCode(short.codeId), null);
      assert.equal(await storage.findRefreshToken(short.refreshTokenId), null);
      assert.equal(await storage.findRefreshToken(shortNext.refreshTokenId), null);
      assert.equal(await storage.findAccessToken(shortNext.accessTokenId), null);
      // Unexpired rows stay, the rotated one included: reuse detection still needs it.
      assert.equal((await storage.findRefreshToken(long.refreshTokenId))?.rotatedAt, T0 + 1000);
      assert.ok(await storage.findRefreshToken(longNext.refreshTokenId));
      assert.ok(await storage.findAccessToken(long.accessTokenId));
    });

    test('a rotated refresh token kept by housekeeping still triggers reuse detection', async () => {
      const f = await family(storage, 180 * DAY);
      const next = await rotate(storage, f, T0 + 1000, 180 * DAY);
      await storage.purgeExpired({ now: T0 + 30 * DAY, codeGraceMs: 60_000, limit: 1000 });
      const reuse = await storage.rotateRefreshToken({
        refreshTokenId: f.refreshTokenId,
        presentedHash: f.refreshHash,
        clientId: f.clientId,
        requestedScope: null,
        now: T0 + 30 * DAY,
        graceMs: 60_000,
        access: { hash: hash(), issuedAt: T0, expiresAt: T0 + DAY },
        refresh: { hash: hash(), issuedAt: T0, expiresAt: T0 + DAY },
        replaySeal: Buffer.alloc(48),
      });
      assert.equal(reuse.outcome, 'reused');
      assert.equal((await storage.findRefreshToken(next.refreshTokenId))?.revoked, true);
    });

    test('a code is kept for the grace period after it expires', async () => {
      const f = await family(storage, DAY);
      const expiredAt = T0 + 600_000;
      await storage.purgeExpired({ now: expiredAt + 30_000, codeGraceMs: 60_000, limit: 1000 });
      assert.ok(await storage.findAuthorizationCode(f.codeId));
      await storage.purgeExpired({ now: expiredAt + 61_000, codeGraceMs: 60_000, limit: 1000 });
      assert.equal(await storage.findAuthorizationCode(f.codeId), null);
    });

    test('old delivered and dead webhook events are purged; pending ones and recent ones are kept', async () => {
      const f = await family(storage, DAY);
      const event = (createdAt: number) => ({
        clientId: f.clientId,
        userId: 1,
        action: 'application.deauthorized' as const,
        url: 'https://hooks.test/mp',
        createdAt,
      });
      // Three events from revocations: one stays pending, one is delivered, one dies.
      for (const at of [T0, T0 + 1, T0 + 2]) {
        await storage.recordConsent(
          {
            hash: hash(),
            clientId: f.clientId,
            userId: f.userId,
            redirectUri: 'https://a.test/cb',
            scope: 'offline_access read write',
            codeChallenge: null,
            codeChallengeMethod: null,
            createdAt: at,
            expiresAt: at + 600_000,
            publicKey: '33333333-3333-4333-8333-333333333333',
          },
          undefined,
        );
        await storage.revokeGrant(f.clientId, f.userId, at, event(at));
      }
      const ours = async () =>
        (await storage.listWebhookEvents({ limit: 1000 })).filter((e) => e.clientId === f.clientId);
      const [dead, delivered] = (await ours()).sort((a, b) => a.id - b.id);
      assert.ok(dead && delivered);
      await storage.recordWebhookAttempt({
        id: dead.id,
        at: T0,
        httpStatus: 500,
        error: 'x',
        outcome: 'dead',
      });
      await storage.recordWebhookAttempt({
        id: delivered.id,
        at: T0,
        httpStatus: 200,
        error: null,
        outcome: 'delivered',
      });
      const late = T0 + 31 * DAY;
      const early = await storage.purgeExpired({
        now: T0 + DAY,
        codeGraceMs: 0,
        limit: 1000,
        webhookRetentionMs: 30 * DAY,
      });
      assert.equal(early.webhookEvents, 0);
      const result = await storage.purgeExpired({
        now: late,
        codeGraceMs: 0,
        limit: 1000,
        webhookRetentionMs: 30 * DAY,
      });
      assert.equal(result.webhookEvents, 2);
      assert.deepEqual(
        (await ours()).map((e) => e.status),
        ['pending'],
      );
    });

    test('the housekeeper runs batches until nothing is left, within its bound per round', async () => {
      const now = T0 + 10 * DAY;
      // Rows the earlier tests left behind go first, so the counts below are this test's own.
      await new Housekeeper({ storage, batchSize: 1000, now: () => now }).runOnce();
      for (let i = 0; i < 5; i++) await family(storage, DAY);
      const bounded = new Housekeeper({ storage, batchSize: 1, maxBatchesPerRound: 2, now: () => now });
      const partial = await bounded.runOnce();
      assert.deepEqual(partial, { codes: 2, accessTokens: 2, refreshTokens: 2, webhookEvents: 0 });
      const full = await new Housekeeper({ storage, batchSize: 2, now: () => now }).runOnce();
      assert.deepEqual(full, { codes: 3, accessTokens: 3, refreshTokens: 3, webhookEvents: 0 });
      assert.equal((await storage.purgeExpired({ now, codeGraceMs: 0, limit: 10 })).more, false);
    });
  });
}
