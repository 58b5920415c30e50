import type { ApplicationRecord, AuditContext, GrantType, StoragePort } from '../storage/contract.ts';
import type { Lifetimes } from './config.ts';
import { InvalidRequestError, NotFoundError, UnauthorizedClientError } from './errors.ts';
import { GRANT_TYPES } from './grants/index.ts';
import { isClientId } from './identifiers.ts';
import type { Clock, RandomSource } from './ports.ts';
import { ALL_SCOPES, narrowScope } from './scopes.ts';
import type { Sealer } from './sealing.ts';
import { newClientId, newClientSecret, sha256 } from './tokens.ts';
import { checkNotificationUrl, STRICT_WEBHOOK_TARGETS, type WebhookTargetPolicy } from './webhook-targets.ts';
import { webhookSecretPurpose } from './webhooks.ts';

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

/** A new application as registered, with its two secrets: they are shown this once (docs/api.md §4.5). */
export interface CreatedApplication {
  clientId: string;
  clientSecret: string;
  name: string;
  ownerUserId: number;
  redirectUris: string[];
  scope: string;
  pkceRequired: boolean;
  notificationUrl: string | null;
  grantTypes: GrantType[];
  webhookSecret: string;
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
 * Applications (OAuth clients): registration, settings and secret rotation, shared by the admin
 * API and the CLI. Every input is validated here, so both front ends give the same messages.
 */
export class Applications {
  readonly #storage: StoragePort;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #lifetimes: Lifetimes;
  readonly #sealer: Sealer;
  readonly #secretsChanged: (clientId: string) => void;
  readonly #webhookTargets: WebhookTargetPolicy;

  constructor(deps: {
    storage: StoragePort;
    clock: Clock;
    random: RandomSource;
    lifetimes: Lifetimes;
    sealer: Sealer;
    /** Called after a client secret rotation committed, to drop cached authentication data. */
    onClientSecretsChanged?: (clientId: string) => void;
    /** Which notification URLs are accepted (https, public addresses, unless in development). */
    webhookTargets?: WebhookTargetPolicy;
  }) {
    this.#storage = deps.storage;
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#lifetimes = deps.lifetimes;
    this.#sealer = deps.sealer;
    this.#secretsChanged = deps.onClientSecretsChanged ?? (() => {});
    this.#webhookTargets = deps.webhookTargets ?? STRICT_WEBHOOK_TARGETS;
  }

  async create(input: CreateApplicationInput, audit?: AuditContext): Promise<CreatedApplication> {
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
    const pkceRequired = input.pkceRequired ?? false;
    await this.#storage.createApplication(
      {
        clientId,
        name,
        ownerUserId: input.ownerUserId,
        redirectUris,
        scope,
        pkceRequired,
        notificationUrl,
        grantTypes,
        webhookSecretSealed: this.#sealer.seal(webhookSecretPurpose(clientId), webhookSecret),
        ownerPublicKey: this.#random.uuid(),
        secretHash: sha256(clientSecret),
        createdAt: this.#clock.now(),
      },
      audit,
    );
    return {
      clientId,
      clientSecret,
      name,
      ownerUserId: input.ownerUserId,
      redirectUris,
      scope,
      pkceRequired,
      notificationUrl,
      grantTypes,
      webhookSecret,
    };
  }

  /** Changes an application's settings; today its allowed grant types (RFC 7591 §2). */
  async update(
    clientId: string,
    input: UpdateApplicationInput,
    audit?: AuditContext,
  ): Promise<ApplicationRecord> {
    const app = await this.require(clientId);
    if (input.grantTypes === undefined) {
      throw new InvalidRequestError(
        `nothing to change: send grant_types (one or more of ${GRANT_TYPES.join(', ')})`,
      );
    }
    const grantTypes = checkGrantTypes(input.grantTypes);
    const at = this.#clock.now();
    if (!(await this.#storage.updateApplicationGrantTypes(clientId, grantTypes, audit && { ...audit, at }))) {
      throw new NotFoundError(`application ${clientId} does not exist`);
    }
    // Cached authentication data holds the application record, grant types included.
    this.#secretsChanged(clientId);
    return { ...app, grantTypes };
  }

  /** Issues a new current secret; the old ones keep working for `overlapSeconds`. */
  async rotateClientSecret(
    clientId: string,
    overlapSeconds?: number,
    audit?: AuditContext,
  ): Promise<{ clientSecret: string }> {
    const overlap = overlapSeconds ?? this.#lifetimes.clientSecretOverlapSeconds;
    if (!Number.isSafeInteger(overlap) || overlap < 0) {
      throw new InvalidRequestError('overlap_seconds must be a whole number of seconds, 0 or more');
    }
    const secret = newClientSecret(this.#random);
    const now = this.#clock.now();
    if (
      !(await this.#storage.rotateClientSecret(clientId, sha256(secret), now + overlap * 1000, now, audit))
    ) {
      throw new NotFoundError(`application ${clientId} does not exist`);
    }
    this.#secretsChanged(clientId);
    return { clientSecret: secret };
  }

  /**
   * A new webhook secret for the application's `x-signature` (docs/api.md §4.6), effective for the
   * next delivery attempt; receivers must switch to it. Kept sealed, shown this once.
   */
  async rotateWebhookSecret(clientId: string, audit?: AuditContext): Promise<{ webhookSecret: string }> {
    const webhookSecret = this.#random.bytes(32).toString('hex');
    const sealed = this.#sealer.seal(webhookSecretPurpose(clientId), webhookSecret);
    const context = audit && { ...audit, at: this.#clock.now() };
    if (!isClientId(clientId) || !(await this.#storage.replaceWebhookSecret(clientId, sealed, context))) {
      throw new NotFoundError(`application ${clientId} does not exist`);
    }
    return { webhookSecret };
  }

  /** The applications a user owns, oldest first. */
  listOwnedBy(ownerUserId: number): Promise<ApplicationRecord[]> {
    return this.#storage.listApplicationsByOwner(ownerUserId);
  }

  async require(clientId: string): Promise<ApplicationRecord> {
    const app = isClientId(clientId) ? await this.#storage.findApplication(clientId) : null;
    if (!app) {
      // Never echo a malformed id: it may be any size (security review #7).
      throw new NotFoundError(
        isClientId(clientId) ? `application ${clientId} does not exist` : 'client_id must be 16 digits',
      );
    }
    return app;
  }
}
