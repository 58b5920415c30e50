import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { StoragePort } from '../../src/storage/contract.ts';
import type { SqliteStorage } from '../../src/storage/sqlite/adapter.ts';
import { DAY, hash, must, seedGrant, T0 } from '../helpers/seed.ts';
import { sqliteFactory, type TestStorage } from '../helpers/storages.ts';

/**
 * Crash safety of the audit trail on SQLite: the writer thread is killed while a group-commit batch
 * of refreshes is in flight. Afterwards every rotation that committed has its `refresh.rotated`
 * event and every event has its rotation: the event rides in the step's own transaction, so a
 * batch is on disk whole or not at all.
 */
let t: TestStorage;
let storage: StoragePort;
before(async () => {
  t = await sqliteFactory.create();
  storage = t.storage;
});
after(() => t.cleanup());

test('sqlite: killing the writer mid-batch leaves each rotation and its event both present or both absent', async () => {
  const families: { clientId: string; refreshTokenId: number; familyId: number; refreshHash: Buffer }[] = [];
  for (let i = 0; i < 40; i++) {
    const { clientId, codeId } = await seedGrant(storage);
    const refreshHash = hash();
    const issued = await storage.exchangeAuthorizationCode({
      codeId,
      now: T0,
      liveMode: true,
      access: { hash: hash(), scope: 'offline_access read write', issuedAt: T0, expiresAt: T0 + DAY },
      refresh: { hash: refreshHash, issuedAt: T0, expiresAt: T0 + 180 * DAY },
    });
    if (issued.outcome !== 'issued') return assert.fail('exchange');
    families.push({
      clientId,
      refreshTokenId: issued.refreshTokenId,
      familyId: issued.familyId,
      refreshHash,
    });
  }
  const now = T0 + 1000;
  const rotate = (f: (typeof families)[number]) =>
    storage.rotateRefreshToken({
      refreshTokenId: f.refreshTokenId,
      presentedHash: f.refreshHash,
      clientId: f.clientId,
      requestedScope: null,
      now,
      graceMs: 60_000,
      access: { hash: hash(), issuedAt: now, expiresAt: now + DAY },
      refresh: { hash: hash(), issuedAt: now, expiresAt: now + 180 * DAY },
      replaySeal: randomBytes(60),
      audit: { actor: 'application', actorId: f.clientId, requestId: null, remoteAddress: null },
    });
  // A first batch commits whole; the next is in flight when the thread is killed.
  const firstBatch = await Promise.all(families.slice(0, 10).map(rotate));
  assert.ok(firstBatch.every((r) => r.outcome === 'rotated'));
  const rotations = [...firstBatch.map((r) => Promise.resolve(r)), ...families.slice(10).map(rotate)];
  // The batch is posted to the thread at the end of this loop turn; the kill lands while it runs.
  await new Promise((resolve) => setImmediate(resolve));
  const killed = (storage as SqliteStorage).writerThread?.terminate();
  const settled = await Promise.allSettled(rotations);
  await killed;

  let committed = 0;
  const events = await storage.listAuditEvents({ type: 'refresh.rotated', limit: 1000 });
  for (const [i, f] of families.entries()) {
    const rotated = must(await storage.findRefreshToken(f.refreshTokenId)).rotatedAt !== null;
    const recorded = events.filter((e) => e.familyId === f.familyId).length;
    assert.equal(recorded, rotated ? 1 : 0, `family ${f.familyId}: rotation ${rotated}, events ${recorded}`);
    if (rotated) committed += 1;
    const answer = settled[i];
    // A rotation answered `rotated` has committed; a rejected one may or may not have (the thread
    // died after COMMIT but before answering), and the pair above is consistent either way.
    if (answer?.status === 'fulfilled' && answer.value.outcome === 'rotated') assert.ok(rotated);
  }
  // The writer restarts: later steps still write their events.
  const { clientId } = await seedGrant(storage);
  assert.equal(
    (await storage.listAuditEvents({ clientId, type: 'application.created', limit: 5 })).length,
    1,
  );
  assert.ok(committed >= 10, 'the batch answered before the kill is on disk');
  process.stdout.write(`committed before the kill: ${committed} of ${families.length}\n`);
});
