/**
 * Every environment variable Renova reads, declared once: its name, type, default, validation and
 * the line the README's configuration table shows. `loadConfig` is the only reader of the
 * environment; a malformed value stops the start with a message that names the variable and what
 * it accepts, never a silent default. `renova config` prints the effective configuration with its
 * secrets redacted, and a test keeps the README table equal to `configurationTable()`.
 */

/** A number window such as `20/60`: at most `max` events per `windowSeconds`. */
export interface Limit {
  max: number;
  windowSeconds: number;
}

/** `RENOVA_TRUST_PROXY`: nobody (false), every hop (true), a hop count, or proxy addresses/CIDRs. */
export type TrustProxy = boolean | number | string[];

export interface ListenAddress {
  host: string;
  port: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

interface Setting<T> {
  /** The environment variable. */
  env: string;
  /** What the README shows as the default. */
  defaultText: string;
  /** One line for the README table. */
  doc: string;
  /** Its value is a secret: `renova config` shows only whether it is set. */
  secret?: boolean;
  /** Parses a present, non-empty raw value; throws a `ConfigError`-worthy message otherwise. */
  parse(raw: string): T;
  /** The value when the variable is unset or empty. */
  fallback: T;
  /** How `renova config` shows a non-secret value; JSON by default. */
  show?(value: T): string;
}

const fail = (message: string): never => {
  throw new Error(message);
};

function wholeNumber(min: number, unit: string) {
  return (raw: string): number => {
    if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) < min) {
      fail(`must be a whole number of ${unit}${min > 0 ? `, at least ${min}` : ''}`);
    }
    return Number(raw);
  };
}

function limit(raw: string): Limit | null {
  if (raw === '0' || raw === 'off') return null;
  const match = /^([1-9][0-9]*)\/([1-9][0-9]*)$/.exec(raw);
  if (!match) return fail('must look like MAX/WINDOW_SECONDS (e.g. 20/60), or off');
  return { max: Number(match[1]), windowSeconds: Number(match[2]) };
}

const showLimit = (value: Limit | null) => (value ? `${value.max}/${value.windowSeconds}` : 'off');

function listenAddress(raw: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9A-Za-z.-]+)):([0-9]{1,5})$/.exec(raw);
  const port = Number(match?.[3]);
  if (!match || port > 65535) return fail('must be HOST:PORT, e.g. 127.0.0.1:8081 or [::1]:8081');
  return { host: (match[1] ?? match[2]) as string, port };
}

function trustProxy(raw: string): TrustProxy {
  if (raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^[0-9]+$/.test(raw)) return Number(raw);
  const list = raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  if (list.some((entry) => !/^[0-9a-fA-F.:]+(\/[0-9]{1,3})?$/.test(entry))) {
    fail('must be true, false, a hop count, or a comma-separated list of proxy addresses or CIDRs');
  }
  return list;
}

function oneOf<T extends string>(...values: T[]) {
  return (raw: string): T =>
    (values as string[]).includes(raw) ? (raw as T) : fail(`must be one of ${values.join(', ')}`);
}

const text = (raw: string) => raw;

/** Bearer secrets an operator configures (admin, metrics): long and random, or they can be guessed. */
export const MIN_BEARER_SECRET_LENGTH = 32;

/** Why `token` is too weak to guard an API, or undefined when it is strong enough. */
export function weakBearerSecret(token: string): string | undefined {
  return token.length < MIN_BEARER_SECRET_LENGTH || /\s/.test(token)
    ? `must be at least ${MIN_BEARER_SECRET_LENGTH} characters without spaces (got ${token.length}); generate one with: openssl rand -hex 32`
    : undefined;
}

function bearerSecret(raw: string): string {
  const weakness = weakBearerSecret(raw);
  return weakness ? fail(weakness) : raw;
}

function secretKey(raw: string): Buffer {
  if (!/^[0-9a-fA-F]{64,}$/.test(raw) || raw.length % 2 !== 0)
    fail('must be at least 64 hex characters (32 bytes)');
  return Buffer.from(raw, 'hex');
}

function redisUrl(raw: string): string {
  if (!/^rediss?:\/\//.test(raw)) fail('must be a redis:// or rediss:// URL');
  return raw;
}

/** A database URL loses its password when shown. */
export function redactUrl(db: string): string {
  if (!/^[a-z]+:\/\//.test(db)) return db;
  try {
    const url = new URL(db);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return `${db.slice(0, db.indexOf('://') + 3)}…`;
  }
}

function setting<T>(definition: Setting<T>): Setting<T> {
  return definition;
}

/** The declaration. Order is the README table's order. */
export const SETTINGS = {
  db: setting({
    env: 'RENOVA_DB',
    defaultText: '`./data/renova.db`',
    doc: 'SQLite file, or `postgres://…`',
    parse: text,
    fallback: './data/renova.db',
    show: redactUrl,
  }),
  adminToken: setting<string | undefined>({
    env: 'RENOVA_ADMIN_TOKEN',
    defaultText: 'unset (admin API off)',
    doc: 'bearer token of the admin API, at least 32 characters (`openssl rand -hex 32`); unset, the admin routes do not exist',
    secret: true,
    parse: bearerSecret,
    fallback: undefined,
  }),
  adminListen: setting<ListenAddress | undefined>({
    env: 'RENOVA_ADMIN_LISTEN',
    defaultText: 'unset (admin API on the public listener)',
    doc: '`HOST:PORT` of a separate admin listener, e.g. `127.0.0.1:8081`; the public listener then has no admin route',
    parse: listenAddress,
    fallback: undefined,
    show: (value) => (value ? `${value.host}:${value.port}` : 'unset'),
  }),
  metricsToken: setting<string | undefined>({
    env: 'RENOVA_METRICS_TOKEN',
    defaultText: 'unset (no /metrics on the public listener)',
    doc: 'bearer token for `/metrics`, at least 32 characters, not the admin token; required on the public listener, and on the admin listener when set (without it the admin listener serves `/metrics` openly)',
    secret: true,
    parse: bearerSecret,
    fallback: undefined,
  }),
  secretKey: setting<Buffer | undefined>({
    env: 'RENOVA_SECRET_KEY',
    defaultText: 'a key file beside the SQLite file',
    doc: '64 hex characters; seals webhook secrets and derives CSRF keys. Required with PostgreSQL',
    secret: true,
    parse: secretKey,
    fallback: undefined,
  }),
  secretKeyFile: setting<string | undefined>({
    env: 'RENOVA_SECRET_KEY_FILE',
    defaultText: '`renova.key` beside the SQLite database',
    doc: 'where the server key file is read, or created (0600) if missing; SQLite only creates it, with PostgreSQL it must exist. Ignored when `RENOVA_SECRET_KEY` is set',
    parse: text,
    fallback: undefined,
    show: (value) => value ?? 'beside the database',
  }),
  accessTokenSeconds: setting({
    env: 'RENOVA_ACCESS_TOKEN_SECONDS',
    defaultText: '15552000 (180 days)',
    doc: 'access tokens from a code or a refresh',
    parse: wholeNumber(1, 'seconds'),
    fallback: 15_552_000,
  }),
  refreshTokenSeconds: setting({
    env: 'RENOVA_REFRESH_TOKEN_SECONDS',
    defaultText: '15552000',
    doc: 'refresh tokens, from their issue',
    parse: wholeNumber(1, 'seconds'),
    fallback: 15_552_000,
  }),
  clientCredentialsTokenSeconds: setting({
    env: 'RENOVA_CLIENT_CREDENTIALS_TOKEN_SECONDS',
    defaultText: '21600',
    doc: '`client_credentials` tokens',
    parse: wholeNumber(1, 'seconds'),
    fallback: 21_600,
  }),
  authorizationCodeSeconds: setting({
    env: 'RENOVA_AUTHORIZATION_CODE_SECONDS',
    defaultText: '600',
    doc: 'authorization codes',
    parse: wholeNumber(1, 'seconds'),
    fallback: 600,
  }),
  refreshGraceSeconds: setting({
    env: 'RENOVA_REFRESH_GRACE_SECONDS',
    defaultText: '60',
    doc: 'replay window after a rotation; 0 turns it off',
    parse: wholeNumber(0, 'seconds'),
    fallback: 60,
  }),
  clientSecretOverlapSeconds: setting({
    env: 'RENOVA_CLIENT_SECRET_OVERLAP_SECONDS',
    defaultText: '86400',
    doc: 'how long a rotated-out secret keeps working (the default of `renova app rotate-secret` and the admin API)',
    parse: wholeNumber(0, 'seconds'),
    fallback: 86_400,
  }),
  webhookBaseDelayMs: setting({
    env: 'RENOVA_WEBHOOK_BASE_DELAY_MS',
    defaultText: '10000',
    doc: 'webhook retry backoff: the first delay, doubled after each failure',
    parse: wholeNumber(1, 'milliseconds'),
    fallback: 10_000,
  }),
  webhookMaxDelayMs: setting({
    env: 'RENOVA_WEBHOOK_MAX_DELAY_MS',
    defaultText: '3600000',
    doc: 'webhook retry backoff: the cap',
    parse: wholeNumber(1, 'milliseconds'),
    fallback: 3_600_000,
  }),
  webhookTimeoutMs: setting({
    env: 'RENOVA_WEBHOOK_TIMEOUT_MS',
    defaultText: '10000',
    doc: 'webhook request timeout',
    parse: wholeNumber(1, 'milliseconds'),
    fallback: 10_000,
  }),
  webhookPollMs: setting({
    env: 'RENOVA_WEBHOOK_POLL_MS',
    defaultText: '1000',
    doc: 'how often the outbox is polled when nothing wakes the dispatcher',
    parse: wholeNumber(1, 'milliseconds'),
    fallback: 1_000,
  }),
  webhookMaxAttempts: setting({
    env: 'RENOVA_WEBHOOK_MAX_ATTEMPTS',
    defaultText: '20',
    doc: 'attempts before an event is marked dead',
    parse: wholeNumber(1, 'attempts'),
    fallback: 20,
  }),
  testUsersPerApplication: setting({
    env: 'RENOVA_TEST_USERS_PER_APPLICATION',
    defaultText: '10',
    doc: 'most test users (`POST /users/test_user`) one application may create; 0 turns test users off',
    parse: wholeNumber(0, 'test users'),
    fallback: 10,
  }),
  webhookAllowPrivate: setting({
    env: 'RENOVA_WEBHOOK_ALLOW_PRIVATE',
    defaultText: '`false`',
    doc: 'development only (`serve --demo` implies it): `notification_url` may use http and target loopback, private or link-local addresses. Never in production',
    parse: (raw: string) => (raw === 'true' ? true : raw === 'false' ? false : fail('must be true or false')),
    fallback: false,
  }),
  logLevel: setting({
    env: 'RENOVA_LOG_LEVEL',
    defaultText: '`info`',
    doc: 'pino log level (logs are JSON on stdout)',
    parse: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
    fallback: 'info' as const,
  }),
  redisUrl: setting<string | undefined>({
    env: 'REDIS_URL',
    defaultText: 'unset',
    doc: 'shared rate limits across instances',
    parse: redisUrl,
    fallback: undefined,
    show: (value) => (value ? redactUrl(value) : 'unset'),
  }),
  authFailureLimit: setting<Limit | null>({
    env: 'RENOVA_AUTH_FAILURE_LIMIT',
    defaultText: '`20/60`',
    doc: 'failed client authentications allowed per client and address, and per address, per window (seconds)',
    parse: limit,
    fallback: { max: 20, windowSeconds: 60 },
    show: showLimit,
  }),
  tokenRequestLimit: setting<Limit | null>({
    env: 'RENOVA_TOKEN_REQUEST_LIMIT',
    defaultText: '`off`',
    doc: 'token requests per client and per address, e.g. `6000/60`',
    parse: limit,
    fallback: null,
    show: showLimit,
  }),
  loginAddressLimit: setting<Limit | null>({
    env: 'RENOVA_LOGIN_ADDRESS_LIMIT',
    defaultText: '`10/900`',
    doc: 'failed seller sign-ins allowed per address across all emails, per window (seconds), or `off`; per (address, email) it is 5 per 15 minutes',
    parse: limit,
    fallback: { max: 10, windowSeconds: 900 },
    show: showLimit,
  }),
  redisPrefix: setting({
    env: 'RENOVA_REDIS_PREFIX',
    defaultText: '`renova:`',
    doc: 'key prefix in Redis',
    parse: text,
    fallback: 'renova:',
  }),
  purgeIntervalSeconds: setting({
    env: 'RENOVA_PURGE_INTERVAL_SECONDS',
    defaultText: '300',
    doc: 'housekeeping interval in seconds, decimals allowed (±25 %); 0 turns it off',
    parse: (raw: string) =>
      /^[0-9]{1,9}(\.[0-9]{1,3})?$/.test(raw)
        ? Number(raw)
        : fail('must be a number of seconds such as 300 or 0.5'),
    fallback: 300,
  }),
  trustProxy: setting<TrustProxy>({
    env: 'RENOVA_TRUST_PROXY',
    defaultText: '`false`',
    doc: 'believe `X-Forwarded-For` from: `true`, a hop count, or a comma-separated list of proxy addresses/CIDRs (per-address rate limits)',
    parse: trustProxy,
    fallback: false,
  }),
  pgPoolMax: setting({
    env: 'RENOVA_PG_POOL_MAX',
    defaultText: '16',
    doc: 'PostgreSQL connections per instance',
    parse: wholeNumber(1, 'connections'),
    fallback: 16,
  }),
  pgListenUrl: setting<string | undefined>({
    env: 'RENOVA_PG_LISTEN_URL',
    defaultText: 'the database URL',
    doc: 'postgres:// URL of the one LISTEN connection (secret rotations reach every instance at once); set it to PostgreSQL itself behind a transaction-mode PgBouncer',
    secret: true,
    parse: (raw) => raw,
    fallback: undefined,
  }),
};

type Settings = typeof SETTINGS;
export type RenovaConfig = {
  readonly [K in keyof Settings]: Settings[K] extends Setting<infer T> ? T : never;
};

/**
 * Reads every setting from `env`. All malformed values are reported together, each with the
 * variable's name, what was given and what it accepts.
 */
export function loadConfig(env: NodeJS.ProcessEnv): RenovaConfig {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, definition] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    const raw = env[definition.env];
    if (raw === undefined || raw === '') {
      values[key] = definition.fallback;
      continue;
    }
    try {
      values[key] = definition.parse(raw);
    } catch (error) {
      const shown = definition.secret
        ? '(hidden)'
        : JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
      problems.push(`${definition.env} ${(error as Error).message}; got ${shown}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return values as RenovaConfig;
}

/** `renova config`: each variable, its effective value (secrets only as set/unset) and where it came from. */
export function describeConfig(
  config: RenovaConfig,
  env: NodeJS.ProcessEnv,
): { env: string; value: string; source: 'environment' | 'default' }[] {
  return (Object.entries(SETTINGS) as [keyof RenovaConfig, Setting<unknown>][]).map(([key, definition]) => {
    const value = config[key];
    const raw = env[definition.env];
    const shown = definition.secret
      ? value === undefined
        ? 'unset'
        : '(set, hidden)'
      : definition.show
        ? definition.show(value)
        : value === undefined
          ? 'unset'
          : typeof value === 'string'
            ? value
            : JSON.stringify(value);
    return {
      env: definition.env,
      value: shown,
      source: raw === undefined || raw === '' ? 'default' : 'environment',
    };
  });
}

/** The README's configuration table, generated from the declaration. */
export function configurationTable(): string {
  const rows = Object.values(SETTINGS).map((d: Setting<unknown>) => [`\`${d.env}\``, d.defaultText, d.doc]);
  const header = ['variable', 'default', 'meaning'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}
