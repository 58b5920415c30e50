import type { Pool } from 'undici';

/** Shared by the benchmarks: JSON calls and seeding through the real code path. */

/** The admin API's bearer token in every benchmark (RENOVA_ADMIN_TOKEN wants 32 characters or more). */
export const BENCH_ADMIN_TOKEN = `bench-admin-${'0123456789abcdef'.repeat(2)}`;

/** `KEY=VALUE` pairs from the command line (`--env`, `--env-b`) as an environment. */
export function parseEnvPairs(pairs: string[] | undefined, flag: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/s.exec(pair);
    if (!match?.[1])
      throw new Error(`${flag} wants KEY=VALUE (e.g. ${flag} RENOVA_LOG_LEVEL=info), got ${pair}`);
    env[match[1]] = match[2] ?? '';
  }
  return env;
}

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

/**
 * `count` authorization codes for `sellers` sellers (round robin) through the admin API, 64 at a
 * time, before the timed run: each is exchanged once by `--mode authorization_code`.
 */
export async function seedAuthorizationCodes(
  pool: Pool,
  adminToken: string,
  creds: Credentials,
  count: number,
  sellers: number,
  redirectUri: string,
): Promise<string[]> {
  const admin = { authorization: `Bearer ${adminToken}` };
  const run = Date.now();
  const userIds: number[] = [];
  for (let i = 0; i < sellers; i++) {
    const seller = await call(pool, '/admin/users', { email: `c${i}-${run}@bench.test` }, admin);
    userIds.push(seller.json.id as number);
  }
  const codes: string[] = [];
  const batch = 64;
  for (let start = 0; start < count; start += batch) {
    const made = await Promise.all(
      Array.from({ length: Math.min(batch, count - start) }, async (_, i) => {
        const issued = await call(
          pool,
          '/admin/authorizations',
          {
            client_id: creds.client_id,
            user_id: userIds[(start + i) % userIds.length],
            redirect_uri: redirectUri,
          },
          admin,
        );
        if (issued.status !== 201) throw new Error(`seeding codes failed: ${JSON.stringify(issued.json)}`);
        return issued.json.code as string;
      }),
    );
    codes.push(...made);
  }
  return codes;
}
