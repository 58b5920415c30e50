import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { checkPkceRequest, PKCE_VALUE, verifyPkce } from '../../../src/core/pkce.ts';
import { coreWorld, outcomeOf, REDIRECT_URI } from '../helpers/core.ts';

const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
/** RFC 7636 Appendix B: the S256 challenge of VERIFIER. */
const S256 = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
const outcome = (f: () => unknown) => outcomeOf((async () => f())());

describe('core/pkce', () => {
  it('the RFC 7636 Appendix B example holds', () => {
    assert.equal(createHash('sha256').update(VERIFIER).digest('base64url'), S256);
  });

  const values: [string, boolean][] = [
    ['a'.repeat(42), false],
    ['a'.repeat(43), true],
    ['a'.repeat(128), true],
    ['a'.repeat(129), false],
    [`${'a'.repeat(40)}-._~`, true],
    [`${'a'.repeat(42)}+`, false],
    [`${'a'.repeat(42)}=`, false],
    [`${'a'.repeat(42)} `, false],
  ];
  for (const [value, ok] of values) {
    it(`PKCE_VALUE ${ok ? 'accepts' : 'refuses'} ${JSON.stringify(value.length > 50 ? `${value.slice(0, 8)}…(${value.length})` : value)} (RFC 7636 §4.1)`, () => {
      assert.equal(PKCE_VALUE.test(value), ok);
    });
  }

  const requests: {
    name: string;
    challenge?: string;
    method?: string;
    required: boolean;
    expected: string;
    stored?: { codeChallenge: string | null; codeChallengeMethod: string | null };
  }[] = [
    {
      name: 'no PKCE, not required',
      required: false,
      expected: 'ok',
      stored: { codeChallenge: null, codeChallengeMethod: null },
    },
    { name: 'no PKCE, required', required: true, expected: 'invalid_request' },
    { name: 'a method without a challenge', method: 'S256', required: false, expected: 'invalid_request' },
    {
      name: 'S256',
      challenge: S256,
      method: 'S256',
      required: true,
      expected: 'ok',
      stored: { codeChallenge: S256, codeChallengeMethod: 'S256' },
    },
    {
      name: 's256 in lower case',
      challenge: S256,
      method: 's256',
      required: false,
      expected: 'ok',
      stored: { codeChallenge: S256, codeChallengeMethod: 'S256' },
    },
    {
      name: 'no method: plain (RFC 7636 §4.3)',
      challenge: VERIFIER,
      required: false,
      expected: 'ok',
      stored: { codeChallenge: VERIFIER, codeChallengeMethod: 'plain' },
    },
    {
      name: 'no method when S256 is required (RFC 9700 §2.1.1)',
      challenge: S256,
      required: true,
      expected: 'invalid_request',
    },
    {
      name: 'plain when S256 is required (security review #4)',
      challenge: VERIFIER,
      method: 'plain',
      required: true,
      expected: 'invalid_request',
    },
    {
      name: 'an unknown method',
      challenge: S256,
      method: 'S512',
      required: false,
      expected: 'invalid_request',
    },
    {
      name: 'a short challenge (RFC 7636 §4.2)',
      challenge: 'abc',
      method: 'S256',
      required: false,
      expected: 'invalid_request',
    },
  ];
  for (const row of requests) {
    it(`checkPkceRequest: ${row.name}: ${row.expected}`, async () => {
      assert.equal(
        await outcome(() => checkPkceRequest(row.challenge, row.method, row.required)),
        row.expected,
      );
      if (row.stored) assert.deepEqual(checkPkceRequest(row.challenge, row.method, row.required), row.stored);
    });
  }

  const verifications: {
    name: string;
    challenge: string | null;
    method: 'S256' | 'plain' | null;
    verifier?: string;
    expected: string;
  }[] = [
    { name: 'no challenge, no verifier', challenge: null, method: null, expected: 'ok' },
    {
      name: 'a verifier without a challenge: downgrade (RFC 9700 §2.1.1)',
      challenge: null,
      method: null,
      verifier: VERIFIER,
      expected: 'invalid_grant',
    },
    { name: 'a challenge without a verifier', challenge: S256, method: 'S256', expected: 'invalid_grant' },
    {
      name: 'the S256 verifier (RFC 7636 §4.6)',
      challenge: S256,
      method: 'S256',
      verifier: VERIFIER,
      expected: 'ok',
    },
    {
      name: 'a wrong S256 verifier',
      challenge: S256,
      method: 'S256',
      verifier: `${VERIFIER.slice(0, -1)}A`,
      expected: 'invalid_grant',
    },
    {
      name: 'the challenge itself as an S256 verifier',
      challenge: S256,
      method: 'S256',
      verifier: S256,
      expected: 'invalid_grant',
    },
    { name: 'the plain verifier', challenge: VERIFIER, method: 'plain', verifier: VERIFIER, expected: 'ok' },
    {
      name: 'a wrong plain verifier',
      challenge: VERIFIER,
      method: 'plain',
      verifier: S256,
      expected: 'invalid_grant',
    },
    {
      name: 'a verifier outside the charset (RFC 7636 §4.1)',
      challenge: S256,
      method: 'S256',
      verifier: `${VERIFIER.slice(0, -1)}+`,
      expected: 'invalid_request',
    },
    {
      name: 'a short verifier',
      challenge: S256,
      method: 'S256',
      verifier: 'short',
      expected: 'invalid_request',
    },
  ];
  for (const row of verifications) {
    it(`verifyPkce: ${row.name}: ${row.expected}`, async () => {
      assert.equal(await outcome(() => verifyPkce(row.challenge, row.method, row.verifier)), row.expected);
    });
  }

  it('end to end: a code issued with an S256 challenge is exchanged only with its verifier', async () => {
    const w = coreWorld();
    const app = await w.seed({ pkceRequired: true });
    const exchange = (code: string, verifier?: string) =>
      w.token({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        client_id: app.clientId,
        client_secret: app.clientSecret,
        code_verifier: verifier,
      });
    const code = () => app.code({ codeChallenge: S256, codeChallengeMethod: 'S256' });
    assert.equal(await outcomeOf(exchange(await code())), 'invalid_grant');
    assert.equal(await outcomeOf(exchange(await code(), 'x'.repeat(43))), 'invalid_grant');
    assert.equal(await outcomeOf(exchange(await code(), VERIFIER)), 'ok');
    assert.equal(await outcomeOf(app.code()), 'invalid_request');
  });
});
