import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sha256 } from '../../src/core/tokens.ts';
import type {
  NewAccessToken,
  NewRefreshToken,
  NewRotatedAccessToken,
  StoragePort,
} from '../../src/storage/contract.ts';
import { DAY, hash, must, presenting, seedGrant, T0 } from '../helpers/seed.ts';
import { memoryFactory, storageFactories, type TestStorage } from '../helpers/storages.ts';

const access = (now: number, scope = 'offline_access read write'): NewAccessToken => ({
  hash: hash(),
  scope,
  issuedAt: now,
  expiresAt: now + 180 * DAY,
});
const refresh = (now: number): NewRefreshToken => ({
  hash: hash(),
  issuedAt: now,
  expiresAt: now + 180 * DAY,
});
/** A rotation's new access token: its scope is the storage's decision (requestedScope ?? grant). */
const rotatedAccess = (now: number): NewRotatedAccessToken => ({
  hash: hash(),
  issuedAt: now,
  expiresAt: now + 180 * DAY,
});

async function exchangeFresh(storage: StoragePort, scope = 'offline_access read write') {
  const seeded = await seedGrant(storage, scope);
  const firstRefresh = refresh(T0);
  const result = await storage.exchangeAuthorizationCode({
    codeId: seeded.codeId,
    now: T0,
    liveMode: true,
    access: access(T0, scope),
    refresh: firstRefresh,
  });
  assert.equal(result.outcome, 'issued');
  if (result.outcome !== 'issued') throw new Error('unreachable');
  return { ...seeded, ...result, refreshHash: firstRefresh.hash };
}

for (const factory of [...storageFactories, memoryFactory]) {
  describe(`storage contract on ${factory.name}`, () => {
    let ts: TestStorage;
    let storage: StoragePort;
    before(async () => {
      ts = await factory.create();
      storage = ts.storage;
    });
    after(async () => ts.cleanup());

    test('stores users and finds them by id and by email, case-insensitively', async () => {
      const user = must(
        await storage.createUser({
          email: 'Mixed@Case.test',
          nickname: 'M',
          siteId: 'MLM',
          passwordHash: 'scrypt$x',
          createdAt: T0,
        }),
      );
      assert.deepEqual(await storage.findUserById(user.id), user);
      assert.equal((await storage.findUserByEmail('mixed@case.test'))?.id, user.id);
      assert.equal(await storage.findUserById(999_999), null);
    });

    test('creates one user of 10 concurrent sign-ups with one email, case-insensitively', async () => {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          storage.createUser({
            email: i % 2 ? 'race@x.test' : 'RACE@x.test',
            nickname: 'R',
            siteId: 'MLA',
            passwordHash: null,
            createdAt: T0,
          }),
        ),
      );
      assert.equal(results.filter((u) => u !== null).length, 1);
    });

    test('exactly one of 20 concurrent exchanges of one code succeeds, and the losers revoke its family', async () => {
      const seeded = await seedGrant(storage);
      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          storage.exchangeAuthorizationCode({
            codeId: seeded.codeId,
            now: T0,
            liveMode: true,
            access: access(T0),
            refresh: refresh(T0),
          }),
        ),
      );
      const issued = results.filter((r) => r.outcome === 'issued');
      assert.equal(issued.length, 1);
      assert.equal(results.filter((r) => r.outcome === 'code_reused').length, 19);
      const winner = issued[0];
      if (winner?.outcome !== 'issued') throw new Error('unreachable');
      assert.equal((await storage.findRefreshToken(winner.refreshTokenId))?.revoked, true);
      assert.equal((await storage.findAccessToken(winner.accessTokenId))?.revoked, true);
    });

    test('50 concurrent rotations of one refresh token make exactly one rotation and replay it to the others', async () => {
      const family = await exchangeFresh(storage);
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          storage.rotateRefreshToken({
            refreshTokenId: family.refreshTokenId,
            presentedHash: family.refreshHash,
            clientId: family.clientId,
            requestedScope: null,
            now: T0 + 1000,
            graceMs: 60_000,
            access: rotatedAccess(T0 + 1000),
            refresh: refresh(T0 + 1000),
            replaySeal: randomBytes(60),
          }),
        ),
      );
      const rotated = results.filter((r) => r.outcome === 'rotated');
      const replayed = results.filter((r) => r.outcome === 'replayed');
      assert.equal(rotated.length, 1);
      assert.equal(replayed.length, 49);
      const first = rotated[0];
      if (first?.outcome !== 'rotated') throw new Error('unreachable');
      for (const r of replayed) {
        if (r.outcome !== 'replayed') throw new Error('unreachable');
        assert.equal(r.accessTokenId, first.accessTokenId);
        assert.equal(r.refreshTokenId, first.refreshTokenId);
        assert.deepEqual(r.access, first.access);
      }
      const old = await storage.findRefreshToken(family.refreshTokenId);
      assert.equal(old?.rotatedAt, T0 + 1000);
    });

    test('a rotated token presented after the window is reuse and revokes the whole family', async () => {
      const family = await exchangeFresh(storage);
      const first = await storage.rotateRefreshToken({
        refreshTokenId: family.refreshTokenId,
        presentedHash: family.refreshHash,
        clientId: family.clientId,
        requestedScope: null,
        now: T0,
        graceMs: 60_000,
        access: rotatedAccess(T0),
        refresh: refresh(T0),
        replaySeal: randomBytes(60),
      });
      assert.equal(first.outcome, 'rotated');
      if (first.outcome !== 'rotated') throw new Error('unreachable');
      const late = await storage.rotateRefreshToken({
        refreshTokenId: family.refreshTokenId,
        presentedHash: family.refreshHash,
        clientId: family.clientId,
        requestedScope: null,
        now: T0 + 60_001,
        graceMs: 60_000,
        access: rotatedAccess(T0),
        refresh: refresh(T0),
        replaySeal: randomBytes(60),
      });
      assert.deepEqual(late, { outcome: 'reused', familyId: family.familyId });
      assert.equal((await storage.findRefreshToken(first.refreshTokenId))?.revoked, true);
      assert.equal((await storage.findAccessToken(first.accessTokenId))?.revoked, true);
      assert.equal((await storage.findAccessToken(family.accessTokenId))?.revoked, true);
    });

    test('a rotated token is reuse inside the window once its successor has been used', async () => {
      const family = await exchangeFresh(storage);
      const successor = refresh(T0);
      const first = await storage.rotateRefreshToken({
        refreshTokenId: family.refreshTokenId,
        presentedHash: family.refreshHash,
        clientId: family.clientId,
        requestedScope: null,
        now: T0,
        graceMs: 60_000,
        access: rotatedAccess(T0),
        refresh: successor,
        replaySeal: randomBytes(60),
      });
      if (first.outcome !== 'rotated') throw new Error('expected a rotation');
      const second = await storage.rotateRefreshToken({
        refreshTokenId: first.refreshTokenId,
        presentedHash: successor.hash,
        clientId: family.clientId,
        requestedScope: null,
        now: T0 + 10,
        graceMs: 60_000,
        access: rotatedAccess(T0),
        refresh: refresh(T0),
        replaySeal: randomBytes(60),
      });
      assert.equal(second.outcome, 'rotated');
      const replayOfOld = await storage.rotateRefreshToken({
        refreshTokenId: family.refreshTokenId,
        presentedHash: family.refreshHash,
        clientId: family.clientId,
        requestedScope: null,
        now: T0 + 20,
        graceMs: 60_000,
        access: rotatedAccess(T0),
        refresh: refresh(T0),
        replaySeal: randomBytes(60),
      });
      assert.equal(replayOfOld.outcome, 'reused');
    });

    test('with the window off, a second presentation is reuse', async () => {
      const family = await exchangeFresh(storage);
      const args = {
        refreshTokenId: family.refreshTokenId,
        presentedHash: family.refreshHash,
        clientId: family.clientId,
        requestedScope: null,
        now: T0,
        graceMs: 0,
        access: rotatedAccess(T0),
        refresh: refresh(T0),
        replaySeal: randomBytes(60),
      };
      assert.equal((await storage.rotateRefreshToken(args)).outcome, 'rotated');
      assert.equal(
        (await storage.rotateRefreshToken({ ...args, access: rotatedAccess(T0), refresh: refresh(T0) }))
          .outcome,
        'reused',
      );
    });

    /** A failed precondition wrote nothing: not rotated, not revoked, its access token alive. */
    async function assertUntouched(family: { refreshTokenId: number; accessTokenId: number }) {
      const token = await storage.findRefreshToken(family.refreshTokenId);
      assert.equal(token?.rotatedAt, null);
      assert.equal(token?.revoked, false);
      assert.equal((await storage.findAccessToken(family.accessTokenId))?.revoked, false);
    }

    test('a rotation and its replays return the grant: user, mode, public key, access scope', async () => {
      const family = await exchangeFresh(storage);
      const args = presenting(family, T0 + 1000);
      const rotated = await storage.rotateRefreshToken(args);
      assert.equal(rotated.outcome, 'rotated');
      if (rotated.outcome !== 'rotated') throw new Error('unreachable');
      assert.equal(rotated.userId, family.sellerId);
      assert.equal(rotated.liveMode, true);
      assert.equal(rotated.publicKey, '11111111-1111-4111-8111-111111111111');
      assert.deepEqual(rotated.access, {
        scope: 'offline_access read write',
        issuedAt: args.access.issuedAt,
        expiresAt: args.access.expiresAt,
      });
      const replayed = await storage.rotateRefreshToken(presenting(family, T0 + 2000));
      assert.equal(replayed.outcome, 'replayed');
      if (replayed.outcome !== 'replayed') throw new Error('unreachable');
      assert.equal(replayed.userId, family.sellerId);
      assert.equal(replayed.liveMode, true);
      assert.equal(replayed.publicKey, '11111111-1111-4111-8111-111111111111');
      assert.deepEqual(replayed.access, rotated.access);
    });

    test('a wrong secret or an unknown id is invalid and changes nothing, not even after rotation', async () => {
      const family = await exchangeFresh(storage);
      const wrong = { ...presenting(family, T0 + 1000), presentedHash: hash() };
      assert.deepEqual(await storage.rotateRefreshToken(wrong), { outcome: 'invalid', reason: 'unknown' });
      assert.deepEqual(await storage.rotateRefreshToken({ ...wrong, presentedHash: Buffer.alloc(0) }), {
        outcome: 'invalid',
        reason: 'unknown',
      });
      assert.deepEqual(
        await storage.rotateRefreshToken({ ...presenting(family, T0 + 1000), refreshTokenId: 2 ** 52 }),
        { outcome: 'invalid', reason: 'unknown' },
      );
      await assertUntouched(family);
      const rotated = await storage.rotateRefreshToken(presenting(family, T0 + 2000));
      assert.equal(rotated.outcome, 'rotated');
      if (rotated.outcome !== 'rotated') throw new Error('unreachable');
      // Outside the window a correct presentation would now be reuse; a wrong secret is not.
      const late = { ...presenting(family, T0 + 120_000), presentedHash: hash() };
      assert.deepEqual(await storage.rotateRefreshToken(late), { outcome: 'invalid', reason: 'unknown' });
      assert.equal((await storage.findRefreshToken(rotated.refreshTokenId))?.revoked, false);
      assert.equal((await storage.findAccessToken(rotated.accessTokenId))?.revoked, false);
    });

    test('a token presented by another client is invalid and changes nothing', async () => {
      const family = await exchangeFresh(storage);
      const other = { ...presenting(family, T0 + 1000), clientId: '9999999999999999' };
      assert.deepEqual(await storage.rotateRefreshToken(other), {
        outcome: 'invalid',
        reason: 'other_client',
      });
      await assertUntouched(family);
      const rotated = await storage.rotateRefreshToken(presenting(family, T0 + 2000));
      assert.equal(rotated.outcome, 'rotated');
      // Not a replay or a reuse either, after the rotation.
      assert.deepEqual(await storage.rotateRefreshToken({ ...other, now: T0 + 120_000 }), {
        outcome: 'invalid',
        reason: 'other_client',
      });
      if (rotated.outcome !== 'rotated') throw new Error('unreachable');
      assert.equal((await storage.findRefreshToken(rotated.refreshTokenId))?.revoked, false);
    });

    test('an expired token is invalid and changes nothing, rotated or not', async () => {
      const family = await exchangeFresh(storage);
      const expiresAt = T0 + 180 * DAY;
      assert.deepEqual(await storage.rotateRefreshToken(presenting(family, expiresAt)), {
        outcome: 'invalid',
        reason: 'expired',
      });
      await assertUntouched(family);
      const rotated = await storage.rotateRefreshToken(presenting(family, T0 + 1000));
      assert.equal(rotated.outcome, 'rotated');
      if (rotated.outcome !== 'rotated') throw new Error('unreachable');
      // A rotated token presented after its expiry is refused as expired, not treated as reuse.
      assert.deepEqual(await storage.rotateRefreshToken(presenting(family, expiresAt + 1)), {
        outcome: 'invalid',
        reason: 'expired',
      });
      assert.equal((await storage.findRefreshToken(rotated.refreshTokenId))?.revoked, false);
    });

    test('a grant without offline_access is not refreshable and nothing changes', async () => {
      const family = await exchangeFresh(storage, 'read write');
      assert.deepEqual(await storage.rotateRefreshToken(presenting(family, T0 + 1000)), {
        outcome: 'not_refreshable',
      });
      assert.deepEqual(await storage.rotateRefreshToken(presenting(family, T0 + 120_000, 0)), {
        outcome: 'not_refreshable',
      });
      await assertUntouched(family);
    });

    test('a scope outside the grant is refused and changes nothing; a subset narrows the access token only', async () => {
      const family = await exchangeFresh(storage, 'offline_access read');
      const wider = { ...presenting(family, T0 + 1000), requestedScope: 'read write' };
      assert.deepEqual(await storage.rotateRefreshToken(wider), {
        outcome: 'scope_not_granted',
        grantScope: 'offline_access read',
      });
      await assertUntouched(family);
      const narrowed = await storage.rotateRefreshToken({
        ...presenting(family, T0 + 2000),
        requestedScope: 'read',
      });
      assert.equal(narrowed.outcome, 'rotated');
      if (narrowed.outcome !== 'rotated') throw new Error('unreachable');
      assert.equal(narrowed.access.scope, 'read');
      assert.equal((await storage.findAccessToken(narrowed.accessTokenId))?.scope, 'read');
      // RFC 6749 §6: the new refresh token keeps the grant's scope.
      assert.equal((await storage.findRefreshToken(narrowed.refreshTokenId))?.scope, 'offline_access read');
      // Refused before the replay decision too: no replay, no reuse.
      assert.deepEqual(await storage.rotateRefreshToken({ ...wider, now: T0 + 120_000 }), {
        outcome: 'scope_not_granted',
        grantScope: 'offline_access read',
      });
      assert.equal((await storage.findRefreshToken(narrowed.refreshTokenId))?.revoked, false);
    });

    test('revoking a grant revokes every family of it and reports whether there was one', async () => {
      const family = await exchangeFresh(storage);
      assert.equal(await storage.revokeGrant(family.clientId, family.sellerId, T0), true);
      assert.equal(await storage.revokeGrant(family.clientId, family.sellerId, T0), false);
      assert.equal((await storage.findRefreshToken(family.refreshTokenId))?.revoked, true);
      assert.equal((await storage.findAccessToken(family.accessTokenId))?.revoked, true);
      assert.equal((await storage.findGrant(family.clientId, family.sellerId))?.revokedAt, T0);
      const rotate = await storage.rotateRefreshToken({
        refreshTokenId: family.refreshTokenId,
        presentedHash: family.refreshHash,
        clientId: family.clientId,
        requestedScope: null,
        now: T0,
        graceMs: 60_000,
        access: rotatedAccess(T0),
        refresh: refresh(T0),
        replaySeal: randomBytes(60),
      });
      assert.equal(rotate.outcome, 'revoked');
    });

    test('a code issued before the seller revoked the application cannot be exchanged', async () => {
      const seeded = await seedGrant(storage);
      await storage.revokeGrant(seeded.clientId, seeded.sellerId, T0);
      const result = await storage.exchangeAuthorizationCode({
        codeId: seeded.codeId,
        now: T0,
        liveMode: true,
        access: access(T0),
        refresh: refresh(T0),
      });
      assert.equal(result.outcome, 'grant_revoked');
    });

    test('new consent after a revocation reactivates the grant for new codes only', async () => {
      const family = await exchangeFresh(storage);
      await storage.revokeGrant(family.clientId, family.sellerId, T0);
      await storage.recordConsent({
        hash: hash(),
        clientId: family.clientId,
        userId: family.sellerId,
        redirectUri: 'https://a.test/cb',
        scope: 'read',
        codeChallenge: null,
        codeChallengeMethod: null,
        createdAt: T0 + 5,
        expiresAt: T0 + 600_000,
        publicKey: '22222222-2222-4222-8222-222222222222',
      });
      const grant = await storage.findGrant(family.clientId, family.sellerId);
      assert.equal(grant?.revokedAt, null);
      assert.equal(grant?.scope, 'read');
      assert.equal((await storage.findRefreshToken(family.refreshTokenId))?.revoked, true);
    });

    test('revoking an access token revokes it alone; revoking a family revokes all of it', async () => {
      const family = await exchangeFresh(storage);
      await storage.revokeAccessToken(family.accessTokenId, T0);
      assert.equal((await storage.findAccessToken(family.accessTokenId))?.revoked, true);
      assert.equal((await storage.findRefreshToken(family.refreshTokenId))?.revoked, false);
      await storage.revokeFamily(family.familyId, T0);
      assert.equal((await storage.findRefreshToken(family.refreshTokenId))?.revoked, true);
    });

    test('a client secret rotation keeps the old secret until the end of the overlap', async () => {
      const seeded = await seedGrant(storage);
      assert.equal(await storage.rotateClientSecret(seeded.clientId, sha256('new'), T0 + 1000, T0), true);
      const app = await storage.findApplication(seeded.clientId);
      const secrets =
        app?.secrets.map((s) => ({ hash: s.hash.toString('hex'), expiresAt: s.expiresAt })) ?? [];
      assert.deepEqual(
        secrets.sort((a, b) => (a.expiresAt ?? Infinity) - (b.expiresAt ?? Infinity)),
        [
          { hash: sha256('secret').toString('hex'), expiresAt: T0 + 1000 },
          { hash: sha256('new').toString('hex'), expiresAt: null },
        ],
      );
      assert.equal(await storage.rotateClientSecret('9999999999999999', sha256('x'), T0, T0), false);
    });

    test('client credentials tokens have no family and are found by id', async () => {
      const seeded = await seedGrant(storage);
      const { accessTokenId } = await storage.issueClientCredentialsToken({
        ...access(T0, 'read write'),
        clientId: seeded.clientId,
        userId: 1,
        liveMode: false,
      });
      const token = await storage.findAccessToken(accessTokenId);
      assert.equal(token?.kind, 'client_credentials');
      assert.equal(token?.liveMode, false);
      assert.equal(token?.scope, 'read write');
    });
  });
}
