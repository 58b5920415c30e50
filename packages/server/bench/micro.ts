import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServices } from '../src/services.ts';
import { SqliteStorage } from '../src/storage/sqlite/adapter.ts';

/** In-process cost of the token endpoint's core + storage, without HTTP (where the time goes). */
const storage = new SqliteStorage({ path: join(mkdtempSync(join(tmpdir(), 'renova-micro-')), 'r.db') });
await storage.migrate();
const services = createServices({ storage, serverKey: Buffer.alloc(32, 1) });
const owner = await services.registry.createUser({ email: 'o@m.test' });
const app = await services.registry.createApplication({
  name: 'M',
  ownerUserId: owner.id,
  redirectUris: ['https://m.test/cb'],
});
const V = 64;
const chains: string[] = [];
for (let i = 0; i < V; i++) {
  const seller = await services.registry.createUser({ email: `s${i}@m.test` });
  const { code } = await services.registry.authorize({ clientId: app.client_id, userId: seller.id });
  const r = await services.tokens.handle({
    params: {
      grant_type: 'authorization_code',
      client_id: app.client_id,
      client_secret: app.client_secret,
      code,
      redirect_uri: 'https://m.test/cb',
    },
    authorization: undefined,
    remoteAddress: '127.0.0.1',
  });
  chains.push(r.response.refresh_token as string);
}
const rounds = Number(process.argv[2] ?? 300);
const started = performance.now();
const cpu0 = process.cpuUsage();
for (let round = 0; round < rounds; round++) {
  await Promise.all(
    chains.map(async (token, i) => {
      const r = await services.tokens.handle({
        params: {
          grant_type: 'refresh_token',
          client_id: app.client_id,
          client_secret: app.client_secret,
          refresh_token: token,
        },
        authorization: undefined,
        remoteAddress: '127.0.0.1',
      });
      chains[i] = r.response.refresh_token as string;
    }),
  );
}
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
const n = rounds * V;
console.log(
  `${n} refreshes in ${seconds.toFixed(2)} s: ${Math.round(n / seconds)}/s, cpu ${((cpu.user + cpu.system) / n).toFixed(0)} µs/refresh`,
);
