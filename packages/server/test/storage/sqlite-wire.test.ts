import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import type {
  AuditContext,
  ExchangeOutcome,
  NewClientCredentialsToken,
  RotateOutcome,
  RotateRefreshToken,
} from '../../src/storage/contract.ts';
import { SqliteStorage } from '../../src/storage/sqlite/adapter.ts';
import { wireCodec } from '../../src/storage/sqlite/wire.ts';
import type { StepArgs } from '../../src/storage/sqlite/write-steps.ts';

/**
 * The flat messages of the writer thread (storage/sqlite/wire.ts). The fixtures are `Required<…>`
 * of the contract's types: a field added to a type fails this file's typecheck until it is filled
 * here, and then the round trip fails until the codec carries it.
 */

/** Every byte value, so that a lossy text encoding of Buffers could not pass. */
const allBytes = () => Buffer.from(Array.from({ length: 256 }, (_x, i) => i));
const digest = () => randomBytes(32);

const audit: Required<AuditContext> = {
  actor: 'application',
  actorId: '4934588586838432',
  requestId: '0b4c6b53-7a33-4d55-9a55-2c1f3e8d2b11',
  remoteAddress: '::ffff:127.0.0.1',
  at: 1_764_600_000_123,
};

/** What the writer thread receives: the encoded value after a real structured clone. */
async function throughPort<T>(value: T): Promise<T> {
  const { port1, port2 } = new MessageChannel();
  try {
    return await new Promise<T>((resolve) => {
      port2.once('message', resolve);
      port1.postMessage(value);
    });
  } finally {
    port1.close();
    port2.close();
  }
}

/** Encodes, clones, decodes; and checks that what travelled is one flat array of primitives. */
async function roundTrip(kind: 'args' | 'result', name: string, value: unknown): Promise<unknown> {
  const codec = wireCodec(name);
  assert.ok(codec, `${name} has a flat codec`);
  const encoded = kind === 'args' ? codec.encodeArgs(value) : codec.encodeResult(value);
  assert.ok(Array.isArray(encoded), 'a flat message is an array');
  for (const slot of encoded as unknown[]) {
    assert.ok(slot === null || typeof slot !== 'object', `slot ${String(slot)} is a primitive`);
  }
  const received = await throughPort(encoded);
  return kind === 'args' ? codec.decodeArgs(received) : codec.decodeResult(received);
}

describe('the SQLite writer thread: flat messages of the token steps', () => {
  test('exactly the three token endpoint steps travel flat', () => {
    assert.notEqual(wireCodec('rotateRefreshToken'), undefined);
    assert.notEqual(wireCodec('exchangeAuthorizationCode'), undefined);
    assert.notEqual(wireCodec('issueClientCredentialsToken'), undefined);
    for (const other of ['createUser', 'revokeFamily', 'probe', 'toString', '__proto__', 'constructor']) {
      assert.equal(wireCodec(other), undefined, other);
    }
  });

  test('a rotation request round-trips exactly, bytes 0-255 included, with and without its audit context', async () => {
    const full: Required<RotateRefreshToken> = {
      refreshTokenId: 2 ** 53 - 1,
      presentedHash: allBytes(),
      clientId: '4934588586838432',
      requestedScope: 'read offline_access',
      now: 1_764_600_000_000,
      graceMs: 60_000,
      access: { hash: digest(), issuedAt: 1_764_600_000_000, expiresAt: 1_780_152_000_000 },
      refresh: { hash: digest(), issuedAt: 1_764_600_000_000, expiresAt: 1_780_152_000_001 },
      replaySeal: digest(),
      audit,
    };
    const decoded = (await roundTrip('args', 'rotateRefreshToken', full)) as RotateRefreshToken;
    assert.deepStrictEqual(decoded, full);
    assert.ok(Buffer.isBuffer(decoded.presentedHash) && Buffer.isBuffer(decoded.replaySeal));

    const { audit: _omitted, ...bare } = full;
    const noScope = { ...bare, requestedScope: null };
    assert.deepStrictEqual(await roundTrip('args', 'rotateRefreshToken', noScope), noScope);
    const { at: _at, ...auditWithoutAt } = audit;
    const withoutAt = { ...full, audit: auditWithoutAt };
    assert.deepStrictEqual(await roundTrip('args', 'rotateRefreshToken', withoutAt), withoutAt);
    const anonymous = {
      ...full,
      audit: { ...auditWithoutAt, actorId: null, requestId: null, remoteAddress: null },
    };
    assert.deepStrictEqual(await roundTrip('args', 'rotateRefreshToken', anonymous), anonymous);
  });

  test('every rotation outcome round-trips', async () => {
    type Of<O extends RotateOutcome['outcome']> = Required<Extract<RotateOutcome, { outcome: O }>>;
    const pair = {
      accessTokenId: 41,
      refreshTokenId: 42,
      access: { scope: 'read write offline_access', issuedAt: 1, expiresAt: 2 },
      userId: 241_983_636,
      liveMode: true,
      publicKey: 'APP_USR-2b4f6a3c-1d5e-4f7a-8b9c-0d1e2f3a4b5c',
    };
    const outcomes: RotateOutcome[] = [
      { outcome: 'rotated', ...pair } satisfies Of<'rotated'>,
      { outcome: 'replayed', ...pair, liveMode: false, replaySeal: allBytes() } satisfies Of<'replayed'>,
      { outcome: 'reused', familyId: 7 } satisfies Of<'reused'>,
      { outcome: 'revoked' } satisfies Of<'revoked'>,
      { outcome: 'invalid', reason: 'unknown' } satisfies Of<'invalid'>,
      { outcome: 'invalid', reason: 'other_client' },
      { outcome: 'invalid', reason: 'expired' },
      { outcome: 'not_refreshable' } satisfies Of<'not_refreshable'>,
      { outcome: 'scope_not_granted', grantScope: 'read' } satisfies Of<'scope_not_granted'>,
    ];
    for (const outcome of outcomes) {
      assert.deepStrictEqual(await roundTrip('result', 'rotateRefreshToken', outcome), outcome);
    }
  });

  test('a code exchange round-trips, request and every outcome', async () => {
    const full: Required<StepArgs<'exchangeAuthorizationCode'>> = {
      codeId: 9,
      now: 1_764_600_000_000,
      liveMode: false,
      access: { hash: allBytes(), scope: 'read offline_access', issuedAt: 3, expiresAt: 4 },
      refresh: { hash: digest(), issuedAt: 5, expiresAt: 6 },
      audit,
    };
    assert.deepStrictEqual(await roundTrip('args', 'exchangeAuthorizationCode', full), full);
    const { audit: _omitted, ...bare } = full;
    assert.deepStrictEqual(await roundTrip('args', 'exchangeAuthorizationCode', bare), bare);
    const outcomes: ExchangeOutcome[] = [
      {
        outcome: 'issued',
        familyId: 1,
        accessTokenId: 2,
        refreshTokenId: 3,
        publicKey: 'APP_USR-2b4f6a3c-1d5e-4f7a-8b9c-0d1e2f3a4b5c',
      } satisfies Required<Extract<ExchangeOutcome, { outcome: 'issued' }>>,
      { outcome: 'code_reused' },
      { outcome: 'grant_revoked' },
    ];
    for (const outcome of outcomes) {
      assert.deepStrictEqual(await roundTrip('result', 'exchangeAuthorizationCode', outcome), outcome);
    }
  });

  test('a client_credentials token round-trips, its issuing secret omitted, null or an id', async () => {
    const full: Required<NewClientCredentialsToken> & { audit: AuditContext } = {
      hash: allBytes(),
      scope: 'read write',
      issuedAt: 7,
      expiresAt: 8,
      clientId: '4934588586838432',
      userId: 1_000_001,
      liveMode: true,
      issuingSecretId: 12,
      audit,
    };
    assert.deepStrictEqual(await roundTrip('args', 'issueClientCredentialsToken', full), full);
    const nullSecret = { ...full, issuingSecretId: null };
    assert.deepStrictEqual(await roundTrip('args', 'issueClientCredentialsToken', nullSecret), nullSecret);
    const { issuingSecretId: _id, audit: _audit, ...omitted } = full;
    assert.deepStrictEqual(await roundTrip('args', 'issueClientCredentialsToken', omitted), omitted);
    assert.deepStrictEqual(await roundTrip('result', 'issueClientCredentialsToken', { accessTokenId: 5 }), {
      accessTokenId: 5,
    });
  });

  test('a step whose arguments cannot be encoded is refused, and the writer thread keeps writing', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'renova-wire-'));
    const storage = new SqliteStorage({ path: join(dir, 'renova.db') });
    t.after(async () => {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await storage.migrate();
    assert.ok(storage.writerThread, 'the file database writes through the writer thread');
    const broken = { refreshTokenId: 1, clientId: '4934588586838432' } as unknown as RotateRefreshToken;
    await assert.rejects(storage.rotateRefreshToken(broken));
    await storage.ping();
  });
});
