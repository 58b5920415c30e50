import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { ownPage } from '../../src/http/seller.ts';
import { type Harness, harness, postForm } from '../helpers/fixtures.ts';
import { Browser, secretOf, validForm } from '../helpers/portal-browser.ts';
import { storageFactories } from '../helpers/storages.ts';

/**
 * The developer portal in process (docs/developer-portal.md): sign-in, CSRF, ownership, validation
 * next to each field, secrets shown once after POST-redirect-GET, never logged, never cached.
 */

async function clientCredentials(app: FastifyInstance, clientId: string, clientSecret: string) {
  return postForm(app, '/oauth/token', {
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: clientSecret,
  });
}

for (const factory of storageFactories) {
  describe(`developer portal (in process) on ${factory.name}`, () => {
    let h: Harness;
    const lines: string[] = [];
    let counter = 0;

    before(async () => {
      const stream = new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      });
      h = await harness(factory, { realClock: true, http: { logger: pino({ level: 'debug' }, stream) } });
    });
    after(async () => h.close());

    async function developer(language = 'en') {
      counter += 1;
      const email = `dev${counter}@example.com`;
      const user = await h.services.accounts.createUser({
        email,
        password: 'correct horse',
        nickname: `DEV${counter}`,
      });
      const browser = new Browser(h.app, language);
      await browser.signIn(email);
      return { browser, user };
    }

    async function createApp(browser: Browser, overrides: Record<string, string | string[]> = {}) {
      await browser.get('/developers/applications/new');
      const answer = await browser.post('/developers/applications', validForm(overrides));
      assert.equal(answer.statusCode, 303, answer.body);
      const location = String(answer.headers.location);
      const clientId = /^\/developers\/applications\/(\d{16})\/reveal$/.exec(location)?.[1];
      assert.ok(clientId, location);
      const revealed = await browser.get(location);
      assert.equal(revealed.statusCode, 200);
      const clientSecret = secretOf(revealed.body, 'client-secret');
      const webhookSecret = secretOf(revealed.body, 'webhook-secret');
      assert.ok(clientSecret && webhookSecret);
      return { clientId, clientSecret, webhookSecret, revealed };
    }

    test('an anonymous visitor gets the seller sign-in, and comes back to the page asked for', async () => {
      const home = await h.app.inject({ url: '/developers', headers: { 'accept-language': 'en' } });
      assert.equal(home.statusCode, 200);
      assert.match(home.body, /action="\/login"/);
      assert.match(home.body, /name="next" value="\/developers"/);
      const deep = await h.app.inject({ url: '/developers/applications/1234567890123456/settings' });
      assert.match(deep.body, /name="next" value="\/developers\/applications\/1234567890123456\/settings"/);
      // A path that is not plainly ours goes back to the portal's home.
      const odd = await h.app.inject({ url: '/developers/applications/%0d%0aSet-Cookie:x' });
      assert.match(odd.body, /name="next" value="\/developers"/);
      // Sign-in accepts /developers paths as `next`, without their query, and nothing else new.
      assert.equal(ownPage('/developers', 'http://renova.test'), '/developers');
      assert.equal(
        ownPage('/developers/applications/1/webhooks?x=1', 'http://renova.test'),
        '/developers/applications/1/webhooks',
      );
      assert.equal(
        ownPage('/developers/../admin/applications', 'http://renova.test'),
        '/account/applications',
      );
      assert.equal(ownPage('/developers%2f..%2fadmin', 'http://renova.test'), '/account/applications');
      assert.equal(ownPage('//evil.example/developers', 'http://renova.test'), '/account/applications');
      assert.equal(ownPage('/developersx', 'http://renova.test'), '/account/applications');
    });

    test('every portal form post needs the session and its CSRF token', async () => {
      const { browser, user } = await developer();
      const forged = await browser.post('/developers/applications', { ...validForm(), csrf: 'forged' });
      assert.equal(forged.statusCode, 403);
      const crossSite = await browser.post('/developers/applications', validForm(), {
        'sec-fetch-site': 'cross-site',
      });
      assert.equal(crossSite.statusCode, 403);
      const anonymous = await new Browser(h.app).post('/developers/applications', validForm());
      assert.equal(anonymous.statusCode, 403);
      assert.equal((await h.services.applications.listOwnedBy(user.id)).length, 0);
      assert.match(forged.body, /didn&#39;t come from this page/);
    });

    test('creates an application and shows both secrets once, then never again', async () => {
      const { browser, user } = await developer();
      const { clientId, clientSecret, webhookSecret, revealed } = await createApp(browser);
      assert.equal(revealed.headers['cache-control'], 'no-store');
      assert.match(revealed.body, /shown only this once/);
      // The secret works.
      const token = await clientCredentials(h.app, clientId, clientSecret);
      assert.equal(token.status, 200, JSON.stringify(token.body));
      // Stored as asked.
      const app = await h.services.storage.findApplication(clientId);
      assert.equal(app?.ownerUserId, user.id);
      assert.deepEqual(app?.redirectUris, ['https://acme.example/callback', 'http://localhost:3000/cb']);
      assert.equal(app?.pkceRequired, true);
      // A reload finds nothing: the reveal cookie was cleared by the page that showed it.
      const reload = await browser.get(`/developers/applications/${clientId}/reveal`);
      assert.equal(reload.statusCode, 303);
      const overview = await browser.get(String(reload.headers.location));
      assert.equal(overview.statusCode, 200);
      assert.match(overview.body, /shown once and is gone/);
      for (const page of [reload.body, overview.body]) {
        assert.ok(!page.includes(clientSecret));
        assert.ok(!page.includes(webhookSecret));
      }
      // Nor is it in the list, the settings or any log line.
      const list = await browser.get('/developers');
      assert.match(list.body, /Acme Store Sync/);
      assert.ok(!list.body.includes(clientSecret));
      const settings = await browser.get(`/developers/applications/${clientId}/settings`);
      assert.ok(!settings.body.includes(clientSecret));
      const logged = lines.join('');
      assert.ok(!logged.includes(clientSecret), 'client secret logged');
      assert.ok(!logged.includes(webhookSecret), 'webhook secret logged');
      assert.match(logged, /portal: application created/);
    });

    test('the reveal cookie opens only in its own session and for its own application', async () => {
      const { browser } = await developer();
      await browser.get('/developers/applications/new');
      const answer = await browser.post('/developers/applications', validForm({ name: 'Stolen cookie' }));
      const location = String(answer.headers.location);
      const reveal = browser.cookies.get('renova_reveal');
      assert.ok(reveal);
      assert.match(
        String([answer.headers['set-cookie']].flat().join('\n')),
        /renova_reveal=[^;]+; Path=\/developers; HttpOnly; SameSite=Strict; Max-Age=120/,
      );
      const { browser: other } = await developer();
      other.cookies.set('renova_reveal', reveal);
      // Another developer: 404 for the application, and the cookie opens for none of theirs.
      assert.equal((await other.get(location)).statusCode, 404);
      const mine = await createApp(other, { name: 'Other' });
      other.cookies.set('renova_reveal', reveal);
      const elsewhere = await other.get(`/developers/applications/${mine.clientId}/reveal`);
      assert.equal(elsewhere.statusCode, 303);
      // Tampered or oversized cookie values: nothing shown, no 500.
      for (const bad of ['x', 'A'.repeat(5000), '%00', `${reveal.slice(0, -2)}AA`]) {
        browser.cookies.set('renova_reveal', bad);
        const answer2 = await browser.get(location);
        assert.equal(answer2.statusCode, 303, bad.slice(0, 10));
      }
    });

    test('validation errors are shown next to their field, with what was typed, never a 500', async () => {
      const { browser } = await developer();
      await browser.get('/developers/applications/new');
      const cases: [Record<string, string | string[]>, string, RegExp][] = [
        [{ name: '' }, 'name', /This field is required/],
        [{ name: 'x'.repeat(101) }, 'name', /at most 100 characters/],
        [{ name: 'bad\u0000name' }, 'name', /control characters/],
        [{ name: ['one', 'two'] }, 'name', /more than once/],
        [{ description: 'd'.repeat(501) }, 'description', /at most 500/],
        [{ logo_url: 'http://acme.example/logo.png' }, 'logo_url', /absolute https URL/],
        [{ logo_url: 'javascript:alert(1)' }, 'logo_url', /absolute https URL/],
        [{ redirect_uris: '' }, 'redirect_uris', /at least one redirect URI/],
        [{ redirect_uris: 'http://acme.example/cb' }, 'redirect_uris', /must use https/],
        [{ redirect_uris: 'https://acme.example/cb#frag' }, 'redirect_uris', /fragment/],
        [{ redirect_uris: 'not a url' }, 'redirect_uris', /not an absolute URL/],
        [
          { redirect_uris: Array.from({ length: 21 }, (_, i) => `https://a.example/${i}`).join('\n') },
          'redirect_uris',
          /at most 20/,
        ],
        [{ scope: [] }, 'scope', /at least one scope/],
        [{ scope: ['read', 'admin'] }, 'scope', /options shown/],
        [{ grant_types: ['refresh_token'] }, 'grant_types', /must also list authorization_code/],
        [{ grant_types: [] }, 'grant_types', /must not be empty/],
        [{ grant_types: ['password'] }, 'grant_types', /options shown/],
        [{ pkce_required: 'yes' }, 'pkce_required', /options shown/],
        [{ notification_url: 'http://10.0.0.1/hook' }, 'notification_url', /https|private|address/i],
        [{ notification_url: 'https://acme.example/\u0085' }, 'notification_url', /control characters/],
      ];
      for (const [overrides, field, message] of cases) {
        const answer = await browser.post('/developers/applications', validForm(overrides));
        const label = `${field} ${JSON.stringify(overrides).slice(0, 60)}`;
        assert.equal(answer.statusCode, 400, label);
        const error = new RegExp(`<span class="field-error" id="${field}-error">([^<]*)</span>`).exec(
          answer.body,
        )?.[1];
        assert.ok(error, `${label}: no error next to the field`);
        assert.match(error, message, label);
        assert.match(answer.body, /role="alert">Some fields need your attention/);
      }
      // What was typed is kept, escaped.
      const typed = await browser.post(
        '/developers/applications',
        validForm({ name: '<script>alert(1)</script>', redirect_uris: 'http://evil.example/"><b>' }),
      );
      assert.equal(typed.statusCode, 400);
      assert.match(typed.body, /value="&lt;script&gt;alert\(1\)&lt;\/script&gt;"/);
      assert.ok(!typed.body.includes('<script>alert'));
      assert.ok(!typed.body.includes('"><b>'));
      // Nothing was created by any of these.
      const list = await browser.get('/developers');
      assert.match(list.body, /haven&#39;t registered an application yet/);
    });

    test('odd bodies get a page, never a 500', async () => {
      const { browser } = await developer();
      await browser.get('/developers/applications/new');
      const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
      const bodies: [string, string][] = [
        ['application/x-www-form-urlencoded', `csrf=${browser.csrf}&name=${'a'.repeat(17_000)}`],
        ['application/json', '{"name":"x"}'],
        ['application/x-www-form-urlencoded', `csrf=${browser.csrf}&%ZZ=%E0%A4%A`],
        ['text/plain', 'hello'],
      ];
      for (const [type, payload] of bodies) {
        const answer = await h.app.inject({
          method: 'POST',
          url: '/developers/applications',
          headers: { 'content-type': type, cookie },
          payload,
        });
        assert.ok(answer.statusCode >= 400 && answer.statusCode < 500, `${type}: ${answer.statusCode}`);
        assert.match(String(answer.headers['content-type']), /text\/html|application\/json/);
      }
      for (const url of [
        '/developers/applications/abc',
        '/developers/applications/%00',
        `/developers/applications/${'9'.repeat(16)}`,
        `/developers/applications/${'1'.repeat(200)}/settings`,
        '/developers/applications/1234567890123456/reveal',
        '/developers/nothing-here',
      ]) {
        const answer = await browser.get(url);
        // An over-long path segment is refused by the router (414), like on every other route.
        assert.ok(
          answer.statusCode === 404 || (answer.statusCode === 414 && url.length > 100),
          `${url}: ${answer.statusCode}`,
        );
      }
    });

    test("another developer's client_id in every URL and form: 404, and nothing changes", async () => {
      const { browser: owner } = await developer();
      const { clientId, clientSecret } = await createApp(owner);
      const before = await h.services.storage.findApplication(clientId);
      const { browser: intruder } = await developer();
      await intruder.get('/developers');
      const base = `/developers/applications/${clientId}`;
      for (const path of ['', '/settings', '/delete', '/reveal', '/sellers', '/webhooks', '/testing']) {
        const answer = await intruder.get(`${base}${path}`);
        assert.equal(answer.statusCode, 404, `GET ${path}`);
        assert.ok(!answer.body.includes('Acme Store Sync'), `GET ${path} leaks the name`);
      }
      // Word for word the answer for an id that exists nowhere: no way to probe which ids exist.
      const unknown = await intruder.get('/developers/applications/9999999999999999');
      assert.equal((await intruder.get(base)).body, unknown.body);
      const posts: [string, Record<string, string | string[]>][] = [
        ['/client-secret', { overlap_seconds: '0' }],
        ['/webhook-secret', {}],
        ['/settings', validForm({ name: 'Hijacked' })],
        ['/delete', { confirm_name: 'Acme Store Sync' }],
        ['/sellers/revoke', { user_id: '1' }],
        ['/webhooks/retry', { event_id: '1' }],
        ['/webhooks/test', {}],
        ['/testing/users', { site_id: 'MLA', description: 'x' }],
      ];
      for (const [path, fields] of posts) {
        const answer = await intruder.post(`${base}${path}`, fields);
        assert.equal(answer.statusCode, 404, `POST ${path}`);
      }
      const afterwards = await h.services.storage.findApplication(clientId);
      assert.deepEqual(afterwards, before);
      assert.equal((await clientCredentials(h.app, clientId, clientSecret)).status, 200);
    });

    test('rotates the client secret with the chosen overlap; both work until it ends', async () => {
      const { browser } = await developer();
      const { clientId, clientSecret } = await createApp(browser);
      const overview = await browser.get(`/developers/applications/${clientId}`);
      assert.match(overview.body, /<option value="86400" selected>/);
      const rotated = await browser.post(`/developers/applications/${clientId}/client-secret`, {
        overlap_seconds: '3600',
      });
      assert.equal(rotated.statusCode, 303);
      const shown = await browser.get(String(rotated.headers.location));
      assert.equal(shown.headers['cache-control'], 'no-store');
      const fresh = secretOf(shown.body, 'client-secret');
      assert.ok(fresh && fresh !== clientSecret);
      assert.match(shown.body, /keep working 1 hour/);
      assert.equal(
        (await clientCredentials(h.app, clientId, clientSecret)).status,
        200,
        'old one in overlap',
      );
      assert.equal((await clientCredentials(h.app, clientId, fresh)).status, 200);
      const listed = await browser.get(`/developers/applications/${clientId}`);
      assert.match(listed.body, /Current/);
      assert.match(listed.body, /Works until/);
      assert.ok(!listed.body.includes(fresh));
      // No overlap: the previous secrets stop now.
      const now = await browser.post(`/developers/applications/${clientId}/client-secret`, {
        overlap_seconds: '0',
      });
      const newest = secretOf(
        (await browser.get(String(now.headers.location))).body,
        'client-secret',
      ) as string;
      const stopped = await clientCredentials(h.app, clientId, fresh);
      assert.equal(stopped.body.error, 'invalid_client', 'the previous secret stopped at once');
      assert.equal((await clientCredentials(h.app, clientId, newest)).status, 200);
      // A value the select does not offer: 400, no rotation.
      for (const bad of ['5', '-1', '1e9', '', 'abc']) {
        const answer = await browser.post(`/developers/applications/${clientId}/client-secret`, {
          overlap_seconds: bad,
        });
        assert.equal(answer.statusCode, 400, bad);
      }
      assert.equal((await clientCredentials(h.app, clientId, newest)).status, 200);
      assert.ok(!lines.join('').includes(newest));
    });

    test('rotates the webhook signing secret and shows it once', async () => {
      const { browser } = await developer();
      const { clientId, webhookSecret } = await createApp(browser);
      const rotated = await browser.post(`/developers/applications/${clientId}/webhook-secret`, {});
      assert.equal(rotated.statusCode, 303);
      const shown = await browser.get(String(rotated.headers.location));
      const fresh = secretOf(shown.body, 'webhook-secret');
      assert.ok(fresh && fresh !== webhookSecret);
      const app = await h.services.storage.findApplication(clientId);
      assert.equal(
        h.services.sealer.open(`webhook-secret:${clientId}`, app?.webhookSecretSealed as Buffer),
        fresh,
      );
      assert.equal((await browser.get(String(rotated.headers.location))).statusCode, 303);
    });

    test('edits every field: POST-redirect-GET, errors next to the field with the input kept', async () => {
      const { browser } = await developer();
      const { clientId } = await createApp(browser);
      await browser.get(`/developers/applications/${clientId}/settings`);
      const bad = await browser.post(
        `/developers/applications/${clientId}/settings`,
        validForm({ name: 'Renamed', redirect_uris: 'ftp://acme.example/cb' }),
      );
      assert.equal(bad.statusCode, 400);
      assert.match(bad.body, /id="redirect_uris-error">[^<]*must use https/);
      assert.match(bad.body, /value="Renamed"/);
      assert.equal((await h.services.storage.findApplication(clientId))?.name, 'Acme Store Sync');
      const good = await browser.post(
        `/developers/applications/${clientId}/settings`,
        validForm({
          name: 'Renamed',
          description: 'New words',
          logo_url: 'https://cdn.acme.example/logo.png',
          redirect_uris: 'https://acme.example/new',
          scope: ['read'],
          grant_types: ['client_credentials'],
          pkce_required: [],
          notification_url: 'https://hooks.acme.example/renova',
        }),
      );
      assert.equal(good.statusCode, 303);
      assert.equal(good.headers.location, `/developers/applications/${clientId}/settings?saved=1`);
      const app = (await h.services.storage.findApplication(clientId)) as NonNullable<
        Awaited<ReturnType<typeof h.services.storage.findApplication>>
      >;
      assert.equal(app.name, 'Renamed');
      assert.equal(app.description, 'New words');
      assert.equal(app.logoUrl, 'https://cdn.acme.example/logo.png');
      assert.deepEqual(app.redirectUris, ['https://acme.example/new']);
      assert.equal(app.scope, 'read');
      assert.deepEqual(app.grantTypes, ['client_credentials']);
      assert.equal(app.pkceRequired, false);
      assert.equal(app.notificationUrl, 'https://hooks.acme.example/renova');
      const saved = await browser.get(String(good.headers.location));
      assert.match(saved.body, /Changes saved/);
      assert.match(saved.body, /value="https:\/\/hooks\.acme\.example\/renova"/);
    });

    test('deletes only after the name is typed; then every token and the client_id stop working', async () => {
      const { browser } = await developer();
      const { clientId, clientSecret } = await createApp(browser);
      const confirm = await browser.get(`/developers/applications/${clientId}/delete`);
      assert.match(confirm.body, /cannot be undone/);
      const wrong = await browser.post(`/developers/applications/${clientId}/delete`, {
        confirm_name: 'acme store sync',
      });
      assert.equal(wrong.statusCode, 400);
      assert.match(wrong.body, /id="confirm_name-error">The name does not match/);
      assert.ok(await h.services.storage.findApplication(clientId));
      const token = await clientCredentials(h.app, clientId, clientSecret);
      const deleted = await browser.post(`/developers/applications/${clientId}/delete`, {
        confirm_name: 'Acme Store Sync',
      });
      assert.equal(deleted.statusCode, 303);
      assert.equal(deleted.headers.location, '/developers?deleted=1');
      const home = await browser.get(String(deleted.headers.location));
      assert.match(home.body, /The application was deleted/);
      assert.ok(!home.body.includes(clientId));
      assert.equal((await browser.get(`/developers/applications/${clientId}`)).statusCode, 404);
      assert.equal((await clientCredentials(h.app, clientId, clientSecret)).status >= 400, true);
      const me = await h.app.inject({
        url: '/users/me',
        headers: { authorization: `Bearer ${token.body.access_token as string}` },
      });
      assert.equal(me.statusCode, 401);
    });

    test('lists the sellers who authorized it, searches them, pages them, revokes one', async () => {
      const { browser } = await developer();
      // Without PKCE, so that the test can grant through Consent.authorize directly.
      const { clientId } = await createApp(browser, { pkce_required: [] });
      const sellers = [];
      for (let i = 0; i < 23; i++) {
        const seller = await h.services.accounts.createUser({
          email: `s${counter}-${i}@shop.example`,
          nickname: i === 0 ? 'ZETA_100%_SHOP' : `SELLER_${String(i).padStart(2, '0')}`,
        });
        sellers.push(seller);
        await h.services.consent.authorize({
          clientId,
          userId: seller.id,
          redirectUri: 'https://acme.example/callback',
        });
      }
      const first = await browser.get(`/developers/applications/${clientId}/sellers`);
      assert.equal(first.statusCode, 200);
      assert.match(first.body, /23 sellers, 0 test users/);
      assert.equal((first.body.match(/data-user-id=/g) ?? []).length, 20);
      const next = /href="([^"]+cursor=[^"]+)"/.exec(first.body)?.[1]?.replace(/&amp;/g, '&') as string;
      const second = await browser.get(next);
      assert.equal((second.body.match(/data-user-id=/g) ?? []).length, 3);
      const byNick = await browser.get(`/developers/applications/${clientId}/sellers?search=zeta_100%25`);
      assert.equal((byNick.body.match(/data-user-id=/g) ?? []).length, 1);
      assert.match(byNick.body, /ZETA_100%_SHOP/);
      const literal = await browser.get(`/developers/applications/${clientId}/sellers?search=%25`);
      assert.match(literal.body, /No seller matches this search/);
      const byId = await browser.get(`/developers/applications/${clientId}/sellers?search=${sellers[5]?.id}`);
      assert.equal((byId.body.match(/data-user-id=/g) ?? []).length, 1);
      for (const bad of [`search=${'x'.repeat(101)}`, 'search=%00', 'cursor=abc', 'cursor=-1']) {
        const answer = await browser.get(`/developers/applications/${clientId}/sellers?${bad}`);
        assert.equal(answer.statusCode, 400, bad);
        assert.match(answer.body, /id="search-error"/, bad);
      }
      const victim = sellers[3] as { id: number };
      const revoked = await browser.post(`/developers/applications/${clientId}/sellers/revoke`, {
        user_id: String(victim.id),
      });
      assert.equal(revoked.statusCode, 303);
      const after = await browser.get(String(revoked.headers.location));
      assert.match(after.body, new RegExp(`The authorization of ${victim.id} was revoked`));
      assert.match(after.body, /22 sellers/);
      // Twice, or a user with no grant: the same quiet answer; a malformed id: 400.
      assert.equal(
        (
          await browser.post(`/developers/applications/${clientId}/sellers/revoke`, {
            user_id: String(victim.id),
          })
        ).statusCode,
        303,
      );
      for (const bad of ['abc', '', '-1', '1e3', '99999999999999999999']) {
        const answer = await browser.post(`/developers/applications/${clientId}/sellers/revoke`, {
          user_id: bad,
        });
        assert.equal(answer.statusCode, 400, bad);
      }
      const events = await h.services.webhookOutbox.listForApplication(clientId, { limit: 100 });
      assert.equal(events.length, 0, 'no notification URL: no events');
    });

    test('webhook deliveries: listed with status, retried, and a test event sent', async () => {
      const { browser } = await developer();
      const { clientId } = await createApp(browser, {
        notification_url: 'https://hooks.acme.example/renova',
        pkce_required: [],
      });
      const seller = await h.services.accounts.createUser({
        email: `w${counter}@shop.example`,
        nickname: 'HOOKED',
      });
      await h.services.consent.authorize({
        clientId,
        userId: seller.id,
        redirectUri: 'https://acme.example/callback',
      });
      const listed = await browser.get(`/developers/applications/${clientId}/webhooks`);
      assert.equal(listed.statusCode, 200);
      assert.match(listed.body, /application\.authorized/);
      assert.match(listed.body, /badge pending/);
      assert.match(listed.body, /Next attempt/);
      const test = await browser.post(`/developers/applications/${clientId}/webhooks/test`, {});
      assert.equal(test.statusCode, 303);
      const afterTest = await browser.get(String(test.headers.location));
      assert.match(afterTest.body, /A test event is queued/);
      assert.equal((afterTest.body.match(/data-event-id=/g) ?? []).length, 2);
      assert.equal(
        (afterTest.body.match(/badge test">live_mode: false</g) ?? []).length,
        1,
        'the test event is marked',
      );
      const [event] = await h.services.webhookOutbox.listForApplication(clientId, { limit: 1 });
      const retried = await browser.post(`/developers/applications/${clientId}/webhooks/retry`, {
        event_id: String(event?.id),
      });
      assert.equal(retried.statusCode, 303);
      // Another application's event, or a malformed id: 404 / 400, nothing retried.
      const other = await createApp(browser, {
        name: 'Other',
        notification_url: 'https://hooks.acme.example/other',
        pkce_required: [],
      });
      await h.services.consent.authorize({
        clientId: other.clientId,
        userId: seller.id,
        redirectUri: 'https://acme.example/callback',
      });
      const [foreign] = await h.services.webhookOutbox.listForApplication(other.clientId, { limit: 1 });
      const cross = await browser.post(`/developers/applications/${clientId}/webhooks/retry`, {
        event_id: String(foreign?.id),
      });
      assert.equal(cross.statusCode, 404);
      for (const bad of ['x', '0', '', '1'.repeat(30)]) {
        const answer = await browser.post(`/developers/applications/${clientId}/webhooks/retry`, {
          event_id: bad,
        });
        assert.equal(answer.statusCode, 400, bad);
      }
      assert.equal(
        (await browser.get(`/developers/applications/${clientId}/webhooks?before=abc`)).statusCode,
        400,
      );
      // Without a notification URL the test event is refused on a page, not a 500.
      const silent = await createApp(browser, { name: 'Silent' });
      assert.equal(
        (await browser.post(`/developers/applications/${silent.clientId}/webhooks/test`, {})).statusCode,
        400,
      );
    });

    test('test users: created with the password shown once, listed, capped per application', async () => {
      const { browser } = await developer();
      const { clientId } = await createApp(browser);
      const page = await browser.get(`/developers/applications/${clientId}/testing`);
      assert.match(page.body, /0 of 10 test users used/);
      assert.match(page.body, /TEST-/);
      const created = await browser.post(`/developers/applications/${clientId}/testing/users`, {
        site_id: 'MLB',
        description: 'checkout tests',
      });
      assert.equal(created.statusCode, 303);
      const shown = await browser.get(String(created.headers.location));
      assert.equal(shown.headers['cache-control'], 'no-store');
      const password = secretOf(shown.body, 'test-user-password') as string;
      const email = /id="test-user-email">([^<]+)</.exec(shown.body)?.[1] as string;
      assert.match(password, /^[A-Za-z0-9]{16}$/);
      assert.match(shown.body, /1 of 10 test users used/);
      assert.match(shown.body, /checkout tests/);
      // The test user signs in on the seller sign-in.
      const seller = new Browser(h.app);
      await seller.get('/account/applications');
      const signedIn = await seller.post('/login', { email, password, next: '/account/applications' });
      assert.equal(signedIn.statusCode, 303);
      // Shown once: a reload shows the list, not the password.
      const reload = await browser.get(String(created.headers.location));
      assert.equal(reload.statusCode, 303);
      const list = await browser.get(`/developers/applications/${clientId}/testing`);
      assert.ok(!list.body.includes(password));
      assert.ok(!lines.join('').includes(password), 'test user password logged');
      for (const [fields, field] of [
        [{ site_id: 'XXX', description: '' }, 'site_id'],
        [{ site_id: 'MLA', description: 'd'.repeat(256) }, 'description'],
        [{ site_id: 'MLA', description: 'a\u0007b' }, 'description'],
      ] as const) {
        const answer = await browser.post(`/developers/applications/${clientId}/testing/users`, fields);
        assert.equal(answer.statusCode, 400, field);
        assert.match(answer.body, new RegExp(`id="${field}-error"`), field);
      }
      for (let i = 1; i < 10; i++) {
        const more = await browser.post(`/developers/applications/${clientId}/testing/users`, {
          site_id: 'MLA',
          description: '',
        });
        assert.equal(more.statusCode, 303);
        await browser.get(String(more.headers.location));
      }
      const full = await browser.get(`/developers/applications/${clientId}/testing`);
      assert.match(full.body, /10 of 10 test users used/);
      assert.match(full.body, /reached its test user limit/);
      const over = await browser.post(`/developers/applications/${clientId}/testing/users`, {
        site_id: 'MLA',
        description: '',
      });
      assert.equal(over.statusCode, 400);
      assert.equal((await h.services.testUsers.list(clientId)).length, 10);
    });

    test('pages are strict: CSP with scripts from self only, no framing, no store; the script is served', async () => {
      const { browser } = await developer();
      const page = await browser.get('/developers');
      const csp = String(page.headers['content-security-policy']);
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(page.headers['x-frame-options'], 'DENY');
      assert.equal(page.headers['cache-control'], 'no-store');
      assert.doesNotMatch(page.body, /<script>|<script [^>]*>[^<]|style="|onclick=/);
      const script = await h.app.inject({ url: '/assets/developers.js' });
      assert.equal(script.statusCode, 200);
      assert.match(String(script.headers['content-type']), /^text\/javascript/);
      assert.match(script.body, /navigator\.clipboard/);
      const css = await h.app.inject({ url: '/assets/developers.css' });
      assert.match(String(css.headers['content-type']), /^text\/css/);
    });

    test('speaks Spanish, Portuguese or English from Accept-Language', async () => {
      for (const [language, text] of [
        ['es-AR', /Tus aplicaciones/],
        ['pt-BR', /Seus aplicativos/],
        ['en-US', /Your applications/],
      ] as const) {
        const { browser } = await developer(language);
        const page = await browser.get('/developers');
        assert.match(page.body, text, language);
        assert.match(page.body, new RegExp(`<html lang="${language.slice(0, 2)}">`));
      }
    });

    test('signing out from the portal comes back to the portal, signed out', async () => {
      const { browser } = await developer();
      const out = await browser.post('/logout', { next: '/developers' });
      assert.equal(out.statusCode, 303);
      assert.equal(out.headers.location, '/developers');
      const page = await browser.get('/developers');
      assert.match(page.body, /action="\/login"/);
    });
  });
}
