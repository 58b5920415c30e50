import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { RotateOutcome, RotateRefreshToken, StoragePort } from '../../src/storage/contract.ts';
import {
  decideRotation,
  type RotationArgs,
  type RotationDecision,
  type RotationState,
} from '../../src/storage/rotation.ts';
import { DAY, hash, seedFamily, T0 } from '../helpers/seed.ts';
import { memoryFactory, storageFactories, type TestStorage } from '../helpers/storages.ts';

/**
 * The refresh rotation decision held to one table on every engine (issue 10 item 4): SQLite and
 * memory take it from storage/rotation.ts, PostgreSQL from its PL/pgSQL `renova_rotate_refresh`.
 * Each row sets a token up through the port, presents it once, and checks the outcome AND what the
 * call wrote: a failed precondition writes nothing (contract.ts `RotateRefreshToken`).
 */

const GRACE = 60_000;
const FULL = 'offline_access read write';

/** A token as its rightful client presents it. */
interface Presented {
  storage: StoragePort;
  clientId: string;
  familyId: number;
  refreshTokenId: number;
  refreshHash: Buffer;
  /** Every refresh and access token id issued in this family so far. */
  refreshIds: number[];
  accessIds: number[];
  /** The first rotation's answer, when the setup rotated. */
  firstRotation?: RotateOutcome;
}

function presentation(
  p: Presented,
  now: number,
  overrides: Partial<RotateRefreshToken> = {},
): RotateRefreshToken {
  return {
    refreshTokenId: p.refreshTokenId,
    presentedHash: p.refreshHash,
    clientId: p.clientId,
    requestedScope: null,
    now,
    graceMs: GRACE,
    access: { hash: hash(), issuedAt: now, expiresAt: now + 180 * DAY },
    refresh: { hash: hash(), issuedAt: now, expiresAt: now + 180 * DAY },
    replaySeal: randomBytes(60),
    ...overrides,
  };
}

/** A fresh family: one code exchanged at T0; its refresh token expires at `refreshExpiresAt`. */
async function family(
  storage: StoragePort,
  scope = FULL,
  refreshExpiresAt = T0 + 180 * DAY,
): Promise<Presented> {
  const issued = await seedFamily(storage, scope, refreshExpiresAt);
  return {
    storage,
    clientId: issued.clientId,
    familyId: issued.familyId,
    refreshTokenId: issued.refreshTokenId,
    refreshHash: issued.refreshHash,
    refreshIds: [issued.refreshTokenId],
    accessIds: [issued.accessTokenId],
  };
}

/** Rotates `p` at `now` (window `graceMs`) and returns the successor as its client would present it. */
async function rotate(p: Presented, now: number, graceMs = GRACE): Promise<Presented> {
  const args = presentation(p, now, { graceMs });
  const rotated = await p.storage.rotateRefreshToken(args);
  if (rotated.outcome !== 'rotated') throw new Error(`setup: rotation answered ${rotated.outcome}`);
  return {
    ...p,
    refreshTokenId: rotated.refreshTokenId,
    refreshHash: args.refresh.hash,
    refreshIds: [...p.refreshIds, rotated.refreshTokenId],
    accessIds: [...p.accessIds, rotated.accessTokenId],
  };
}

/** Everything the port shows about a family: each token's state, read back through the port. */
async function snapshot(p: Presented) {
  return {
    refresh: await Promise.all(p.refreshIds.map((id) => p.storage.findRefreshToken(id))),
    access: await Promise.all(p.accessIds.map((id) => p.storage.findAccessToken(id))),
  };
}

/** Deletes every token (all expire before T0 + 1000 days) and says how many there were. */
async function countAndPurgeTokens(storage: StoragePort): Promise<{ refresh: number; access: number }> {
  const purged = await storage.purgeExpired({ now: T0 + 1000 * DAY, codeGraceMs: 0, limit: 100_000 });
  return { refresh: purged.refreshTokens, access: purged.accessTokens };
}

/** What the presentation may write. */
type Writes = 'nothing' | 'new pair' | 'family revoked';

interface Row {
  name: string;
  /** Builds the state; returns the token whose presentation is checked, and how it is presented. */
  setup(storage: StoragePort): Promise<{ token: Presented; args: RotateRefreshToken }>;
  expected: (token: Presented) => Partial<RotateOutcome> & { outcome: RotateOutcome['outcome'] };
  writes: Writes;
}

/** The precondition order of contract.ts, then the decision: one row per branch. */
const TABLE: Row[] = [
  {
    name: 'unknown token id',
    setup: async (s) => {
      const t = await family(s);
      return { token: t, args: presentation(t, T0 + 1000, { refreshTokenId: t.refreshTokenId + 1_000_000 }) };
    },
    expected: () => ({ outcome: 'invalid', reason: 'unknown' }),
    writes: 'nothing',
  },
  {
    name: 'wrong secret for a known id',
    setup: async (s) => {
      const t = await family(s);
      return { token: t, args: presentation(t, T0 + 1000, { presentedHash: hash() }) };
    },
    expected: () => ({ outcome: 'invalid', reason: 'unknown' }),
    writes: 'nothing',
  },
  {
    name: 'wrong secret for an already rotated token: no reuse detection from an id alone',
    setup: async (s) => {
      const first = await family(s);
      const successor = await rotate(first, T0 + 1000);
      return { token: successor, args: presentation(first, T0 + 120_000, { presentedHash: hash() }) };
    },
    expected: () => ({ outcome: 'invalid', reason: 'unknown' }),
    writes: 'nothing',
  },
  {
    name: 'issued to another client',
    setup: async (s) => {
      const t = await family(s);
      return { token: t, args: presentation(t, T0 + 1000, { clientId: '9999999999999999' }) };
    },
    expected: () => ({ outcome: 'invalid', reason: 'other_client' }),
    writes: 'nothing',
  },
  {
    name: 'another client presenting a rotated token: no reuse detection',
    setup: async (s) => {
      const t = await family(s);
      const successor = await rotate(t, T0 + 1000);
      return { token: successor, args: presentation(t, T0 + 120_000, { clientId: '9999999999999999' }) };
    },
    expected: () => ({ outcome: 'invalid', reason: 'other_client' }),
    writes: 'nothing',
  },
  {
    name: 'another client before revoked: other_client is checked first',
    setup: async (s) => {
      const t = await family(s);
      await s.revokeFamily(t.familyId, T0 + 500);
      return { token: t, args: presentation(t, T0 + 1000, { clientId: '9999999999999999' }) };
    },
    expected: () => ({ outcome: 'invalid', reason: 'other_client' }),
    writes: 'nothing',
  },
  {
    name: 'revoked family',
    setup: async (s) => {
      const t = await family(s);
      await s.revokeFamily(t.familyId, T0 + 500);
      return { token: t, args: presentation(t, T0 + 1000) };
    },
    expected: () => ({ outcome: 'revoked' }),
    writes: 'nothing',
  },
  {
    name: 'revoked grant (its families and so this token are revoked)',
    setup: async (s) => {
      const t = await family(s);
      const grant = await s.findRefreshToken(t.refreshTokenId);
      assert.ok(grant);
      assert.equal(await s.revokeGrant(t.clientId, grant.userId, T0 + 500), true);
      return { token: t, args: presentation(t, T0 + 1000) };
    },
    expected: () => ({ outcome: 'revoked' }),
    writes: 'nothing',
  },
  {
    name: 'revoked before expired: revoked is checked first',
    setup: async (s) => {
      const t = await family(s, FULL, T0 + 2000);
      await s.revokeFamily(t.familyId, T0 + 500);
      return { token: t, args: presentation(t, T0 + 5000) };
    },
    expected: () => ({ outcome: 'revoked' }),
    writes: 'nothing',
  },
  {
    name: 'expired (at its expiry instant)',
    setup: async (s) => {
      const t = await family(s, FULL, T0 + 2000);
      return { token: t, args: presentation(t, T0 + 2000) };
    },
    expected: () => ({ outcome: 'invalid', reason: 'expired' }),
    writes: 'nothing',
  },
  {
    name: 'expired before no offline_access: expired is checked first',
    setup: async (s) => {
      const t = await family(s, 'read write', T0 + 2000);
      return { token: t, args: presentation(t, T0 + 5000) };
    },
    expected: () => ({ outcome: 'invalid', reason: 'expired' }),
    writes: 'nothing',
  },
  {
    name: 'grant without offline_access',
    setup: async (s) => {
      const t = await family(s, 'read write');
      return { token: t, args: presentation(t, T0 + 1000) };
    },
    expected: () => ({ outcome: 'not_refreshable' }),
    writes: 'nothing',
  },
  {
    name: 'requested scope not granted',
    setup: async (s) => {
      const t = await family(s, 'offline_access read');
      return { token: t, args: presentation(t, T0 + 1000, { requestedScope: 'read write' }) };
    },
    expected: () => ({ outcome: 'scope_not_granted', grantScope: 'offline_access read' }),
    writes: 'nothing',
  },
  {
    name: 'requested scope not granted, on a rotated token: no reuse detection',
    setup: async (s) => {
      const t = await family(s, 'offline_access read');
      const successor = await rotate(t, T0 + 1000);
      return { token: successor, args: presentation(t, T0 + 120_000, { requestedScope: 'write' }) };
    },
    expected: () => ({ outcome: 'scope_not_granted', grantScope: 'offline_access read' }),
    writes: 'nothing',
  },
  {
    name: 'rotate, keeping the grant scope',
    setup: async (s) => {
      const t = await family(s);
      return { token: t, args: presentation(t, T0 + 1000) };
    },
    expected: () => ({
      outcome: 'rotated',
      access: { scope: FULL, issuedAt: T0 + 1000, expiresAt: T0 + 1000 + 180 * DAY },
    }),
    writes: 'new pair',
  },
  {
    name: 'rotate, narrowing the access token to the requested scope (RFC 6749 §6)',
    setup: async (s) => {
      const t = await family(s);
      return { token: t, args: presentation(t, T0 + 1000, { requestedScope: 'read' }) };
    },
    expected: () => ({
      outcome: 'rotated',
      access: { scope: 'read', issuedAt: T0 + 1000, expiresAt: T0 + 1000 + 180 * DAY },
    }),
    writes: 'new pair',
  },
  {
    name: 'replay inside the window: the first answer again',
    setup: async (s) => {
      const t = await family(s);
      const args = presentation(t, T0 + 1000);
      const first = await s.rotateRefreshToken(args);
      assert.equal(first.outcome, 'rotated');
      if (first.outcome !== 'rotated') throw new Error('unreachable');
      const token: Presented = {
        ...t,
        refreshIds: [...t.refreshIds, first.refreshTokenId],
        accessIds: [...t.accessIds, first.accessTokenId],
        firstRotation: { ...first, outcome: 'replayed', replaySeal: args.replaySeal },
      };
      return { token, args: presentation(t, T0 + 1000 + GRACE) };
    },
    expected: (t) => t.firstRotation as RotateOutcome,
    writes: 'nothing',
  },
  {
    name: 'replay inside the window after the successor was used: reuse',
    setup: async (s) => {
      const t = await family(s);
      const successor = await rotate(t, T0 + 1000);
      const third = await rotate(successor, T0 + 2000);
      return { token: third, args: presentation(t, T0 + 3000) };
    },
    expected: (t) => ({ outcome: 'reused', familyId: t.familyId }),
    writes: 'family revoked',
  },
  {
    name: 'replay after the window: reuse (RFC 9700 §4.14.2)',
    setup: async (s) => {
      const t = await family(s);
      const successor = await rotate(t, T0 + 1000);
      return { token: successor, args: presentation(t, T0 + 1000 + GRACE + 1) };
    },
    expected: (t) => ({ outcome: 'reused', familyId: t.familyId }),
    writes: 'family revoked',
  },
  {
    name: 'window 0: any second presentation is reuse',
    setup: async (s) => {
      const t = await family(s);
      const successor = await rotate(t, T0 + 1000, 0);
      return { token: successor, args: presentation(t, T0 + 1000, { graceMs: 0 }) };
    },
    expected: (t) => ({ outcome: 'reused', familyId: t.familyId }),
    writes: 'family revoked',
  },
];

for (const factory of [...storageFactories, memoryFactory]) {
  describe(`refresh rotation decision table on ${factory.name} (issue 10 item 4)`, () => {
    let ts: TestStorage;
    before(async () => {
      ts = await factory.create();
    });
    after(() => ts.cleanup());

    for (const row of TABLE) {
      test(`${row.name}: writes ${row.writes}`, async () => {
        const storage = ts.storage;
        // Each row starts with no tokens, so the count afterwards is exactly what this row made.
        await countAndPurgeTokens(storage);
        const { token, args } = await row.setup(storage);
        const before = await snapshot(token);
        const outcome = await storage.rotateRefreshToken(args);
        const expected = row.expected(token);
        assert.equal(outcome.outcome, expected.outcome, JSON.stringify(outcome));
        assert.deepEqual({ ...outcome, ...expected }, outcome, 'the outcome carries what the table expects');
        if (expected.outcome === 'replayed') assert.deepEqual(outcome, expected);

        const afterCall = await snapshot(token);
        if (row.writes === 'family revoked') {
          // Every token of the family is now revoked; nothing else changed and nothing was added.
          for (const r of afterCall.refresh) assert.equal(r?.revoked, true);
          for (const a of afterCall.access) assert.equal(a?.revoked, true);
          assert.deepEqual(
            afterCall.refresh.map((r) => r && { ...r, revoked: false }),
            before.refresh.map((r) => r && { ...r, revoked: false }),
          );
        } else if (row.writes === 'new pair') {
          const presented = afterCall.refresh.find((r) => r?.id === args.refreshTokenId);
          assert.equal(presented?.rotatedAt, args.now, 'the presented token is marked rotated');
          if (outcome.outcome !== 'rotated') throw new Error('unreachable');
          const successor = await storage.findRefreshToken(outcome.refreshTokenId);
          assert.equal(successor?.familyId, token.familyId);
          assert.equal(successor?.rotatedAt, null);
          assert.equal((await storage.findAccessToken(outcome.accessTokenId))?.scope, outcome.access.scope);
        } else {
          assert.deepEqual(afterCall, before, 'a refused or replayed presentation changes no token');
        }
        const added = row.writes === 'new pair' ? 1 : 0;
        assert.deepEqual(
          await countAndPurgeTokens(storage),
          { refresh: token.refreshIds.length + added, access: token.accessIds.length + added },
          'no token was added beyond what the outcome issued',
        );
      });
    }
  });
}

/** The pure decision alone, for the states the port cannot reach (a token revoked on its own). */
describe('decideRotation (storage/rotation.ts)', () => {
  const presented = hash();
  const state = (overrides: Partial<RotationState> = {}): RotationState => ({
    hash: presented,
    clientId: 'c',
    revoked: false,
    expiresAt: T0 + DAY,
    grantScope: FULL,
    rotatedAt: null,
    ...overrides,
  });
  const args: RotationArgs = {
    presentedHash: presented,
    clientId: 'c',
    requestedScope: null,
    now: T0,
    graceMs: GRACE,
  };
  const cases: [string, RotationState | undefined, Partial<typeof args>, RotationDecision][] = [
    [
      'no such token',
      undefined,
      {},
      { action: 'refuse', refusal: { outcome: 'invalid', reason: 'unknown' } },
    ],
    ['a revoked token', state({ revoked: true }), {}, { action: 'refuse', refusal: { outcome: 'revoked' } }],
    [
      'a digest of another length',
      state({ hash: presented.subarray(0, 16) }),
      {},
      { action: 'refuse', refusal: { outcome: 'invalid', reason: 'unknown' } },
    ],
    ['a rotated token whose successor is gone', state({ rotatedAt: T0 - 1 }), {}, { action: 'reuse' }],
    [
      'a rotated token whose successor was revoked',
      state({ rotatedAt: T0 - 1, successor: { rotated: false, revoked: true } }),
      {},
      { action: 'reuse' },
    ],
    [
      'exactly at the end of the window',
      state({ rotatedAt: T0 - GRACE, successor: { rotated: false, revoked: false } }),
      {},
      { action: 'replay' },
    ],
    [
      'rotate with the requested scope',
      state(),
      { requestedScope: 'read' },
      { action: 'rotate', accessScope: 'read' },
    ],
  ];
  for (const [name, s, overrides, expected] of cases) {
    test(name, () => {
      assert.deepEqual(decideRotation(s, { ...args, ...overrides }), expected);
    });
  }
});
