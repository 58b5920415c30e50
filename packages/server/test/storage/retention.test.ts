import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { StoragePort } from '../../src/storage/contract.ts';
import { Housekeeper } from '../../src/storage/housekeeping.ts';
import { TestClock } from '../helpers/clock.ts';
import { DAY, hash, seedGrant, T0 } from '../helpers/seed.ts';
import { memoryFactory, storageFactories, type TestStorage } from '../helpers/storages.ts';

const RETENTION = { familyMs: 7 * DAY, revokedGrantMs: 400 * DAY, sessionMs: DAY };

/** A grant with one exchanged code; its tokens live `lifetimeMs`. */
async function exchanged(storage: StoragePort, lifetimeMs: number) {
  const seeded = await seedGrant(storage);
  const refreshHash = hash();
  const issued = await storage.exchangeAuthorizationCode({
    codeId: seeded.codeId,
    now: T0,
    liveMode: true,
    access: { hash: hash(), scope: 'offline_access read write', issuedAt: T0, expiresAt: T0 + lifetimeMs },
    refresh: { hash: refreshHash, issuedAt: T0, expiresAt: T0 + lifetimeMs },
  });
  if (issued.outcome !== 'issued') throw new Error('exchange failed');
  return { ...seeded, ...issued, refreshHash };
}

for (const factory of [...storageFactories, memoryFactory]) {
  describe(`retention on ${factory.name}`, () => {
    let t: TestStorage;
    let storage: StoragePort;
    before(async () => {
      t = await factory.create();
      storage = t.storage;
    });
    after(() => t.cleanup());

    test('purges empty families, long revoked grants and expired sessions in bounded batches, keeping what can still be presented', async () => {
      const clock = new TestClock(T0);
      // Expires after a day: its family empties once the tokens and the code are purged.
      const expired = await exchanged(storage, DAY);
      // Lives 180 days: its family stays, tokens and all.
      const living = await exchanged(storage, 180 * DAY);
      // Revoked today, tokens of a day: the grant outlives its tokens by the retention period.
      const revoked = await exchanged(storage, DAY);
      assert.equal(await storage.revokeGrant(revoked.clientId, revoked.sellerId, T0), true);
      await storage.createSellerSession({
        hash: hash(),
        userId: living.sellerId,
        createdAt: T0,
        expiresAt: T0 + DAY,
      });
      const liveSession = hash();
      await storage.createSellerSession({
        hash: liveSession,
        userId: living.sellerId,
        createdAt: T0,
        expiresAt: T0 + 30 * DAY,
      });

      const housekeeper = new Housekeeper({
        storage,
        now: () => clock.now(),
        batchSize: 1,
        codeGraceMs: 60_000,
        retention: RETENTION,
      });

      clock.advance(3 * DAY);
      const early = await housekeeper.runOnce();
      // The tokens went, but the families are younger than 7 days: kept (an operator can still
      // inspect them); the revoked grant is far from 400 days.
      assert.equal(early.families, 0);
      assert.equal(early.grants, 0);
      assert.equal(early.sessions, 1, 'the session that expired over a day ago');
      assert.ok(await storage.findSellerSession(liveSession, clock.now()));

      clock.advance(5 * DAY);
      const later = await housekeeper.runOnce();
      assert.equal(later.families, 2, 'the two emptied families, one batch of 1 at a time');
      assert.equal(later.grants, 0);
      assert.ok(await storage.findRefreshToken(living.refreshTokenId), 'a living token keeps its family');
      assert.equal((await storage.findRefreshToken(living.refreshTokenId))?.familyId, living.familyId);

      // Not yet 400 days after the revocation: the revoked grant stays revoked, visibly.
      clock.advance(380 * DAY);
      assert.equal((await housekeeper.runOnce()).grants, 0);
      assert.equal((await storage.findGrant(revoked.clientId, revoked.sellerId))?.revokedAt, T0);

      clock.advance(30 * DAY);
      const late = await housekeeper.runOnce();
      assert.equal(late.grants, 1);
      assert.equal(await storage.findGrant(revoked.clientId, revoked.sellerId), null);
      // Active grants are never deleted, even when all their tokens expired long ago.
      assert.ok(await storage.findGrant(expired.clientId, expired.sellerId));
      // A revoked-then-deleted grant refuses as much as a revoked one: its code is long gone, and
      // a new consent starts a new grant that the old tokens (purged) can never reach.
      const again = await storage.recordConsent({
        hash: hash(),
        clientId: revoked.clientId,
        userId: revoked.sellerId,
        redirectUri: 'https://a.test/cb',
        scope: 'read',
        codeChallenge: null,
        codeChallengeMethod: null,
        createdAt: clock.now(),
        expiresAt: clock.now() + 600_000,
        publicKey: '33333333-3333-4333-8333-333333333333',
      });
      assert.equal(again.grantCreated, true);
      assert.equal(await storage.findRefreshToken(revoked.refreshTokenId), null);
    });

    test('keeps a family while a rotated refresh token of it can still be presented (reuse detection)', async () => {
      const clock = new TestClock(T0);
      const grant = await exchanged(storage, 30 * DAY);
      const rotated = await storage.rotateRefreshToken({
        refreshTokenId: grant.refreshTokenId,
        presentedHash: grant.refreshHash,
        clientId: grant.clientId,
        requestedScope: null,
        now: T0 + 1000,
        graceMs: 60_000,
        access: { hash: hash(), issuedAt: T0 + 1000, expiresAt: T0 + 30 * DAY },
        refresh: { hash: hash(), issuedAt: T0 + 1000, expiresAt: T0 + 30 * DAY },
        replaySeal: Buffer.alloc(48),
      });
      assert.equal(rotated.outcome, 'rotated');
      const housekeeper = new Housekeeper({ storage, now: () => clock.now(), retention: RETENTION });
      clock.advance(20 * DAY);
      await housekeeper.runOnce();
      // Older than the family retention, but its rotated token is unexpired: presenting it again
      // must still be detected as reuse and revoke the family.
      const reuse = await storage.rotateRefreshToken({
        refreshTokenId: grant.refreshTokenId,
        presentedHash: grant.refreshHash,
        clientId: grant.clientId,
        requestedScope: null,
        now: clock.now(),
        graceMs: 60_000,
        access: { hash: hash(), issuedAt: clock.now(), expiresAt: clock.now() + DAY },
        refresh: { hash: hash(), issuedAt: clock.now(), expiresAt: clock.now() + DAY },
        replaySeal: Buffer.alloc(48),
      });
      assert.equal(reuse.outcome, 'reused');
    });

    test('keeps a family until the access token issued with its newest refresh token expires, then purges it', async () => {
      // Its own database: the counts below are this family's alone.
      const own = await factory.create();
      const { storage } = own;
      try {
        const clock = new TestClock(T0);
        const seeded = await seedGrant(storage);
        // Refresh tokens of a day, an access token of 30 days (RENOVA_REFRESH_TOKEN_SECONDS shorter
        // than the access lifetime): the family outlives its refresh token.
        const issued = await storage.exchangeAuthorizationCode({
          codeId: seeded.codeId,
          now: T0,
          liveMode: true,
          access: { hash: hash(), scope: 'offline_access read', issuedAt: T0, expiresAt: T0 + 30 * DAY },
          refresh: { hash: hash(), issuedAt: T0, expiresAt: T0 + DAY },
        });
        assert.equal(issued.outcome, 'issued');
        if (issued.outcome !== 'issued') return;
        const housekeeper = new Housekeeper({ storage, now: () => clock.now(), retention: RETENTION });

        clock.advance(10 * DAY);
        const first = await housekeeper.runOnce();
        assert.equal(first.refreshTokens, 1, 'the expired refresh token went');
        assert.equal(first.families, 0, 'older than the retention, but its access token still works');
        const access = await storage.findAccessToken(issued.accessTokenId);
        assert.equal(access?.revoked, false);
        assert.equal(access?.familyId, issued.familyId);

        clock.advance(21 * DAY);
        const second = await housekeeper.runOnce();
        assert.equal(second.accessTokens, 1);
        assert.equal(second.families, 1, 'every token of it expired: the family goes');
        assert.equal(await storage.findAccessToken(issued.accessTokenId), null);
      } finally {
        await own.cleanup();
      }
    });

    test('without retention options the purge reports and deletes nothing beyond expired tokens, codes and events', async () => {
      const result = await storage.purgeExpired({ now: T0 + 1000 * DAY, codeGraceMs: 0, limit: 10 });
      assert.equal(result.families, undefined);
      assert.equal(result.grants, undefined);
      assert.equal(result.sessions, undefined);
    });
  });
}
