/**
 * The security suite: one regression test per finding of the December review, named after the
 * attack, on every engine. Each test reproduces the attack and asserts it fails.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { buildAdminApp, buildApp } from '../../src/http/app.ts';
import { startServer } from '../../src/runtime.ts';
import { ADMIN_TOKEN, type Harness, harness } from '../helpers/fixtures.ts';
import { sqliteFactory, storageFactories } from '../helpers/storages.ts';

const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };

/**
 * Spellings of `POST /admin/users` an attacker may try: percent-encoded letters, encoded slashes,
 * double encoding, case, dot segments, trailing dots and slashes, doubled slashes, NUL.
 */
const ADMIN_PATH_VARIANTS = [
  '/%61dmin/users',
  '/adm%69n/users',
  '/%61%64%6d%69%6e/users',
  '/admin/%75sers',
  '/%41dmin/users',
  '/ADMIN/users',
  '/Admin/users',
  '/admin%2Fusers',
  '/admin%2fusers',
  '/%2561dmin/users',
  '/%252561dmin/users',
  '/admin/users/',
  '/admin/users.',
  '/admin./users',
  '/admin/users%2E',
  '//admin/users',
  '/admin//users',
  '/./admin/users',
  '/admin/./users',
  '/x/../admin/users',
  '/admin/users%00',
  '/admin/users;x',
  '/admin/users?x=1',
  '/admin/users%20',
];

/** Every spelling, and the canonical one. */
const ALL_ADMIN_PATHS = ['/admin/users', ...ADMIN_PATH_VARIANTS];

let emails = 0;
const freshEmail = () => `mallory${++emails}@evil.example`;
/** A new source address per probe, so that the admin failure throttle does not hide the answer. */
let probes = 0;
const freshAddress = () => `10.${(++probes >> 16) & 255}.${(probes >> 8) & 255}.${probes & 255}`;

/** A log sink whose JSON lines the test can read. */
function memoryLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** A raw HTTP/1.1 request, so that the path reaches the server exactly as written. */
function rawRequest(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path, headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

for (const factory of storageFactories) {
  describe(`security on ${factory.name}: the admin API`, () => {
    let h: Harness;
    before(async () => {
      h = await harness(factory);
    });
    after(async () => h.close());

    test('percent-encoding a letter of /admin does not skip the admin token (review #1)', async () => {
      for (const url of ADMIN_PATH_VARIANTS) {
        for (const headers of [{}, { authorization: 'Bearer wrong-token-wrong-token-wrong-token' }]) {
          const email = freshEmail();
          const answer = await h.app.inject({
            method: 'POST',
            url,
            headers,
            payload: { email },
            remoteAddress: freshAddress(),
          });
          assert.ok(
            answer.statusCode === 401 || answer.statusCode === 404,
            `${url} answered ${answer.statusCode} without the admin token`,
          );
          assert.equal(await h.services.storage.findUserByEmail(email), null, `${url} created a user`);
          assert.equal(typeof answer.json().error, 'string', `${url}: the contract's error shape`);
        }
      }
    });

    test('the encoded spellings the router decodes to an admin route meet the same check', async () => {
      // These reach the admin handlers after decoding: they must be 401, exactly like /admin/users.
      for (const url of ['/%61dmin/users', '/adm%69n/users', '/%61%64%6d%69%6e/users', '/admin/%75sers']) {
        const answer = await h.app.inject({
          method: 'POST',
          url,
          payload: { email: freshEmail() },
          remoteAddress: freshAddress(),
        });
        assert.equal(answer.statusCode, 401, url);
        assert.match(answer.headers['www-authenticate'] as string, /Bearer/);
      }
    });

    test('no route outside the admin plugin is guarded or exposed by the admin hook', async () => {
      const answer = await h.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' });
      assert.equal(answer.statusCode, 200);
      const admin = await h.app.inject({
        method: 'POST',
        url: '/admin/users',
        headers: bearer,
        payload: {},
        remoteAddress: freshAddress(),
      });
      assert.equal(admin.statusCode, 400, 'the admin token still works on the canonical path');
    });
  });
}

describe('security: the admin API is not registered without RENOVA_ADMIN_TOKEN', () => {
  let h: Harness;
  before(async () => {
    h = await harness(sqliteFactory, { http: { adminToken: undefined } });
  });
  after(async () => h.close());

  test('every spelling of an admin route is 404 when no admin token is configured (review #1)', async () => {
    for (const url of ALL_ADMIN_PATHS) {
      for (const headers of [{}, bearer]) {
        const email = freshEmail();
        const answer = await h.app.inject({ method: 'POST', url, headers, payload: { email } });
        assert.equal(answer.statusCode, 404, `${url} answered ${answer.statusCode} with the admin API off`);
        assert.equal(await h.services.storage.findUserByEmail(email), null);
      }
    }
  });
});

describe('security: the admin token', () => {
  test('an admin token shorter than 32 characters stops the start with a clear error', async () => {
    const h = await harness(sqliteFactory, { http: { adminToken: undefined } });
    try {
      await assert.rejects(
        buildApp(h.services, { issuer: 'http://x.test', logger: false, adminToken: 'short-token' }),
        /RENOVA_ADMIN_TOKEN must be at least 32 characters/,
      );
      await assert.rejects(
        buildApp(h.services, { issuer: 'http://x.test', logger: false, adminToken: `${'a'.repeat(31)} b` }),
        /without spaces/,
      );
    } finally {
      await h.close();
    }
    const dir = mkdtempSync(join(tmpdir(), 'renova-sec-'));
    try {
      await assert.rejects(
        startServer({
          host: '127.0.0.1',
          port: 0,
          db: join(dir, 'r.db'),
          adminToken: 'x'.repeat(31),
          logger: false,
        }),
        /at least 32 characters/,
      );
      await assert.rejects(
        startServer({
          host: '127.0.0.1',
          port: 0,
          db: join(dir, 'r.db'),
          adminListen: '127.0.0.1:0',
          logger: false,
        }),
        /RENOVA_ADMIN_LISTEN is set but RENOVA_ADMIN_TOKEN is not/,
      );
      for (const bad of ['8081', 'localhost', '127.0.0.1:99999', '127.0.0.1:80 ', '[::1:80', 'a b:80']) {
        await assert.rejects(
          startServer({
            host: '127.0.0.1',
            port: 0,
            db: join(dir, 'r.db'),
            adminToken: ADMIN_TOKEN,
            adminListen: bad,
            logger: false,
          }),
          /RENOVA_ADMIN_LISTEN must be HOST:PORT/,
          bad,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('guessing the admin token is throttled per address, and the real token is never refused (review #12)', async () => {
    const h = await harness(sqliteFactory);
    try {
      const attacker = { remoteAddress: '203.0.113.9' };
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const answer = await h.app.inject({
          method: 'POST',
          url: '/admin/users',
          headers: { authorization: `Bearer guess-${i}-${'x'.repeat(32)}` },
          payload: { email: freshEmail() },
          ...attacker,
        });
        statuses.push(answer.statusCode);
      }
      assert.deepEqual(statuses, [...Array(10).fill(401), 429, 429]);
      const throttled = await h.app.inject({
        method: 'POST',
        url: '/admin/users',
        headers: { authorization: 'Bearer another-guess-xxxxxxxxxxxxxxxxxxxxxxxxxxx' },
        payload: { email: freshEmail() },
        ...attacker,
      });
      assert.equal(throttled.statusCode, 429);
      assert.ok(Number(throttled.headers['retry-after']) > 0);
      // A throttle never refuses credentials that verify: the operator behind the same address
      // still gets in.
      const sameAddress = await h.app.inject({
        method: 'POST',
        url: '/admin/users',
        headers: bearer,
        payload: { email: freshEmail() },
        ...attacker,
      });
      assert.equal(sameAddress.statusCode, 201);
      const operator = await h.app.inject({
        method: 'POST',
        url: '/admin/users',
        headers: bearer,
        payload: { email: freshEmail() },
        remoteAddress: '198.51.100.1',
      });
      assert.equal(operator.statusCode, 201);
      h.clock.advance(301_000);
      const later = await h.app.inject({
        method: 'POST',
        url: '/admin/users',
        headers: bearer,
        payload: { email: freshEmail() },
        ...attacker,
      });
      assert.equal(later.statusCode, 201, 'the window ends');
    } finally {
      await h.close();
    }
  });

  test('every admin action is logged as a structured event without its secrets (review #12)', async () => {
    const { logger, lines } = memoryLogger();
    const h = await harness(sqliteFactory, { http: { logger } });
    try {
      const created = await h.app.inject({
        method: 'POST',
        url: '/admin/users',
        headers: bearer,
        payload: { email: 'logged@shop.example', password: 'hunter2-secret-password' },
      });
      assert.equal(created.statusCode, 201);
      const app = await h.app.inject({
        method: 'POST',
        url: '/admin/applications',
        headers: bearer,
        payload: {
          name: 'Logged',
          owner_user_id: created.json().id,
          redirect_uris: ['https://logged.example/cb'],
        },
      });
      const clientId = app.json().client_id as string;
      const rotated = await h.app.inject({
        method: 'POST',
        url: `/admin/applications/${clientId}/secret`,
        headers: bearer,
        payload: { overlap_seconds: 0 },
      });
      await h.app.inject({ method: 'POST', url: '/%61dmin/users', payload: { email: freshEmail() } });

      const actions = lines.filter((line) => line.event === 'admin.action');
      assert.deepEqual(
        actions.map((line) => [line.action, line.status, line.actor]),
        [
          ['POST /admin/users', 201, 'operator'],
          ['POST /admin/applications', 201, 'operator'],
          ['POST /admin/applications/:client_id/secret', 200, 'operator'],
        ],
      );
      assert.deepEqual(actions[1]?.target, { owner_user_id: created.json().id });
      assert.deepEqual(actions[2]?.target, { client_id: clientId });
      const failed = lines.filter((line) => line.event === 'admin.auth_failed');
      assert.equal(failed.length, 1, 'the bypass attempt is logged as a failed authentication');
      const everything = JSON.stringify(lines);
      for (const secret of [
        'hunter2-secret-password',
        ADMIN_TOKEN,
        app.json().client_secret as string,
        rotated.json().client_secret as string,
      ]) {
        assert.ok(!everything.includes(secret), 'no secret in the logs');
      }
    } finally {
      await h.close();
    }
  });
});

describe('security: the separate admin listener (RENOVA_ADMIN_LISTEN)', () => {
  test('with a separate listener the public app has no admin route under any spelling', async () => {
    const h = await harness(sqliteFactory, { http: { adminListener: 'separate' } });
    try {
      for (const url of ALL_ADMIN_PATHS) {
        const answer = await h.app.inject({
          method: 'POST',
          url,
          headers: bearer,
          payload: { email: freshEmail() },
        });
        assert.equal(answer.statusCode, 404, url);
      }
      const admin = await buildAdminApp(h.services, { adminToken: ADMIN_TOKEN, logger: false });
      for (const url of ADMIN_PATH_VARIANTS) {
        const email = freshEmail();
        const answer = await admin.inject({
          method: 'POST',
          url,
          payload: { email },
          remoteAddress: freshAddress(),
        });
        assert.ok([401, 404].includes(answer.statusCode), `${url} on the admin app: ${answer.statusCode}`);
        assert.equal(await h.services.storage.findUserByEmail(email), null);
      }
      const created = await admin.inject({
        method: 'POST',
        url: '/admin/users',
        headers: bearer,
        payload: { email: freshEmail() },
      });
      assert.equal(created.statusCode, 201);
      // The admin listener serves the admin API and a liveness probe, nothing of the public side.
      assert.equal((await admin.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      assert.equal((await admin.inject({ method: 'POST', url: '/oauth/token' })).statusCode, 404);
      await admin.close();
    } finally {
      await h.close();
    }
  });

  test('over real sockets: raw encoded paths on the public and the admin listener', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'renova-sec-'));
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      db: join(dir, 'r.db'),
      adminToken: ADMIN_TOKEN,
      adminListen: '127.0.0.1:0',
      logger: false,
      webhooks: false,
    });
    try {
      assert.ok(server.adminUrl, 'the admin listener is reported');
      assert.notEqual(server.adminUrl, server.url);
      const json = { 'content-type': 'application/json' };
      for (const path of ALL_ADMIN_PATHS) {
        const body = JSON.stringify({ email: freshEmail() });
        const onPublic = await rawRequest(server.url, 'POST', path, { ...json, ...bearer }, body);
        assert.ok([400, 404].includes(onPublic.status), `public ${path}: ${onPublic.status}`);
        const anonymous = await rawRequest(server.adminUrl, 'POST', path, json, body);
        assert.ok([400, 401, 404].includes(anonymous.status), `admin ${path}: ${anonymous.status}`);
      }
      const ok = await rawRequest(
        server.adminUrl,
        'POST',
        '/admin/users',
        { ...json, ...bearer },
        JSON.stringify({ email: freshEmail() }),
      );
      assert.equal(ok.status, 201);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
