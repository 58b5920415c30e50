/**
 * Security hardening at the edges (issue 8, items 12-15): who may read /metrics, what the HTTP
 * parser's refusals look like on the wire, and storage that is up but cannot write. Each test
 * reproduces the attack or the failure and asserts it is handled; on every engine.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startServer } from '../src/runtime.ts';
import { ADMIN_TOKEN, exchange, type Harness, harness, METRICS_TOKEN } from './helpers/fixtures.ts';
import { storageFactories } from './helpers/storages.ts';

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

/** The error body of CONTRACT §4.3, and nothing else. */
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
