import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ADMIN_TOKEN, type Harness, harness, postForm, refresh, type Seeded } from '../helpers/fixtures.ts';
import { storageFactories } from '../helpers/storages.ts';

/**
 * The audit trail over HTTP (issue 12 item 1): a full flow through the real endpoints records each
 * step with its actor, request id and address, and NO token, code, secret or password anywhere in
 * the trail; `GET /admin/audit` is authenticated, filtered, keyset-paginated and refuses bad
 * parameters with a 400 saying what is wrong; the seller sees only their own activity.
 */

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function sessionCookie(headers: Record<string, unknown>): string | undefined {
  const raw = headers['set-cookie'];
  const all = Array.isArray(raw) ? raw : raw === undefined ? [] : [String(raw)];
  return all.find((c: string) => /^(__Host-)?renova_session=/.test(c))?.split(';')[0];
}

function authorizationUrl(s: Seeded): string {
  const query = new URLSearchParams({
    client_id: s.clientId,
    response_type: 'code',
    platform_id: 'mp',
    redirect_uri: s.redirectUri,
    state: 'st',
  });
  return `/authorization?${query}`;
}

async function signIn(app: FastifyInstance, email: string, password: string, next: string) {
  const page = await app.inject({ url: next });
  const anonymous = sessionCookie(page.headers) as string;
  const answer = await app.inject({
    method: 'POST',
    url: '/login',
    remoteAddress: '198.51.100.7',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: anonymous },
    payload: new URLSearchParams({ csrf: csrfOf(page.body), email, password, next }).toString(),
  });
  return { answer, cookie: sessionCookie(answer.headers) ?? anonymous };
}

async function decide(app: FastifyInstance, s: Seeded, cookie: string, decision: 'allow' | 'deny') {
  const page = await app.inject({ url: authorizationUrl(s), headers: { cookie } });
  return app.inject({
    method: 'POST',
    url: authorizationUrl(s),
    remoteAddress: '198.51.100.7',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    payload: new URLSearchParams({ csrf: csrfOf(page.body), decision }).toString(),
  });
}

const audit = (app: FastifyInstance, query: string, headers: Record<string, string> = admin) =>
  app.inject({ url: `/admin/audit${query}`, headers });

type EventView = {
  id: number;
  at: string;
  type: string;
  actor: { type: string; id: string | null };
  user_id: number | null;
  client_id: string | null;
  family_id: number | null;
  request_id: string | null;
  remote_address: string | null;
  detail: string | null;
};

for (const factory of storageFactories) {
  describe(`audit trail over HTTP on ${factory.name}`, () => {
    let h: Harness;
    let s: Seeded;
    let other: Seeded;
    /** Every secret the flow saw: none may appear in the audit trail. */
    const secrets: string[] = [];
    let email = '';

    before(async () => {
      h = await harness(factory, { realClock: true });
      s = await h.seed();
      other = await h.seed();
      email = ((await h.services.storage.findUserById(s.sellerId)) as { email: string }).email;
      secrets.push(s.clientSecret, other.clientSecret, 'correct horse', 'wrong password 1');

      // The seller: a failed sign-in, a sign-in, a refusal, a consent.
      const failed = await signIn(h.app, email, 'wrong password 1', authorizationUrl(s));
      assert.equal(failed.answer.statusCode, 401);
      const { cookie } = await signIn(h.app, email, 'correct horse', authorizationUrl(s));
      secrets.push(cookie.split('=')[1] as string);
      assert.equal((await decide(h.app, s, cookie, 'deny')).statusCode, 302);
      const allowed = await decide(h.app, s, cookie, 'allow');
      const code = new URL(allowed.headers.location as string).searchParams.get('code') as string;
      secrets.push(code);

      // The application: exchange, refresh, a replay, revocation.
      const exchanged = await postForm(h.app, '/oauth/token', {
        grant_type: 'authorization_code',
        client_id: s.clientId,
        client_secret: s.clientSecret,
        code,
        redirect_uri: s.redirectUri,
      });
      assert.equal(exchanged.status, 200);
      const first = exchanged.body as { access_token: string; refresh_token: string };
      secrets.push(first.access_token, first.refresh_token);
      const rotated = await refresh(h.app, s, first.refresh_token);
      const replayed = await refresh(h.app, s, first.refresh_token);
      assert.equal(rotated.status, 200);
      assert.equal(replayed.status, 200);
      const second = rotated.body as { access_token: string; refresh_token: string };
      secrets.push(second.access_token, second.refresh_token);
      const revoked = await postForm(h.app, '/oauth/revoke', {
        client_id: s.clientId,
        client_secret: s.clientSecret,
        token: second.refresh_token,
      });
      assert.equal(revoked.status, 200);

      // The operator: secrets rotated, the application changed, the grant revoked.
      const secret = await h.app.inject({
        method: 'POST',
        url: `/admin/applications/${s.clientId}/secret`,
        headers: { ...admin, 'content-type': 'application/json' },
        payload: '{"overlap_seconds":0}',
      });
      secrets.push((secret.json() as { client_secret: string }).client_secret);
      const webhook = await h.app.inject({
        method: 'POST',
        url: `/admin/applications/${s.clientId}/webhook-secret`,
        headers: admin,
      });
      secrets.push((webhook.json() as { webhook_secret: string }).webhook_secret);
      const patched = await h.app.inject({
        method: 'PATCH',
        url: `/admin/applications/${s.clientId}`,
        headers: { ...admin, 'content-type': 'application/json' },
        payload: JSON.stringify({ grant_types: ['authorization_code', 'refresh_token'] }),
      });
      assert.equal(patched.statusCode, 200);
      const deleted = await h.app.inject({
        method: 'DELETE',
        url: `/admin/grants/${s.clientId}/${s.sellerId}`,
        headers: admin,
      });
      assert.equal(deleted.statusCode, 204);
    });
    after(() => h.close());

    async function trail(query = ''): Promise<EventView[]> {
      const events: EventView[] = [];
      let cursor = '';
      for (;;) {
        const answer = await audit(h.app, `?limit=200${query}${cursor}`);
        assert.equal(answer.statusCode, 200, answer.body);
        const page = answer.json() as { events: EventView[]; next_cursor: string | null };
        events.push(...page.events);
        if (!page.next_cursor) return events;
        cursor = `&cursor=${page.next_cursor}`;
      }
    }

    test('a full flow records each step with its actor, request id and address', async () => {
      const events = (await trail(`&client_id=${s.clientId}`)).reverse();
      const types = events.map((e) => e.type);
      for (const type of [
        'application.created',
        'consent.denied',
        'consent.granted',
        'code.exchanged',
        'refresh.rotated',
        'refresh.replayed',
        'family.revoked',
        'client_secret.rotated',
        'webhook_secret.rotated',
        'application.changed',
        'grant.revoked',
      ]) {
        assert.equal(types.filter((t) => t === type).length, 1, `${type} once in ${types.join(', ')}`);
      }
      const byType = (type: string) => events.find((e) => e.type === type) as EventView;
      assert.deepEqual(byType('consent.granted').actor, { type: 'seller', id: String(s.sellerId) });
      assert.equal(byType('consent.granted').remote_address, '198.51.100.7');
      assert.deepEqual(byType('refresh.rotated').actor, { type: 'application', id: s.clientId });
      assert.equal(byType('refresh.rotated').user_id, s.sellerId);
      assert.equal(byType('refresh.rotated').family_id, byType('code.exchanged').family_id);
      assert.deepEqual(byType('grant.revoked').actor, { type: 'operator', id: 'admin-api' });
      for (const event of events.filter((e) => e.actor.type !== 'system')) {
        assert.match(event.request_id ?? '', UUID, `${event.type} carries its request id`);
        assert.ok(event.remote_address, `${event.type} carries its address`);
      }
      const seller = await trail(`&user_id=${s.sellerId}&type=seller.sign_in_failed`);
      assert.equal(seller.length, 1);
      assert.equal(seller[0]?.detail, 'wrong_password');
      assert.equal((await trail(`&user_id=${s.sellerId}&type=seller.signed_in`)).length, 1);
    });

    test('no token, code, secret or password is anywhere in the trail', async () => {
      const everything = JSON.stringify(await trail());
      const rows = JSON.stringify(await h.services.storage.listAuditEvents({ limit: 10_000 }));
      for (const secret of secrets) {
        assert.ok(secret.length >= 8);
        // The whole value and its secret hex part (`APP_USR-{client_id}-{MMddHH}-{hex}-{user_id}`,
        // `TG-{hex}-{user_id}`); the client id in it is an identifier, which the trail may hold.
        const parts = [secret, ...secret.split('-').filter((p) => p.length >= 16 && /[a-f]/.test(p))];
        for (const part of parts) {
          assert.ok(!everything.includes(part), `the trail holds a secret (${secret.slice(0, 8)}…)`);
          assert.ok(!rows.includes(part), `a stored row holds a secret (${secret.slice(0, 8)}…)`);
        }
      }
      assert.ok(!everything.includes(email), 'not even the email typed at sign-in');
    });

    test('GET /admin/audit requires the admin token', async () => {
      assert.equal((await audit(h.app, '', {})).statusCode, 401);
      assert.equal((await audit(h.app, '', { authorization: `Bearer ${ADMIN_TOKEN}x` })).statusCode, 401);
      assert.equal((await audit(h.app, '', { authorization: ADMIN_TOKEN })).statusCode, 401);
    });

    test('filters combine; pages are newest first, keyset-paginated, without overlap', async () => {
      const all = await trail(`&client_id=${s.clientId}`);
      assert.ok(all.length >= 11);
      for (let i = 1; i < all.length; i++) assert.ok((all[i - 1] as EventView).id > (all[i] as EventView).id);
      const pages: EventView[] = [];
      let cursor = '';
      for (let n = 0; n < 50; n++) {
        const page = (await audit(h.app, `?client_id=${s.clientId}&limit=3${cursor}`)).json() as {
          events: EventView[];
          next_cursor: string | null;
        };
        assert.ok(page.events.length <= 3);
        pages.push(...page.events);
        if (!page.next_cursor) break;
        cursor = `&cursor=${page.next_cursor}`;
      }
      assert.deepEqual(
        pages.map((e) => e.id),
        all.map((e) => e.id),
      );
      const otherApp = await trail(`&client_id=${other.clientId}`);
      assert.ok(otherApp.every((e) => e.client_id === other.clientId));
      assert.ok(
        !otherApp.some((e) => e.type === 'consent.granted'),
        "the other application's seller never consented",
      );
      const recent = await trail('&since=1h&type=refresh.rotated');
      assert.ok(recent.length >= 1 && recent.every((e) => e.type === 'refresh.rotated'));
      const iso = await trail(`&since=${new Date(Date.now() - 3_600_000).toISOString()}`);
      assert.ok(iso.length >= all.length);
      assert.equal((await trail('&since=1h&user_id=987654')).length, 0);
    });

    test('bad parameters are refused with a 400 that says what is wrong', async () => {
      const cases: [string, RegExp][] = [
        ['since=-1', /since must be/],
        ['since=abc', /since must be/],
        ['since=', /since must be/],
        ['since=99999999d', /more than 36500 days/],
        ['since=1e400', /since must be/],
        ['since=24h%0d%0aX', /since must be/],
        ['since=1900-01-01T00:00:00Z', /since must be/],
        ['cursor=abc', /cursor must be/],
        ['cursor=-1', /cursor must be/],
        ['cursor=0', /cursor must be/],
        ['cursor=99999999999999999999', /cursor must be/],
        ['cursor=1%20OR%201%3D1', /cursor must be/],
        ['type=refresh.bogus', /type must be one of: consent\.granted/],
        ['type=', /type must be one of/],
        ['user_id=abc', /user_id must be a positive integer/],
        ['user_id=0', /user_id must be a positive integer/],
        [`user_id=${'9'.repeat(400)}`, /user_id must be a positive integer/],
        ['client_id=123', /client_id must be 16 digits/],
        ['client_id=1234567890123456&client_id=1234567890123457', /client_id must be given at most once/],
        ['limit=0', /limit must be/],
        ['limit=201', /limit must be/],
        ['limit=1.5', /limit must be/],
        ['secret=x', /unknown parameter secret/],
      ];
      for (const [query, message] of cases) {
        const answer = await audit(h.app, `?${query}`);
        assert.equal(answer.statusCode, 400, `${query}: ${answer.body}`);
        const body = answer.json() as { error: string; error_description: string };
        assert.equal(body.error, 'invalid_request', query);
        assert.match(body.error_description, message, query);
      }
    });

    test("the seller's activity page shows their own events only", async () => {
      const { cookie } = await signIn(h.app, email, 'correct horse', '/account/applications');
      const page = await h.app.inject({
        url: '/account/activity',
        headers: { cookie, 'accept-language': 'en' },
      });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /Account activity/);
      assert.match(page.body, /You signed in/);
      assert.match(page.body, /Failed sign-in attempt/);
      assert.match(page.body, /You declined an application/);
      assert.match(page.body, /198\.51\.100\.7/);
      const otherEmail = ((await h.services.storage.findUserById(other.sellerId)) as { email: string }).email;
      const theirs = await signIn(h.app, otherEmail, 'correct horse', '/account/applications');
      const theirPage = await h.app.inject({
        url: '/account/activity',
        headers: { cookie: theirs.cookie, 'accept-language': 'en' },
      });
      assert.doesNotMatch(
        theirPage.body,
        /You declined an application/,
        "another seller's events are not shown",
      );
      assert.match(theirPage.body, /You signed in/);
      const anonymous = await h.app.inject({ url: '/account/activity' });
      assert.equal(anonymous.statusCode, 200);
      assert.match(anonymous.body, /action="\/login"/);
      const tampered = await h.app.inject({ url: '/account/activity?cursor=abc', headers: { cookie } });
      assert.equal(tampered.statusCode, 400);
      assert.match(String(tampered.headers['content-type']), /^text\/html/);
    });
  });
}
