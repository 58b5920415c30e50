import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { ConfigError, type Limit, loadConfig, type RenovaConfig, redactUrl } from './config.ts';
import type { Lifetimes } from './core/config.ts';
import { TemporarilyUnavailableError } from './core/errors.ts';
import { cryptoRandom } from './core/random.ts';
import { type FixedWindowOptions, InProcessRateLimiter, type RateLimiter } from './core/rate-limit.ts';
import type { WebhookTargetPolicy } from './core/webhook-targets.ts';
import type { WebhookPolicy } from './core/webhooks.ts';
import { type DemoInfo, runDemo } from './demo.ts';
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

export { redactUrl };

/** `--db`, then `RENOVA_DB`, then ./data/renova.db (docs/api.md §5). */
export function resolveDb(flag: string | undefined, config: Pick<RenovaConfig, 'db'>): string {
  return flag ?? config.db;
}

export const isPostgresUrl = (db: string): boolean => /^postgres(ql)?:\/\//.test(db);

/** Opens the storage named by `db` (a SQLite path or a postgres:// URL) and applies migrations. */
export async function openStorage(
  db: string,
  config: Pick<RenovaConfig, 'pgPoolMax' | 'pgListenUrl'> = loadConfig({}),
): Promise<StoragePort> {
  const storage = isPostgresUrl(db)
    ? new PostgresStorage({
        connectionString: db,
        poolMax: config.pgPoolMax,
        listenConnectionString: config.pgListenUrl ?? db,
      })
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
export function loadServerKey(db: string, config: Pick<RenovaConfig, 'secretKey' | 'secretKeyFile'>): Buffer {
  if (config.secretKey) return config.secretKey;
  const configured = config.secretKeyFile;
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

/** A configured limit as the limiter takes it; `off` (null) never limits. */
function windowOf(limit: Limit | null, offWindowSeconds: number): FixedWindowOptions {
  return limit
    ? { maxFailures: limit.max, windowSeconds: limit.windowSeconds }
    : { maxFailures: Number.MAX_SAFE_INTEGER, windowSeconds: offWindowSeconds };
}

/**
 * Rate limiters: failed client authentications (RENOVA_AUTH_FAILURE_LIMIT) and token requests
 * (RENOVA_TOKEN_REQUEST_LIMIT, off by default), failed admin authentications; in Redis when
 * REDIS_URL is set (keys under RENOVA_REDIS_PREFIX), so every instance counts the same;
 * in-process otherwise.
 */
function rateLimiters(config: RenovaConfig): {
  rateLimiter: RateLimiter;
  requestLimiter: RateLimiter | undefined;
  adminLimiter: RateLimiter;
  close(): Promise<void>;
} {
  const failures = windowOf(config.authFailureLimit, 60);
  const requests = config.tokenRequestLimit ? windowOf(config.tokenRequestLimit, 60) : null;
  if (config.redisUrl === undefined) {
    return {
      rateLimiter: new InProcessRateLimiter(failures),
      requestLimiter: requests ? new InProcessRateLimiter(requests) : undefined,
      adminLimiter: new InProcessRateLimiter(ADMIN_FAILURE_LIMIT),
      close: async () => {},
    };
  }
  const redis = rateLimitRedis(config.redisUrl);
  // Deployments (or test runs) sharing one Redis keep their counters apart with a prefix.
  const prefix = config.redisPrefix;
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

/** The lifetimes of docs/api.md §3, as configured. */
export function lifetimesOf(config: RenovaConfig): Lifetimes {
  return {
    accessTokenSeconds: config.accessTokenSeconds,
    refreshTokenSeconds: config.refreshTokenSeconds,
    clientCredentialsTokenSeconds: config.clientCredentialsTokenSeconds,
    authorizationCodeSeconds: config.authorizationCodeSeconds,
    refreshGraceSeconds: config.refreshGraceSeconds,
    clientSecretOverlapSeconds: config.clientSecretOverlapSeconds,
  };
}

function webhookPolicyOf(config: RenovaConfig): WebhookPolicy {
  return {
    baseDelayMs: config.webhookBaseDelayMs,
    maxDelayMs: config.webhookMaxDelayMs,
    maxAttempts: config.webhookMaxAttempts,
    timeoutMs: config.webhookTimeoutMs,
    pollMs: config.webhookPollMs,
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
export function webhookTargetPolicy(
  context: { allowPrivate?: boolean; issuer?: () => string; demo?: boolean } = {},
): WebhookTargetPolicy {
  const allowPrivate = context.allowPrivate === true || context.demo === true;
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

/**
 * The composition root: opens storage and builds every service from the configuration, as
 * `serve` and every CLI command do. `env` is read once, by loadConfig.
 */
export async function openRuntime(
  db: string,
  env: NodeJS.ProcessEnv = {},
  context: { issuer?: () => string; demo?: boolean; logger?: Logger | undefined } = {},
): Promise<Runtime> {
  return openRuntimeWith(db, loadConfig(env), context);
}

async function openRuntimeWith(
  db: string,
  config: RenovaConfig,
  context: { issuer?: () => string; demo?: boolean; logger?: Logger | undefined },
): Promise<Runtime> {
  const serverKey = loadServerKey(db, config);
  const limits = rateLimiters(config);
  const storage = await openStorage(db, config);
  const services = createServices({
    storage,
    serverKey,
    lifetimes: lifetimesOf(config),
    rateLimiter: limits.rateLimiter,
    requestLimiter: limits.requestLimiter,
    adminLimiter: limits.adminLimiter,
    webhookPolicy: webhookPolicyOf(config),
    testUsersPerApplication: config.testUsersPerApplication,
    webhookTargets: webhookTargetPolicy({ allowPrivate: config.webhookAllowPrivate, ...context }),
    // Failed seller sign-ins per address across all emails (review #6); `off` for a deployment
    // that throttles in front of Renova.
    loginAddressLimiter: new InProcessRateLimiter(windowOf(config.loginAddressLimit, 900)),
    logger: context.logger,
  });
  return {
    services,
    async close() {
      await services.webhooks.stop();
      // Writes the pending "last used" times (nothing when the tracker never started).
      await services.grantUse.stop();
      await limits.close();
      await storage.close();
    },
  };
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

/**
 * Runs the server. `env` is the environment to configure it from (`renova serve` passes
 * process.env; an embedding program passes what it wants); the admin and metrics options, when
 * given, override their variables and are validated the same way.
 */
export async function startServer(
  options: ServeOptions,
  env: NodeJS.ProcessEnv = {},
): Promise<RunningServer> {
  // Everything is validated before anything is opened.
  const overrides: NodeJS.ProcessEnv = {};
  if (options.adminToken !== undefined) overrides.RENOVA_ADMIN_TOKEN = options.adminToken;
  if (options.adminListen !== undefined) overrides.RENOVA_ADMIN_LISTEN = options.adminListen;
  if (options.metricsToken !== undefined) overrides.RENOVA_METRICS_TOKEN = options.metricsToken;
  const config = loadConfig({ ...env, ...overrides });
  const { adminToken, adminListen, metricsToken } = config;
  if (adminToken !== undefined) assertAdminToken(adminToken);
  if (metricsToken !== undefined) assertMetricsToken(metricsToken, adminToken);
  if (adminListen && adminToken === undefined) {
    throw new ConfigError(
      'RENOVA_ADMIN_LISTEN is set but RENOVA_ADMIN_TOKEN is not: the admin API needs a token',
    );
  }
  // The issuer is only known once the port is; with --port 0 it is built after listen().
  let issuer = options.issuer ?? '';
  const logger = options.logger ?? pino({ level: config.logLevel });
  const runtime = await openRuntimeWith(options.db, config, {
    issuer: () => issuer,
    demo: options.demo === true,
    logger: logger || undefined,
  });
  const trustProxy = config.trustProxy;
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
    adminToken,
    adminListener: adminListen ? 'separate' : 'public',
    logger,
    demo: demoState,
    trustProxy,
    metrics,
    metricsToken,
  });
  const adminApp =
    adminListen && adminToken
      ? await buildAdminApp(runtime.services, { adminToken, logger, trustProxy, metrics, metricsToken })
      : undefined;
  // Housekeeping (expired codes and tokens) on every instance, jittered; RENOVA_PURGE_INTERVAL_SECONDS=0
  // turns it off (e.g. when one designated instance or a cron job does it).
  const purgeSeconds = config.purgeIntervalSeconds;
  const housekeeper =
    purgeSeconds > 0
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
        admin: adminUrl ?? (adminToken ? 'public listener' : 'disabled'),
        metrics:
          [
            ...(adminUrl ? ['admin listener'] : []),
            ...(metricsToken ? ['public listener, with RENOVA_METRICS_TOKEN'] : []),
          ].join(' and ') || 'disabled: set RENOVA_METRICS_TOKEN or RENOVA_ADMIN_LISTEN',
        db: redactUrl(options.db),
      },
      'renova listening',
    );
  if (logger && runtime.services.webhookTargets.allowPrivate)
    logger.warn(
      'webhooks may target http and private addresses (RENOVA_WEBHOOK_ALLOW_PRIVATE or --demo): development only',
    );
  if (options.webhooks !== false) runtime.services.webhooks.start();
  // "Last used" of grants, written in batches off the request path (core/grant-use.ts).
  runtime.services.grantUse.start();
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
