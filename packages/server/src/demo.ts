import type { Services } from './services.ts';

const DEMO_OWNER = 'demo-integrator@renova.test';
export const DEMO_SELLER = 'demo-seller@renova.test';
export const DEMO_PASSWORD = 'renova-demo';
const DEMO_APP = 'Renova Demo Store';

export interface DemoInfo {
  clientId: string;
  clientSecret: string;
  /** `${issuer}/demo/callback`, served by Renova in demo mode. */
  redirectUri: string;
  sellerId: number;
  /** Opens the consent flow for the demo application (state and PKCE set up by Renova). */
  startUrl: string;
  /** What `serve --demo` prints. */
  lines: string[];
}

/**
 * `serve --demo`: creates (once) a demo integrator, a demo seller and a demo application whose
 * first redirect URI is Renova's own demo callback page. The client secret cannot be shown again
 * (only its hash is stored), so each start issues a fresh one by rotation; earlier ones keep
 * working for the usual overlap, and the server keeps the fresh one in memory for the callback page.
 */
export async function runDemo(services: Services, issuer: string): Promise<DemoInfo> {
  const { accounts, applications } = services;
  const owner =
    (await accounts.findByEmail(DEMO_OWNER)) ??
    (await accounts.createUser({ email: DEMO_OWNER, password: DEMO_PASSWORD, nickname: 'DEMO_INTEGRATOR' }));
  const seller =
    (await accounts.findByEmail(DEMO_SELLER)) ??
    (await accounts.createUser({ email: DEMO_SELLER, password: DEMO_PASSWORD, nickname: 'DEMO_SELLER' }));
  const callback = `${issuer}/demo/callback`;
  const existing = (await applications.listOwnedBy(owner.id)).find(
    (a) => a.name === DEMO_APP && a.redirectUris[0] === callback,
  );
  const clientId =
    existing?.clientId ??
    (
      await applications.create({
        name: DEMO_APP,
        ownerUserId: owner.id,
        redirectUris: [callback, 'http://localhost:3000/callback'],
      })
    ).clientId;
  const { clientSecret } = await applications.rotateClientSecret(clientId);
  const startUrl = `${issuer}/demo/start`;
  const lines = [
    '',
    'Demo data is ready:',
    `  seller       ${DEMO_SELLER} / ${DEMO_PASSWORD} (user id ${seller.id})`,
    `  application  ${DEMO_APP}, client_id ${clientId}`,
    `  client_secret (fresh for this run) ${clientSecret}`,
    '',
    'Try the whole flow in a browser: sign in as the demo seller, approve, and watch the demo',
    'callback page exchange the code and refresh the token:',
    `  ${startUrl}`,
    '',
    `Your authorized applications: ${issuer}/account/applications`,
    '',
    'Or, without a browser, record consent as an operator and exchange the code yourself:',
    `  npx renova authorize --client-id ${clientId} --user-id ${seller.id} --redirect-uri http://localhost:3000/callback`,
    `  curl -s ${issuer}/oauth/token -d grant_type=authorization_code -d client_id=${clientId} \\`,
    `    -d client_secret=${clientSecret} -d redirect_uri=http://localhost:3000/callback -d code=TG-…`,
    '',
  ];
  return { clientId, clientSecret, redirectUri: callback, sellerId: seller.id, startUrl, lines };
}
