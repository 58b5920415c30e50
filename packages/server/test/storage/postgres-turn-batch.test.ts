import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RotateOutcome, RotateRefreshToken } from '../../src/storage/contract.ts';
import { StorageUnavailableError } from '../../src/storage/contract.ts';
import { PostgresStorage } from '../../src/storage/postgres/adapter.ts';
import { createTestSchema } from '../helpers/postgres.ts';
import { DAY, hash, presenting as presentRefresh, seedFamily, seedGrant, T0 } from '../helpers/seed.ts';

/**
 * The PostgreSQL adapter writes the refreshes, code exchanges and client_credentials tokens asked
 * for in one loop turn as ONE statement each (turn-batch.ts; audit.ts rotateRefreshBatchAudited,
 * exchangeCodes and insertClientTokensAudited). These tests ask for several in
 * one turn (Promise.all) and check that each answer is the one it would get alone, that each audit
 * event belongs to its own request, that one faulty element answers for itself, and that two
 * instances batching the same tokens in opposite orders neither deadlock nor rotate twice.
 */

/** Counts the statements the storage sends, by prepared-statement name. */
function countStatements(storage: PostgresStorage): Map<string, number> {
  const counts = new Map<string, number>();
  const pool = storage.pool as unknown as { query: (...args: unknown[]) => unknown };
  const query = pool.query.bind(pool);
  pool.query = (config: unknown, ...rest: unknown[]) => {
    const name = (config as { name?: string } | null)?.name ?? '(unnamed)';
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return query(config, ...rest);
  };
  return counts;
}

let rid = 0;
/** A presentation (helpers/seed.ts) with an audit context of its own request. */
function presenting(
  token: { refreshTokenId: number; refreshHash: Buffer; clientId: string },
  now: number,
  extra: Partial<RotateRefreshToken> = {},
): RotateRefreshToken {
  rid += 1;
  const audit = {
    actor: 'application' as const,
    actorId: token.clientId,
    requestId: `req-${rid}`,
    remoteAddress: `10.0.0.${rid % 250}`,
  };
  return { ...presentRefresh(token, now), audit, ...extra };
}

const family = (storage: PostgresStorage, scope?: string) => seedFamily(storage, scope);

type Family = Awaited<ReturnType<typeof family>>;

async function families(storage: PostgresStorage, n: number) {
  const seeded: Family[] = [];
  for (let i = 0; i < n; i++) seeded.push(await family(storage));
  return seeded;
}

describe('PostgreSQL: refreshes, code exchanges and client_credentials tokens of one loop turn written as one statement', () => {
  let storage: PostgresStorage;
  let second: PostgresStorage;
  let drop: () => Promise<void>;
  before(async () => {
    const schema = await createTestSchema();
    drop = schema.drop;
    storage = new PostgresStorage({ connectionString: schema.url, schema: schema.schema, poolMax: 4 });
    await storage.migrate();
    second = new PostgresStorage({ connectionString: schema.url, schema: schema.schema, poolMax: 4 });
  });
  after(async () => {
    await storage.close();
    await second.close();
    await drop();
  });

  test('every outcome of the decision tree, side by side in one statement, is the one it gets alone', async () => {
    const fresh = await family(storage);
    const twice = await family(storage);
    const alreadyRotated = await family(storage);
    const noOffline = await family(storage, 'read write');
    const narrow = await family(storage, 'offline_access read');
    const expired = await family(storage);
    const rotatedFirst = await storage.rotateRefreshToken(presenting(alreadyRotated, T0 + 1000));
    assert.equal(rotatedFirst.outcome, 'rotated');

    const counts = countStatements(storage);
    const late = T0 + 10 * 60_000;
    const asked: [string, RotateRefreshToken][] = [
      ['rotated', presenting(fresh, late)],
      ['twice: first', presenting(twice, late)],
      ['twice: second', presenting(twice, late)],
      ['reused', presenting(alreadyRotated, late)],
      ['unknown', presenting(fresh, late, { refreshTokenId: 2 ** 52 })],
      ['other client', presenting({ ...fresh, clientId: noOffline.clientId }, late)],
      ['wrong secret', presenting({ ...narrow, refreshHash: hash() }, late)],
      ['not refreshable', presenting(noOffline, late)],
      ['scope not granted', presenting(narrow, late, { requestedScope: 'write' })],
      ['expired', presenting(expired, T0 + 181 * DAY)],
    ];
    const answers = await Promise.all(asked.map(([, args]) => storage.rotateRefreshToken(args)));
    assert.equal(counts.get('rotate_refresh_batch_audited'), 1, 'one statement for the whole turn');
    assert.equal(counts.get('rotate_refresh_audited') ?? 0, 0);

    const by = new Map(asked.map(([label], i) => [label, answers[i] as RotateOutcome]));
    assert.equal(by.get('rotated')?.outcome, 'rotated');
    // Two presentations of one token in one statement: one rotates, the other is its replay.
    const pair = [by.get('twice: first'), by.get('twice: second')].map((a) => a?.outcome).sort();
    assert.deepEqual(pair, ['replayed', 'rotated']);
    const [rotatedTwice, replayedTwice] = [by.get('twice: first'), by.get('twice: second')].sort((a, b) =>
      String(b?.outcome).localeCompare(String(a?.outcome)),
    );
    if (rotatedTwice?.outcome !== 'rotated' || replayedTwice?.outcome !== 'replayed') assert.fail();
    assert.equal(replayedTwice.refreshTokenId, rotatedTwice.refreshTokenId);
    assert.equal(replayedTwice.accessTokenId, rotatedTwice.accessTokenId);
    const twiceArgs = asked.filter(([l]) => l.startsWith('twice')).map(([, a]) => a.replaySeal);
    assert.ok(
      twiceArgs.some((seal) => seal.equals(replayedTwice.replaySeal)),
      'the rotation’s own seal',
    );

    const reused = by.get('reused');
    assert.equal(reused?.outcome, 'reused');
    assert.deepEqual(by.get('unknown'), { outcome: 'invalid', reason: 'unknown' });
    assert.deepEqual(by.get('other client'), { outcome: 'invalid', reason: 'other_client' });
    assert.deepEqual(by.get('wrong secret'), { outcome: 'invalid', reason: 'unknown' });
    assert.deepEqual(by.get('not refreshable'), { outcome: 'not_refreshable' });
    assert.deepEqual(by.get('scope not granted'), {
      outcome: 'scope_not_granted',
      grantScope: 'offline_access read',
    });
    assert.deepEqual(by.get('expired'), { outcome: 'invalid', reason: 'expired' });

    // The reuse revoked its family in the same statement (RFC 9700 §4.14.2).
    if (rotatedFirst.outcome !== 'rotated') assert.fail();
    assert.equal((await storage.findRefreshToken(rotatedFirst.refreshTokenId))?.revoked, true);
  });

  test('each audit event carries its own request: type, request id, address, seller and family', async () => {
    const seeded = await families(storage, 6);
    const asked = seeded.map((f) => presenting(f, T0 + 5000));
    const answers = await Promise.all(asked.map((args) => storage.rotateRefreshToken(args)));
    for (const [i, f] of seeded.entries()) {
      assert.equal(answers[i]?.outcome, 'rotated');
      const events = await storage.listAuditEvents({ userId: f.sellerId, limit: 10 });
      const rotation = events.filter((e) => e.type === 'refresh.rotated');
      assert.equal(rotation.length, 1, `one refresh.rotated event for seller ${f.sellerId}`);
      const event = rotation[0];
      assert.equal(event?.requestId, asked[i]?.audit?.requestId);
      assert.equal(event?.remoteAddress, asked[i]?.audit?.remoteAddress);
      assert.equal(event?.clientId, f.clientId);
      assert.equal(event?.actorId, f.clientId);
      assert.equal(event?.at, T0 + 5000);
    }
    // Refusals changed nothing and record nothing, in a batch as alone.
    const refused = await Promise.all([
      storage.rotateRefreshToken(presenting({ ...(seeded[0] as Family), refreshHash: hash() }, T0)),
      storage.rotateRefreshToken(presenting(seeded[1] as Family, T0, { refreshTokenId: 2 ** 52 })),
    ]);
    assert.deepEqual(
      refused.map((r) => r.outcome),
      ['invalid', 'invalid'],
    );
    const seller0 = await storage.listAuditEvents({ userId: seeded[0]?.sellerId as number, limit: 10 });
    assert.equal(seller0.filter((e) => e.type.startsWith('refresh.')).length, 1);
  });

  test('an element the statement cannot take fails alone; the others of its turn are written', async () => {
    const seeded = await families(storage, 3);
    const counts = countStatements(storage);
    const results = await Promise.allSettled([
      storage.rotateRefreshToken(presenting(seeded[0] as Family, T0 + 1)),
      // Beyond BIGINT: PostgreSQL refuses the whole array, so the statement fails as a whole.
      storage.rotateRefreshToken(presenting(seeded[1] as Family, T0 + 1, { refreshTokenId: 2 ** 64 })),
      storage.rotateRefreshToken(presenting(seeded[2] as Family, T0 + 1)),
    ]);
    assert.equal(counts.get('rotate_refresh_batch_audited'), 1);
    assert.equal(counts.get('rotate_refresh_audited'), 3, 'then each element alone');
    assert.equal(results[0]?.status === 'fulfilled' && results[0].value.outcome, 'rotated');
    assert.equal(results[1]?.status, 'rejected');
    assert.ok(!(results[1]?.status === 'rejected' && results[1].reason instanceof StorageUnavailableError));
    assert.equal(results[2]?.status === 'fulfilled' && results[2].value.outcome, 'rotated');
  });

  test('more than one statement holds: 150 refreshes of one turn, each rotated once', async () => {
    const seeded = await families(storage, 150);
    const counts = countStatements(storage);
    const answers = await Promise.all(seeded.map((f) => storage.rotateRefreshToken(presenting(f, T0 + 7))));
    assert.deepEqual(new Set(answers.map((a) => a.outcome)), new Set(['rotated']));
    assert.equal(counts.get('rotate_refresh_batch_audited'), 3, '64 + 64 + 22');
    const ids = answers.map((a) => (a.outcome === 'rotated' ? a.refreshTokenId : 0));
    assert.equal(new Set(ids).size, 150);
  });

  test('two instances batching the same tokens in opposite orders: no deadlock, one rotation each', async () => {
    const seeded = await families(storage, 40);
    const [mine, theirs] = await Promise.all([
      Promise.all(seeded.map((f) => storage.rotateRefreshToken(presenting(f, T0 + 9)))),
      Promise.all([...seeded].reverse().map((f) => second.rotateRefreshToken(presenting(f, T0 + 9)))),
    ]);
    theirs.reverse();
    for (const [i, f] of seeded.entries()) {
      const pair = [mine[i]?.outcome, theirs[i]?.outcome].sort();
      assert.deepEqual(pair, ['replayed', 'rotated'], `token ${f.refreshTokenId}`);
      const a = mine[i];
      const b = theirs[i];
      if (a?.outcome === 'reused' || b?.outcome === 'reused' || !a || !b) assert.fail();
      if ('refreshTokenId' in a && 'refreshTokenId' in b) assert.equal(a.refreshTokenId, b.refreshTokenId);
    }
  });

  test('with the database away, every refresh of the turn is answered unavailable, none retried alone', async () => {
    const away = new PostgresStorage({
      connectionString: 'postgres://postgres@127.0.0.1:1/none',
      connectionTimeoutMs: 500,
    });
    try {
      const counts = countStatements(away);
      const token = { refreshTokenId: 1, refreshHash: hash(), clientId: '1000000000000001' };
      const results = await Promise.allSettled(
        Array.from({ length: 4 }, () => away.rotateRefreshToken(presenting(token, T0))),
      );
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.ok(r.status === 'rejected' && r.reason instanceof StorageUnavailableError);
      }
      assert.equal(counts.get('rotate_refresh_audited') ?? 0, 0);
    } finally {
      await away.close();
    }
  });

  test('client_credentials tokens of one turn: one statement, each token and event its own', async () => {
    const seeded = await families(storage, 3);
    const counts = countStatements(storage);
    const asked = seeded.map((f, i) => ({
      token: {
        hash: hash(),
        clientId: f.clientId,
        userId: f.sellerId,
        scope: i === 0 ? 'read' : 'read write',
        liveMode: i !== 1,
        issuedAt: T0 + i,
        expiresAt: T0 + DAY,
        ...(i === 2 ? {} : { issuingSecretId: i + 1 }),
      },
      audit: {
        actor: 'application' as const,
        actorId: f.clientId,
        requestId: `cc-${i}`,
        remoteAddress: `10.1.0.${i}`,
      },
    }));
    const issued = await Promise.all(
      asked.map(({ token, audit }) => storage.issueClientCredentialsToken(token, audit)),
    );
    assert.equal(counts.get('insert_cc_tokens_audited'), 1, 'one statement for the whole turn');
    assert.equal(new Set(issued.map((t) => t.accessTokenId)).size, 3);
    for (const [i, { token, audit }] of asked.entries()) {
      const stored = await storage.findAccessToken(issued[i]?.accessTokenId as number);
      assert.ok(stored?.hash.equals(token.hash), `token ${i} is the one asked for`);
      assert.equal(stored?.kind, 'client_credentials');
      assert.equal(stored?.clientId, token.clientId);
      assert.equal(stored?.userId, token.userId);
      assert.equal(stored?.scope, token.scope);
      assert.equal(stored?.liveMode, token.liveMode);
      assert.equal(stored?.issuedAt, token.issuedAt);
      assert.equal(stored?.issuingSecretId, token.issuingSecretId ?? null);
      const events = await storage.listAuditEvents({
        userId: token.userId,
        type: 'client_credentials.issued',
        limit: 5,
      });
      assert.equal(events.length, 1);
      assert.equal(events[0]?.requestId, audit.requestId);
      assert.equal(events[0]?.remoteAddress, audit.remoteAddress);
      assert.equal(events[0]?.at, token.issuedAt);
    }
  });

  test('a client_credentials token the statement cannot take fails alone; the others are issued', async () => {
    const [f] = await families(storage, 1);
    const owner = f as Family;
    const counts = countStatements(storage);
    const token = (userId: number) => ({
      hash: hash(),
      clientId: owner.clientId,
      userId,
      scope: 'read',
      liveMode: true,
      issuedAt: T0,
      expiresAt: T0 + DAY,
    });
    const results = await Promise.allSettled([
      storage.issueClientCredentialsToken(token(owner.sellerId)),
      storage.issueClientCredentialsToken(token(2 ** 64)),
      storage.issueClientCredentialsToken(token(owner.sellerId)),
    ]);
    assert.equal(counts.get('insert_cc_tokens_audited'), 1);
    assert.equal(counts.get('insert_cc_token_audited'), 3, 'then each alone');
    assert.equal(results[0]?.status, 'fulfilled');
    assert.equal(results[1]?.status, 'rejected');
    assert.equal(results[2]?.status, 'fulfilled');
    const events = await storage.listAuditEvents({
      userId: owner.sellerId,
      type: 'client_credentials.issued',
      limit: 5,
    });
    assert.equal(events.length, 2, 'no event of the rolled-back statement survives');
  });

  test('code exchanges of one turn: one statement; issued, reused and revoked side by side', async () => {
    const fresh = [await seedGrant(storage), await seedGrant(storage), await seedGrant(storage)];
    const twice = await seedGrant(storage);
    const revoked = await seedGrant(storage);
    assert.equal(await storage.revokeGrant(revoked.clientId, revoked.sellerId, T0), true);
    const exchange = (codeId: number, i: number) => ({
      codeId,
      now: T0 + 1,
      liveMode: i % 2 === 0,
      access: { hash: hash(), scope: 'offline_access read write', issuedAt: T0 + 1, expiresAt: T0 + DAY },
      refresh: { hash: hash(), issuedAt: T0 + 1, expiresAt: T0 + 180 * DAY },
      audit: { actor: 'application' as const, actorId: null, requestId: `x-${i}`, remoteAddress: '10.2.0.1' },
    });
    const counts = countStatements(storage);
    const asked = [...fresh.map((g) => g.codeId), twice.codeId, twice.codeId, revoked.codeId];
    const answers = await Promise.all(
      asked.map((codeId, i) => storage.exchangeAuthorizationCode(exchange(codeId, i))),
    );
    assert.equal(counts.get('exchange_codes'), 1, 'one statement for the whole turn');
    assert.equal(counts.get('exchange_code') ?? 0, 0);

    const issued = answers.slice(0, 3);
    for (const [i, answer] of issued.entries()) {
      if (answer.outcome !== 'issued') assert.fail(`exchange ${i}: ${answer.outcome}`);
      const access = await storage.findAccessToken(answer.accessTokenId);
      assert.equal(access?.userId, fresh[i]?.sellerId);
      assert.equal(access?.liveMode, i % 2 === 0);
      assert.equal((await storage.findRefreshToken(answer.refreshTokenId))?.revoked, false);
      const events = await storage.listAuditEvents({
        userId: fresh[i]?.sellerId as number,
        type: 'code.exchanged',
        limit: 5,
      });
      assert.equal(events.length, 1);
      assert.equal(events[0]?.requestId, `x-${i}`);
      assert.equal(events[0]?.familyId, answer.familyId);
    }
    assert.equal(new Set(issued.map((a) => (a.outcome === 'issued' ? a.familyId : 0))).size, 3);

    // One code twice in one statement: the first issues, the second is a reuse and revokes what
    // the first issued (RFC 6749 §4.1.2), as between two concurrent requests.
    const first = answers[3];
    assert.deepEqual(answers[4], { outcome: 'code_reused' });
    if (first?.outcome !== 'issued') assert.fail(`first of twice: ${first?.outcome}`);
    assert.equal((await storage.findRefreshToken(first.refreshTokenId))?.revoked, true);
    assert.equal((await storage.findAccessToken(first.accessTokenId))?.revoked, true);
    const reuse = await storage.listAuditEvents({ userId: twice.sellerId, type: 'code.reused', limit: 5 });
    assert.equal(reuse.length, 1);
    assert.equal(reuse[0]?.familyId, first.familyId);

    assert.deepEqual(answers[5], { outcome: 'grant_revoked' });
  });

  test('a code exchange the statement cannot take fails alone; the others are issued', async () => {
    const seeded = [await seedGrant(storage), await seedGrant(storage)];
    const counts = countStatements(storage);
    const exchange = (codeId: number) => ({
      codeId,
      now: T0 + 2,
      liveMode: true,
      access: { hash: hash(), scope: 'read', issuedAt: T0 + 2, expiresAt: T0 + DAY },
      refresh: { hash: hash(), issuedAt: T0 + 2, expiresAt: T0 + DAY },
    });
    const results = await Promise.allSettled([
      storage.exchangeAuthorizationCode(exchange(seeded[0]?.codeId as number)),
      storage.exchangeAuthorizationCode(exchange(2 ** 64)),
      storage.exchangeAuthorizationCode(exchange(seeded[1]?.codeId as number)),
    ]);
    assert.equal(counts.get('exchange_codes'), 1);
    assert.equal(counts.get('exchange_code'), 3, 'then each alone');
    assert.equal(results[0]?.status === 'fulfilled' && results[0].value.outcome, 'issued');
    assert.equal(results[1]?.status, 'rejected');
    assert.equal(results[2]?.status === 'fulfilled' && results[2].value.outcome, 'issued');
  });
});
