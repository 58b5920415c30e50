import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { formatDate } from '../../src/http/pages/i18n.ts';
import { exchange, type Harness, harness, type Seeded } from '../helpers/fixtures.ts';
import { sqliteFactory } from '../helpers/storages.ts';

function sessionCookie(headers: Record<string, unknown>): string {
  const raw = headers['set-cookie'];
  const all = Array.isArray(raw) ? raw : raw === undefined ? [] : [String(raw)];
  return all.find((c: string) => /^(__Host-)?renova_session=/.test(c))?.split(';')[0] as string;
}
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

async function signIn(app: FastifyInstance, email: string, password: string): Promise<string> {
  const next = '/account/applications';
  const page = await app.inject({ url: next });
  const answer = await app.inject({
    method: 'POST',
    url: '/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: sessionCookie(page.headers) },
    payload: new URLSearchParams({ csrf: csrfOf(page.body), email, password, next }).toString(),
  });
  return sessionCookie(answer.headers);
}

describe('the account page shows when each application was authorized and last used', () => {
  let h: Harness;
  let s: Seeded;
  let cookie: string;
  before(async () => {
    h = await harness(sqliteFactory);
    s = await h.seed();
    const seller = await h.services.storage.findUserById(s.sellerId);
    await s.code();
    cookie = await signIn(h.app, seller?.email as string, 'correct horse');
  });
  after(async () => h.close());

  const page = (language: string) =>
    h.app.inject({ url: '/account/applications', headers: { cookie, 'accept-language': language } });

  test('an authorization not used yet says so, in each language', async () => {
    await h.services.grantUse.flush();
    const expected: [string, RegExp][] = [
      ['en', /Not used yet/],
      ['es', /Todavía no la usó/],
      ['pt-BR', /Ainda não foi usado/],
    ];
    for (const [language, text] of expected) {
      const answer = await page(language);
      assert.equal(answer.statusCode, 200);
      assert.match(answer.body, text, language);
    }
  });

  test('after the application used it, the date of last use is shown, in each language', async () => {
    h.clock.advance(2 * 3_600_000);
    await exchange(h.app, s);
    await h.services.grantUse.flush();
    const used = h.clock.now();
    const authorized = (await h.services.storage.findGrant(s.clientId, s.sellerId))?.createdAt as number;
    const expected: [string, 'en' | 'es' | 'pt', string][] = [
      ['en', 'en', 'Last used: '],
      ['es', 'es', 'Último uso: '],
      ['pt-BR', 'pt', 'Último uso: '],
    ];
    for (const [language, locale, label] of expected) {
      const answer = await page(language);
      assert.ok(answer.body.includes(`${label}${formatDate(locale, used)}`), language);
      assert.ok(answer.body.includes(formatDate(locale, authorized)), language);
    }
  });
});
