import type { Services } from '../services.ts';

const DEMO_OWNER = 'demo-integrator@renova.test';
const DEMO_SELLER = 'demo-seller@renova.test';
const DEMO_PASSWORD = 'renova-demo';
const DEMO_APP = 'Renova Demo Store';

/**
 * `serve --demo`: creates (once) a demo integrator, a demo seller and a demo application, then
 * prints ready-to-paste commands for the whole lifecycle. The client secret cannot be shown again
 * (only its hash is stored), so each start issues a fresh one by rotation; earlier ones keep
 * working for the usual overlap.
 */
export async function runDemo(services: Services, issuer: string): Promise<void> {
  const { registry, storage } = services;
  const owner =
    (await storage.findUserByEmail(DEMO_OWNER)) ??
    (await registry.createUser({ email: DEMO_OWNER, password: DEMO_PASSWORD, nickname: 'DEMO_INTEGRATOR' }));
  const seller =
    (await storage.findUserByEmail(DEMO_SELLER)) ??
    (await registry.createUser({ email: DEMO_SELLER, password: DEMO_PASSWORD, nickname: 'DEMO_SELLER' }));
  const callback = `${issuer}/demo/callback`;
  const existing = (await storage.listApplicationsByOwner(owner.id)).find((a) => a.name === DEMO_APP);
  const clientId =
    existing?.clientId ??
    (
      await registry.createApplication({
        name: DEMO_APP,
        ownerUserId: owner.id,
        redirectUris: [callback, 'http://localhost:3000/callback'],
      })
    ).client_id;
  const { client_secret: clientSecret } = await registry.rotateClientSecret(clientId);
  const app = await registry.requireApplication(clientId);
  const redirectUri = app.redirectUris[0] as string;
  const { code } = await registry.authorize({ clientId, userId: seller.id, redirectUri });

  const lines = [
    '',
    'Demo data is ready:',
    `  seller       ${DEMO_SELLER} / ${DEMO_PASSWORD} (user id ${seller.id})`,
    `  application  ${DEMO_APP}, client_id ${clientId}`,
    `  client_secret (fresh for this run) ${clientSecret}`,
    '',
    'Exchange this single-use code (valid 10 minutes) for tokens:',
    `  curl -s ${issuer}/oauth/token -H 'content-type: application/json' \\`,
    `    -d '{"grant_type":"authorization_code","client_id":"${clientId}","client_secret":"${clientSecret}","code":"${code}","redirect_uri":"${redirectUri}"}'`,
    '',
    'Then refresh with the refresh_token from the answer:',
    `  curl -s ${issuer}/oauth/token -d grant_type=refresh_token -d client_id=${clientId} \\`,
    `    -d client_secret=${clientSecret} -d refresh_token=TG-…`,
    '',
    `More codes: npx renova authorize --client-id ${clientId} --user-id ${seller.id}`,
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
