import type { ApplicationRecord, GrantType, StoragePort, UserRecord } from '../storage/contract.ts';
import type { Lifetimes } from './config.ts';
import { InvalidRequestError, NotFoundError, UnauthorizedClientError } from './errors.ts';
import { isClientId } from './identifiers.ts';
import { PasswordHasher } from './passwords.ts';
import type { Clock, RandomSource } from './ports.ts';
import { ALL_SCOPES, formatScope, narrowScope } from './scopes.ts';
import type { Sealer } from './sealing.ts';
import { formatGrantToken, newClientId, newClientSecret, newValidator, sha256 } from './tokens.ts';
import { checkNotificationUrl, STRICT_WEBHOOK_TARGETS, type WebhookTargetPolicy } from './webhook-targets.ts';
import { webhookEventFor } from './webhooks.ts';

/** Site ids of the markets Mercado Pago serves, with their country. */
export const SITES: Readonly<Record<string, string>> = {
  MLA: 'AR',
  MLB: 'BR',
  MLM: 'MX',
  MLC: 'CL',
  MCO: 'CO',
  MPE: 'PE',
  MLU: 'UY',
};

export const WEBHOOK_SECRET_PURPOSE = 'webhook-secret';

export interface CreateUserInput {
  email: string;
  password?: string | undefined;
  nickname?: string | undefined;
  siteId?: string | undefined;
}

export interface UserView {
  id: number;
  email: string;
  nickname: string;
  site_id: string;
}

export interface CreateApplicationInput {
  name: string;
  ownerUserId: number;
  redirectUris: string[];
  scope?: string | undefined;
  pkceRequired?: boolean | undefined;
  notificationUrl?: string | null | undefined;
  /** RFC 7591 §2 `grant_types`; omitted: all three (Mercado Pago's behaviour). */
  grantTypes?: readonly string[] | undefined;
}

/** What may change on an existing application (`PATCH /admin/applications/:client_id`). */
export interface UpdateApplicationInput {
  grantTypes?: readonly string[] | undefined;
}

/** An application as the admin API shows it after a change: no secrets. */
export interface ApplicationView {
  client_id: string;
  name: string;
  owner_user_id: number;
  redirect_uris: string[];
  scopes: string[];
  pkce_required: boolean;
  notification_url: string | null;
  grant_types: GrantType[];
}

/** The grant types of the token endpoint, in the order they are listed. */
export const GRANT_TYPES: readonly GrantType[] = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
];

/** The admin API's answer for a new application (CONTRACT §4.5); secrets are shown this once. */
export interface CreatedApplication {
  client_id: string;
  client_secret: string;
  name: string;
  owner_user_id: number;
  redirect_uris: string[];
  scopes: string[];
  pkce_required: boolean;
  notification_url: string | null;
  grant_types: GrantType[];
  webhook_secret: string;
}

export interface AuthorizeInput {
  clientId: string;
  userId: number;
  redirectUri?: string | undefined;
  scope?: string | undefined;
  codeChallenge?: string | undefined;
  codeChallengeMethod?: string | undefined;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const CODE_CHALLENGE = /^[A-Za-z0-9._~-]{43,128}$/;

export function userView(user: UserRecord): UserView {
  return { id: user.id, email: user.email, nickname: user.nickname, site_id: user.siteId };
}

/**
 * A redirect URI must be absolute, without a fragment (RFC 6749 §3.1.2), and https except on
 * loopback (RFC 8252 §7.3 and RFC 9700 §2.1 allow http only there).
 */
export function checkRedirectUri(uri: string, what = 'redirect_uri'): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new InvalidRequestError(`${what} "${uri}" is not an absolute URL`);
  }
  if (url.hash !== '' || uri.includes('#'))
    throw new InvalidRequestError(`${what} must not contain a fragment (#…)`);
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new InvalidRequestError(`${what} must use https (http is allowed only for localhost)`);
  }
  return uri;
}

/**
 * Users, applications and operator-recorded consent: what the admin API and the CLI share.
 * Every input is validated here, so both front ends give the same messages.
 */
export class Registry {
  readonly #storage: StoragePort;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #lifetimes: Lifetimes;
  readonly #sealer: Sealer;
  readonly #webhooksEnqueued: () => void;
  readonly #secretsChanged: (clientId: string) => void;
  readonly #passwords: PasswordHasher;
  readonly #webhookTargets: WebhookTargetPolicy;

  constructor(deps: {
    storage: StoragePort;
    clock: Clock;
    random: RandomSource;
    lifetimes: Lifetimes;
    sealer: Sealer;
    /** Called after a webhook event was committed to the outbox, to wake the dispatcher. */
    onWebhookEnqueued?: () => void;
    /** Called after a client secret rotation committed, to drop cached authentication data. */
    onClientSecretsChanged?: (clientId: string) => void;
    /** Hashes new users' passwords (the OWASP scrypt parameters unless a test injects cheaper ones). */
    passwords?: PasswordHasher;
    /** Which notification URLs are accepted (https, public addresses, unless in development). */
    webhookTargets?: WebhookTargetPolicy;
  }) {
    this.#storage = deps.storage;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#lifetimes = deps.lifetimes;
    this.#sealer = deps.sealer;
    this.#webhooksEnqueued = deps.onWebhookEnqueued ?? (() => {});
    this.#secretsChanged = deps.onClientSecretsChanged ?? (() => {});
    this.#passwords = deps.passwords ?? new PasswordHasher();
    this.#webhookTargets = deps.webhookTargets ?? STRICT_WEBHOOK_TARGETS;
  }

  async createUser(input: CreateUserInput): Promise<UserView> {
    const email = input.email.trim();
    if (!EMAIL.test(email)) throw new InvalidRequestError(`email "${input.email}" is not a valid address`);
    const siteId = (input.siteId ?? 'MLA').toUpperCase();
    if (!(siteId in SITES)) {
      throw new InvalidRequestError(
        `site_id "${input.siteId}" is unknown; use one of ${Object.keys(SITES).join(', ')}`,
      );
    }
    if (input.password !== undefined && input.password.length < 8) {
      throw new InvalidRequestError('password must be at least 8 characters');
    }
    const taken = () => new InvalidRequestError(`a user with email ${email} already exists`);
    // Checked first to spare a password hash; the insert itself is the guard against a race.
    if (await this.#storage.findUserByEmail(email)) throw taken();
    const nickname = input.nickname?.trim() || email.split('@')[0]?.toUpperCase() || 'SELLER';
    const user = await this.#storage.createUser({
      email,
      nickname,
      siteId,
      passwordHash: input.password === undefined ? null : await this.#passwords.hash(input.password),
      createdAt: this.#clock.now(),
    });
    if (!user) throw taken();
    return userView(user);
  }

  async createApplication(input: CreateApplicationInput): Promise<CreatedApplication> {
    const name = input.name.trim();
    if (name.length === 0 || name.length > 100)
      throw new InvalidRequestError('name must be 1 to 100 characters');
    if (!(await this.#storage.findUserById(input.ownerUserId))) {
      throw new InvalidRequestError(`owner user ${input.ownerUserId} does not exist; create the user first`);
    }
    if (input.redirectUris.length === 0)
      throw new InvalidRequestError('at least one redirect URI is required');
    const redirectUris = [...new Set(input.redirectUris.map((u) => checkRedirectUri(u)))];
    const scope =
      input.scope === undefined
        ? ALL_SCOPES.join(' ')
        : narrowScope(input.scope, ALL_SCOPES.join(' '), 'the known scopes');
    const notificationUrl = input.notificationUrl
      ? checkNotificationUrl(input.notificationUrl, this.#webhookTargets)
      : null;
    const grantTypes = input.grantTypes === undefined ? [...GRANT_TYPES] : checkGrantTypes(input.grantTypes);
    const clientSecret = newClientSecret(this.#random);
    const webhookSecret = this.#random.bytes(32).toString('hex');
    const clientId = newClientId(this.#random);
    await this.#storage.createApplication({
      clientId,
      name,
      ownerUserId: input.ownerUserId,
      redirectUris,
      scope,
      pkceRequired: input.pkceRequired ?? false,
      notificationUrl,
      grantTypes,
      webhookSecretSealed: this.#sealer.seal(`${WEBHOOK_SECRET_PURPOSE}:${clientId}`, webhookSecret),
      ownerPublicKey: this.#random.uuid(),
      secretHash: sha256(clientSecret),
      createdAt: this.#clock.now(),
    });
    return {
      client_id: clientId,
      client_secret: clientSecret,
      name,
      owner_user_id: input.ownerUserId,
      redirect_uris: redirectUris,
      scopes: scope.split(' '),
      pkce_required: input.pkceRequired ?? false,
      notification_url: notificationUrl,
      grant_types: grantTypes,
      webhook_secret: webhookSecret,
    };
  }

  /** Changes an application's settings; today its allowed grant types (RFC 7591 §2). */
  async updateApplication(clientId: string, input: UpdateApplicationInput): Promise<ApplicationView> {
    const app = await this.requireApplication(clientId);
    if (input.grantTypes === undefined) {
      throw new InvalidRequestError(
        `nothing to change: send grant_types (one or more of ${GRANT_TYPES.join(', ')})`,
      );
    }
    const grantTypes = checkGrantTypes(input.grantTypes);
    if (!(await this.#storage.updateApplicationGrantTypes(clientId, grantTypes))) {
      throw new NotFoundError(`application ${clientId} does not exist`);
    }
    // Cached authentication data holds the application record, grant types included.
    this.#secretsChanged(clientId);
    return applicationView({ ...app, grantTypes });
  }

  /** Issues a new current secret; the old ones keep working for `overlapSeconds`. */
  async rotateClientSecret(clientId: string, overlapSeconds?: number): Promise<{ client_secret: string }> {
    const overlap = overlapSeconds ?? this.#lifetimes.clientSecretOverlapSeconds;
    if (!Number.isSafeInteger(overlap) || overlap < 0) {
      throw new InvalidRequestError('overlap_seconds must be a whole number of seconds, 0 or more');
    }
    const secret = newClientSecret(this.#random);
    const now = this.#clock.now();
    if (!(await this.#storage.rotateClientSecret(clientId, sha256(secret), now + overlap * 1000, now))) {
      throw new NotFoundError(`application ${clientId} does not exist`);
    }
    this.#secretsChanged(clientId);
    return { client_secret: secret };
  }

  /**
   * A new webhook secret for the application's `x-signature` (CONTRACT §4.6), effective for the
   * next delivery attempt; receivers must switch to it. Kept sealed, shown this once.
   */
  async rotateWebhookSecret(clientId: string): Promise<{ webhook_secret: string }> {
    const webhookSecret = this.#random.bytes(32).toString('hex');
    const sealed = this.#sealer.seal(`${WEBHOOK_SECRET_PURPOSE}:${clientId}`, webhookSecret);
    if (!isClientId(clientId) || !(await this.#storage.replaceWebhookSecret(clientId, sealed))) {
      throw new NotFoundError(`application ${clientId} does not exist`);
    }
    return { webhook_secret: webhookSecret };
  }

  async requireApplication(clientId: string): Promise<ApplicationRecord> {
    const app = isClientId(clientId) ? await this.#storage.findApplication(clientId) : null;
    if (!app) {
      // Never echo a malformed id: it may be any size (security review #7).
      throw new NotFoundError(
        isClientId(clientId) ? `application ${clientId} does not exist` : 'client_id must be 16 digits',
      );
    }
    return app;
  }

  /**
   * Records the seller's consent and issues an authorization code exactly as the consent page does
   * (CONTRACT §4.5 `POST /admin/authorizations`).
   */
  async authorize(input: AuthorizeInput): Promise<{ code: string; redirect_uri: string }> {
    const app = await this.requireApplication(input.clientId);
    checkMayRequestCode(app);
    if (!(await this.#storage.findUserById(input.userId))) {
      throw new InvalidRequestError(`user ${input.userId} does not exist`);
    }
    const redirectUri = input.redirectUri ?? app.redirectUris[0];
    if (redirectUri === undefined || !app.redirectUris.includes(redirectUri)) {
      throw new InvalidRequestError(
        `redirect_uri must be one registered for the application: ${app.redirectUris.join(', ')}`,
      );
    }
    const scope =
      input.scope === undefined ? app.scope : narrowScope(input.scope, app.scope, "the application's scopes");
    const pkce = checkPkceRequest(input.codeChallenge, input.codeChallengeMethod, app.pkceRequired);
    const code = await this.issueCode({ app, userId: input.userId, redirectUri, scope, ...pkce });
    return { code, redirect_uri: redirectUri };
  }

  /**
   * Shared by the consent page and the operator path: the grant is recorded with the code, and an
   * `application.authorized` webhook is queued in the same transaction when the grant is new or was
   * revoked (a re-consent of an active grant is not news to the application).
   */
  async issueCode(args: {
    app: ApplicationRecord;
    userId: number;
    redirectUri: string;
    scope: string;
    codeChallenge: string | null;
    codeChallengeMethod: 'S256' | 'plain' | null;
  }): Promise<string> {
    const now = this.#clock.now();
    const validator = newValidator(this.#random);
    const event = webhookEventFor(args.app, args.userId, 'application.authorized', now);
    const { codeId, grantCreated } = await this.#storage.recordConsent(
      {
        hash: validator.hash,
        clientId: args.app.clientId,
        userId: args.userId,
        redirectUri: args.redirectUri,
        scope: formatScope(args.scope.split(' ')),
        codeChallenge: args.codeChallenge,
        codeChallengeMethod: args.codeChallengeMethod,
        createdAt: now,
        expiresAt: now + this.#lifetimes.authorizationCodeSeconds * 1000,
        publicKey: this.#random.uuid(),
      },
      event,
    );
    if (grantCreated && event) this.#webhooksEnqueued();
    return formatGrantToken('code', codeId, validator.secret, args.userId);
  }

  /**
   * Revokes the seller's authorization and every token of it (the account page, the admin API and
   * the CLI), queueing `application.deauthorized` in the same transaction.
   */
  async revokeGrant(clientId: string, userId: number): Promise<void> {
    const app = isClientId(clientId) ? await this.#storage.findApplication(clientId) : null;
    const now = this.#clock.now();
    const event = app ? webhookEventFor(app, userId, 'application.deauthorized', now) : undefined;
    if (!app || !(await this.#storage.revokeGrant(clientId, userId, now, event))) {
      throw new NotFoundError(`user ${userId} has no active authorization for application ${clientId}`);
    }
    if (event) this.#webhooksEnqueued();
  }
}

export function applicationView(app: ApplicationRecord): ApplicationView {
  return {
    client_id: app.clientId,
    name: app.name,
    owner_user_id: app.ownerUserId,
    redirect_uris: app.redirectUris,
    scopes: app.scope.split(' '),
    pkce_required: app.pkceRequired,
    notification_url: app.notificationUrl,
    grant_types: app.grantTypes,
  };
}

/**
 * RFC 7591 §2 `grant_types`: one or more of the three grants of the token endpoint. A refresh
 * token is only ever issued by the authorization_code grant, so refresh_token alone would be an
 * application that can never use it.
 */
export function checkGrantTypes(requested: readonly string[]): GrantType[] {
  const accepted = `accepted values: ${GRANT_TYPES.join(', ')}`;
  if (requested.length === 0) throw new InvalidRequestError(`grant_types must not be empty; ${accepted}`);
  const unknown = requested.filter((g) => !(GRANT_TYPES as readonly string[]).includes(g));
  if (unknown.length > 0) {
    const shown = unknown.map((g) => JSON.stringify(g.length > 40 ? `${g.slice(0, 40)}…` : g)).join(', ');
    throw new InvalidRequestError(`grant_types has unknown value ${shown}; ${accepted}`);
  }
  const chosen = GRANT_TYPES.filter((g) => requested.includes(g));
  if (chosen.includes('refresh_token') && !chosen.includes('authorization_code')) {
    throw new InvalidRequestError(
      'grant_types with refresh_token must also list authorization_code: refresh tokens are issued only by the authorization_code grant',
    );
  }
  return chosen;
}

/**
 * RFC 6749 §4.1.2.1 `unauthorized_client`: "The client is not authorized to request an
 * authorization code using this method", for an application registered without authorization_code.
 */
export function checkMayRequestCode(app: ApplicationRecord): void {
  if (!app.grantTypes.includes('authorization_code')) {
    throw new UnauthorizedClientError(
      `this application is not allowed the authorization_code grant (its grant_types: ${app.grantTypes.join(', ')}); an operator can change them with PATCH /admin/applications/${app.clientId}`,
    );
  }
}

/**
 * RFC 7636 §4.3: `code_challenge_method` defaults to `plain`. An application registered with PKCE
 * required refuses a request without a challenge (CONTRACT §4.1), and accepts only S256: RFC 9700
 * §2.1.1 "Authorization servers MUST support PKCE ... [and] SHOULD use S256" — `plain` protects
 * nothing against an attacker who can read the authorization request, so it is no PKCE at all for
 * an application that asked to require it (security review #4).
 */
export function checkPkceRequest(
  challenge: string | undefined,
  method: string | undefined,
  required: boolean,
): { codeChallenge: string | null; codeChallengeMethod: 'S256' | 'plain' | null } {
  if (challenge === undefined) {
    if (method !== undefined)
      throw new InvalidRequestError('code_challenge_method was sent without code_challenge');
    if (required) {
      throw new InvalidRequestError(
        'this application requires PKCE: send code_challenge and code_challenge_method=S256',
      );
    }
    return { codeChallenge: null, codeChallengeMethod: null };
  }
  const normalized = method === undefined ? 'plain' : method === 's256' ? 'S256' : method;
  if (normalized !== 'S256' && normalized !== 'plain') {
    throw new InvalidRequestError('code_challenge_method must be S256 or plain');
  }
  if (required && normalized !== 'S256') {
    throw new InvalidRequestError(
      method === undefined
        ? 'this application requires PKCE with S256: send code_challenge_method=S256 (without it the method is plain, which this application refuses; RFC 9700 §2.1.1)'
        : 'this application requires PKCE with S256: code_challenge_method=plain is refused; send the BASE64URL(SHA-256(code_verifier)) challenge with code_challenge_method=S256 (RFC 9700 §2.1.1)',
    );
  }
  if (!CODE_CHALLENGE.test(challenge)) {
    throw new InvalidRequestError(
      'code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.2)',
    );
  }
  return { codeChallenge: challenge, codeChallengeMethod: normalized };
}
