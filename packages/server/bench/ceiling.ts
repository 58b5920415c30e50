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

const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    response.end(body);
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(
    `ceiling listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}\n`,
  );
});
