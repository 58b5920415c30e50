import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServices } from '../src/services.ts';
import { SqliteStorage } from '../src/storage/sqlite/adapter.ts';
import { createdApplicationView, issuedCodeView } from '../src/views.ts';

/** In-process cost of the token endpoint's core + storage, without HTTP (where the time goes). */
const writer = (process.argv[3] ?? 'worker') as 'worker' | 'inline';
const storage = new SqliteStorage({
  path: join(mkdtempSync(join(tmpdir(), 'renova-micro-')), 'r.db'),
  writer,
});
await storage.migrate();
const services = createServices({ storage, serverKey: Buffer.alloc(32, 1) });
const owner = await services.accounts.createUser({ email: 'o@m.test' });
const app = createdApplicationView(
  await services.applications.create({
    name: 'M',
    ownerUserId: owner.id,
    redirectUris: ['https://m.test/cb'],
  }),
);
const V = 64;
const chains: string[] = [];
for (let i = 0; i < V; i++) {
  const seller = await services.accounts.createUser({ email: `s${i}@m.test` });
  const { code } = issuedCodeView(
    await services.consent.authorize({ clientId: app.client_id, userId: seller.id }),
  );
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
const seconds = Number(process.argv[2] ?? 5);
const deadline = performance.now() + seconds * 1000;
let n = 0;
const cpu0 = process.cpuUsage();
const started = performance.now();
// Each of V sellers refreshes in a chain, as the HTTP benchmark's clients do.
await Promise.all(
  chains.map(async (_, i) => {
    while (performance.now() < deadline) {
      const r = await services.tokens.handle({
        params: {
          grant_type: 'refresh_token',
          client_id: app.client_id,
          client_secret: app.client_secret,
          refresh_token: chains[i],
        },
        authorization: undefined,
        remoteAddress: '127.0.0.1',
      });
      chains[i] = r.response.refresh_token as string;
      n += 1;
    }
  }),
);
const elapsed = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
console.log(
  `${writer}: ${n} refreshes in ${elapsed.toFixed(2)} s: ${Math.round(n / elapsed)}/s, cpu ${((cpu.user + cpu.system) / n).toFixed(0)} µs/refresh`,
);
await storage.close();
