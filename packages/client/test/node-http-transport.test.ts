import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AbortedError, ConnectionError, OAuth, TimeoutError } from '../src/index.ts';
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

describe('OAuth on the node:http transport (the default on Node)', () => {
  let fake: FakeServer;
  before(async () => {
    fake = await startFakeServer();
  });
  after(async () => {
    await fake.close();
  });

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
      const answer = fake.issue(41);
      const r = await oauth.refresh({
        body: {
          client_id: fake.clientId,
          client_secret: fake.clientSecret,
          refresh_token: answer.refresh_token as string,
        },
      });
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
    const answer = fake.issue(42);
    await oauth.refresh({
      body: {
        client_id: fake.clientId,
        client_secret: fake.clientSecret,
        refresh_token: answer.refresh_token as string,
      },
    });
    assert.equal(calls, 1);
  });

  it('sends the body with its length, and keeps the connection for the next request', async () => {
    const oauth = new OAuth({ baseUrl: fake.baseUrl });
    fake.requests.length = 0;
    for (const id of [43, 44]) {
      const answer = fake.issue(id);
      await oauth.refresh({
        body: {
          client_id: fake.clientId,
          client_secret: fake.clientSecret,
          refresh_token: answer.refresh_token as string,
        },
        requestOptions: { headers: { 'x-test': 'ü' } },
      });
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
});
