import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { type DemoInfo, runDemo } from './cli/demo.ts';
import { lifetimesFromEnv } from './core/config.ts';
import { TemporarilyUnavailableError } from './core/errors.ts';
import { cryptoRandom } from './core/random.ts';
import { type FixedWindowOptions, InProcessRateLimiter, type RateLimiter } from './core/rate-limit.ts';
import type { WebhookTargetPolicy } from './core/webhook-targets.ts';
import { webhookPolicyFromEnv } from './core/webhooks.ts';
import { assertAdminToken } from './http/admin.ts';
import { buildAdminApp, buildApp, type DemoState } from './http/app.ts';
import { assertMetricsToken, createMetrics } from './http/metrics.ts';
import { RedisRateLimiter, rateLimitRedis } from './rate-limit/redis.ts';
import { ADMIN_FAILURE_LIMIT, createServices, type Services } from './services.ts';
import type { StoragePort } from './storage/contract.ts';
import { Housekeeper } from './storage/housekeeping.ts';
import { PostgresStorage } from './storage/postgres/adapter.ts';
import { SqliteStorage } from './storage/sqlite/adapter.ts';
import { restrictToOwner } from './storage/sqlite/connection.ts';

export const DEFAULT_DB = './data/renova.db';

/** `--db`, then `RENOVA_DB`, then ./data/renova.db (CONTRACT §5). */
export function resolveDb(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.RENOVA_DB ?? DEFAULT_DB;
}

export const isPostgresUrl = (db: string): boolean => /^postgres(ql)?:\/\//.test(db);

/** `db` for messages and logs: a postgres:// URL loses its password. */
export function redactUrl(db: string): string {
  if (!isPostgresUrl(db)) return db;
  try {
    const url = new URL(db);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return 'postgres://…';
  }
}

/** Opens the storage named by `db` (a SQLite path or a postgres:// URL) and applies migrations. */
export async function openStorage(db: string): Promise<StoragePort> {
  const storage = isPostgresUrl(db)
    ? new PostgresStorage({ connectionString: db })
    : new SqliteStorage({ path: db });
  try {
    await storage.migrate();
  } catch (error) {
    await storage.close().catch(() => {});
    throw error;
  }
  return storage;
}

/**
 * The server key seals secrets Renova must read back (webhook secrets). It comes from
 * RENOVA_SECRET_KEY (64 hex characters, required when several instances share a database), or
 * from a key file: RENOVA_SECRET_KEY_FILE, by default `renova.key` beside the SQLite database
 * (created on first start with mode 0600), never from the database itself. Operators should keep
 * the key apart from the database and its backups (RENOVA_SECRET_KEY or a key file elsewhere): a
 * copy of both opens every sealed secret.
 */
export function loadServerKey(db: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const fromEnv = env.RENOVA_SECRET_KEY;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!/^[0-9a-fA-F]{64,}$/.test(fromEnv))
      throw new Error('RENOVA_SECRET_KEY must be at least 64 hex characters (32 bytes)');
    return Buffer.from(fromEnv, 'hex');
  }
  const configured = env.RENOVA_SECRET_KEY_FILE || undefined;
  if (configured === undefined && db === ':memory:') return cryptoRandom.bytes(32);
  if (configured === undefined && isPostgresUrl(db))
    throw new Error(
      'set RENOVA_SECRET_KEY (64 hex characters) or RENOVA_SECRET_KEY_FILE when using PostgreSQL',
    );
  const file = configured ?? join(dirname(db), 'renova.key');
  if (existsSync(file)) return readKeyFile(file);
  // Instances sharing a PostgreSQL database must share one key: never mint one per instance.
  if (isPostgresUrl(db))
    throw new Error(
      `RENOVA_SECRET_KEY_FILE ${file} does not exist; with PostgreSQL the key file must be provided`,
    );
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const key = cryptoRandom.bytes(32);
  try {
    writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process started at the same moment and wrote it first ('wx' never overwrites): use theirs.
    if ((error as { code?: string }).code === 'EEXIST') return readKeyFile(file);
    throw error;
  }
  // The creation mode is masked by the umask; chmod is not.
  restrictToOwner(file);
  return key;
}

/** A key file holds 64 (or more, an even number of) hex characters and a newline, nothing else. */
function readKeyFile(file: string): Buffer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    const code = (error as { code?: string }).code ?? String(error);
    throw new Error(
      `cannot read the server key file ${file} (${code}): make it readable by the user running Renova, or set RENOVA_SECRET_KEY`,
    );
  }
  if (!/^(?:[0-9a-fA-F]{2}){32,}$/.test(text)) {
    throw new Error(
      `the server key file ${file} is malformed: it must hold at least 64 hex characters (32 bytes) and nothing else. Restore it from where you keep the key (secrets sealed under it cannot be opened with another), or, on a new installation without data, delete it to have a new one made`,
    );
  }
  return Buffer.from(text, 'hex');
}

/** `max/windowSeconds`, e.g. `20/60`; `0` or `off` disables. */
export function parseLimit(
  name: string,
  raw: string | undefined,
  fallback: string,
): FixedWindowOptions | null {
  const value = raw === undefined || raw === '' ? fallback : raw;
  if (value === '0' || value === 'off') return null;
  const match = /^([1-9][0-9]*)\/([1-9][0-9]*)$/.exec(value);
  if (!match)
    throw new Error(`${name} must look like MAX/WINDOW_SECONDS (e.g. 20/60), or off; got "${value}"`);
  return { maxFailures: Number(match[1]), windowSeconds: Number(match[2]) };
}

/**
 * Rate limiters (issue 4 §4): failed client authentications (RENOVA_AUTH_FAILURE_LIMIT, default
 * 20/60) and token requests (RENOVA_TOKEN_REQUEST_LIMIT, default off), each per client and per
 * address; in Redis when REDIS_URL is set (keys under RENOVA_REDIS_PREFIX, default `renova:`), so
 * every instance counts the same; in-process otherwise.
 */
function rateLimiters(env: NodeJS.ProcessEnv): {
  rateLimiter: RateLimiter;
  requestLimiter: RateLimiter | undefined;
  adminLimiter: RateLimiter;
  close(): Promise<void>;
} {
  const failures = parseLimit('RENOVA_AUTH_FAILURE_LIMIT', env.RENOVA_AUTH_FAILURE_LIMIT, '20/60') ?? {
    maxFailures: Number.MAX_SAFE_INTEGER,
    windowSeconds: 60,
  };
  const requests = parseLimit('RENOVA_TOKEN_REQUEST_LIMIT', env.RENOVA_TOKEN_REQUEST_LIMIT, 'off');
  const url = env.REDIS_URL;
  if (url === undefined || url === '') {
    return {
      rateLimiter: new InProcessRateLimiter(failures),
      requestLimiter: requests ? new InProcessRateLimiter(requests) : undefined,
      adminLimiter: new InProcessRateLimiter(ADMIN_FAILURE_LIMIT),
      close: async () => {},
    };
  }
  const redis = rateLimitRedis(url);
  // Deployments (or test runs) sharing one Redis keep their counters apart with a prefix.
  const prefix = env.RENOVA_REDIS_PREFIX || 'renova:';
  return {
    rateLimiter: new RedisRateLimiter({ redis, prefix: `${prefix}authfail:`, ...failures }),
    requestLimiter: requests
      ? new RedisRateLimiter({ redis, prefix: `${prefix}tokenreq:`, ...requests })
      : undefined,
    adminLimiter: new RedisRateLimiter({ redis, prefix: `${prefix}adminfail:`, ...ADMIN_FAILURE_LIMIT }),
    async close() {
      redis.disconnect();
    },
  };
}

export interface Runtime {
  services: Services;
  close(): Promise<void>;
}

/**
 * RENOVA_WEBHOOK_ALLOW_PRIVATE=true (development only; `serve --demo` implies it): notification
 * URLs may use http and point at loopback, private or link-local addresses. Otherwise https and
 * public addresses only, except that http is allowed while the issuer is http://localhost.
 */
export function webhookTargetsFromEnv(
  env: NodeJS.ProcessEnv,
  context: { issuer?: () => string; demo?: boolean } = {},
): WebhookTargetPolicy {
  const raw = env.RENOVA_WEBHOOK_ALLOW_PRIVATE;
  if (raw !== undefined && raw !== '' && raw !== 'true' && raw !== 'false') {
    throw new Error(`RENOVA_WEBHOOK_ALLOW_PRIVATE must be true or false; got "${raw}"`);
  }
  const allowPrivate = raw === 'true' || context.demo === true;
  return {
    allowPrivate,
    allowHttp: () => allowPrivate || isLoopbackHttp(context.issuer?.() ?? ''),
  };
}

function isLoopbackHttp(issuer: string): boolean {
  try {
    const url = new URL(issuer);
    return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  } catch {
    return false;
  }
}

/** Opens storage and wires the services, as `serve` and every CLI command do. */
export async function openRuntime(
  db: string,
  env: NodeJS.ProcessEnv = process.env,
  context: { issuer?: () => string; demo?: boolean } = {},
): Promise<Runtime> {
  const lifetimes = lifetimesFromEnv(env);
  const webhookTargets = webhookTargetsFromEnv(env, context);
  // Failed seller sign-ins per address across all emails (review #6); `off` for a deployment that
  // throttles in front of Renova.
  const loginAddressLimit = parseLimit(
    'RENOVA_LOGIN_ADDRESS_LIMIT',
    env.RENOVA_LOGIN_ADDRESS_LIMIT,
    '10/900',
  ) ?? {
    maxFailures: Number.MAX_SAFE_INTEGER,
    windowSeconds: 900,
  };
  const serverKey = loadServerKey(db, env);
  const limits = rateLimiters(env);
  const storage = await openStorage(db);
  const services = createServices({
    storage,
    serverKey,
    lifetimes,
    rateLimiter: limits.rateLimiter,
    requestLimiter: limits.requestLimiter,
    adminLimiter: limits.adminLimiter,
    webhookPolicy: webhookPolicyFromEnv(env),
    webhookTargets,
    loginAddressLimiter: new InProcessRateLimiter(loginAddressLimit),
  });
  return {
    services,
    async close() {
      await services.webhooks.stop();
      await limits.close();
      await storage.close();
    },
  };
}

/**
 * RENOVA_TRUST_PROXY: whom to believe about the client address (X-Forwarded-For), which the
 * per-address rate limits use. Unset or `false`: nobody, the socket's peer is the client. `true`:
 * every hop. A number: that many hops. Otherwise a comma-separated list of proxy addresses or CIDRs.
 */
export function trustProxyFromEnv(value: string | undefined): boolean | number | string[] {
  if (value === undefined || value === '' || value === 'false') return false;
  if (value === 'true') return true;
  if (/^[0-9]+$/.test(value)) return Number(value);
  return value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

/**
 * RENOVA_ADMIN_LISTEN: `HOST:PORT` (`[::1]:8081` for IPv6) of a separate admin listener. When set,
 * the admin API is served there only and not at all on the public listener.
 */
export function parseListenAddress(name: string, value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9A-Za-z.-]+)):([0-9]{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new Error(`${name} must be HOST:PORT, e.g. 127.0.0.1:8081 or [::1]:8081; got "${value}"`);
  }
  return { host: (match[1] ?? match[2]) as string, port };
}

function listeningUrl(app: FastifyInstance, host: string): string {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export interface ServeOptions {
  host: string;
  port: number;
  db: string;
  issuer?: string | undefined;
  adminToken?: string | undefined;
  /** `HOST:PORT` of a separate admin listener (RENOVA_ADMIN_LISTEN); needs `adminToken`. */
  adminListen?: string | undefined;
  /** RENOVA_METRICS_TOKEN: serves `/metrics` on the public listener to requests that present it. */
  metricsToken?: string | undefined;
  logger?: Logger | false;
  /** `--demo`: create the demo data and serve the demo start and callback pages. */
  demo?: boolean | undefined;
  /** Deliver webhooks from this process (default true). */
  webhooks?: boolean | undefined;
  /**
   * Called when the storage can no longer write and will not recover by itself (the SQLite writer
   * thread died and could not be restarted). `renova serve` exits non-zero; an embedding program
   * decides, and meanwhile /readyz answers 503 with the reason.
   */
  onFatal?: ((reason: string) => void) | undefined;
}

export interface RunningServer {
  app: FastifyInstance;
  logger: Logger | undefined;
  services: Services;
  url: string;
  /** The admin listener's URL, when the admin API has its own (RENOVA_ADMIN_LISTEN). */
  adminUrl?: string | undefined;
  issuer: string;
  /** Set with `demo: true`: what `serve --demo` prints. */
  demo?: DemoInfo | undefined;
  close(): Promise<void>;
}

export async function startServer(
  options: ServeOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunningServer> {
  // Refuse a weak admin token or a malformed admin address before anything is opened.
  if (options.adminToken !== undefined) assertAdminToken(options.adminToken);
  if (options.metricsToken !== undefined) assertMetricsToken(options.metricsToken, options.adminToken);
  const adminListen =
    options.adminListen === undefined
      ? undefined
      : parseListenAddress('RENOVA_ADMIN_LISTEN', options.adminListen);
  if (adminListen && options.adminToken === undefined) {
    throw new Error('RENOVA_ADMIN_LISTEN is set but RENOVA_ADMIN_TOKEN is not: the admin API needs a token');
  }
  // The issuer is only known once the port is; with --port 0 it is built after listen().
  let issuer = options.issuer ?? '';
  const runtime = await openRuntime(options.db, env, { issuer: () => issuer, demo: options.demo === true });
  const logger = options.logger ?? pino({ level: env.RENOVA_LOG_LEVEL ?? 'info' });
  const trustProxy = trustProxyFromEnv(env.RENOVA_TRUST_PROXY);
  const storage = runtime.services.storage;
  if (storage instanceof SqliteStorage) {
    // Each change of the writer thread is logged once; one that cannot come back is fatal.
    storage.watchWriter((status) => {
      if (status.state === 'restarting') {
        if (logger) logger.error(status, 'sqlite writer thread stopped; restarting it');
      } else if (status.state === 'running') {
        if (logger) logger.info(status, 'sqlite writer thread running again');
      } else {
        if (logger) logger.fatal(status, 'sqlite writer thread cannot be restarted: no write can succeed');
        options.onFatal?.(status.reason);
      }
    });
  }
  const demoState: DemoState | undefined = options.demo ? {} : undefined;
  // One set of counters: /metrics on the admin listener shows the public listener's token requests.
  const metrics = createMetrics();
  const app = await buildApp(runtime.services, {
    get issuer() {
      return issuer;
    },
    adminToken: options.adminToken,
    adminListener: adminListen ? 'separate' : 'public',
    logger,
    demo: demoState,
    trustProxy,
    metrics,
    metricsToken: options.metricsToken,
  });
  const adminApp =
    adminListen && options.adminToken
      ? await buildAdminApp(runtime.services, {
          adminToken: options.adminToken,
          logger,
          trustProxy,
          metrics,
          metricsToken: options.metricsToken,
        })
      : undefined;
  // Housekeeping (expired codes and tokens) on every instance, jittered; RENOVA_PURGE_INTERVAL_SECONDS=0
  // turns it off (e.g. when one designated instance or a cron job does it).
  const purgeSeconds = Number(env.RENOVA_PURGE_INTERVAL_SECONDS ?? 300);
  const housekeeper =
    Number.isFinite(purgeSeconds) && purgeSeconds > 0
      ? new Housekeeper({
          storage: runtime.services.storage,
          intervalMs: purgeSeconds * 1000,
          codeGraceMs: runtime.services.lifetimes.refreshGraceSeconds * 1000 + 60_000,
          onError: (error) => {
            // An outage is logged once per episode by services.availability, not every round.
            if (logger && !(error instanceof TemporarilyUnavailableError))
              logger.error({ err: error }, 'housekeeping round failed');
          },
          onRound: (totals) => {
            if (logger) logger.debug(totals, 'housekeeping round');
          },
        })
      : undefined;
  await app.listen({ host: options.host, port: options.port });
  const url = listeningUrl(app, options.host);
  let adminUrl: string | undefined;
  if (adminApp && adminListen) {
    try {
      await adminApp.listen(adminListen);
    } catch (error) {
      await app.close();
      await runtime.close();
      throw error;
    }
    adminUrl = listeningUrl(adminApp, adminListen.host);
  }
  housekeeper?.start();
  if (!options.issuer) issuer = url;
  if (logger)
    logger.info(
      {
        url,
        issuer,
        admin: adminUrl ?? (options.adminToken ? 'public listener' : 'disabled'),
        metrics:
          [
            ...(adminUrl ? ['admin listener'] : []),
            ...(options.metricsToken ? ['public listener, with RENOVA_METRICS_TOKEN'] : []),
          ].join(' and ') || 'disabled: set RENOVA_METRICS_TOKEN or RENOVA_ADMIN_LISTEN',
        db: redactUrl(options.db),
      },
      'renova listening',
    );
  if (logger && runtime.services.webhookTargets.allowPrivate)
    logger.warn(
      'webhooks may target http and private addresses (RENOVA_WEBHOOK_ALLOW_PRIVATE or --demo): development only',
    );
  runtime.services.webhooks.useLogger(logger || undefined);
  runtime.services.availability.useLogger(logger || undefined);
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
    adminUrl,
    issuer,
    demo,
    async close() {
      await housekeeper?.stop();
      await adminApp?.close();
      await app.close();
      await runtime.close();
    },
  };
}
