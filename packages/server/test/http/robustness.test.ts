import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, type Harness, harness, type Seeded } from '../helpers/fixtures.ts';
import { storageFactories } from '../helpers/storages.ts';

/** A small deterministic PRNG (mulberry32), so a failure replays exactly. */
function prng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Like encodeURIComponent, but a lone surrogate goes out as its raw (invalid) UTF-8 bytes. */
function encodeLoosely(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return '%ED%A0%80';
  }
}

const NASTY = [
  '',
  ' ',
  'null',
  '{}',
  '[]',
  '"str"',
  '{"__proto__":{"x":1}}',
  '{"constructor":{"prototype":{}}}',
  '%',
  '%zz',
  'a=%E0%A4%A',
  '\u0000',
  '\ud800',
  'TG-',
  'TG--1',
  'TG-2000000000000001zz-1',
  `TG-${'f'.repeat(48)}-99999999999999999999`,
  'APP_USR-1234567890123456-112512-3ffffffffffffff-1',
  `APP_USR-1234567890123456-112512-3${'f'.repeat(47)}-1`,
  'Basic !!!',
  'Basic Og==',
  'Basic JQ==',
  `Bearer ${'x'.repeat(5000)}`,
  '9'.repeat(400),
  '-1',
  '1e309',
  'true',
];

describe('no client input produces a 500', () => {
  for (const factory of storageFactories) {
    describe(`on ${factory.name}`, () => {
      let h: Harness;
      let s: Seeded;
      before(async () => {
        h = await harness(factory);
        s = await h.seed();
      });
      after(async () => h.close());

      test('random malformed bodies, parameters and headers on every endpoint answer below 500', async () => {
        const random = prng(20261125);
        const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
        const names = [
          'grant_type',
          'client_id',
          'client_secret',
          'code',
          'redirect_uri',
          'refresh_token',
          'scope',
          'code_verifier',
          'test_token',
          'token',
        ];
        const values = [
          ...NASTY,
          'authorization_code',
          'refresh_token',
          'client_credentials',
          s.clientId,
          s.clientSecret,
          s.redirectUri,
        ];
        const urls = [
          '/oauth/token',
          '/oauth/revoke',
          '/oauth/introspect',
          '/admin/users',
          '/admin/applications',
          '/admin/authorizations',
          `/admin/applications/${s.clientId}/secret`,
        ];
        const types = [
          'application/json',
          'application/x-www-form-urlencoded',
          'text/plain',
          'application/json; charset=utf-8',
          'multipart/form-data; boundary=x',
          undefined,
        ];
        for (let i = 0; i < 400; i++) {
          const params: Record<string, unknown> = {};
          for (let n = Math.floor(random() * 6); n > 0; n--) {
            const value = pick(values);
            params[pick(names)] =
              random() < 0.15 ? [value] : random() < 0.1 ? Number(value) || { nested: value } : value;
          }
          const contentType = pick(types);
          const payload =
            random() < 0.3
              ? pick(NASTY)
              : contentType?.startsWith('application/json')
                ? JSON.stringify(params)
                : new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString();
          const headers: Record<string, string> = {};
          if (contentType) headers['content-type'] = contentType;
          if (random() < 0.4) headers.authorization = random() < 0.5 ? pick(NASTY) : `Bearer ${ADMIN_TOKEN}`;
          const url = pick(urls);
          const response = await h.app.inject({
            method: random() < 0.9 ? 'POST' : 'GET',
            url,
            headers,
            payload,
          });
          assert.ok(
            response.statusCode < 500,
            `${url} ${JSON.stringify(headers)} ${payload} -> ${response.statusCode} ${response.body}`,
          );
          if (
            response.statusCode >= 400 &&
            response.headers['content-type']?.toString().startsWith('application/json')
          ) {
            const body = response.json();
            assert.equal(typeof body.error, 'string');
            assert.equal(typeof body.message, 'string');
          }
        }
      });

      test('malformed bearer tokens and query strings on GET endpoints answer below 500', async () => {
        const random = prng(7);
        for (let i = 0; i < 200; i++) {
          const value = encodeLoosely(NASTY[Math.floor(random() * NASTY.length)] as string);
          const url = [
            '/users/me',
            `/authorization?client_id=${value}&redirect_uri=${value}&response_type=${value}&scope=${value}&code_challenge=${value}`,
            `/authorization?client_id=${s.clientId}&redirect_uri=${encodeURIComponent(s.redirectUri)}&response_type=code&scope=${value}&code_challenge_method=${value}&code_challenge=x`,
            '/account/applications',
            `/.well-known/oauth-authorization-server?x=${value}`,
          ][i % 5] as string;
          const response = await h.app.inject({
            url,
            headers: {
              authorization: `Bearer ${NASTY[i % NASTY.length]}`,
              cookie: `renova_session=${value}`,
            },
          });
          assert.ok(response.statusCode < 500, `${url} -> ${response.statusCode} ${response.body}`);
        }
      });
    });
  }
});
