import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sha256 } from '../../src/core/tokens.ts';
import type { RotateRefreshToken, StoragePort } from '../../src/storage/contract.ts';

/** The instant storage-level tests start from. */
export const T0 = Date.UTC(2026, 10, 25, 12);
export const DAY = 86_400_000;

/** A fresh SHA-256 digest, as the storage keeps for a token's secret half. */
export const hash = (): Buffer => sha256(randomBytes(16));

/** Fails the test when a storage call that must succeed returned null. */
export function must<T>(value: T | null): T {
  assert.ok(value !== null);
  return value;
}

let seq = 0;

/**
 * Straight through the storage port: an owner, a seller, an application with all scopes (client
 * secret "secret") and the seller's consent with one unused code of `scope`.
 */
export async function seedGrant(storage: StoragePort, scope = 'offline_access read write') {
  seq += 1;
  const user = (email: string, siteId: string) =>
    storage.createUser({ email, nickname: 'U', siteId, passwordHash: null, createdAt: T0 }).then(must);
  const owner = await user(`o${seq}@x.test`, 'MLA');
  const seller = await user(`s${seq}@x.test`, 'MLB');
  const clientId = String(1_000_000_000_000_000 + seq);
  await storage.createApplication({
    clientId,
    name: 'App',
    ownerUserId: owner.id,
    redirectUris: ['https://a.test/cb'],
    scope: 'offline_access read write',
    pkceRequired: false,
    notificationUrl: null,
    webhookSecretSealed: Buffer.alloc(60),
    ownerPublicKey: '00000000-0000-4000-8000-000000000000',
    secretHash: sha256('secret'),
    createdAt: T0,
  });
  const { codeId } = await storage.recordConsent({
    hash: hash(),
    clientId,
    userId: seller.id,
    redirectUri: 'https://a.test/cb',
    scope,
    codeChallenge: null,
    codeChallengeMethod: null,
    createdAt: T0,
    expiresAt: T0 + 600_000,
    publicKey: '11111111-1111-4111-8111-111111111111',
  });
  return { clientId, sellerId: seller.id, codeId };
}

/**
 * seedGrant, then its code exchanged at T0: a fresh token family, with the refresh token's secret
 * hash as its client would present it. The refresh token expires at `refreshExpiresAt`.
 */
export async function seedFamily(
  storage: StoragePort,
  scope = 'offline_access read write',
  refreshExpiresAt = T0 + 180 * DAY,
) {
  const seeded = await seedGrant(storage, scope);
  const refreshHash = hash();
  const issued = await storage.exchangeAuthorizationCode({
    codeId: seeded.codeId,
    now: T0,
    liveMode: true,
    access: { hash: hash(), scope, issuedAt: T0, expiresAt: T0 + 180 * DAY },
    refresh: { hash: refreshHash, issuedAt: T0, expiresAt: refreshExpiresAt },
  });
  if (issued.outcome !== 'issued') throw new Error(`setup: exchange answered ${issued.outcome}`);
  return { ...seeded, ...issued, refreshHash };
}

/** Presents a refresh token as its rightful client would: its id, its secret's hash, its client. */
export function presenting(
  token: { refreshTokenId: number; refreshHash: Buffer; clientId: string },
  now: number,
  graceMs = 60_000,
): RotateRefreshToken {
  return {
    refreshTokenId: token.refreshTokenId,
    presentedHash: token.refreshHash,
    clientId: token.clientId,
    requestedScope: null,
    now,
    graceMs,
    access: { hash: hash(), issuedAt: now, expiresAt: now + 180 * DAY },
    refresh: { hash: hash(), issuedAt: now, expiresAt: now + 180 * DAY },
    replaySeal: randomBytes(60),
  };
}
