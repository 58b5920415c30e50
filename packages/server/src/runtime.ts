import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { type DemoInfo, runDemo } from './cli/demo.ts';
import { lifetimesFromEnv } from './core/config.ts';
import { cryptoRandom } from './core/random.ts';
import { webhookPolicyFromEnv } from './core/webhooks.ts';
import { buildApp, type DemoState } from './http/app.ts';
import { createServices, type Services } from './services.ts';
import type { StoragePort } from './storage/contract.ts';
import { SqliteStorage } from './storage/sqlite/adapter.ts';

export const DEFAULT_DB = './data/renova.db';

/** `--db`, then `RENOVA_DB`, then ./data/renova.db (CONTRACT §5). */
export function resolveDb(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.RENOVA_DB ?? DEFAULT_DB;
}

export async function openStorage(db: string): Promise<StoragePort> {
  if (/^postgres(ql)?:\/\//.test(db)) {
    throw new Error('PostgreSQL storage is not available in this version; use a SQLite file path for --db');
  }
  const storage = new SqliteStorage({ path: db });
  await storage.migrate();
  return storage;
}

/**
 * The server key seals secrets Renova must read back (webhook secrets). It comes from
 * RENOVA_SECRET_KEY (64 hex characters, required when several instances share a database), or from
 * a key file created beside the SQLite database with mode 0600: never from the database itself.
 */
export function loadServerKey(db: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const fromEnv = env.RENOVA_SECRET_KEY;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!/^[0-9a-fA-F]{64,}$/.test(fromEnv))
      throw new Error('RENOVA_SECRET_KEY must be at least 64 hex characters (32 bytes)');
    return Buffer.from(fromEnv, 'hex');
  }
  if (db === ':memory:') return cryptoRandom.bytes(32);
  if (/^postgres(ql)?:\/\//.test(db))
    throw new Error('set RENOVA_SECRET_KEY (64 hex characters) when using PostgreSQL');
  const file = join(dirname(db), 'renova.key');
  if (existsSync(file)) return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  mkdirSync(dirname(file), { recursive: true });
  const key = cryptoRandom.bytes(32);
  writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}

export interface Runtime {
  services: Services;
  close(): Promise<void>;
}

/** Opens storage and wires the services, as `serve` and every CLI command do. */
export async function openRuntime(db: string, env: NodeJS.ProcessEnv = process.env): Promise<Runtime> {
  const lifetimes = lifetimesFromEnv(env);
  const storage = await openStorage(db);
  const services = createServices({
    storage,
    serverKey: loadServerKey(db, env),
    lifetimes,
    webhookPolicy: webhookPolicyFromEnv(env),
  });
  return {
    services,
    async close() {
      await services.webhooks.stop();
      await storage.close();
    },
  };
}

export interface ServeOptions {
  host: string;
  port: number;
  db: string;
  issuer?: string | undefined;
  adminToken?: string | undefined;
  logger?: Logger | false;
  /** `--demo`: create the demo data and serve the demo start and callback pages. */
  demo?: boolean | undefined;
  /** Deliver webhooks from this process (default true). */
  webhooks?: boolean | undefined;
}

export interface RunningServer {
  app: FastifyInstance;
  logger: Logger | undefined;
  services: Services;
  url: string;
  issuer: string;
  /** Set with `demo: true`: what `serve --demo` prints. */
  demo?: DemoInfo | undefined;
  close(): Promise<void>;
}

export async function startServer(
  options: ServeOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningServer> {
  const runtime = await openRuntime(options.db, env);
  const logger = options.logger ?? pino({ level: env.RENOVA_LOG_LEVEL ?? 'info' });
  // The issuer is only known once the port is; with --port 0 it is built after listen().
  let issuer = options.issuer ?? '';
  const demoState: DemoState | undefined = options.demo ? {} : undefined;
  const app = await buildApp(runtime.services, {
    get issuer() {
      return issuer;
    },
    adminToken: options.adminToken,
    logger,
    demo: demoState,
  });
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;
  if (!options.issuer) issuer = url;
  if (logger)
    logger.info({ url, issuer, db: options.db.replace(/\/\/[^@]*@/, '//***@') }, 'renova listening');
  runtime.services.webhooks.useLogger(logger || undefined);
  if (options.webhooks !== false) runtime.services.webhooks.start();
  let demo: DemoInfo | undefined;
  if (demoState) {
    demo = await runDemo(runtime.services, issuer);
    // Only a hash of the client secret is stored, so the demo callback page keeps the fresh one
    // in memory to exchange codes with it.
    demoState.clientId = demo.clientId;
    demoState.clientSecret = demo.clientSecret;
    demoState.redirectUri = demo.redirectUri;
  }
  return {
    app,
    logger: logger || undefined,
    services: runtime.services,
    url,
    issuer,
    demo,
    async close() {
      await app.close();
      await runtime.close();
    },
  };
}
