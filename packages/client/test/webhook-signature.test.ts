import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { verifyWebhookSignature, webhookManifest } from '../src/index.ts';

const SECRET = 'whsec-0123456789abcdef0123456789abcdef';
const NOW = 1_780_000_000_000;
const TS = Math.floor(NOW / 1000);
const REQUEST_ID = '9f1c2b7e-1d7a-4a43-9d7e-0c5f2f6c9a11';

/** Signs as CONTRACT.md §4.6 says, written independently of the code under test. */
function sign(secret: string, dataId: string, requestId: string, ts: number | string): string {
  const v1 = createHmac('sha256', secret)
    .update(`id:${dataId};request-id:${requestId};ts:${ts};`)
    .digest('hex');
  return `ts=${ts},v1=${v1}`;
}

const verify = (headers: Record<string, string | string[] | undefined> | Headers, extra: object = {}) =>
  verifyWebhookSignature({ secret: SECRET, headers, dataId: '241983636', now: NOW, ...extra });

const good = () => ({ 'x-signature': sign(SECRET, '241983636', REQUEST_ID, TS), 'x-request-id': REQUEST_ID });

async function refused(p: Promise<{ valid: boolean; reason?: string }>, reason: RegExp): Promise<void> {
  const r = await p;
  assert.equal(r.valid, false, `expected a refusal matching ${reason}`);
  assert.match((r as { reason: string }).reason, reason);
}

describe('verifyWebhookSignature', () => {
  it('accepts what Renova signs, with the manifest of CONTRACT.md §4.6', async () => {
    assert.equal(webhookManifest('7', 'r', 12), 'id:7;request-id:r;ts:12;');
    assert.deepEqual(await verify(good()), { valid: true, timestamp: TS, requestId: REQUEST_ID });
  });

  it('reads headers case-insensitively, from a plain object or a fetch Headers', async () => {
    const h = good();
    assert.equal(
      (await verify({ 'X-Signature': h['x-signature'], 'X-Request-Id': h['x-request-id'] })).valid,
      true,
    );
    assert.equal((await verify(new Headers(h))).valid, true);
    assert.equal(
      (await verify({ 'x-signature': [h['x-signature']], 'x-request-id': [REQUEST_ID] })).valid,
      true,
    );
  });

  it('accepts any secret of a list (a rotation) and refuses a wrong one', async () => {
    assert.equal((await verify(good(), { secret: ['new-secret', SECRET] })).valid, true);
    await refused(verify(good(), { secret: 'another secret' }), /does not match/);
    await refused(verify(good(), { secret: ['a', 'b'] }), /does not match/);
  });

  it('refuses a signature whose data.id, request id or ts was altered', async () => {
    await refused(verify(good(), { dataId: '241983637' }), /does not match/);
    await refused(verify({ ...good(), 'x-request-id': `${REQUEST_ID}0` }), /does not match/);
    const v1 = good()['x-signature'].split('v1=')[1];
    await refused(verify({ ...good(), 'x-signature': `ts=${TS - 1},v1=${v1}` }), /does not match/);
    const flipped = `${v1?.slice(0, -1)}${v1?.endsWith('0') ? '1' : '0'}`;
    await refused(verify({ ...good(), 'x-signature': `ts=${TS},v1=${flipped}` }), /does not match/);
  });

  it('tolerates clock skew up to the tolerance either way, configurable, and no further', async () => {
    for (const skew of [-300, -1, 0, 1, 300]) {
      const h = { ...good(), 'x-signature': sign(SECRET, '241983636', REQUEST_ID, TS + skew) };
      assert.equal((await verify(h)).valid, true, `skew ${skew} s`);
    }
    const stale = { ...good(), 'x-signature': sign(SECRET, '241983636', REQUEST_ID, TS - 301) };
    const future = { ...good(), 'x-signature': sign(SECRET, '241983636', REQUEST_ID, TS + 301) };
    await refused(verify(stale), /more than 300 s old/);
    await refused(verify(future), /more than 300 s in the future/);
    assert.equal((await verify(stale, { toleranceSeconds: 600 })).valid, true);
    const tenSeconds = { ...good(), 'x-signature': sign(SECRET, '241983636', REQUEST_ID, TS - 11) };
    await refused(verify(tenSeconds, { toleranceSeconds: 10 }), /more than 10 s old/);
    await refused(verify({ ...good(), 'x-signature': sign(SECRET, '241983636', REQUEST_ID, 1) }), /old/);
  });

  it('refuses missing, empty, duplicated and oversize headers', async () => {
    await refused(verify({ 'x-request-id': REQUEST_ID }), /x-signature header is missing/);
    await refused(verify({ ...good(), 'x-signature': '' }), /missing/);
    await refused(verify({ 'x-signature': good()['x-signature'] }), /x-request-id header is missing/);
    await refused(
      verify({ ...good(), 'x-signature': [good()['x-signature'], good()['x-signature']] }),
      /more than once/,
    );
    await refused(
      verify({ ...good(), 'X-Signature': good()['x-signature'] }),
      /x-signature was sent more than once/,
    );
    await refused(
      verify({ ...good(), 'x-request-id': [REQUEST_ID, REQUEST_ID] }),
      /x-request-id was sent more than once/,
    );
    await refused(
      verify({ ...good(), 'x-signature': `${good()['x-signature']},${'x=1,'.repeat(200)}` }),
      /too long/,
    );
    await refused(verify({ ...good(), 'x-request-id': 'r'.repeat(257) }), /x-request-id is malformed/);
    await refused(verify(good(), { dataId: undefined }), /data.id is missing/);
    await refused(verify(good(), { dataId: '' }), /data.id is missing/);
    await refused(verify(good(), { dataId: 'x'.repeat(300) }), /data.id is malformed/);
  });

  it('refuses malformed signatures: duplicate parts, non-hex, wrong lengths, odd timestamps', async () => {
    const v1 = good()['x-signature'].split('v1=')[1] as string;
    const cases: [string, RegExp][] = [
      [`ts=${TS},ts=${TS},v1=${v1}`, /more than one ts/],
      [`ts=${TS},v1=${v1},v1=${v1}`, /more than one v1/],
      [`v1=${v1},ts=${TS},ts=${TS + 1}`, /more than one ts/],
      [`ts=${TS}`, /needs both/],
      [`v1=${v1}`, /needs both/],
      [`ts=${TS},v1=${v1.slice(0, 63)}`, /64 hex/],
      [`ts=${TS},v1=${v1}0`, /64 hex/],
      [`ts=${TS},v1=${'g'.repeat(64)}`, /64 hex/],
      [`ts=${TS},v1=${v1.slice(0, 62)}+/`, /64 hex/],
      [`ts=${TS},v1=`, /64 hex/],
      [`ts=0${TS},v1=${v1}`, /unix seconds/],
      [`ts=+${TS},v1=${v1}`, /unix seconds/],
      [`ts=-${TS},v1=${v1}`, /unix seconds/],
      [`ts=${TS}.0,v1=${v1}`, /unix seconds/],
      [`ts=1.78e9,v1=${v1}`, /unix seconds/],
      [`ts=0x6a17,v1=${v1}`, /unix seconds/],
      [`ts=,v1=${v1}`, /unix seconds/],
      [`ts=99999999999999999999,v1=${v1}`, /unix seconds/],
      [`ts ${TS} v1 ${v1}`, /malformed/],
      [`=${TS},v1=${v1}`, /malformed/],
      [`ts=${TS},,v1=${v1}`, /malformed/],
      [`ts=${TS};v1=${v1}`, /needs both/],
      [`ts=${TS},v1=${v1},Bad-Key=1`, /unexpected part/],
      [`ts=${TS},v1=${v1}\u0000`, /64 hex/],
    ];
    for (const [header, reason] of cases) {
      await refused(verify({ ...good(), 'x-signature': header }), reason);
    }
  });

  it('accepts well-formed variations: spaces around parts, parts in either order, upper-case hex, an unknown v2', async () => {
    const v1 = good()['x-signature'].split('v1=')[1] as string;
    for (const header of [
      `v1=${v1},ts=${TS}`,
      ` ts=${TS} , v1=${v1} `,
      `ts=${TS},v1=${v1.toUpperCase()}`,
      `ts=${TS},v1=${v1},v2=abc`,
    ]) {
      assert.equal((await verify({ ...good(), 'x-signature': header })).valid, true, header);
    }
  });

  it('refuses ids that could smuggle another manifest field (separators, spaces, control characters)', async () => {
    for (const rid of ['a;ts:1', 'a b', 'a\tb', 'a\u0000', 'ü', 'a\r\nx-evil: 1']) {
      await refused(verify({ ...good(), 'x-request-id': rid }), /x-request-id is malformed/);
    }
    for (const id of ['1;request-id:x', '1 ', '\u00001']) {
      await refused(verify(good(), { dataId: id }), /data.id is malformed/);
    }
  });

  it('throws only for programming errors: no secret or a bad tolerance', async () => {
    await assert.rejects(verifyWebhookSignature({ secret: '', headers: good(), dataId: '1' }), TypeError);
    await assert.rejects(verifyWebhookSignature({ secret: [], headers: good(), dataId: '1' }), TypeError);
    await assert.rejects(
      verifyWebhookSignature({ secret: SECRET, headers: good(), dataId: '1', toleranceSeconds: -1 }),
      /non-negative/,
    );
    await assert.rejects(
      verifyWebhookSignature({ secret: SECRET, headers: good(), dataId: '1', toleranceSeconds: Number.NaN }),
      TypeError,
    );
  });
});
