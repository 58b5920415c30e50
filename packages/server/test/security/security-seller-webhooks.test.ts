/**
 * Security regressions of the December review for seller sign-in (#6, #9, #10), webhook targets
 * (#8) and files at rest (#11). Each test reproduces the attack and asserts that it fails.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { LookupFunction } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.ts';
import {
  DEFAULT_SCRYPT,
  hashPassword,
  PasswordHasher,
  PasswordHashingBusyError,
} from '../../src/core/passwords.ts';
import {
  checkNotificationUrl,
  forbiddenAddressRule,
  vettedLookup,
  type WebhookTargetPolicy,
} from '../../src/core/webhook-targets.ts';
import type { WebhookPolicy } from '../../src/core/webhooks.ts';
import { buildApp } from '../../src/http/app.ts';
import { ownPage } from '../../src/http/seller.ts';
import { loadServerKey, openRuntime, webhookTargetPolicy } from '../../src/runtime.ts';
import { createServices, type ServiceOptions, type Services } from '../../src/services.ts';
import type { WebhookEventRecord } from '../../src/storage/contract.ts';
import { createdApplicationView, issuedCodeView } from '../../src/views.ts';
import { ADMIN_TOKEN } from '../helpers/fixtures.ts';
import { type StorageFactory, storageFactories, type TestStorage } from '../helpers/storages.ts';

const ISSUER = 'http://renova.test';
/** Cheap scrypt for tests that are not about the parameters themselves (one test checks the real ones). */
const CHEAP = { N: 2 ** 10, r: 8, p: 1 };
const FAST: WebhookPolicy = { baseDelayMs: 10, maxDelayMs: 20, maxAttempts: 2, timeoutMs: 2_000, pollMs: 20 };
const ENGLISH = { 'accept-language': 'en' };

interface Pages {
  app: FastifyInstance;
  services: Services;
  close(): Promise<void>;
}

async function pages(factory: StorageFactory, extra: Partial<ServiceOptions> = {}): Promise<Pages> {
  const testStorage: TestStorage = await factory.create();
  const services = createServices({
    storage: testStorage.storage,
    serverKey: Buffer.alloc(32, 5),
    passwords: new PasswordHasher({ params: CHEAP }),
    ...extra,
  });
  const app = await buildApp(services, { issuer: ISSUER, adminToken: ADMIN_TOKEN, logger: false });
  await app.ready();
  return {
    app,
    services,
    async close() {
      await services.webhooks.stop();
      await app.close();
      await testStorage.cleanup();
    },
  };
}

function sessionCookie(headers: Record<string, unknown>): string | undefined {
  const raw = headers['set-cookie'];
  const all = Array.isArray(raw) ? raw : raw === undefined ? [] : [String(raw)];
  return all.find((c: string) => /^(__Host-)?renova_session=/.test(c))?.split(';')[0];
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

/** A browser from `address`: GET the sign-in page (cookie + CSRF token), then post the form. */
async function signIn(
  app: FastifyInstance,
  form: { email: string; password: string; next?: string },
  address = '127.0.0.1',
) {
  const page = await app.inject({ url: '/account/applications', remoteAddress: address });
  const anonymous = sessionCookie(page.headers) as string;
  const answer = await app.inject({
    method: 'POST',
    url: '/login',
    remoteAddress: address,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: anonymous, ...ENGLISH },
    payload: new URLSearchParams({
      csrf: csrfOf(page.body),
      next: '/account/applications',
      ...form,
    }).toString(),
  });
  return { answer, anonymous, csrf: csrfOf(page.body), cookie: sessionCookie(answer.headers) };
}

/** Header names and values of a response, flattened, to search for anything injected. */
function headerText(headers: Record<string, unknown>): string {
  return Object.entries(headers)
    .map(([name, value]) => `${name}: ${[value].flat().join(', ')}`)
    .join('\n');
}

let counter = 0;
const unique = () => `${Date.now().toString(36)}${++counter}`;

for (const factory of storageFactories) {
  describe(`seller sign-in hardening on ${factory.name}`, () => {
    test('password spraying: 12 emails with one password from one address hit the per-address cap (429); the real seller from another address still signs in (review #6)', async () => {
      const p = await pages(factory);
      try {
        const seller = await p.services.accounts.createUser({
          email: `real-${unique()}@shop.example`,
          password: 'the real password',
        });
        const victims = [];
        for (let i = 0; i < 6; i++) {
          victims.push(
            (
              await p.services.accounts.createUser({
                email: `victim${i}-${unique()}@shop.example`,
                password: 'strong pass 1',
              })
            ).email,
          );
        }
        // 12 different accounts (6 that exist, 6 that do not), one common password, one address.
        const emails = [
          ...victims,
          ...Array.from({ length: 6 }, (_, i) => `nobody${i}-${unique()}@shop.example`),
        ];
        const statuses: number[] = [];
        let lastThrottled: Awaited<ReturnType<typeof signIn>>['answer'] | undefined;
        for (const email of emails) {
          const { answer, cookie } = await signIn(p.app, { email, password: 'Password123!' }, '203.0.113.66');
          statuses.push(answer.statusCode);
          assert.equal(cookie, undefined, 'no session for a sprayed guess');
          if (answer.statusCode === 429) lastThrottled = answer;
        }
        // Each (address, email) pair failed only once: only the per-address cap can stop this.
        assert.deepEqual(statuses, [...Array(10).fill(401), 429, 429]);
        assert.ok(lastThrottled);
        assert.ok(Number(lastThrottled.headers['retry-after']) > 0);
        assert.match(lastThrottled.body, /Too many failed attempts\. Wait \d+ minutes?/);
        // The spraying address is capped even with the right password of another account…
        const fromSprayer = await signIn(
          p.app,
          { email: seller.email, password: 'the real password' },
          '203.0.113.66',
        );
        assert.equal(fromSprayer.answer.statusCode, 429);
        // …but the seller, from their own address, is not locked out.
        const real = await signIn(
          p.app,
          { email: seller.email, password: 'the real password' },
          '198.51.100.7',
        );
        assert.equal(real.answer.statusCode, 303);
        assert.equal(real.answer.headers.location, '/account/applications');
        assert.ok(real.cookie);
      } finally {
        await p.close();
      }
    });

    test('concurrent password checks above the bound are answered 429 at once instead of piling up on the thread pool (review #6)', async () => {
      // 2 hashes at once, 2 waiting; N=2^15 so each hash lasts long enough for all requests to meet.
      const hasher = new PasswordHasher({
        params: { N: 2 ** 15, r: 8, p: 1 },
        maxConcurrent: 2,
        maxQueued: 2,
      });
      const p = await pages(factory, { passwords: hasher });
      try {
        const forms = await Promise.all(
          Array.from({ length: 12 }, async (_, i) => {
            const address = `192.0.2.${i + 1}`;
            const page = await p.app.inject({ url: '/account/applications', remoteAddress: address });
            return { address, cookie: sessionCookie(page.headers) as string, csrf: csrfOf(page.body) };
          }),
        );
        let maxInFlight = 0;
        let watching = true;
        const watch = (async () => {
          while (watching) {
            maxInFlight = Math.max(maxInFlight, hasher.inFlight);
            await new Promise((resolve) => setImmediate(resolve));
          }
        })();
        const answers = await Promise.all(
          forms.map((form, i) =>
            p.app.inject({
              method: 'POST',
              url: '/login',
              remoteAddress: form.address,
              headers: {
                'content-type': 'application/x-www-form-urlencoded',
                cookie: form.cookie,
                ...ENGLISH,
              },
              payload: new URLSearchParams({
                csrf: form.csrf,
                email: `spray${i}-${unique()}@shop.example`,
                password: 'Password123!',
                next: '/account/applications',
              }).toString(),
            }),
          ),
        );
        watching = false;
        await watch;
        const busy = answers.filter((a) => a.statusCode === 429);
        const checked = answers.filter((a) => a.statusCode === 401);
        assert.equal(checked.length, 4, 'two running and two queued were checked');
        assert.equal(busy.length, 8, 'the rest were refused, not queued');
        for (const answer of busy) {
          assert.equal(answer.headers['retry-after'], '1');
          assert.match(answer.body, /Many sign-ins are being checked right now\. Wait a few seconds/);
        }
        assert.ok(maxInFlight <= 2, `at most 2 hashes ran at once (saw ${maxInFlight})`);
        assert.equal(hasher.inFlight, 0);
        // Once the burst is over, a real sign-in goes through.
        const seller = await p.services.accounts.createUser({
          email: `after-${unique()}@shop.example`,
          password: 'after burst 1',
        });
        const real = await signIn(p.app, { email: seller.email, password: 'after burst 1' }, '198.51.100.8');
        assert.equal(real.answer.statusCode, 303);
      } finally {
        await p.close();
      }
    });

    test('a password stored with the old scrypt N=2^15 is rehashed to N=2^17, r=8, p=1 at the next sign-in (review #10)', async () => {
      // The real default parameters here: the point of the test.
      const p = await pages(factory, { passwords: new PasswordHasher() });
      try {
        assert.deepEqual(DEFAULT_SCRYPT, { N: 131072, r: 8, p: 1 });
        const oldHash = await hashPassword('old params pass', { N: 2 ** 15, r: 8, p: 1 });
        assert.match(oldHash, /^scrypt\$32768\$8\$1\$/);
        const user = await p.services.storage.createUser({
          email: `legacy-${unique()}@shop.example`,
          nickname: 'LEGACY',
          siteId: 'MLA',
          passwordHash: oldHash,
          createdAt: Date.now(),
        });
        assert.ok(user);
        const first = await signIn(p.app, { email: user.email, password: 'old params pass' });
        assert.equal(first.answer.statusCode, 303);
        const upgraded = (await p.services.storage.findUserById(user.id))?.passwordHash ?? '';
        assert.match(upgraded, /^scrypt\$131072\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
        // The new hash verifies the same password, and only that one.
        assert.equal(
          (await signIn(p.app, { email: user.email, password: 'old params pass' })).answer.statusCode,
          303,
        );
        assert.equal(
          (await signIn(p.app, { email: user.email, password: 'wrong password' })).answer.statusCode,
          401,
        );
        assert.equal((await p.services.storage.findUserById(user.id))?.passwordHash, upgraded, 'hashed once');
        // New users get the current parameters directly.
        const created = await p.services.accounts.createUser({
          email: `new-${unique()}@shop.example`,
          password: 'brand new 1',
        });
        assert.match(
          (await p.services.storage.findUserById(created.id))?.passwordHash ?? '',
          /^scrypt\$131072\$8\$1\$/,
        );
        // The storage update is conditional: a rehash never overwrites a hash changed meanwhile.
        assert.equal(await p.services.storage.updatePasswordHash(user.id, oldHash, 'scrypt$x'), false);
        assert.equal((await p.services.storage.findUserById(user.id))?.passwordHash, upgraded);
      } finally {
        await p.close();
      }
    });

    test('CR/LF, NUL and other control characters in the sign-in and sign-out next field give a 400 page, never a 500 or an injected header (review #9)', async () => {
      const p = await pages(factory);
      try {
        const seller = await p.services.accounts.createUser({
          email: `crlf-${unique()}@shop.example`,
          password: 'crlf password',
        });
        const payloads = [
          '/authorization?a\r\nSet-Cookie: evil=1',
          '/account/applications\r\nX-Injected: 1',
          '/authorization?a\nX-Injected: 1',
          '/authorization?a=%0d%0aSet-Cookie:%20evil=1',
          '/authorization?a=%0D%0AX-Injected:%201',
          '/account/applications%00',
          '/account/applications\u0000',
          '/authorization?x=\u007f',
          '/authorization?x=%7F',
          '/authorization?x=\u0085',
          '/authorization?x=%C2%85',
          '\r\n/account/applications',
          '/authorization?x=\t',
        ];
        for (const next of payloads) {
          const { answer, anonymous, csrf } = await signIn(p.app, {
            email: seller.email,
            password: 'crlf password',
            next,
          });
          assert.equal(answer.statusCode, 400, JSON.stringify(next));
          assert.equal(answer.headers.location, undefined);
          assert.equal(sessionCookie(answer.headers), undefined, 'no session was created');
          assert.doesNotMatch(headerText(answer.headers), /evil|x-injected/i);
          assert.match(answer.body, /return address contains characters that are not allowed/);
          const logout = await p.app.inject({
            method: 'POST',
            url: '/logout',
            headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: anonymous, ...ENGLISH },
            payload: new URLSearchParams({ csrf, next }).toString(),
          });
          assert.equal(logout.statusCode, 400, `logout ${JSON.stringify(next)}`);
          assert.doesNotMatch(headerText(logout.headers), /evil|x-injected/i);
        }
      } finally {
        await p.close();
      }
    });

    test('a next field that is not one of our pages falls back to the account page, and non-ASCII is percent-encoded, never a 500 (review #9)', async () => {
      const p = await pages(factory);
      try {
        const seller = await p.services.accounts.createUser({
          email: `next-${unique()}@shop.example`,
          password: 'next password',
        });
        const cases: [string, string][] = [
          ['https://evil.example/', '/account/applications'],
          ['//evil.example/x', '/account/applications'],
          ['/\\evil.example', '/account/applications'],
          ['//renova.test@evil.example/authorization?x=1', '/account/applications'],
          ['javascript:alert(1)', '/account/applications'],
          ['/admin/users', '/account/applications'],
          ['/authorization', '/account/applications'],
          ['/authorization?x=é中\u2028', '/authorization?x=%C3%A9%E4%B8%AD%E2%80%A8'],
          ['/authorization?client_id=1&a=%250d%250a', '/authorization?client_id=1&a=%250d%250a'],
          ['/x/../authorization?y=1', '/authorization?y=1'],
        ];
        for (const [next, location] of cases) {
          const { answer } = await signIn(p.app, { email: seller.email, password: 'next password', next });
          assert.equal(answer.statusCode, 303, next);
          assert.equal(answer.headers.location, location, next);
          assert.match(String(answer.headers.location), /^[\x21-\x7e]+$/);
        }
        assert.equal(ownPage('/authorization?a=1#frag', ISSUER), '/authorization?a=1');
        assert.equal(ownPage(undefined, ISSUER), '/account/applications');
        assert.equal(ownPage('/authorization?a\r\n', ISSUER), null);
      } finally {
        await p.close();
      }
    });
  });
}

// --- Webhook targets (review #8) -----------------------------------------------------------------

const PRODUCTION: WebhookTargetPolicy = { allowPrivate: false, allowHttp: () => false };

/** [notification_url, what the 400 must name] */
const REFUSED: [string, RegExp][] = [
  ['https://127.0.0.1/hook', /loopback/],
  ['https://127.1/hook', /loopback/],
  ['https://2130706433/hook', /loopback/],
  ['https://0x7f000001/hook', /loopback/],
  ['https://0177.0.0.1/hook', /loopback/],
  ['https://0x7f.0.0.1/hook', /loopback/],
  ['https://localhost/hook', /loopback/],
  ['https://hooks.localhost./hook', /loopback/],
  ['https://[::1]/hook', /loopback/],
  ['https://169.254.169.254/latest/meta-data/', /link-local.*metadata/],
  ['https://[fe80::1]/hook', /link-local/],
  ['https://[febf::1]/hook', /link-local/],
  ['https://10.0.0.5/hook', /private \(RFC 1918/],
  ['https://172.16.3.4/hook', /private/],
  ['https://172.31.255.255/hook', /private/],
  ['https://192.168.1.1/hook', /private/],
  ['https://100.64.0.1/hook', /CGNAT/],
  ['https://100.127.255.254/hook', /CGNAT/],
  ['https://[fd00::1]/hook', /unique local/],
  ['https://[fc00::1]/hook', /unique local/],
  ['https://224.0.0.1/hook', /multicast/],
  ['https://239.255.255.250/hook', /multicast/],
  ['https://[ff02::1]/hook', /multicast/],
  ['https://0.0.0.0/hook', /unspecified/],
  ['https://0/hook', /unspecified/],
  ['https://[::]/hook', /unspecified/],
  ['https://255.255.255.255/hook', /reserved|broadcast/],
  ['https://[::ffff:127.0.0.1]/hook', /IPv4-mapped loopback/],
  ['https://[::ffff:7f00:1]/hook', /IPv4-mapped loopback/],
  ['https://[::ffff:169.254.169.254]/hook', /IPv4-mapped link-local/],
  ['https://[::ffff:a00:1]/hook', /IPv4-mapped private/],
  ['https://[64:ff9b::a9fe:a9fe]/hook', /NAT64-embedded link-local/],
  ['https://[2002:7f00:1::]/hook', /6to4-embedded loopback/],
  ['http://hooks.integrator.example/hook', /must use https/],
  ['https://user:pass@hooks.integrator.example/hook', /credentials/],
  ['file:///etc/passwd', /http or https/],
];

const ACCEPTED = [
  'https://hooks.integrator.example/mp?source=renova',
  'https://93.184.215.14/hook',
  'https://172.32.0.1/hook',
  'https://100.128.0.1/hook',
  'https://[2606:4700:4700::1111]/hook',
  'https://[::ffff:93.184.215.14]/hook',
];

describe('notification_url targets at registration (review #8)', () => {
  test('each internal address class, in every spelling, is refused with a 400 naming the rule', () => {
    for (const [url, rule] of REFUSED) {
      assert.throws(
        () => checkNotificationUrl(url, PRODUCTION),
        (error: Error & { error?: string }) => {
          assert.equal(error.error, 'invalid_request', url);
          assert.match(error.message, rule, url);
          return true;
        },
      );
    }
    for (const url of ACCEPTED) assert.equal(checkNotificationUrl(url, PRODUCTION), url);
  });

  test('http is allowed while the issuer is http://localhost, but internal addresses still are not', () => {
    const localIssuer = webhookTargetPolicy({ issuer: () => 'http://127.0.0.1:8080' });
    assert.equal(
      checkNotificationUrl('http://hooks.integrator.example/h', localIssuer),
      'http://hooks.integrator.example/h',
    );
    assert.throws(() => checkNotificationUrl('http://127.0.0.1:9/h', localIssuer), /loopback/);
    const publicIssuer = webhookTargetPolicy({ issuer: () => 'https://auth.example' });
    assert.throws(() => checkNotificationUrl('http://hooks.integrator.example/h', publicIssuer), /https/);
    const development = webhookTargetPolicy({
      allowPrivate: loadConfig({ RENOVA_WEBHOOK_ALLOW_PRIVATE: 'true' }).webhookAllowPrivate,
    });
    assert.equal(checkNotificationUrl('http://127.0.0.1:9/h', development), 'http://127.0.0.1:9/h');
    assert.equal(webhookTargetPolicy({ demo: true }).allowPrivate, true);
    assert.throws(
      () => loadConfig({ RENOVA_WEBHOOK_ALLOW_PRIVATE: 'yes' }),
      /RENOVA_WEBHOOK_ALLOW_PRIVATE must be true or false/,
    );
  });

  for (const factory of storageFactories) {
    test(`the admin API answers 400 naming the rule, and stores nothing, on ${factory.name}`, async () => {
      const p = await pages(factory);
      try {
        const owner = await p.services.accounts.createUser({ email: `owner-${unique()}@example.com` });
        for (const [url, rule] of [
          ['http://169.254.169.254/latest/meta-data/', /https/],
          ['https://169.254.169.254/latest/meta-data/', /link-local/],
          ['https://2130706433/internal-only', /loopback/],
          ['https://[::ffff:10.0.0.1]/x', /IPv4-mapped private/],
        ] as [string, RegExp][]) {
          const answer = await p.app.inject({
            method: 'POST',
            url: '/admin/applications',
            headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
            payload: JSON.stringify({
              name: 'SSRF probe',
              owner_user_id: owner.id,
              redirect_uris: ['https://integrator.example.com/cb'],
              notification_url: url,
            }),
          });
          assert.equal(answer.statusCode, 400, url);
          const body = answer.json() as { error: string; error_description?: string; message?: string };
          assert.equal(body.error, 'invalid_request');
          assert.match(JSON.stringify(body), rule);
        }
        assert.deepEqual(await p.services.storage.listApplicationsByOwner(owner.id), []);
      } finally {
        await p.close();
      }
    });
  }
});

/** A webhook receiver on http://127.0.0.1 that records what reaches it. */
class Receiver {
  readonly received: string[] = [];
  readonly #server: Server = createServer((request, response) => {
    this.received.push(request.url ?? '');
    request.resume();
    response.end('ok');
  });
  port = 0;
  async start() {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }
  close() {
    return new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** A DNS stand-in: every name resolves to `addresses` (what a rebinding attacker's DNS answers). */
function fakeDns(addresses: string[], asked: string[] = []): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    asked.push(hostname);
    const all = addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    if (options.all) callback(null, all);
    else callback(null, all[0]?.address, all[0]?.family);
  }) as unknown as LookupFunction;
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 10));
}

for (const factory of storageFactories) {
  describe(`webhook delivery targets on ${factory.name} (review #8)`, () => {
    let receiver: Receiver;
    before(async () => {
      receiver = new Receiver();
      await receiver.start();
    });
    after(async () => receiver.close());

    /** An application whose notification_url names `host`, one consent, and its outbox event. */
    async function consentWith(p: Pages, notificationUrl: string) {
      const owner = await p.services.accounts.createUser({ email: `owner-${unique()}@example.com` });
      const seller = await p.services.accounts.createUser({ email: `seller-${unique()}@example.com` });
      const app = createdApplicationView(
        await p.services.applications.create({
          name: 'Rebinding App',
          ownerUserId: owner.id,
          redirectUris: ['https://integrator.example.com/cb'],
          notificationUrl,
        }),
      );
      issuedCodeView(await p.services.consent.authorize({ clientId: app.client_id, userId: seller.id }));
      const mine = async (): Promise<WebhookEventRecord | undefined> =>
        (await p.services.storage.listWebhookEvents({ limit: 100 })).find(
          (e) => e.clientId === app.client_id,
        );
      return { mine };
    }

    test('a name that resolves to 127.0.0.1 at delivery time is refused, retried with a clear last_error, never delivered (DNS rebinding)', async () => {
      const asked: string[] = [];
      // http is allowed (as with an http://localhost issuer) so that only the address decides.
      const p = await pages(factory, {
        webhookPolicy: FAST,
        webhookTargets: { allowPrivate: false, allowHttp: () => true },
        webhookLookup: fakeDns(['127.0.0.1'], asked),
      });
      try {
        const before = receiver.received.length;
        // A public-looking name passes registration: only its resolution shows where it goes.
        const { mine } = await consentWith(
          p,
          `http://rebind.integrator.example:${receiver.port}/internal-only`,
        );
        p.services.webhooks.start();
        await until(async () => (await mine())?.status === 'dead');
        const event = (await mine()) as WebhookEventRecord;
        assert.equal(event.attempts, FAST.maxAttempts, 'retried like any failed delivery');
        assert.equal(event.lastStatus, null);
        assert.match(
          String(event.lastError),
          /refused: rebind\.integrator\.example resolves to 127\.0\.0\.1, a loopback/,
        );
        assert.ok(asked.includes('rebind.integrator.example'), 'the dispatcher resolved the name itself');
        assert.equal(receiver.received.length, before, 'nothing reached the internal listener');
      } finally {
        await p.close();
      }
    });

    test('a name with one internal address among public ones is refused too', async () => {
      const p = await pages(factory, {
        webhookPolicy: FAST,
        webhookTargets: { allowPrivate: false, allowHttp: () => true },
        webhookLookup: fakeDns(['93.184.215.14', '169.254.169.254']),
      });
      try {
        const { mine } = await consentWith(p, `http://mixed.integrator.example:${receiver.port}/x`);
        p.services.webhooks.start();
        await until(async () => (await mine())?.lastError != null);
        assert.match(String((await mine())?.lastError), /resolves to 169\.254\.169\.254, a link-local/);
      } finally {
        await p.close();
      }
    });

    test('an IP-literal notification_url stored before this check existed is refused at delivery', async () => {
      const p = await pages(factory, {
        webhookPolicy: FAST,
        webhookTargets: { allowPrivate: false, allowHttp: () => true },
      });
      try {
        const before = receiver.received.length;
        const owner = await p.services.accounts.createUser({ email: `owner-${unique()}@example.com` });
        const seller = await p.services.accounts.createUser({ email: `seller-${unique()}@example.com` });
        const clientId = `9${String(Date.now()).slice(-15).padStart(15, '0')}`;
        // Written straight to storage, as an application registered by an older version would be.
        await p.services.storage.createApplication({
          clientId,
          name: 'Legacy App',
          ownerUserId: owner.id,
          redirectUris: ['https://integrator.example.com/cb'],
          scope: 'read',
          pkceRequired: false,
          notificationUrl: `http://[::ffff:127.0.0.1]:${receiver.port}/legacy`,
          webhookSecretSealed: p.services.sealer.seal(`webhook-secret:${clientId}`, 'ab'.repeat(32)),
          ownerPublicKey: '00000000-0000-4000-8000-000000000000',
          secretHash: Buffer.alloc(32, 1),
          createdAt: Date.now(),
        });
        issuedCodeView(await p.services.consent.authorize({ clientId, userId: seller.id }));
        p.services.webhooks.start();
        const mine = async () =>
          (await p.services.storage.listWebhookEvents({ limit: 100 })).find((e) => e.clientId === clientId);
        await until(async () => (await mine())?.status === 'dead');
        assert.match(
          String((await mine())?.lastError),
          /refused: notification_url points at a IPv4-mapped loopback/,
        );
        assert.equal(receiver.received.length, before);
      } finally {
        await p.close();
      }
    });

    test('with RENOVA_WEBHOOK_ALLOW_PRIVATE=true the same name and lookup deliver (the guard above is what refused)', async () => {
      const p = await pages(factory, {
        webhookPolicy: FAST,
        webhookTargets: webhookTargetPolicy({
          allowPrivate: loadConfig({ RENOVA_WEBHOOK_ALLOW_PRIVATE: 'true' }).webhookAllowPrivate,
        }),
        webhookLookup: fakeDns(['127.0.0.1']),
      });
      try {
        const before = receiver.received.length;
        const { mine } = await consentWith(p, `http://rebind.integrator.example:${receiver.port}/dev-only`);
        p.services.webhooks.start();
        await until(async () => (await mine())?.status === 'delivered');
        assert.equal(receiver.received.length, before + 1);
        assert.match(receiver.received[before] as string, /^\/dev-only\?data\.id=\d+&type=mp-connect$/);
      } finally {
        await p.close();
      }
    });
  });
}

describe('vetted DNS lookup (review #8)', () => {
  test('refuses any internal address in an answer, passes public ones in both lookup forms', async () => {
    const ask = (lookup: LookupFunction, all: boolean) =>
      new Promise<{ error: Error | null; result: unknown }>((resolve) =>
        lookup('h.example', { all }, (error, address) => resolve({ error, result: address })),
      );
    for (const internal of [
      '127.0.0.1',
      '10.1.2.3',
      '::1',
      'fd12::1',
      '::ffff:192.168.0.1',
      '100.100.100.200',
    ]) {
      const { error } = await ask(vettedLookup(fakeDns(['93.184.215.14', internal])), true);
      assert.match(String(error?.message), /refused: h\.example resolves to/, internal);
    }
    const all = await ask(vettedLookup(fakeDns(['93.184.215.14', '2606:4700::1'])), true);
    assert.equal(all.error, null);
    assert.deepEqual(all.result, [
      { address: '93.184.215.14', family: 4 },
      { address: '2606:4700::1', family: 6 },
    ]);
    const one = await ask(vettedLookup(fakeDns(['93.184.215.14'])), false);
    assert.equal(one.result, '93.184.215.14');
    assert.equal(forbiddenAddressRule('8.8.8.8'), undefined);
    assert.equal(forbiddenAddressRule('2a00:1450:4001::200e'), undefined);
  });
});

describe('password hashing bound', () => {
  test('hashes beyond the running and queued slots fail at once with a 429 error', async () => {
    const hasher = new PasswordHasher({ params: { N: 2 ** 12, r: 8, p: 1 }, maxConcurrent: 1, maxQueued: 1 });
    const stored = await hasher.hash('some password');
    const results = await Promise.allSettled(
      Array.from({ length: 5 }, () => hasher.verify('some password', stored)),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'rejected', 'rejected', 'rejected'],
    );
    for (const r of results.slice(2))
      assert.ok((r as PromiseRejectedResult).reason instanceof PasswordHashingBusyError);
    assert.equal(await hasher.verify('some password', stored), true);
    assert.equal(await hasher.verify('some password', undefined), false, 'an unknown user never matches');
  });
});

// --- Files at rest (review #11) --------------------------------------------------------------------

describe('files at rest (review #11)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'renova-files-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const mode = (file: string) => statSync(file).mode & 0o777;

  test('the SQLite database, its WAL and SHM files and the generated key file are 0600 under umask 022', async () => {
    const previous = process.umask(0o022);
    try {
      const db = join(dir, 'data', 'renova.db');
      const env = { RENOVA_SECRET_KEY: '', RENOVA_SECRET_KEY_FILE: '' };
      const runtime = await openRuntime(db, env);
      try {
        await runtime.services.accounts.createUser({
          email: `files-${unique()}@example.com`,
          password: 'files pass',
        });
        for (const file of [db, `${db}-wal`, `${db}-shm`, join(dirname(db), 'renova.key')]) {
          assert.equal(mode(file).toString(8), '600', file);
        }
      } finally {
        await runtime.close();
      }
      // A database an older version left world-readable is tightened when it is opened.
      const legacy = join(dir, 'legacy', 'renova.db');
      mkdirSync(dirname(legacy));
      writeFileSync(legacy, '', { mode: 0o644 });
      writeFileSync(join(dirname(legacy), 'renova.key'), `${'cd'.repeat(32)}\n`, { mode: 0o600 });
      assert.equal(mode(legacy).toString(8), '644');
      const reopened = await openRuntime(legacy, env);
      await reopened.close();
      assert.equal(mode(legacy).toString(8), '600');
    } finally {
      process.umask(previous);
    }
  });

  test('RENOVA_SECRET_KEY_FILE is honoured: the key is made there (0600), not beside the database, and read back', () => {
    const previous = process.umask(0o022);
    try {
      const db = join(dir, 'apart', 'renova.db');
      const keyFile = join(dir, 'secrets', 'nested', 'server.key');
      const env = { RENOVA_SECRET_KEY_FILE: keyFile };
      const key = loadServerKey(db, loadConfig(env));
      assert.equal(key.length, 32);
      assert.equal(mode(keyFile).toString(8), '600');
      assert.throws(() => statSync(join(dirname(db), 'renova.key')), /ENOENT/);
      assert.deepEqual(loadServerKey(db, loadConfig(env)), key, 'the same key on the next start');
      // PostgreSQL instances may share a provided key file, but never get one minted each.
      assert.deepEqual(loadServerKey('postgres://127.0.0.1/renova', loadConfig(env)), key);
      assert.throws(
        () =>
          loadServerKey(
            'postgres://127.0.0.1/renova',
            loadConfig({ RENOVA_SECRET_KEY_FILE: join(dir, 'missing.key') }),
          ),
        /must be provided/,
      );
      assert.throws(() => loadServerKey('postgres://127.0.0.1/renova', loadConfig({})), /RENOVA_SECRET_KEY/);
    } finally {
      process.umask(previous);
    }
  });

  test('an unreadable or malformed key file is refused with an error that says what to do', async () => {
    const malformed = join(dir, 'bad.key');
    for (const content of ['not-hex-at-all\n', `${'ab'.repeat(16)}\n`, `${'ab'.repeat(32)}x\n`, '']) {
      writeFileSync(malformed, content, { mode: 0o600 });
      assert.throws(
        () => loadServerKey(join(dir, 'x.db'), loadConfig({ RENOVA_SECRET_KEY_FILE: malformed })),
        /server key file .*bad\.key is malformed: it must hold at least 64 hex characters/,
      );
    }
    // A directory where the file should be: unreadable whoever runs the test (root reads any mode).
    const unreadable = join(dir, 'a-directory.key');
    mkdirSync(unreadable);
    assert.throws(
      () => loadServerKey(join(dir, 'x.db'), loadConfig({ RENOVA_SECRET_KEY_FILE: unreadable })),
      /cannot read the server key file .*a-directory\.key \(EISDIR\): make it readable/,
    );
    await assert.rejects(openRuntime(join(dir, 'y.db'), { RENOVA_SECRET_KEY_FILE: malformed }), /malformed/);
    await assert.rejects(
      openRuntime(join(dir, 'z.db'), {
        RENOVA_SECRET_KEY: 'ab'.repeat(32),
        RENOVA_LOGIN_ADDRESS_LIMIT: 'lots',
      }),
      /RENOVA_LOGIN_ADDRESS_LIMIT must look like MAX\/WINDOW_SECONDS/,
    );
  });
});
