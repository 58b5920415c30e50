import type { LookupFunction } from 'node:net';
import type { Logger } from 'pino';
import { Accounts } from './core/accounts.ts';
import { Applications } from './core/applications.ts';
import {
  type AuthorizationQuery,
  type AuthorizationRequestCheck,
  checkAuthorizationRequest,
} from './core/authorization-request.ts';
import { BearerTokens } from './core/bearer.ts';
import { ClientAuthenticator } from './core/client-auth.ts';
import { DEFAULT_LIFETIMES, type Lifetimes } from './core/config.ts';
import { Consent } from './core/consent.ts';
import { storageOutages } from './core/errors.ts';
import { GrantUseTracker } from './core/grant-use.ts';
import { Introspection } from './core/introspection.ts';
import { PasswordHasher } from './core/passwords.ts';
import type { Clock, RandomSource } from './core/ports.ts';
import { systemClock } from './core/ports.ts';
import { cryptoRandom } from './core/random.ts';
import { InProcessRateLimiter, type RateLimiter } from './core/rate-limit.ts';
import { Revocation } from './core/revocation.ts';
import { Sealer } from './core/sealing.ts';
import { SellerAccount } from './core/seller-account.ts';
import { SellerSignIn } from './core/seller-sign-in.ts';
import { TestUsers } from './core/test-users.ts';
import { TokenEndpoint } from './core/token-endpoint.ts';
import { WebhookOutbox } from './core/webhook-outbox.ts';
import { STRICT_WEBHOOK_TARGETS, type WebhookTargetPolicy } from './core/webhook-targets.ts';
import { DEFAULT_WEBHOOK_POLICY, type WebhookPolicy } from './core/webhooks.ts';
import { reportingAvailability, StorageAvailability } from './storage/availability.ts';
import type { StoragePort } from './storage/contract.ts';
import { WebhookDispatcher } from './webhooks/dispatcher.ts';

export interface ServiceOptions {
  /** Where the dispatcher and the outage tracker log; nothing is logged without one. */
  logger?: Logger | undefined;
  storage: StoragePort;
  /** 32+ bytes; seals the secrets Renova must read back (webhook secrets). */
  serverKey: Buffer;
  lifetimes?: Lifetimes;
  clock?: Clock;
  random?: RandomSource;
  rateLimiter?: RateLimiter;
  /** Throttles failed admin authentications, per address. */
  adminLimiter?: RateLimiter;
  /** Throttles failed seller logins on the consent and account pages, per (address, email). */
  loginLimiter?: RateLimiter;
  /** Throttles failed seller logins per address, whatever the email (password spraying). */
  loginAddressLimiter?: RateLimiter;
  /** Seller password hashing: scrypt parameters and the bound on hashes in flight. */
  passwords?: PasswordHasher;
  webhookPolicy?: WebhookPolicy;
  /** Injected for tests; the dispatcher uses undici's fetch otherwise. */
  webhookFetch?: typeof fetch;
  /**
   * Which notification URLs are accepted and connected to: https and public addresses unless
   * RENOVA_WEBHOOK_ALLOW_PRIVATE=true (development; tests set `allowPrivate` for loopback receivers).
   */
  webhookTargets?: WebhookTargetPolicy;
  /** Injected for tests: the DNS lookup behind the delivery sockets (vetted unless allowPrivate). */
  webhookLookup?: LookupFunction;
  /**
   * Counts every token request per client and per address; none when omitted. Shared
   * through Redis when several instances run.
   */
  requestLimiter?: RateLimiter;
  /** Most test users per application (RENOVA_TEST_USERS_PER_APPLICATION); default 10. */
  testUsersPerApplication?: number;
  /** How often grants' "last used" times are written, in one batch (ms); default 60 s. */
  lastUsedFlushMs?: number;
}

/** Everything the HTTP layer and the CLI call: the composition root of `core/`. */
export interface Services {
  storage: StoragePort;
  lifetimes: Lifetimes;
  clock: Clock;
  tokens: TokenEndpoint;
  /** `POST /oauth/revoke` (RFC 7009). */
  revocation: Revocation;
  /** `POST /oauth/introspect` (RFC 7662). */
  introspection: Introspection;
  /** Bearer access tokens of the resource endpoints (RFC 6750). */
  bearer: BearerTokens;
  /** Users. */
  accounts: Accounts;
  /** Applications (OAuth clients) and their secrets. */
  applications: Applications;
  /** Sellers' consent: authorization codes and revocation of grants. */
  consent: Consent;
  /** The seller's pages: sign-in, consent context, authorizations, sessions. */
  signIn: SellerSignIn;
  sellerAccount: SellerAccount;
  /** `GET /authorization` and its decision: the request checked against the application. */
  checkAuthorizationRequest(query: AuthorizationQuery): Promise<AuthorizationRequestCheck>;
  /** The webhook outbox as operators and application owners see it. */
  webhookOutbox: WebhookOutbox;
  /** Test users (`POST /users/test_user`). */
  testUsers: TestUsers;
  /**
   * Grants' coarse "last used" times, batched off the request path. Not running until `start()`
   * (`serve` starts it and stops it, which writes what is pending).
   */
  grantUse: GrantUseTracker;
  /** `/readyz`: resolves when a write can succeed now. */
  ready(): Promise<void>;
  sealer: Sealer;
  random: RandomSource;
  passwords: PasswordHasher;
  adminLimiter: RateLimiter;
  /** Not running until `start()`: `serve` starts it; one-shot CLI commands leave events queued. */
  webhooks: WebhookDispatcher;
  requestLimiter: RateLimiter | undefined;
  /** Which notification URLs are accepted and connected to. */
  webhookTargets: WebhookTargetPolicy;
  /** Storage outage episodes, logged once each. */
  availability: StorageAvailability;
}

/** Failed admin authentications allowed per address: 10 in 5 minutes. */
export const ADMIN_FAILURE_LIMIT = { maxFailures: 10, windowSeconds: 300 };

/**
 * Failed seller sign-ins allowed per address across all emails: 10 in 15 minutes (review #6: one
 * address sprayed one password over 12 accounts unhindered). RENOVA_LOGIN_ADDRESS_LIMIT changes it.
 */
export const LOGIN_ADDRESS_FAILURE_LIMIT = { maxFailures: 10, windowSeconds: 900 };

export function createServices(options: ServiceOptions): Services {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  const lifetimes = options.lifetimes ?? DEFAULT_LIFETIMES;
  const rateLimiter = options.rateLimiter ?? new InProcessRateLimiter();
  const availability = new StorageAvailability(options.logger);
  const storage = reportingAvailability(options.storage, availability, storageOutages);
  const clients = new ClientAuthenticator(storage, clock, rateLimiter);
  // Secrets rotated on another instance drop this one's cached copy (PostgreSQL LISTEN/NOTIFY).
  storage.watchClientSecrets?.((clientId) =>
    clientId === null ? clients.forgetAll() : clients.forget(clientId),
  );
  const sealer = new Sealer(options.serverKey, random);
  const passwords = options.passwords ?? new PasswordHasher();
  const webhookTargets = options.webhookTargets ?? STRICT_WEBHOOK_TARGETS;
  const webhooks = new WebhookDispatcher({
    storage,
    sealer,
    clock,
    random,
    policy: options.webhookPolicy ?? DEFAULT_WEBHOOK_POLICY,
    fetch: options.webhookFetch,
    targets: webhookTargets,
    lookup: options.webhookLookup,
    logger: options.logger,
  });
  const grantUse = new GrantUseTracker({
    storage,
    clock,
    flushMs: options.lastUsedFlushMs,
    onFlushError: (error) =>
      options.logger?.warn({ err: error }, 'could not record when grants were last used; will retry'),
  });
  const onGrantUsed = (clientId: string, userId: number) => grantUse.seen(clientId, userId);
  const applications = new Applications({
    storage,
    clock,
    random,
    lifetimes,
    sealer,
    onClientSecretsChanged: (clientId) => clients.forget(clientId),
    webhookTargets,
  });
  return {
    storage,
    lifetimes,
    clock,
    tokens: new TokenEndpoint({ storage, clock, random, lifetimes, rateLimiter, onGrantUsed }, clients),
    revocation: new Revocation(storage, clock, clients),
    introspection: new Introspection(storage, clock, clients),
    bearer: new BearerTokens(storage, clock, onGrantUsed),
    accounts: new Accounts({ storage, clock, passwords }),
    applications,
    consent: new Consent({
      storage,
      clock,
      random,
      lifetimes,
      applications,
      onWebhookEnqueued: () => webhooks.nudge(),
    }),
    signIn: new SellerSignIn({
      storage,
      clock,
      passwords,
      // Seller passwords are guessable: 5 failures per (address, email) in 15 minutes, then a wait.
      loginLimiter: options.loginLimiter ?? new InProcessRateLimiter({ maxFailures: 5, windowSeconds: 900 }),
      loginAddressLimiter:
        options.loginAddressLimiter ?? new InProcessRateLimiter(LOGIN_ADDRESS_FAILURE_LIMIT),
    }),
    sellerAccount: new SellerAccount(storage),
    checkAuthorizationRequest: (query) => checkAuthorizationRequest(storage, query),
    webhookOutbox: new WebhookOutbox(storage, clock, () => webhooks.nudge()),
    testUsers: new TestUsers({
      storage,
      clock,
      random,
      passwords,
      limit: options.testUsersPerApplication ?? 10,
    }),
    grantUse,
    ready: () => storage.ping(),
    sealer,
    random,
    passwords,
    // The admin token is long and random: failures are probes, so the budget is small.
    adminLimiter: options.adminLimiter ?? new InProcessRateLimiter(ADMIN_FAILURE_LIMIT),
    webhooks,
    requestLimiter: options.requestLimiter,
    webhookTargets,
    availability,
  };
}
