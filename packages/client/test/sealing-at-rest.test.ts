import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  type KmsSealingKey,
  MemoryTokenStore,
  OAuth,
  type StoredToken,
  TokenKeeper,
  type TokenKeeperOptions,
  TokenSealingError,
  type TokenStore,
} from '../src/index.ts';
import { type FakeServer, startFakeServer } from './helpers/fake-server.ts';
import { rawDump } from './helpers/raw-dump.ts';
import { createStore, type StoreFixture, type StoreSpec } from './helpers/stores.ts';
import { wrapStore } from './helpers/tokens.ts';

let fake: FakeServer;
const K1 = { id: 'k1', key: randomBytes(32) };
const K2 = { id: 'k2', key: randomBytes(32).toString('base64') };

function keeper(store: TokenStore, extra: Partial<TokenKeeperOptions> = {}): TokenKeeper {
  return new TokenKeeper({
    oauth: new OAuth({ baseUrl: fake.baseUrl, timeout: 2_000 }),
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    store,
    retry: { attempts: 1, baseDelayMs: 5, maxDelayMs: 50 },
    sealing: { keys: [K1] },
    ...extra,
  });
}

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<TokenSealingError> {
  try {
    await p;
  } catch (error) {
    assert.ok(error instanceof TokenSealingError, `expected TokenSealingError, got ${String(error)}`);
    assert.equal(error.error, code);
    assert.match(error.message, message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

before(async () => {
  fake = await startFakeServer();
});
after(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.requests.length = 0;
  fake.faults.length = 0;
});

for (const kind of ['memory', 'sqlite', 'postgres', 'redis'] as StoreSpec['kind'][]) {
  describe(`sealed tokens at rest in the ${kind} store`, () => {
    let fx: StoreFixture;
    before(async () => {
      fx = await createStore(kind);
    });
    after(async () => {
      await fx.cleanup();
    });

    it('leaves no access or refresh token the keeper ever held anywhere in the raw data', async () => {
      // A swap that leaves its journal entry behind, so the journal's sealing is checked too.
      const leaky = wrapStore(fx.store, {
        compareAndSwap: (u, v, n) => fx.store.compareAndSwap(u, v, n),
      });
      const k = keeper(leaky);
      const secrets: string[] = [];
      for (const userId of [501, 502, 503]) {
        const answer = fake.issue(userId);
        secrets.push(answer.access_token as string, answer.refresh_token as string);
        await k.save(userId, answer as never);
        const rotated = await k.refresh(userId);
        assert.ok(rotated.refreshToken !== null);
        secrets.push(rotated.accessToken, rotated.refreshToken);
        assert.equal(
          await k.getAccessToken(userId),
          rotated.accessToken,
          'the keeper reads its own sealed rows',
        );
      }
      assert.equal((await fx.store.journalList()).length, 3, 'three journal entries stayed behind');
      const raw = await rawDump(fx.spec, fx.store);
      assert.ok(raw.includes('rnv1:k1:'), 'the raw data holds sealed values');
      for (const secret of secrets) {
        assert.equal(raw.includes(secret), false, `a token is in the raw ${kind} data in plaintext`);
        // Nor any long piece of it (a token split across pages, or in another encoding).
        const core = secret.split('-').sort((a, b) => b.length - a.length)[0] as string;
        assert.equal(raw.includes(core), false, `the random part of a token is in the raw ${kind} data`);
        assert.equal(raw.includes(Buffer.from(secret).toString('base64')), false);
      }
      for (const userId of [501, 502, 503]) {
        const row = (await fx.store.get(userId)) as StoredToken;
        assert.equal(row.userId, userId, 'the seller id stays in clear, so lookups stay indexed');
        assert.match(row.accessToken, /^rnv1:k1:/);
        assert.match(row.refreshToken ?? '', /^rnv1:k1:/);
        await fx.store.delete(userId);
      }
    });

    it('seals on the batched path too: concurrent refreshes group-committed by the store leave no plaintext', async () => {
      const k = keeper(fx.store);
      const ids = Array.from({ length: 8 }, (_, i) => 520 + i);
      const secrets: string[] = [];
      for (const id of ids) {
        const answer = fake.issue(id);
        secrets.push(answer.access_token as string, answer.refresh_token as string);
        await k.save(id, answer as never);
      }
      const rotated = await Promise.all(ids.map((id) => k.refresh(id)));
      for (const t of rotated) secrets.push(t.accessToken, t.refreshToken as string);
      for (const [i, id] of ids.entries()) assert.equal(await k.getAccessToken(id), rotated[i]?.accessToken);
      const raw = await rawDump(fx.spec, fx.store);
      for (const secret of secrets)
        assert.equal(raw.includes(secret), false, `plaintext token in raw ${kind} data`);
      for (const id of ids) await fx.store.delete(id);
    });

    it('re-seals every row and journal entry under a new key in bounded pages, after which the old key can go', async () => {
      const k1 = keeper(fx.store);
      const ids = Array.from({ length: 11 }, (_, i) => 600 + i);
      const plain = new Map<number, StoredToken>();
      for (const id of ids) plain.set(id, await k1.save(id, fake.issue(id) as never));
      const pending = (await k1.save(700, fake.issue(700) as never)) as StoredToken;
      // A journaled answer still waiting for its swap (a crash between journal and swap).
      const kLeaky = keeper(
        wrapStore(fx.store, {
          compareAndSwap: async () => {
            throw new Error('crash before the swap');
          },
        }),
      );
      await assert.rejects(kLeaky.refresh(700));
      assert.equal((await fx.store.journalList(700)).length, 1);

      const k2 = keeper(fx.store, { sealing: { keys: [K2, K1], currentKeyId: 'k2' } });
      // Before the rotation the rows are still under k1 (the new ring reads them through k1).
      assert.equal(await k2.getAccessToken(ids[0] as number), plain.get(ids[0] as number)?.accessToken);
      assert.match((await fx.store.get(ids[0] as number))?.accessToken ?? '', /^rnv1:k1:/);
      const result = await k2.rotateKey({ batchSize: 4 });
      assert.equal(result.keyId, 'k2');
      assert.equal(result.scanned >= 12, true);
      assert.equal(result.resealed, 12);
      assert.equal(result.journalResealed, 1);
      assert.ok(result.pages >= 3, `12 rows in pages of 4 took ${result.pages} page(s)`);
      const again = await k2.rotateKey({ batchSize: 4 });
      assert.equal(again.resealed, 0, 'idempotent');
      assert.equal(again.journalResealed, 0);

      const onlyK2 = keeper(fx.store, { sealing: { keys: [K2] } });
      for (const id of ids) {
        const t = (await fx.store.get(id)) as StoredToken;
        assert.match(t.accessToken, /^rnv1:k2:/);
        assert.equal(t.version, plain.get(id)?.version, 're-sealing does not bump the version');
        assert.equal(await onlyK2.getAccessToken(id), plain.get(id)?.accessToken);
      }
      // The journaled answer is recovered with the new key alone.
      assert.equal(await onlyK2.recover(), 1);
      const recovered = (await onlyK2.getToken(700)) as StoredToken;
      assert.equal(recovered.version, pending.version + 1);
      for (const id of [...ids, 700]) await fx.store.delete(id);
    });
  });
}

describe('rotateKey while the keeper keeps writing', () => {
  for (const kind of ['sqlite', 'postgres'] as StoreSpec['kind'][]) {
    it(`retries a row whose version moved between the scan and the rewrite (${kind}), and never loses the newer token`, async () => {
      const fx = await createStore(kind);
      try {
        const k1 = keeper(fx.store);
        await k1.save(801, fake.issue(801) as never);
        await k1.save(802, fake.issue(802) as never);
        let interfered = false;
        let newer: StoredToken | undefined;
        const racing = wrapStore(fx.store, {
          rewriteTokens: async (userId, version, a, r) => {
            if (userId === 801 && !interfered) {
              interfered = true;
              // A refresh by an old-ring process lands first: k1 seals it with the old key.
              newer = await k1.refresh(801);
            }
            return fx.store.rewriteTokens(userId, version, a, r);
          },
        });
        const k2 = keeper(racing, { sealing: { keys: [K2, K1], currentKeyId: 'k2' } });
        const result = await k2.rotateKey({ batchSize: 1 });
        assert.equal(interfered, true);
        assert.equal(result.resealed, 2);
        const row = (await fx.store.get(801)) as StoredToken;
        assert.match(row.accessToken, /^rnv1:k2:/);
        assert.equal(row.version, newer?.version, 'the rewrite did not bump the version');
        const onlyK2 = keeper(fx.store, { sealing: { keys: [K2] } });
        assert.equal(await onlyK2.getAccessToken(801), newer?.accessToken, 'the newer token survived');
      } finally {
        await fx.cleanup();
      }
    });
  }
});

describe('sealing failures are clear errors, never a refresh and never a re-authorization', () => {
  it('a wrong key with the right id: unseal_failed, no request sent, the row stays active', async () => {
    const store = new MemoryTokenStore();
    await keeper(store).save(1, fake.issue(1) as never);
    const wrong = keeper(store, { sealing: { keys: [{ id: 'k1', key: randomBytes(32) }] } });
    const err = await rejectsWith(wrong.getAccessToken(1), 'unseal_failed', /key id "k1".*does not open/);
    assert.equal(err.userId, 1);
    await rejectsWith(wrong.refresh(1), 'unseal_failed', /k1/);
    assert.equal(fake.requests.length, 0, 'no refresh was attempted');
    assert.equal((await store.get(1))?.status, 'active');
    assert.equal(wrong.metrics().reauthorizationRequired, 0);
  });

  it('a row sealed under a key id the ring lacks: unknown_sealing_key naming that id', async () => {
    const store = new MemoryTokenStore();
    await keeper(store, { sealing: { keys: [{ id: 'old-2025.q3', key: randomBytes(32) }] } }).save(
      2,
      fake.issue(2) as never,
    );
    const err = await rejectsWith(
      keeper(store).getAccessToken(2),
      'unknown_sealing_key',
      /key id "old-2025\.q3", which is not in the key ring \("k1"\)/,
    );
    assert.equal(err.keyId, 'old-2025.q3');
    assert.equal(fake.requests.length, 0);
  });

  it('a sealed row read by a keeper without keys: sealing_key_missing, never sent to the server', async () => {
    const store = new MemoryTokenStore();
    const sealed = keeper(store);
    await sealed.save(3, fake.issue(3) as never);
    const plain = keeper(store, { sealing: undefined });
    await rejectsWith(plain.getAccessToken(3), 'sealing_key_missing', /no sealing keys.*"k1"/);
    await rejectsWith(plain.refresh(3), 'sealing_key_missing', /k1/);
    assert.equal(fake.requests.length, 0);
  });

  it("a sealed value moved onto another seller's row, another field or another application's keeper does not open", async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    const a = await k.save(4, fake.issue(4) as never);
    await k.save(5, fake.issue(5) as never);
    const rawA = (await store.get(4)) as StoredToken;
    const rawB = (await store.get(5)) as StoredToken;
    // Seller 4's sealed tokens copied onto seller 5's row.
    await store.put({ ...rawB, accessToken: rawA.accessToken, refreshToken: rawA.refreshToken });
    await rejectsWith(
      k.getAccessToken(5),
      'unseal_failed',
      /seller 5 does not open: it was sealed for another seller/,
    );
    // Access and refresh swapped within one row.
    await store.put({ ...rawA, accessToken: rawA.refreshToken as string, refreshToken: rawA.accessToken });
    await rejectsWith(k.getAccessToken(4), 'unseal_failed', /another field/);
    await store.put({ ...rawA });
    assert.equal(await k.getAccessToken(4), a.accessToken);
    // The same key, another application.
    const other = keeper(store, { clientId: '9999999999999999' });
    await rejectsWith(other.getAccessToken(4), 'unseal_failed', /another application/);
    assert.equal(fake.requests.length, 0);
  });

  it('an altered, truncated or garbled sealed value: unseal_failed, not a crash', async () => {
    const store = new MemoryTokenStore();
    const k = keeper(store);
    await k.save(6, fake.issue(6) as never);
    const raw = (await store.get(6)) as StoredToken;
    const parts = raw.accessToken.split(':');
    const body = Buffer.from(parts[3] as string, 'base64url');
    body[body.length - 20] = (body[body.length - 20] as number) ^ 1;
    const variants = [
      [...parts.slice(0, 3), body.toString('base64url')].join(':'),
      raw.accessToken.slice(0, -10),
      parts.slice(0, 3).join(':'),
      `${raw.accessToken}:extra`,
      'rnv1:k1:%%%:***',
      'rnv1:k1::',
      `rnv1:k1:${parts[2]}:`,
      `rnv1:k1:AAAA:${parts[3]}`,
    ];
    for (const bad of variants) {
      await store.put({ ...raw, accessToken: bad });
      await rejectsWith(k.getAccessToken(6), 'unseal_failed', /seller 6/);
    }
    assert.equal(fake.requests.length, 0);
  });

  it('a plaintext row is refused while sealing is on, accepted with acceptUnsealed, and sealed by rotateKey', async () => {
    const store = new MemoryTokenStore();
    const answer = fake.issue(7);
    await keeper(store, { sealing: undefined }).save(7, answer as never);
    assert.equal((await store.get(7))?.accessToken, answer.access_token, 'the old, unsealed way');
    await rejectsWith(keeper(store).getAccessToken(7), 'unsealed_token', /acceptUnsealed.*rotateKey/);
    await rejectsWith(keeper(store).rotateKey(), 'unsealed_token', /seller 7/);
    const migrating = keeper(store, { sealing: { keys: [K1], acceptUnsealed: true } });
    assert.equal(await migrating.getAccessToken(7), answer.access_token);
    const result = await migrating.rotateKey();
    assert.equal(result.resealed, 1);
    assert.match((await store.get(7))?.accessToken ?? '', /^rnv1:k1:/);
    assert.equal(await keeper(store).getAccessToken(7), answer.access_token);
  });

  it('the scheduler skips (and reports) a due row that does not unseal, and refreshes the others', async () => {
    const store = new MemoryTokenStore();
    const good = keeper(store);
    await good.save(8, fake.issue(8) as never);
    await keeper(store, { sealing: { keys: [{ id: 'lost', key: randomBytes(32) }] } }).save(
      9,
      fake.issue(9) as never,
    );
    // Make both due.
    for (const id of [8, 9]) {
      const raw = (await store.get(id)) as StoredToken;
      await store.put({ ...raw, refreshAt: Date.now() - 1000 });
    }
    const errors: { userId?: number; error: unknown }[] = [];
    good.on('error', (e) => {
      errors.push(e);
    });
    const rotated = new Promise<number>((r) => good.on('rotated', (e) => r(e.userId)));
    good.start();
    assert.equal(await rotated, 8);
    await good.stop();
    const e9 = errors.find((e) => e.userId === 9);
    assert.ok(e9?.error instanceof TokenSealingError && e9.error.error === 'unknown_sealing_key');
    assert.equal((await store.get(9))?.status, 'active', 'never marked for re-authorization');
    assert.equal(await store.acquireLease(9, 'someone-else', 1000), true, 'its lease was released');
    assert.equal(fake.refreshes().length, 1);
  });

  it('rejects a bad key ring at construction with what to fix', () => {
    const bad: [unknown, RegExp][] = [
      [{ keys: [] }, /at least one key/],
      [{ keys: [{ id: 'a', key: randomBytes(31) }] }, /exactly 32 bytes.*got 31/],
      [{ keys: [{ id: 'a', key: randomBytes(16).toString('base64') }] }, /got 16/],
      [{ keys: [{ id: 'a', key: 'not base64!' }] }, /not base64/],
      [{ keys: [{ id: 'a', key: 42 }] }, /32 bytes/],
      [{ keys: [{ id: 'a:b', key: randomBytes(32) }] }, /key id "a:b" is invalid/],
      [{ keys: [{ id: '', key: randomBytes(32) }] }, /invalid/],
      [{ keys: [{ id: 'x'.repeat(65), key: randomBytes(32) }] }, /invalid/],
      [{ keys: [{ id: 'a\n', key: randomBytes(32) }] }, /invalid/],
      [{ keys: [K1, { ...K1 }] }, /"k1" appears twice/],
      [{ keys: [K1], currentKeyId: 'k9' }, /"k9" is not one of/],
      [
        { keys: [{ id: 'kms', wrapDataKey: async () => new Uint8Array(1) }] },
        /both wrapDataKey and unwrapDataKey/,
      ],
    ];
    for (const [sealing, message] of bad) {
      assert.throws(() => keeper(new MemoryTokenStore(), { sealing } as never), message);
    }
  });
});

describe('sealing with a KMS callback', () => {
  /** A KMS stand-in: AES-GCM under a key only it holds, counting calls. */
  function fakeKms(id = 'kms-1'): KmsSealingKey & { wraps: number; unwraps: number; fail: boolean } {
    const master = randomBytes(32);
    const kms = {
      id,
      wraps: 0,
      unwraps: 0,
      fail: false,
      async wrapDataKey(dataKey: Uint8Array, context: { keyId: string }) {
        kms.wraps++;
        assert.equal(context.keyId, id);
        if (kms.fail) throw new Error('KMS throttled');
        const iv = randomBytes(12);
        const c = createCipheriv('aes-256-gcm', master, iv);
        return Buffer.concat([iv, c.update(dataKey), c.final(), c.getAuthTag()]);
      },
      async unwrapDataKey(wrapped: Uint8Array) {
        kms.unwraps++;
        if (kms.fail) throw new Error('KMS throttled');
        const b = Buffer.from(wrapped);
        const d = createDecipheriv('aes-256-gcm', master, b.subarray(0, 12));
        d.setAuthTag(b.subarray(b.length - 16));
        return Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()]);
      },
    };
    return kms;
  }

  it('wraps one data key for many writes and unwraps it once for many reads', async () => {
    const kms = fakeKms();
    const store = new MemoryTokenStore();
    const writer = keeper(store, { sealing: { keys: [kms] } });
    const issued = new Map<number, string>();
    for (let id = 20; id < 40; id++) {
      const answer = fake.issue(id);
      issued.set(id, answer.access_token as string);
      await writer.save(id, answer as never);
    }
    assert.equal(kms.wraps, 1, 'one KMS wrap for twenty sealed rows');
    assert.equal(kms.unwraps, 0, 'the writer never needs to unwrap its own data key');
    const reader = keeper(store, { sealing: { keys: [kms] } });
    for (const [id, access] of issued) assert.equal(await reader.getAccessToken(id), access);
    assert.equal(kms.unwraps, 1, 'one KMS unwrap for twenty reads');
    assert.match((await store.get(20))?.accessToken ?? '', /^rnv1:kms-1:/);
  });

  it('a failing KMS is a kms_error naming the key, and a later success works (no poisoned cache)', async () => {
    const kms = fakeKms('kms-2');
    const store = new MemoryTokenStore();
    const k = keeper(store, { sealing: { keys: [kms] } });
    kms.fail = true;
    await rejectsWith(
      k.save(50, fake.issue(50) as never),
      'kms_error',
      /wrapDataKey of key "kms-2" failed: KMS throttled/,
    );
    kms.fail = false;
    const saved = await k.save(50, fake.issue(50) as never);
    const reader = keeper(store, { sealing: { keys: [kms] } });
    kms.fail = true;
    await rejectsWith(reader.getAccessToken(50), 'kms_error', /unwrapDataKey of key "kms-2"/);
    kms.fail = false;
    assert.equal(await reader.getAccessToken(50), saved.accessToken);
  });

  it('a KMS answering with something that is not a 32-byte key is a kms_error', async () => {
    const store = new MemoryTokenStore();
    const kms = fakeKms('kms-3');
    await keeper(store, { sealing: { keys: [kms] } }).save(51, fake.issue(51) as never);
    const liar: KmsSealingKey = { ...kms, unwrapDataKey: async () => new Uint8Array(5) };
    await rejectsWith(
      keeper(store, { sealing: { keys: [liar] } }).getAccessToken(51),
      'kms_error',
      /32-byte data key/,
    );
    const stringy = { ...kms, wrapDataKey: async () => 'nope' } as unknown as KmsSealingKey;
    await rejectsWith(
      keeper(new MemoryTokenStore(), { sealing: { keys: [stringy] } }).save(52, fake.issue(52) as never),
      'kms_error',
      /non-empty Uint8Array/,
    );
  });
});
