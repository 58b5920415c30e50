import type { Pool } from 'undici';

/** Shared by the benchmarks: JSON calls and seeding through the real code path. */

export interface Credentials {
  client_id: string;
  client_secret: string;
}

export async function call(pool: Pool, path: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await pool.request({
    method: 'POST',
    path,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const json = (await response.body.json()) as Record<string, unknown>;
  return { status: response.statusCode, json };
}

/** An owner and an application through the admin API; returns its credentials. */
export async function createBenchApplication(pool: Pool, adminToken: string, redirectUri: string) {
  const admin = { authorization: `Bearer ${adminToken}` };
  const owner = await call(pool, '/admin/users', { email: `owner-${Date.now()}@bench.test` }, admin);
  const app = await call(
    pool,
    '/admin/applications',
    { name: 'Bench', owner_user_id: owner.json.id, redirect_uris: [redirectUri] },
    admin,
  );
  return { client_id: app.json.client_id as string, client_secret: app.json.client_secret as string };
}

/**
 * `sellers` sellers through the real code path (admin API → authorization code → token exchange),
 * 32 at a time; returns each seller's first refresh token.
 */
export async function seedRefreshChains(
  pool: Pool,
  adminToken: string,
  creds: Credentials,
  sellers: number,
  redirectUri: string,
): Promise<string[]> {
  const admin = { authorization: `Bearer ${adminToken}` };
  const tokens: string[] = [];
  const batch = 32;
  const run = Date.now();
  for (let start = 0; start < sellers; start += batch) {
    const made = await Promise.all(
      Array.from({ length: Math.min(batch, sellers - start) }, async (_, i) => {
        const seller = await call(pool, '/admin/users', { email: `s${start + i}-${run}@bench.test` }, admin);
        const code = await call(
          pool,
          '/admin/authorizations',
          { client_id: creds.client_id, user_id: seller.json.id, redirect_uri: redirectUri },
          admin,
        );
        const exchanged = await call(pool, '/oauth/token', {
          grant_type: 'authorization_code',
          ...creds,
          code: code.json.code,
          redirect_uri: redirectUri,
        });
        if (exchanged.status !== 200) throw new Error(`seeding failed: ${JSON.stringify(exchanged.json)}`);
        return exchanged.json.refresh_token as string;
      }),
    );
    tokens.push(...made);
  }
  return tokens;
}
