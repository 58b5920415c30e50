import type { ApplicationRecord, ClientSecretRecord, StoragePort } from '../storage/contract.ts';
import {
  type ClientAuthScheme,
  InvalidClientError,
  InvalidRequestError,
  RateLimitedError,
} from './errors.ts';
import { forLog, isClientId } from './identifiers.ts';
import { type Params, stringParam } from './params.ts';
import type { Clock } from './ports.ts';
import { countAgainst, type LimiterKey, longestWait, type RateLimiter } from './rate-limit.ts';
import { looksLikeAccessToken, parseAccessToken, sameDigest, sha256 } from './tokens.ts';

const GENERIC = 'client authentication failed: check client_id and client_secret';

/** A request of a client to the revocation or the introspection endpoint. */
export interface ClientRequest {
  params: Params;
  authorization: string | undefined;
  remoteAddress: string;
  /** The HTTP request's id, for the audit trail of what the request changes. */
  requestId?: string;
}

/** Credentials as presented, before any lookup. */
interface PresentedCredentials {
  scheme: ClientAuthScheme;
  clientId: string | undefined;
  secret: string | undefined;
}

/**
 * RFC 6749 §2.3.1: HTTP Basic with the form-urlencoded client id and secret. A `Bearer` header is
 * ignored on purpose: the mercadopago Node SDK sends the integrator's own token there (docs/api.md §4.2).
 */
function parseBasic(authorization: string | undefined): { clientId: string; secret: string } | null {
  if (authorization === undefined) return null;
  const match = /^Basic[ ]+([A-Za-z0-9+/=._~-]+)\s*$/i.exec(authorization);
  if (!match?.[1]) {
    if (/^Basic\b/i.test(authorization)) {
      throw new InvalidClientError(
        'the Basic authorization header is malformed; send base64(client_id:client_secret)',
        'basic',
      );
    }
    return null;
  }
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) {
    throw new InvalidClientError(
      'the Basic authorization header must carry client_id:client_secret',
      'basic',
    );
  }
  try {
    return {
      clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
    };
  } catch {
    throw new InvalidClientError('the Basic credentials are not valid form-urlencoded text', 'basic');
  }
}

/** Which method the request uses; more than one is refused (RFC 6749 §2.3). */
export function presentedCredentials(
  params: Params,
  authorization: string | undefined,
): PresentedCredentials {
  const basic = parseBasic(authorization);
  const bodyId = stringParam(params, 'client_id');
  const bodySecret = stringParam(params, 'client_secret');
  if (basic) {
    if (bodySecret !== undefined) {
      throw new InvalidClientError(
        'use exactly one client authentication method: HTTP Basic or client_secret in the body, not both',
        'basic',
      );
    }
    if (bodyId !== undefined && bodyId !== basic.clientId) {
      throw new InvalidClientError('client_id in the body differs from the one in the Basic header', 'basic');
    }
    return { scheme: 'basic', clientId: basic.clientId, secret: basic.secret };
  }
  if (bodySecret !== undefined && looksLikeAccessToken(bodySecret)) {
    return { scheme: 'access_token', clientId: bodyId, secret: bodySecret };
  }
  return { scheme: bodySecret === undefined ? 'none' : 'body', clientId: bodyId, secret: bodySecret };
}

/** Parameters a request must carry for client authentication, given the method it chose. */
export function credentialParamNames(credentials: PresentedCredentials): string[] {
  if (credentials.scheme === 'basic') return [];
  if (credentials.scheme === 'access_token') return ['client_secret'];
  return ['client_id', 'client_secret'];
}

/** How long an application record read for authentication is reused. */
const APP_CACHE_MS = 5_000;
const APP_CACHE_MAX = 10_000;

/**
 * The per-address budget of failed client authentications, as a multiple of the per-(client,
 * address) one: one address (a NAT, a host running several integrations) may serve several
 * clients, each of which may fail on its own budget.
 */
export const ADDRESS_FAILURE_SCALE = 5;

/** A client whose credentials verified, and how. */
export interface AuthenticatedClient {
  app: ApplicationRecord;
  scheme: ClientAuthScheme;
  /**
   * The client secret that matched (basic and body), or the one that issued the client_credentials
   * token presented as the secret (form 3); null for a form-3 token issued before secrets were
   * recorded on tokens.
   */
  secretId: number | null;
}

/** A secret authenticates while it is current or inside its overlap after a rotation. */
const live = (secret: ClientSecretRecord, now: number) => secret.expiresAt === null || secret.expiresAt > now;

/** The limiter keys a failed authentication counts against, and the budget scale of each. */
function failureKeys(limiter: RateLimiter, credentials: PresentedCredentials, remoteAddress: string) {
  const keys: LimiterKey[] = [{ limiter, key: `addr:${remoteAddress}`, scale: ADDRESS_FAILURE_SCALE }];
  // Only a well-formed client id becomes (part of) a key: a 15 000-character one must not sit in
  // the limiter's memory or Redis (security review #7).
  if (isClientId(credentials.clientId)) {
    keys.push({ limiter, key: `client:${credentials.clientId}@${remoteAddress}` });
  }
  return keys;
}

export class ClientAuthenticator {
  readonly #storage: StoragePort;
  readonly #clock: Clock;
  readonly #limiter: RateLimiter;
  /**
   * Application records (and their secret hashes) read in the last few seconds. Reading them was the
   * single largest cost of a refresh. The cache only ever makes a secret *succeed* faster: a secret
   * that does not match the cached record is checked again against a fresh read, so a new secret
   * works at once everywhere; expiry of rotated-out secrets is checked against the clock on every
   * request. A rotation drops the entry (`forget`): on this process directly, on the others through
   * the storage's watch (PostgreSQL LISTEN/NOTIFY), so a secret rotated out with no overlap stops
   * working everywhere at once. Without a watch (SQLite files shared by several processes) it keeps
   * working elsewhere for at most APP_CACHE_MS.
   */
  readonly #apps = new Map<string, { app: ApplicationRecord; readAt: number }>();
  /**
   * Counts `forget` calls: a record read before a forget is not cached after it, or a read that
   * raced a rotation would put the old secrets back.
   */
  #forgets = 0;

  constructor(storage: StoragePort, clock: Clock, limiter: RateLimiter) {
    this.#storage = storage;
    this.#clock = clock;
    this.#limiter = limiter;
  }

  /** Drops what is cached about an application, after its secrets or settings changed. */
  forget(clientId: string): void {
    this.#forgets += 1;
    this.#apps.delete(clientId);
  }

  /** Drops every cached application: changes may have been missed. */
  forgetAll(): void {
    this.#forgets += 1;
    this.#apps.clear();
  }

  /** Authenticates the client of a revocation or introspection request (see `authenticateClient`). */
  async authenticate(credentials: PresentedCredentials, remoteAddress: string): Promise<ApplicationRecord> {
    return (await this.authenticateClient(credentials, remoteAddress)).app;
  }

  /**
   * Authenticates the client of a token, revocation or introspection request. Failed attempts are
   * counted per (client, address) and per address, never per client alone: `client_id` is public,
   * so a per-client counter would let anyone lock a client out of its own token endpoint (security
   * review #2). Past a limit the caller gets 429 before any lookup; since every key holds the
   * caller's address, a failing source only ever throttles itself, and credentials presented from
   * any other address are checked as usual.
   */
  async authenticateClient(
    credentials: PresentedCredentials,
    remoteAddress: string,
  ): Promise<AuthenticatedClient> {
    const now = this.#clock.now();
    const keys = failureKeys(this.#limiter, credentials, remoteAddress);
    const wait = await longestWait(keys, now);
    if (wait > 0) {
      throw new RateLimitedError(
        `too many failed client authentications from this address; retry in ${wait} s`,
        wait,
        { limiter: 'client_auth' },
      );
    }
    try {
      return await this.#verify(credentials, now);
    } catch (error) {
      if (error instanceof InvalidClientError) {
        await countAgainst(keys, now);
      }
      throw error;
    }
  }

  async #verify(credentials: PresentedCredentials, now: number): Promise<AuthenticatedClient> {
    const { scheme, secret } = credentials;
    if (secret === undefined) {
      throw new InvalidRequestError('client authentication is required: send client_id and client_secret');
    }
    if (scheme === 'access_token') return this.#verifyOwnAccessToken(credentials.clientId, secret, now);
    const clientId = credentials.clientId;
    if (clientId === undefined) {
      throw new InvalidRequestError('client_id is required with client_secret');
    }
    if (!isClientId(clientId)) {
      throw new InvalidClientError(GENERIC, scheme, {
        detail: `malformed client_id ${forLog(clientId, 32)}`,
      });
    }
    // Client secrets are server-generated with ~190 bits, so one SHA-256 compared in constant time is
    // as strong as bcrypt and costs microseconds (docs/design.md; Hydra spent ~90 % of its time in bcrypt).
    const presented = sha256(secret);
    const matching = (app: ApplicationRecord) =>
      app.secrets.find((s) => live(s, now) && sameDigest(s.hash, presented));
    const cached = this.#apps.get(clientId);
    if (cached && now - cached.readAt < APP_CACHE_MS) {
      const hit = matching(cached.app);
      if (hit) return { app: cached.app, scheme, secretId: hit.id };
    }
    const forgetsBefore = this.#forgets;
    const app = await this.#storage.findApplication(clientId);
    if (!app) throw new InvalidClientError(GENERIC, scheme, { detail: `unknown client_id ${clientId}` });
    const hit = matching(app);
    if (!hit) throw new InvalidClientError(GENERIC, scheme, { detail: `wrong secret for ${clientId}` });
    if (this.#forgets !== forgetsBefore) return { app, scheme, secretId: hit.id };
    if (this.#apps.size >= APP_CACHE_MAX) this.#apps.clear();
    this.#apps.set(clientId, { app, readAt: now });
    return { app, scheme, secretId: hit.id };
  }

  /**
   * docs/api.md §4.2 form 3: `client_secret` is an unexpired access token that the application obtained
   * for itself with client_credentials (the mercadopago Java SDK sends this and no client_id).
   *
   * Such a token is a bearer token sent to every API, far more exposed than the secret, so it
   * authenticates only while the client secret that issued it still does: once that secret's
   * overlap after a rotation ends, its tokens stop working as secrets too (security review #3).
   * That it cannot mint client_credentials tokens is the token endpoint's rule.
   */
  async #verifyOwnAccessToken(
    clientId: string | undefined,
    token: string,
    now: number,
  ): Promise<AuthenticatedClient> {
    const parsed = parseAccessToken(token);
    const record = parsed ? await this.#storage.findAccessToken(parsed.id) : null;
    if (
      !parsed ||
      !record ||
      !sameDigest(record.hash, sha256(parsed.secret)) ||
      record.kind !== 'client_credentials' ||
      record.revoked ||
      record.expiresAt <= now
    ) {
      throw new InvalidClientError(
        'client_secret is not a valid client_credentials access token of this application; send client_id and client_secret instead',
        'access_token',
      );
    }
    if (clientId !== undefined && clientId !== record.clientId) {
      throw new InvalidClientError(
        'client_id does not match the application of the access token',
        'access_token',
      );
    }
    const app = await this.#storage.findApplication(record.clientId);
    if (!app)
      throw new InvalidClientError(GENERIC, 'access_token', { detail: 'application of token is gone' });
    // Tokens issued before the issuing secret was recorded (migration 4) fall back to time: some
    // still-live secret must have existed when the token was issued.
    const issuing =
      record.issuingSecretId === null
        ? app.secrets.find((s) => live(s, now) && s.createdAt <= record.issuedAt)
        : app.secrets.find((s) => s.id === record.issuingSecretId && live(s, now));
    if (!issuing) {
      throw new InvalidClientError(
        'client_secret is an access token issued under a client secret that has been rotated out; send client_id and the current client_secret instead',
        'access_token',
        { detail: `form-3 token of ${record.clientId} outlived its issuing secret` },
      );
    }
    return { app, scheme: 'access_token', secretId: issuing.id };
  }
}
