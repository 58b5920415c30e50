import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AbortedError, ConnectionError, OAuth, type RequestOptions, TimeoutError } from '../src/index.ts';
import { nodeHttpTransport } from '../src/node-http.ts';
import { type FakeServer, startFakeServer } from './helpers/fake-server.ts';

/** A raw TCP server that answers every request with `reply` (bytes as written) and then `end`s or destroys. */
function rawServer(reply: string, then: 'end' | 'destroy'): Promise<{ url: string; server: Server }> {
  return new Promise((done) => {
    const server = createServer((socket) => {
      socket.once('data', () => {
        socket.write(reply);
        if (then === 'destroy') socket.destroy();
        else socket.end();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      done({ url: `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}`, server });
    });
  });
}

/** Starts `server` on an ephemeral port of `host` and gives the port. */
async function listen(server: HttpServer, host: string): Promise<number> {
  await new Promise<void>((r) => server.listen(0, host, r));
  const a = server.address();
  return typeof a === 'object' && a !== null ? a.port : 0;
}

describe('OAuth on the node:http transport (the default on Node)', () => {
  let fake: FakeServer;
  before(async () => {
    fake = await startFakeServer();
  });
  after(async () => {
    await fake.close();
  });

  /** Refreshes seller `userId`'s token, issued by the fake for this call, through `oauth`. */
  function refreshSeller(oauth: OAuth, userId: number, requestOptions?: RequestOptions) {
    const answer = fake.issue(userId);
    return oauth.refresh({
      body: {
        client_id: fake.clientId,
        client_secret: fake.clientSecret,
        refresh_token: answer.refresh_token as string,
      },
      ...(requestOptions === undefined ? {} : { requestOptions }),
    });
  }

  it('is the default on this Node, and never calls the global fetch', async () => {
    assert.equal(typeof nodeHttpTransport(), 'function');
    const original = globalThis.fetch;
    let calls = 0;
    globalThis.fetch = ((...args: Parameters<typeof fetch>) => {
      calls++;
      return original(...args);
    }) as typeof fetch;
    try {
      const oauth = new OAuth({ baseUrl: fake.baseUrl });
      const r = await refreshSeller(oauth, 41);
      assert.equal(r.user_id, 41);
      assert.equal(r.api_response.status, 200);
      assert.ok(r.api_response.headers instanceof Headers);
      assert.equal(r.api_response.headers.get('content-type'), 'application/json');
    } finally {
      globalThis.fetch = original;
    }
    assert.equal(calls, 0);
  });

  it('uses a fetch passed in the configuration instead', async () => {
    let calls = 0;
    const oauth = new OAuth({
      baseUrl: fake.baseUrl,
      fetch: (url, init) => {
        calls++;
        return fetch(url, init);
      },
    });
    await refreshSeller(oauth, 42);
    assert.equal(calls, 1);
  });

  it('sends the body with its length, and keeps the connection for the next request', async () => {
    const oauth = new OAuth({ baseUrl: fake.baseUrl });
    fake.requests.length = 0;
    for (const id of [43, 44]) {
      await refreshSeller(oauth, id, { headers: { 'x-test': 'ü' } });
    }
    assert.equal(fake.requests.length, 2);
    for (const r of fake.requests) {
      assert.equal(r.body.grant_type, 'refresh_token');
      assert.equal(r.headers.connection, 'keep-alive');
    }
  });

  it('raises AbortedError when the caller aborts, before or while waiting', async () => {
    const oauth = new OAuth({ baseUrl: fake.baseUrl });
    await assert.rejects(
      oauth.refresh({ body: { refresh_token: 'x' }, requestOptions: { signal: AbortSignal.abort('no') } }),
      (e: unknown) => e instanceof AbortedError,
    );
    fake.faults.push({ delayMs: 300 });
    const c = new AbortController();
    setTimeout(() => c.abort('later'), 30);
    await assert.rejects(
      oauth.refresh({ body: { refresh_token: 'x' }, requestOptions: { signal: c.signal } }),
      (e: unknown) => e instanceof AbortedError,
    );
  });

  it('raises TimeoutError when the answer is slower than the timeout', async () => {
    const oauth = new OAuth({ baseUrl: fake.baseUrl, timeout: 40 });
    fake.faults.push({ delayMs: 300 });
    await assert.rejects(
      oauth.refresh({ body: { refresh_token: 'x' } }),
      (e: unknown) => e instanceof TimeoutError && e.requestSent === 'unknown',
    );
  });

  it('raises ConnectionError with an unknown outcome when the answer is cut off mid-body', async () => {
    const { url, server } = await rawServer(
      'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n{"access_token":"AP',
      'destroy',
    );
    try {
      const oauth = new OAuth({ baseUrl: url });
      await assert.rejects(
        oauth.refresh({ body: { refresh_token: 'x' } }),
        (e: unknown) => e instanceof ConnectionError && e.requestSent === 'unknown',
      );
    } finally {
      server.close();
    }
  });

  it('reads an answer that ends with the connection (no content-length)', async () => {
    const body = JSON.stringify({
      access_token: 'APP_USR-x',
      expires_in: 60,
      user_id: 7,
      token_type: 'Bearer',
    });
    const { url, server } = await rawServer(
      `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${body}`,
      'end',
    );
    try {
      const r = await new OAuth({ baseUrl: url }).refresh({ body: { refresh_token: 'x' } });
      assert.equal(r.user_id, 7);
      assert.equal(r.access_token, 'APP_USR-x');
    } finally {
      server.close();
    }
  });

  it('reads the headers of an answer only when asked, and the same Headers every time', async () => {
    const oauth = new OAuth({ baseUrl: fake.baseUrl });
    const r = await refreshSeller(oauth, 45);
    const first = r.api_response.headers;
    assert.ok(first instanceof Headers);
    assert.equal(first.get('content-type'), 'application/json');
    assert.equal(r.api_response.headers, first);
    // An error answer's headers reach the error (Retry-After on a 429).
    fake.faults.push({
      status: 429,
      body: { error: 'slow_down', message: 'too many' },
      headers: { 'retry-after': '7' },
    });
    await assert.rejects(oauth.refresh({ body: { refresh_token: 'x' } }), (e: unknown) => {
      const headers = (e as { headers?: Headers }).headers;
      return headers instanceof Headers && headers.get('retry-after') === '7';
    });
  });

  it('keeps a header the answer sends twice, and a body split over many chunks whole', async () => {
    const body = JSON.stringify({ access_token: `APP_USR-${'é'.repeat(3000)}`, expires_in: 60, user_id: 9 });
    const server = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, [
          ['content-type', 'application/json'],
          ['set-cookie', 'a=1'],
          ['set-cookie', 'b=2'],
        ]);
        // Multi-byte characters cut at every chunk boundary: decoded after the last chunk, not per chunk.
        const bytes = Buffer.from(body);
        for (let i = 0; i < bytes.length; i += 7) res.write(bytes.subarray(i, i + 7));
        res.end();
      });
    });
    const port = await listen(server, '127.0.0.1');
    try {
      const r = await new OAuth({ baseUrl: `http://127.0.0.1:${port}` }).refresh({
        body: { refresh_token: 'x' },
      });
      assert.equal(r.access_token, `APP_USR-${'é'.repeat(3000)}`);
      assert.deepEqual(r.api_response.headers.getSetCookie(), ['a=1', 'b=2']);
    } finally {
      server.close();
    }
  });

  it('posts to the token endpoint under the base URL path, also on an IPv6 literal', async () => {
    const seen: string[] = [];
    const server = createHttpServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: 'APP_USR-y', expires_in: 60, user_id: 3 }));
      });
    });
    const port = await listen(server, '::1');
    try {
      const r = await new OAuth({ baseUrl: `http://[::1]:${port}/mp/` }).refresh({
        body: { refresh_token: 'x' },
      });
      assert.equal(r.user_id, 3);
      assert.deepEqual(seen, ['POST /mp/oauth/token']);
    } finally {
      server.close();
    }
  });

  it('times out an answer whose body stalls after its headers, and frees the connection', async () => {
    const server = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
        res.write('{"access_token":');
      });
    });
    const port = await listen(server, '127.0.0.1');
    try {
      for (const fetch of [undefined, globalThis.fetch]) {
        const oauth = new OAuth({
          baseUrl: `http://127.0.0.1:${port}`,
          timeout: 60,
          ...(fetch ? { fetch } : {}),
        });
        const started = performance.now();
        await assert.rejects(
          oauth.refresh({ body: { refresh_token: 'x' } }),
          (e: unknown) => e instanceof TimeoutError && e.timeoutMs === 60 && e.requestSent === 'unknown',
        );
        assert.ok(performance.now() - started < 5_000);
      }
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("raises AbortedError with the caller's reason through a passed fetch too, and TimeoutError on its timeout", async () => {
    const oauth = new OAuth({ baseUrl: fake.baseUrl, fetch: globalThis.fetch, timeout: 40 });
    await assert.rejects(
      oauth.refresh({ body: { refresh_token: 'x' }, requestOptions: { signal: AbortSignal.abort('no') } }),
      (e: unknown) => e instanceof AbortedError && e.cause === 'no',
    );
    fake.faults.push({ delayMs: 300 });
    const c = new AbortController();
    setTimeout(() => c.abort('later'), 20);
    await assert.rejects(
      oauth.refresh({ body: { refresh_token: 'x' }, requestOptions: { signal: c.signal, timeout: 5_000 } }),
      (e: unknown) => e instanceof AbortedError && e.cause === 'later',
    );
    fake.faults.push({ delayMs: 300 });
    await assert.rejects(
      oauth.refresh({ body: { refresh_token: 'x' } }),
      (e: unknown) => e instanceof TimeoutError,
    );
  });

  it('leaves no listener on a long-lived caller signal after many requests', async () => {
    const oauth = new OAuth({ baseUrl: fake.baseUrl });
    const c = new AbortController();
    let added = 0;
    let removed = 0;
    const add = c.signal.addEventListener.bind(c.signal);
    const remove = c.signal.removeEventListener.bind(c.signal);
    c.signal.addEventListener = ((...args: Parameters<typeof add>) => {
      added++;
      add(...args);
    }) as typeof add;
    c.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      removed++;
      remove(...args);
    }) as typeof remove;
    for (let i = 0; i < 20; i++) {
      await refreshSeller(oauth, 100 + i, { signal: c.signal });
    }
    fake.faults.push({ status: 400, body: { error: 'invalid_grant', message: 'no' } });
    await assert.rejects(
      oauth.refresh({ body: { refresh_token: 'x' }, requestOptions: { signal: c.signal } }),
    );
    assert.equal(added, 21);
    assert.equal(removed, 21);
  });
});
