/**
 * Security hardening at the edges (issue 8, items 12-15): who may read /metrics, what the HTTP
 * parser's refusals look like on the wire, and storage that is up but cannot write. Each test
 * reproduces the attack or the failure and asserts it is handled; on every engine.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import pino from 'pino';
import { fromStorageError, TemporarilyUnavailableError } from '../../src/core/errors.ts';
import { toErrorReply } from '../../src/http/errors.ts';
import { startServer } from '../../src/runtime.ts';
import { PostgresStorage } from '../../src/storage/postgres/adapter.ts';
import { toStorageError as postgresStorageError } from '../../src/storage/postgres/errors.ts';
import {
  type SqliteStorage,
  toStorageError as sqliteStorageError,
} from '../../src/storage/sqlite/adapter.ts';
import {
  ADMIN_TOKEN,
  exchange,
  type Harness,
  harness,
  METRICS_TOKEN,
  postForm,
} from '../helpers/fixtures.ts';
import { createTestDatabase, PG_ADMIN_URL } from '../helpers/postgres.ts';
import { type StorageFactory, storageFactories } from '../helpers/storages.ts';

/** One HTTP/1.1 response as read off the wire. */
interface WireResponse {
  statusLine: string;
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Splits what a connection received into responses (Content-Length framed; HEAD: no body). */
function parseResponses(raw: Buffer, heads: boolean[] = []): WireResponse[] {
  const responses: WireResponse[] = [];
  let rest = raw;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    assert.ok(end > 0, `incomplete response head: ${JSON.stringify(rest.toString('latin1'))}`);
    const [statusLine = '', ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = heads[responses.length] ? 0 : Number(headers['content-length'] ?? rest.length - end - 4);
    const body = rest.subarray(end + 4, end + 4 + length).toString('utf8');
    responses.push({ statusLine, status: Number(statusLine.split(' ')[1]), headers, body });
    rest = rest.subarray(end + 4 + length);
  }
  return responses;
}

interface Conversation {
  responses: WireResponse[];
  /** The server half-closed (FIN) before the socket closed. */
  ended: boolean;
  /** A socket error, e.g. ECONNRESET; none expected. */
  error: string | undefined;
}

/**
 * Opens a raw socket, writes each chunk in turn (waiting for `waitFor` responses between steps when
 * asked), and reads everything until the server closes the connection.
 */
function converse(
  port: number,
  steps: (string | { waitForResponses: number })[],
  heads: boolean[] = [],
): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let ended = false;
    let error: string | undefined;
    let waiting: { count: number; resume: () => void } | undefined;
    const received = () => Buffer.concat(chunks).toString('latin1').split('HTTP/1.1 ').length - 1;
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (waiting && received() >= waiting.count) {
        const { resume } = waiting;
        waiting = undefined;
        resume();
      }
    });
    socket.on('end', () => {
      ended = true;
    });
    socket.on('error', (caught: NodeJS.ErrnoException) => {
      error = caught.code ?? caught.message;
    });
    socket.on('close', () => {
      try {
        resolve({ responses: parseResponses(Buffer.concat(chunks), heads), ended, error });
      } catch (caught) {
        reject(caught);
      }
    });
    const timer = setTimeout(
      () => socket.destroy(new Error('the server never closed the connection')),
      10_000,
    );
    socket.once('close', () => clearTimeout(timer));
    const run = (index: number) => {
      const step = steps[index];
      if (step === undefined) return;
      if (typeof step === 'string') {
        socket.write(step, () => run(index + 1));
      } else if (received() >= step.waitForResponses) {
        run(index + 1);
      } else {
        waiting = { count: step.waitForResponses, resume: () => run(index + 1) };
      }
    };
    socket.once('connect', () => run(0));
  });
}

/** The error body of docs/api.md §4.3, and nothing else. */
function assertErrorBody(body: string, status: number): Record<string, unknown> {
  const parsed = JSON.parse(body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(parsed).sort(), ['cause', 'error', 'error_description', 'message', 'status']);
  assert.equal(parsed.status, status);
  assert.equal(parsed.error, 'invalid_request');
  assert.equal(typeof parsed.error_description, 'string');
  assert.ok((parsed.error_description as string).length > 20, 'the description says what to fix');
  assert.equal(parsed.message, parsed.error_description);
  assert.deepEqual(parsed.cause, []);
  return parsed;
}

/** The connection was closed on purpose, after the answer, without a reset. */
function assertClosedCleanly(conversation: Conversation): void {
  assert.equal(
    conversation.error,
    undefined,
    'no ECONNRESET: the server closes with a FIN, after the answer',
  );
  assert.equal(conversation.ended, true, 'the server half-closed the connection');
}

const BIG_HEADER = `X-Padding: ${'a'.repeat(20_000)}\r\n`;

for (const factory of storageFactories) {
  describe(`HTTP parser refusals on ${factory.name} (issue 8 item 14)`, () => {
    let h: Harness;
    let port: number;

    before(async () => {
      h = await harness(factory);
      await h.app.listen({ host: '127.0.0.1', port: 0 });
      port = (h.app.server.address() as net.AddressInfo).port;
    });
    after(() => h.close());

    // `head: false`: the request is only malformed with its own method (a HEAD is a valid method
    // token; no GET route, which HEAD shares, takes a path parameter).
    const cases: { name: string; request: string; status: number; statusLine: string; head?: false }[] = [
      {
        name: 'a header block over the 16 KiB limit gets 431',
        request: `POST /oauth/token HTTP/1.1\r\nHost: x\r\n${BIG_HEADER}\r\n`,
        status: 431,
        statusLine: 'HTTP/1.1 431 Request Header Fields Too Large',
      },
      {
        name: 'a bad request line gets 400',
        request: 'GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n',
        status: 400,
        statusLine: 'HTTP/1.1 400 Bad Request',
      },
      {
        name: 'an unknown method token gets 400',
        request: 'G(T / HTTP/1.1\r\nHost: x\r\n\r\n',
        status: 400,
        statusLine: 'HTTP/1.1 400 Bad Request',
        head: false,
      },
      {
        name: 'a header line without a colon gets 400',
        request: 'GET /healthz HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n',
        status: 400,
        statusLine: 'HTTP/1.1 400 Bad Request',
      },
      {
        name: 'bad percent-encoding in the path (FST_ERR_BAD_URL) gets 400',
        request: 'GET /oauth/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n',
        status: 400,
        statusLine: 'HTTP/1.1 400 Bad Request',
      },
      {
        name: 'an over-long path parameter gets 414',
        request: `DELETE /admin/grants/${'1'.repeat(200)}/1 HTTP/1.1\r\nHost: x\r\n\r\n`,
        status: 414,
        statusLine: 'HTTP/1.1 414 URI Too Long',
        head: false,
      },
    ];

    for (const c of cases) {
      test(`${c.name}, in the error body, with Connection: close and a clean close`, async () => {
        const conversation = await converse(port, [c.request]);
        assert.equal(conversation.responses.length, 1);
        const [response] = conversation.responses as [WireResponse];
        assert.equal(response.statusLine, c.statusLine);
        assert.equal(response.headers.connection, 'close');
        assert.match(response.headers['content-type'] ?? '', /^application\/json/);
        assertErrorBody(response.body, c.status);
        assertClosedCleanly(conversation);
      });

      if (c.head === false) continue;
      test(`HEAD: ${c.name} without a body`, async () => {
        const request = c.request.replace(/^[A-Z(]+ /, 'HEAD ');
        const conversation = await converse(port, [request], [false]);
        const [response] = conversation.responses as [WireResponse];
        assert.equal(response.status, c.status);
        assert.equal(response.headers.connection, 'close');
        assert.equal(response.body, '', 'no body after the head of a HEAD answer');
        assert.equal(conversation.responses.length, 1);
        assertClosedCleanly(conversation);
      });
    }

    test('a malformed request on a kept-alive connection is answered after the good one, and the socket is not reset under the next one', async () => {
      const conversation = await converse(port, [
        'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
        { waitForResponses: 1 },
        `GET /healthz HTTP/1.1\r\nHost: x\r\n${BIG_HEADER}\r\n`,
        // What the client sends after the refused request is read and discarded, not answered
        // with a reset that would destroy the 431 before it is read.
        `GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n${'b'.repeat(50_000)}`,
      ]);
      const [first, second] = conversation.responses as [WireResponse, WireResponse];
      assert.equal(conversation.responses.length, 2);
      assert.equal(first.status, 200);
      assert.deepEqual(JSON.parse(first.body), { status: 'ok' });
      assert.equal(second.status, 431);
      assert.equal(second.headers.connection, 'close');
      assertErrorBody(second.body, 431);
      assertClosedCleanly(conversation);
    });

    test('pipelined: a malformed request behind a good one waits for its answer instead of corrupting it', async () => {
      const conversation = await converse(port, [
        'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /a b c HTTP/1.1\r\nHost: x\r\n\r\n',
      ]);
      assert.deepEqual(
        conversation.responses.map((r) => r.status),
        [200, 400],
      );
      assertErrorBody((conversation.responses[1] as WireResponse).body, 400);
      assertClosedCleanly(conversation);
    });

    test('a well-formed request on the same server still keeps its connection alive', async () => {
      const conversation = await converse(port, [
        'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
        { waitForResponses: 1 },
        'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      ]);
      assert.deepEqual(
        conversation.responses.map((r) => r.status),
        [200, 200],
      );
      assert.notEqual(conversation.responses[0]?.headers.connection, 'close');
      assertClosedCleanly(conversation);
    });
  });
}

/** Spellings of `/metrics` that the router decodes to the same route. */
const METRICS_ALIASES = ['/metrics', '/%6detrics', '/%6D%65%74%72%69%63%73', '/metric%73'];
/** Spellings the router does not match at all: they must not leak the metrics either. */
const NOT_METRICS = ['/METRICS', '/metrics/', '//metrics', '/metrics%2F', '/%2Fmetrics'];
const withMetricsToken = { authorization: `Bearer ${METRICS_TOKEN}` };

for (const factory of storageFactories) {
  describe(`/metrics on ${factory.name} (review #12, issue 8 item 12)`, () => {
    let h: Harness;
    before(async () => {
      h = await harness(factory);
      await exchange(h.app, await h.seed());
    });
    after(() => h.close());

    test('reading token outcomes without the metrics token is refused 401, however the path is spelled', async () => {
      let address = 0;
      for (const url of METRICS_ALIASES) {
        for (const authorization of [
          undefined,
          'Bearer wrong',
          `Bearer ${ADMIN_TOKEN}`,
          `Basic ${METRICS_TOKEN}`,
        ]) {
          // A new address each time: the failure budget per address is tested below.
          address += 1;
          const answer = await h.app.inject({
            url,
            headers: authorization ? { authorization } : {},
            remoteAddress: `198.51.100.${address}`,
          });
          assert.equal(answer.statusCode, 401, `${url} with ${authorization}`);
          assert.equal(answer.json().error, 'invalid_token');
          assert.match(answer.json().error_description, /RENOVA_METRICS_TOKEN/);
          assert.match(answer.headers['www-authenticate'] as string, /^Bearer /);
          assert.doesNotMatch(answer.body, /renova_token_requests_total/);
        }
      }
      for (const url of NOT_METRICS) {
        const answer = await h.app.inject({ url });
        assert.ok([400, 404].includes(answer.statusCode), `${url}: ${answer.statusCode}`);
        assert.doesNotMatch(answer.body, /renova_token_requests_total/);
      }
    });

    test('with the metrics token every spelling of /metrics answers 200 with the counters', async () => {
      for (const url of METRICS_ALIASES) {
        const answer = await h.app.inject({ url, headers: withMetricsToken });
        assert.equal(answer.statusCode, 200, url);
        assert.match(
          answer.body,
          /renova_token_requests_total\{grant_type="authorization_code",outcome="issued"\} [1-9]/,
        );
      }
    });

    test('guessing the metrics token is throttled per address, and the real scraper is not locked out', async () => {
      const from = { remoteAddress: '192.0.2.77' };
      let last = 0;
      for (let i = 0; i < 12; i++) {
        last = (
          await h.app.inject({ url: '/metrics', headers: { authorization: `Bearer guess-${i}` }, ...from })
        ).statusCode;
      }
      assert.equal(last, 429);
      // The right token from that same address is not locked out (a throttle is not a lock-out).
      const real = await h.app.inject({ url: '/metrics', headers: withMetricsToken, ...from });
      assert.equal(real.statusCode, 200);
    });

    test('without RENOVA_METRICS_TOKEN the public listener does not serve /metrics at all', async () => {
      const open = await harness(factory, { http: { metricsToken: undefined } });
      try {
        for (const url of METRICS_ALIASES) {
          const answer = await open.app.inject({ url, headers: withMetricsToken });
          assert.equal(answer.statusCode, 404, url);
          assert.equal(answer.json().error, 'not_found');
          assert.doesNotMatch(answer.body, /renova_/);
        }
      } finally {
        await open.close();
      }
    });
  });
}

describe('/metrics and the admin listener (review #12, issue 8 item 12)', () => {
  const serve = (metricsToken?: string) =>
    startServer(
      {
        host: '127.0.0.1',
        port: 0,
        db: ':memory:',
        adminToken: ADMIN_TOKEN,
        adminListen: '127.0.0.1:0',
        metricsToken,
        logger: false,
        webhooks: false,
      },
      { RENOVA_PURGE_INTERVAL_SECONDS: '0' },
    );

  test('with RENOVA_ADMIN_LISTEN and no metrics token, /metrics is on the admin listener only, where the public counters show', async () => {
    const server = await serve();
    try {
      await fetch(`${server.url}/oauth/token`, { method: 'POST' });
      for (const path of METRICS_ALIASES) {
        const open = await fetch(`${server.adminUrl}${path}`);
        assert.equal(open.status, 200, path);
        assert.match(
          await open.text(),
          /renova_token_requests_total\{grant_type="other",outcome="invalid_request"\} [1-9]/,
        );
        const pub = await fetch(`${server.url}${path}`, { headers: withMetricsToken });
        assert.equal(pub.status, 404, path);
        assert.doesNotMatch(await pub.text(), /renova_/);
      }
    } finally {
      await server.close();
    }
  });

  test('with RENOVA_ADMIN_LISTEN and a metrics token, both listeners require the token', async () => {
    const server = await serve(METRICS_TOKEN);
    try {
      for (const base of [server.url, server.adminUrl]) {
        for (const path of METRICS_ALIASES) {
          const refused = await fetch(`${base}${path}`);
          assert.equal(refused.status, 401, `${base}${path}`);
          assert.equal(((await refused.json()) as { error: string }).error, 'invalid_token');
          const allowed = await fetch(`${base}${path}`, { headers: withMetricsToken });
          assert.equal(allowed.status, 200, `${base}${path}`);
          assert.match(await allowed.text(), /renova_token_requests_total/);
        }
      }
    } finally {
      await server.close();
    }
  });

  test('a short metrics token, or the admin token reused as metrics token, is refused at start', async () => {
    await assert.rejects(serve('short'), /RENOVA_METRICS_TOKEN must be at least 32 characters/);
    await assert.rejects(serve(ADMIN_TOKEN), /must differ from RENOVA_ADMIN_TOKEN/);
  });
});

/** A pino logger whose lines the test reads. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const LEVEL = { 20: 'debug', 30: 'info', 40: 'warn', 50: 'error' } as Record<number, string>;
  const at = (level: string) => lines.filter((l) => LEVEL[l.level as number] === level);
  return { logger: pino({ level: 'debug' }, stream), lines, at };
}

/**
 * What the storage's callers see: the adapter's classification (StorageUnavailableError), then
 * core's one mapping of it, which services.ts applies to every storage call.
 */
const postgresError = (error: unknown) => fromStorageError(postgresStorageError(error));
const sqliteError = (error: unknown) => fromStorageError(sqliteStorageError(error));

const sqlError = (code: string) => Object.assign(new Error(`injected ${code}`), { code });

/** The answer a request gets when the adapter raised `error`: 503, Retry-After, the contract's body. */
function assertAnswered503(mapped: unknown, code: string): void {
  assert.ok(
    mapped instanceof TemporarilyUnavailableError,
    `${code} is not mapped to temporarily_unavailable`,
  );
  const answer = toErrorReply(mapped);
  assert.equal(answer.status, 503, code);
  assert.equal(answer.headers['retry-after'], '1', code);
  assert.equal(answer.body.error, 'temporarily_unavailable', code);
  assert.match(answer.body.error_description, /retry/);
}

/** Storage that is up but cannot write, by SQLSTATE class (docs/api.md §4.3). */
const POSTGRES_UNAVAILABLE: Record<string, string> = {
  '25006': 'read_only_sql_transaction (standby, failover, default_transaction_read_only)',
  '57P01': 'admin_shutdown',
  '57P02': 'crash_shutdown',
  '57P03': 'cannot_connect_now',
  '53300': 'too_many_connections',
  '53100': 'disk_full',
  '53200': 'out_of_memory',
  '40001': 'serialization_failure, after the retries',
  '40P01': 'deadlock_detected, after the retries',
  '08000': 'connection_exception',
  '08003': 'connection_does_not_exist',
  '08006': 'connection_failure',
  '08001': 'sqlclient_unable_to_establish_sqlconnection',
  '55P03': 'lock_not_available',
};
const SQLITE_UNAVAILABLE = [
  'SQLITE_BUSY',
  'SQLITE_BUSY_SNAPSHOT',
  'SQLITE_LOCKED',
  'SQLITE_LOCKED_SHAREDCACHE',
  'SQLITE_FULL',
  'SQLITE_READONLY',
  'SQLITE_READONLY_DBMOVED',
  'SQLITE_IOERR',
  'SQLITE_IOERR_WRITE',
  'SQLITE_IOERR_FSYNC',
];

describe('storage that is up but cannot write answers 503, never 500 (issue 8 item 15)', () => {
  for (const [code, meaning] of Object.entries(POSTGRES_UNAVAILABLE)) {
    test(`PostgreSQL SQLSTATE ${code} (${meaning}) is classified temporarily_unavailable`, () => {
      assertAnswered503(postgresError(sqlError(code)), code);
    });
  }
  for (const code of SQLITE_UNAVAILABLE) {
    test(`SQLite ${code} is classified temporarily_unavailable`, () => {
      assertAnswered503(sqliteError(sqlError(code)), code);
    });
  }
  test('a bug stays a bug: a constraint violation or a syntax error is not hidden as an outage', () => {
    for (const code of ['23505', '42601', '42P01'])
      assert.equal(postgresError(sqlError(code)) instanceof Error, true);
    for (const code of ['23505', '42601', '42P01'])
      assert.ok(!(postgresError(sqlError(code)) instanceof TemporarilyUnavailableError), code);
    assert.ok(!(sqliteError(sqlError('SQLITE_CONSTRAINT_UNIQUE')) instanceof TemporarilyUnavailableError));
  });
});

/** PostgreSQL in a database of its own, so that the test may make it read-only. */
function ownPostgresDatabase(): StorageFactory & { url(): string } {
  let url = '';
  return {
    name: 'postgres (own database)',
    url: () => url,
    async create() {
      const db = await createTestDatabase();
      url = db.url;
      const storage = new PostgresStorage({ connectionString: db.url, poolMax: 4 });
      await storage.migrate();
      return {
        storage,
        async cleanup() {
          await storage.close();
          await db.drop();
        },
      };
    },
  };
}

/** The application's own token (client_credentials), the one write these outage tests provoke. */
function clientCredentials(h: Harness, s: { clientId: string; clientSecret: string }) {
  return postForm(h.app, '/oauth/token', {
    grant_type: 'client_credentials',
    client_id: s.clientId,
    client_secret: s.clientSecret,
  });
}

describe('PostgreSQL: every SQLSTATE class of "cannot write now" reaches the client as 503 (issue 8 item 15)', () => {
  let h: Harness;
  let original: PostgresStorage['pool']['query'];
  before(async () => {
    h = await harness(storageFactories[1] as StorageFactory);
    original = (h.testStorage.storage as PostgresStorage).pool.query;
  });
  after(async () => {
    (h.testStorage.storage as PostgresStorage).pool.query = original;
    await h.close();
  });

  for (const code of Object.keys(POSTGRES_UNAVAILABLE)) {
    test(`the token endpoint answers 503 temporarily_unavailable when issuing fails with SQLSTATE ${code}`, async () => {
      const s = await h.seed();
      const pool = (h.testStorage.storage as PostgresStorage).pool;
      let injected = 0;
      // Only the write of the new token fails; the application is still read.
      pool.query = ((config: unknown, ...rest: unknown[]) => {
        if ((config as { name?: string })?.name?.startsWith('insert_cc_token')) {
          injected += 1;
          return Promise.reject(sqlError(code));
        }
        return (original as (...a: unknown[]) => unknown).call(pool, config, ...rest);
      }) as typeof pool.query;
      try {
        const answer = await clientCredentials(h, s);
        assert.equal(answer.status, 503, JSON.stringify(answer.body));
        assert.equal(answer.headers['retry-after'], '1');
        assert.equal(answer.body.error, 'temporarily_unavailable');
        // Serialization failures and deadlocks were retried before giving up.
        assert.equal(injected, code.startsWith('40') ? 4 : 1);
      } finally {
        pool.query = original;
      }
    });
  }
});

describe('a read-only PostgreSQL database (failover, standby) answers 503, logged once per episode (issue 8 item 15)', () => {
  const factory = ownPostgresDatabase();
  let h: Harness;
  const log = capturingLogger();
  let sql: pg.Client;
  const databaseName = () => new URL(factory.url()).pathname.slice(1);

  /** Applies the database setting to the pool: new sessions read it, old ones are ended. */
  const setReadOnly = async (on: boolean) => {
    const name = databaseName();
    await sql.query(
      on
        ? `ALTER DATABASE ${name} SET default_transaction_read_only = on`
        : `ALTER DATABASE ${name} RESET default_transaction_read_only`,
    );
    await sql.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
    // The pool drops the ended connections as their sockets close (bounded wait).
    const pool = (h.testStorage.storage as PostgresStorage).pool;
    for (let i = 0; i < 100 && pool.idleCount > 0; i++) await new Promise((r) => setTimeout(r, 20));
  };

  before(async () => {
    h = await harness(factory, {
      realClock: true,
      http: { logger: log.logger },
      services: { logger: log.logger },
    });
    sql = new pg.Client({ connectionString: PG_ADMIN_URL });
    await sql.connect();
  });
  after(async () => {
    await setReadOnly(false);
    await sql.end();
    await h.close();
  });

  const token = (s: { clientId: string; clientSecret: string }) => clientCredentials(h, s);

  test('the token endpoint answers 503 (not 500) while the database is read-only, reads go on, and the outage is one warning', async () => {
    const s = await h.seed();
    const before = await token(s);
    assert.equal(before.status, 200);
    const issued = before.body.access_token as string;

    await setReadOnly(true);
    for (let i = 0; i < 6; i++) {
      const answer = await token(s);
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      assert.equal(answer.headers['retry-after'], '1');
      assert.equal(answer.body.error, 'temporarily_unavailable');
    }
    // /readyz says ready only while a write can succeed.
    assert.equal((await h.app.inject({ url: '/readyz' })).statusCode, 503);
    // Reading still works: introspection of a token issued before answers.
    const introspected = await postForm(h.app, '/oauth/introspect', {
      client_id: s.clientId,
      client_secret: s.clientSecret,
      token: issued,
    });
    assert.equal(introspected.status, 200);
    assert.equal(introspected.body.active, true);

    const warnings = log.at('warn').filter((l) => l.event === 'storage.unavailable');
    assert.equal(warnings.length, 1, JSON.stringify(log.lines));
    assert.match(String(warnings[0]?.detail), /25006|read-only/);
    assert.deepEqual(log.at('error'), [], 'an expected outage is not logged as an error with a stack');
    assert.deepEqual(
      log.lines.filter((l) => l.msg === 'request refused' || l.msg === 'request failed'),
      [],
      'not once per request',
    );

    await setReadOnly(false);
    assert.equal((await token(s)).status, 200);
    assert.equal(log.at('info').filter((l) => l.event === 'storage.recovered').length, 1);
    assert.equal((await h.app.inject({ url: '/readyz' })).statusCode, 200);

    // A new outage is a new episode: one more warning.
    await setReadOnly(true);
    assert.equal((await token(s)).status, 503);
    assert.equal((await token(s)).status, 503);
    assert.equal(log.at('warn').filter((l) => l.event === 'storage.unavailable').length, 2);
    await setReadOnly(false);
  });
});

describe('SQLite locked by another process beyond the busy timeout answers 503 (issue 8 item 15)', () => {
  test('a client_credentials request waits for the busy timeout, then answers 503 temporarily_unavailable, and works once the lock is gone', async () => {
    const h = await harness(storageFactories[0] as StorageFactory, { realClock: true });
    const s = await h.seed();
    const other = new Database((h.testStorage.storage as SqliteStorage).db.name);
    try {
      other.exec('BEGIN IMMEDIATE');
      const answer = await clientCredentials(h, s);
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      assert.equal(answer.headers['retry-after'], '1');
      assert.equal(answer.body.error, 'temporarily_unavailable');
      other.exec('ROLLBACK');
      const again = await clientCredentials(h, s);
      assert.equal(again.status, 200);
    } finally {
      other.close();
      await h.close();
    }
  });
});

describe('the webhook dispatcher and housekeeping log a storage outage once, not every round (issue 8 item 15)', () => {
  test('ten failing rounds of each during one outage leave one warning and no error', async () => {
    const log = capturingLogger();
    const server = await startServer(
      { host: '127.0.0.1', port: 0, db: ':memory:', logger: log.logger },
      { RENOVA_PURGE_INTERVAL_SECONDS: '0.02', RENOVA_WEBHOOK_POLL_MS: '20' },
    );
    const storage = server.services.storage;
    const down = () =>
      Promise.reject(
        new TemporarilyUnavailableError('the token store is busy or unavailable; retry shortly', 1, {
          detail: 'injected',
        }),
      );
    const claims = { n: 0 };
    const purges = { n: 0 };
    const originalClaim = storage.claimDueWebhookEvents;
    const originalPurge = storage.purgeExpired;
    storage.claimDueWebhookEvents = () => {
      claims.n += 1;
      return down();
    };
    storage.purgeExpired = () => {
      purges.n += 1;
      return down();
    };
    try {
      const deadline = Date.now() + 10_000;
      while ((claims.n < 10 || purges.n < 10) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      assert.ok(claims.n >= 10 && purges.n >= 10, `rounds: ${claims.n} claims, ${purges.n} purges`);
      assert.equal(
        log.at('warn').filter((l) => l.event === 'storage.unavailable').length,
        1,
        JSON.stringify(log.at('warn')),
      );
      assert.deepEqual(log.at('error'), []);
      assert.deepEqual(
        log.at('warn').filter((l) => l.event !== 'storage.unavailable'),
        [],
        'no per-round warning',
      );
    } finally {
      storage.claimDueWebhookEvents = originalClaim;
      storage.purgeExpired = originalPurge;
      await server.close();
    }
  });
});
