import type {
  ApplicationGrantRecord,
  ApplicationPatch,
  ApplicationRecord,
  AuditContext,
  GrantType,
  StoragePort,
} from '../storage/contract.ts';
import type { Lifetimes } from './config.ts';
import {
  InvalidApplicationFieldsError,
  InvalidRequestError,
  NotFoundError,
  OAuthError,
  UnauthorizedClientError,
} from './errors.ts';
import { GRANT_TYPES } from './grants/index.ts';
import { isClientId } from './identifiers.ts';
import type { Clock, RandomSource } from './ports.ts';
import { ALL_SCOPES, narrowScope } from './scopes.ts';
import type { Sealer } from './sealing.ts';
import { publicKey } from './token-response.ts';
import { newClientId, newClientSecret, sha256 } from './tokens.ts';
import { checkNotificationUrl, STRICT_WEBHOOK_TARGETS, type WebhookTargetPolicy } from './webhook-targets.ts';
import { webhookSecretPurpose } from './webhooks.ts';

export interface CreateApplicationInput {
  name: string;
  /** Shown to sellers and in the developer portal; at most 1000 characters. */
  description?: string | undefined;
  /** An https URL of a logo; '' or null: none. */
  logoUrl?: string | null | undefined;
  ownerUserId: number;
  redirectUris: string[];
  scope?: string | undefined;
  pkceRequired?: boolean | undefined;
  notificationUrl?: string | null | undefined;
  /** RFC 7591 §2 `grant_types`; omitted: all three (Mercado Pago's behaviour). */
  grantTypes?: readonly string[] | undefined;
}

/**
 * What may change on an existing application (`PATCH /admin/applications/:client_id`, the
 * developer portal): any subset; an omitted field keeps its value. `logoUrl` and `notificationUrl`
 * are cleared with null (or '').
 */
export interface UpdateApplicationInput {
  name?: string | undefined;
  description?: string | undefined;
  logoUrl?: string | null | undefined;
  redirectUris?: readonly string[] | undefined;
  scope?: string | undefined;
  pkceRequired?: boolean | undefined;
  grantTypes?: readonly string[] | undefined;
  notificationUrl?: string | null | undefined;
}

/** The wire name of each field, as `InvalidApplicationFieldsError.fields` keys them. */
export const APPLICATION_FIELDS = {
  name: 'name',
  description: 'description',
  logoUrl: 'logo_url',
  redirectUris: 'redirect_uris',
  scope: 'scopes',
  pkceRequired: 'pkce_required',
  grantTypes: 'grant_types',
  notificationUrl: 'notification_url',
  ownerUserId: 'owner_user_id',
} as const;

/** Longest description; the developer portal shows it in a paragraph, not a document. */
export const DESCRIPTION_MAX = 1000;
/** Longest URL accepted for a logo or a redirect URI (browsers and proxies cut longer ones). */
export const URL_MAX = 2048;
/** Most redirect URIs per application. */
export const REDIRECT_URIS_MAX = 20;

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: a description may hold line breaks and tabs, nothing else
const CONTROL_EXCEPT_LINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function checkName(raw: string): string {
  const name = raw.trim();
  if (name.length === 0 || name.length > 100)
    throw new InvalidRequestError('name must be 1 to 100 characters');
  if (CONTROL.test(name)) throw new InvalidRequestError('name must not contain control characters');
  return name;
}

function checkDescription(raw: string): string {
  const description = raw.trim();
  if (description.length > DESCRIPTION_MAX) {
    throw new InvalidRequestError(
      `description must be at most ${DESCRIPTION_MAX} characters (it has ${description.length})`,
    );
  }
  if (CONTROL_EXCEPT_LINES.test(description)) {
    throw new InvalidRequestError('description must not contain control characters (line breaks are fine)');
  }
  return description;
}

/** A logo is fetched by sellers' browsers: https only, absolute, no credentials in it. */
function checkLogoUrl(raw: string | null): string | null {
  if (raw === null || raw.trim() === '') return null;
  const uri = raw.trim();
  if (uri.length > URL_MAX) throw new InvalidRequestError(`logo_url must be at most ${URL_MAX} characters`);
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new InvalidRequestError('logo_url is not an absolute URL; use https://…');
  }
  if (url.protocol !== 'https:') throw new InvalidRequestError('logo_url must use https');
  if (url.username !== '' || url.password !== '')
    throw new InvalidRequestError('logo_url must not contain a user name or password');
  return url.toString();
}

function checkRedirectUris(uris: readonly string[]): string[] {
  if (uris.length === 0) throw new InvalidRequestError('at least one redirect URI is required');
  if (uris.length > REDIRECT_URIS_MAX)
    throw new InvalidRequestError(`at most ${REDIRECT_URIS_MAX} redirect URIs are allowed`);
  for (const uri of uris) {
    if (uri.length > URL_MAX)
      throw new InvalidRequestError(`a redirect URI must be at most ${URL_MAX} characters`);
  }
  return [...new Set(uris.map((u) => checkRedirectUri(u)))];
}

/**
 * Runs each field's check and collects every failure under the field's wire name, so that one
 * answer lists everything to fix; throws InvalidApplicationFieldsError when any failed.
 */
class FieldChecks {
  readonly errors: Record<string, string> = {};
  check<T>(field: string, run: () => T): T | undefined {
    try {
      return run();
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      this.errors[field] = error.description;
      return undefined;
    }
  }
  throwIfAny(): void {
    if (Object.keys(this.errors).length > 0) throw new InvalidApplicationFieldsError(this.errors);
  }
}

/** An application's seller as its owner sees it (`Applications.sellers`). */
export interface SellersPage {
  items: ApplicationGrantRecord[];
  /** The matching sellers (real and test, as `testUsers` selects). */
  total: number;
  /** Matching sellers split: real sellers and test users are never counted together. */
  totals: { real: number; test: number };
  limit: number;
  /** Opaque; pass as `cursor` for the next page. null on the last page. */
  nextCursor: string | null;
}

/** Default and largest page of `Applications.sellers`. */
export const SELLERS_PAGE = { default: 50, max: 100 } as const;

/** A client secret that still authenticates: never its hash, never the secret. */
export interface ValidSecret {
  id: number;
  createdAt: number;
  /** null: the current secret; otherwise when its overlap after a rotation ends. */
  expiresAt: number | null;
}

/** A new application as registered, with its two secrets: they are shown this once (docs/api.md §4.5). */
export interface CreatedApplication {
  clientId: string;
  clientSecret: string;
  name: string;
  description: string;
  logoUrl: string | null;
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
    const f = APPLICATION_FIELDS;
    const checks = new FieldChecks();
    const name = checks.check(f.name, () => checkName(input.name)) ?? '';
    const description = checks.check(f.description, () => checkDescription(input.description ?? '')) ?? '';
    const logoUrl = checks.check(f.logoUrl, () => checkLogoUrl(input.logoUrl ?? null)) ?? null;
    const redirectUris = checks.check(f.redirectUris, () => checkRedirectUris(input.redirectUris)) ?? [];
    const scope =
      checks.check(f.scope, () =>
        input.scope === undefined
          ? ALL_SCOPES.join(' ')
          : narrowScope(input.scope, ALL_SCOPES.join(' '), 'the known scopes'),
      ) ?? '';
    const notificationUrl =
      checks.check(f.notificationUrl, () =>
        input.notificationUrl ? checkNotificationUrl(input.notificationUrl, this.#webhookTargets) : null,
      ) ?? null;
    const grantTypes =
      checks.check(f.grantTypes, () =>
        input.grantTypes === undefined ? [...GRANT_TYPES] : checkGrantTypes(input.grantTypes),
      ) ?? [];
    checks.throwIfAny();
    if (!(await this.#storage.findUserById(input.ownerUserId))) {
      throw new InvalidApplicationFieldsError({
        [f.ownerUserId]: `owner user ${input.ownerUserId} does not exist; create the user first`,
      });
    }
    const clientSecret = newClientSecret(this.#random);
    const webhookSecret = this.#random.bytes(32).toString('hex');
    const clientId = newClientId(this.#random);
    // The checked settings: what is stored is exactly what the caller is told was registered.
    const settings = {
      name,
      description,
      logoUrl,
      ownerUserId: input.ownerUserId,
      redirectUris,
      scope,
      pkceRequired: input.pkceRequired ?? false,
      notificationUrl,
      grantTypes,
    };
    await this.#storage.createApplication(
      {
        clientId,
        ...settings,
        webhookSecretSealed: this.#sealer.seal(webhookSecretPurpose(clientId), webhookSecret),
        ownerPublicKey: this.#random.uuid(),
        secretHash: sha256(clientSecret),
        createdAt: this.#clock.now(),
      },
      audit,
    );
    return { clientId, clientSecret, ...settings, webhookSecret };
  }

  /**
   * Changes any subset of an application's settings in one write; every field is checked first
   * and all failures are reported together (InvalidApplicationFieldsError). A narrower scope or
   * new redirect URIs apply to new authorization requests; grants already given keep their scope.
   */
  async update(
    clientId: string,
    input: UpdateApplicationInput,
    audit?: AuditContext,
  ): Promise<ApplicationRecord> {
    await this.require(clientId);
    const f = APPLICATION_FIELDS;
    const checks = new FieldChecks();
    const patch: ApplicationPatch = {};
    const given = <T>(value: T | undefined, field: string, run: (v: T) => void) => {
      if (value !== undefined) checks.check(field, () => run(value));
    };
    given(input.name, f.name, (v) => {
      patch.name = checkName(v);
    });
    given(input.description, f.description, (v) => {
      patch.description = checkDescription(v);
    });
    given(input.logoUrl, f.logoUrl, (v) => {
      patch.logoUrl = checkLogoUrl(v);
    });
    given(input.redirectUris, f.redirectUris, (v) => {
      patch.redirectUris = checkRedirectUris(v);
    });
    given(input.scope, f.scope, (v) => {
      patch.scope = narrowScope(v, ALL_SCOPES.join(' '), 'the known scopes');
    });
    given(input.pkceRequired, f.pkceRequired, (v) => {
      patch.pkceRequired = v;
    });
    given(input.grantTypes, f.grantTypes, (v) => {
      patch.grantTypes = checkGrantTypes(v);
    });
    given(input.notificationUrl, f.notificationUrl, (v) => {
      patch.notificationUrl = v ? checkNotificationUrl(v, this.#webhookTargets) : null;
    });
    checks.throwIfAny();
    if (Object.keys(patch).length === 0) {
      throw new InvalidRequestError(
        `nothing to change: send one or more of ${Object.values(f)
          .filter((name) => name !== f.ownerUserId)
          .join(', ')}`,
      );
    }
    const updated = await this.#storage.updateApplication(
      clientId,
      patch,
      audit && { ...audit, at: this.#clock.now() },
    );
    if (!updated) throw new NotFoundError(`application ${clientId} does not exist`);
    // Cached authentication data holds the application record (grant types, redirect URIs).
    this.#secretsChanged(clientId);
    return updated;
  }

  /**
   * Deletes the application: every grant, token, code and client secret of it is revoked in one
   * step, and its client_id is never issued again (docs/api.md §4.5).
   */
  async delete(clientId: string, audit?: AuditContext): Promise<void> {
    await this.require(clientId);
    if (!(await this.#storage.deleteApplication(clientId, this.#clock.now(), audit))) {
      throw new NotFoundError(`application ${clientId} does not exist`);
    }
    this.#secretsChanged(clientId);
  }

  /**
   * The sellers who authorized the application (active grants), newest first, a page at a time.
   * `search`: an exact user id or a case-insensitive nickname prefix. `testUsers`: true for test
   * users only, false for real sellers only.
   */
  async sellers(
    clientId: string,
    options: {
      limit?: number | undefined;
      cursor?: string | undefined;
      search?: string | undefined;
      testUsers?: boolean | undefined;
    } = {},
  ): Promise<SellersPage> {
    await this.require(clientId);
    const limit = options.limit ?? SELLERS_PAGE.default;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > SELLERS_PAGE.max) {
      throw new InvalidRequestError(`limit must be a whole number from 1 to ${SELLERS_PAGE.max}`);
    }
    let cursor: number | undefined;
    if (options.cursor !== undefined && options.cursor !== '') {
      // The cursor is the last grant id of the previous page, in decimal; anything else was not
      // issued by this server.
      if (!/^[1-9][0-9]{0,15}$/.test(options.cursor) || !Number.isSafeInteger(Number(options.cursor))) {
        throw new InvalidRequestError('cursor is not one this server issued; start again without it');
      }
      cursor = Number(options.cursor);
    }
    const search = options.search?.trim();
    if (search !== undefined && (search.length > 100 || CONTROL.test(search))) {
      throw new InvalidRequestError(
        'search must be a user id or a nickname prefix of at most 100 characters',
      );
    }
    const page = await this.#storage.listGrantsOfApplication({
      clientId,
      limit,
      cursor,
      search: search === '' ? undefined : search,
      testUsers: options.testUsers,
    });
    const { real, test } = page.totals;
    return {
      items: page.items,
      total: options.testUsers === undefined ? real + test : options.testUsers ? test : real,
      totals: page.totals,
      limit,
      nextCursor: page.nextCursor === null ? null : String(page.nextCursor),
    };
  }

  /** The client secrets that still authenticate now, oldest first: ids and dates only. */
  async secrets(clientId: string): Promise<ValidSecret[]> {
    const app = await this.require(clientId);
    const now = this.#clock.now();
    return app.secrets
      .filter((secret) => secret.expiresAt === null || secret.expiresAt > now)
      .map((secret) => ({ id: secret.id, createdAt: secret.createdAt, expiresAt: secret.expiresAt }));
  }

  /**
   * The application's public credentials, production and test apart (Mercado Pago's "production
   * credentials" and "test credentials"): the client_id is the same; a test token
   * (`test_token=true` on the authorization_code or client_credentials grant) is `TEST-…` with
   * `live_mode: false`, and its public key is the TEST- form of the same uuid.
   */
  async credentials(clientId: string): Promise<{
    clientId: string;
    production: { publicKey: string; accessTokenPrefix: 'APP_USR-' };
    test: { publicKey: string; accessTokenPrefix: 'TEST-' };
  }> {
    const app = await this.require(clientId);
    return {
      clientId,
      production: { publicKey: publicKey(app.ownerPublicKey, true), accessTokenPrefix: 'APP_USR-' },
      test: { publicKey: publicKey(app.ownerPublicKey, false), accessTokenPrefix: 'TEST-' },
    };
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
