import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

export const INSTANCE_ADMIN_TOKEN = 'cluster-admin-token-0123456789abcdef0123456789';
export const INSTANCE_SECRET_KEY = 'ab'.repeat(32);

export interface Instance {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts `renova serve --db <db> --port 0` as a child process, with the admin API and the shared
 * server key, and resolves once it prints its URL.
 */
export function startInstance(db: string, env: NodeJS.ProcessEnv = {}): Promise<Instance> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, '../../src/cli/main.ts'),
      'serve',
      '--port',
      '0',
      '--db',
      db,
    ],
    {
      env: {
        ...process.env,
        RENOVA_ADMIN_TOKEN: INSTANCE_ADMIN_TOKEN,
        RENOVA_SECRET_KEY: INSTANCE_SECRET_KEY,
        RENOVA_LOG_LEVEL: 'error',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /renova listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) resolve({ child, url: match[1], stop });
    });
    child.once('exit', (code) => reject(new Error(`renova exited with ${code} before listening: ${output}`)));
  });
}

export async function postJson(
  url: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { raw: text };
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

export interface SeededApp {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  sellerIds: number[];
  /** A fresh authorization code for `sellerId` (admin API, docs/api.md §4.5). */
  code(sellerId: number): Promise<string>;
}

let seeded = 0;

/** An owner, `sellers` sellers and one application, through the admin API of `base`. */
export async function seedOverAdminApi(base: string, sellers = 1): Promise<SeededApp> {
  seeded += 1;
  const auth = { authorization: `Bearer ${INSTANCE_ADMIN_TOKEN}` };
  const tag = `${process.pid}-${seeded}-${Date.now()}`;
  const owner = await postJson(`${base}/admin/users`, { email: `owner-${tag}@example.com` }, auth);
  if (owner.status !== 201) throw new Error(`admin users: ${JSON.stringify(owner.body)}`);
  const redirectUri = 'https://integrator.example.com/callback';
  const app = await postJson(
    `${base}/admin/applications`,
    { name: `Cluster ${tag}`, owner_user_id: owner.body.id, redirect_uris: [redirectUri] },
    auth,
  );
  if (app.status !== 201) throw new Error(`admin applications: ${JSON.stringify(app.body)}`);
  const sellerIds: number[] = [];
  for (let i = 0; i < sellers; i++) {
    const seller = await postJson(`${base}/admin/users`, { email: `seller-${tag}-${i}@example.com` }, auth);
    sellerIds.push(seller.body.id as number);
  }
  const clientId = app.body.client_id as string;
  return {
    clientId,
    clientSecret: app.body.client_secret as string,
    redirectUri,
    sellerIds,
    async code(sellerId) {
      const answer = await postJson(
        `${base}/admin/authorizations`,
        { client_id: clientId, user_id: sellerId },
        auth,
      );
      if (answer.status !== 201) throw new Error(`admin authorizations: ${JSON.stringify(answer.body)}`);
      return answer.body.code as string;
    },
  };
}
