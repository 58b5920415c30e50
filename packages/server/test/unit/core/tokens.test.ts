import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cryptoRandom } from '../../../src/core/random.ts';
import {
  formatAccessToken,
  formatGrantToken,
  newClientId,
  newClientSecret,
  newValidator,
  openReplay,
  parseAccessToken,
  parseGrantToken,
  sealReplay,
} from '../../../src/core/tokens.ts';

describe('token formats and the replay seal', () => {
  test('grant tokens round-trip and refuse the other kind, bad hex and bad user ids', () => {
    const { secret } = newValidator(cryptoRandom);
    const token = formatGrantToken('refresh', 42, secret, 241983636);
    assert.match(token, /^TG-2[0-9a-f]{47}-241983636$/);
    assert.deepEqual(parseGrantToken('refresh', token), {
      kind: 'refresh',
      id: 42,
      secret,
      userId: 241983636,
    });
    assert.equal(parseGrantToken('code', token), null);
    assert.equal(parseGrantToken('refresh', token.replace(/-241983636$/, '-0')), null);
    assert.equal(parseGrantToken('refresh', token.toUpperCase()), null);
    assert.equal(parseGrantToken('refresh', `${token}-1`), null);
  });

  test('access tokens carry the client id, the UTC MMddHH of issue, and the user id', () => {
    const { secret } = newValidator(cryptoRandom);
    const issuedAt = Date.UTC(2026, 0, 5, 7, 59);
    const live = formatAccessToken({
      liveMode: true,
      clientId: '4934588586838432',
      issuedAt,
      id: 7,
      secret,
      userId: 9,
    });
    assert.match(live, /^APP_USR-4934588586838432-010507-3[0-9a-f]{47}-9$/);
    const test = formatAccessToken({
      liveMode: false,
      clientId: '4934588586838432',
      issuedAt,
      id: 7,
      secret,
      userId: 9,
    });
    assert.equal(parseAccessToken(test)?.liveMode, false);
    assert.equal(parseAccessToken(live)?.id, 7);
    assert.equal(parseAccessToken('APP_USR-1-2-3-4'), null);
  });

  test('client ids are 16 digits and client secrets 32 characters of [A-Za-z0-9]', () => {
    for (let i = 0; i < 200; i++) {
      assert.match(newClientId(cryptoRandom), /^[1-9][0-9]{15}$/);
      assert.match(newClientSecret(cryptoRandom), /^[A-Za-z0-9]{32}$/);
    }
  });

  test('a replay seal opens with the presented secret and id only', () => {
    const presented = newValidator(cryptoRandom).secret;
    const payload = {
      accessSecret: newValidator(cryptoRandom).secret,
      refreshSecret: newValidator(cryptoRandom).secret,
    };
    const sealed = sealReplay(presented, 5, payload);
    assert.equal(sealed.length, 32);
    // Its own 32 bytes, not a slice of Buffer's 8 KiB pool: posting it to the SQLite writer thread
    // copies the whole backing ArrayBuffer.
    assert.equal(sealed.buffer.byteLength, 32);
    assert.notDeepEqual(sealed, Buffer.concat([payload.accessSecret, payload.refreshSecret]));
    assert.deepEqual(openReplay(presented, 5, sealed), payload);
    assert.notDeepEqual(openReplay(presented, 6, sealed), payload);
    assert.notDeepEqual(openReplay(newValidator(cryptoRandom).secret, 5, sealed), payload);
    assert.equal(openReplay(presented, 5, sealed.subarray(1)), null);
  });

  test('pooled randomness never hands out the same bytes twice', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) seen.add(cryptoRandom.bytes(16).toString('hex'));
    assert.equal(seen.size, 5000);
  });
});
