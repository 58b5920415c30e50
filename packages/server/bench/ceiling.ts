import { createServer } from 'node:http';
import Fastify from 'fastify';

/**
 * The throughput ceiling: a plain node:http server that reads the body and answers a canned
 * eight-field token response, checking nothing. Renova's figures are reported as a ratio of this,
 * measured in the same run on the same machine.
 */
const body = JSON.stringify({
  access_token: 'APP_USR-4934588586838432-112512-3000000000000001dddcef4937afb20630cba351ce629259-241983636',
  token_type: 'Bearer',
  expires_in: 15552000,
  scope: 'offline_access read write',
  user_id: 241983636,
  refresh_token: 'TG-2000000000000001f3786c7d4b7c20c457d37421aaf948aa-241983636',
  public_key: 'APP_USR-6c320ca9-0e25-4d0d-85e3-06bb5baee53e',
  live_mode: true,
});

/**
 * With `--fastify`, the same canned answer through Fastify configured as Renova's app is (a
 * catch-all string body parser, no logger, the body parsed as JSON): the framework's share.
 */
if (process.argv.includes('--fastify')) {
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, raw, done) => done(null, raw));
  app.post('/oauth/token', async (request, reply) => {
    JSON.parse(request.body as string);
    void reply.header('cache-control', 'no-store').header('content-type', 'application/json');
    return body;
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`ceiling listening on ${url}\n`);
} else {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(body);
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    process.stdout.write(`ceiling listening on http://127.0.0.1:${port}\n`);
  });
}
