import { createHash } from 'node:crypto';
import type { ApplicationRecord, GrantType, IssuedPair, StoragePort } from '../storage/contract.ts';
import {
  type AuthenticatedClient,
  ClientAuthenticator,
  credentialParamNames,
  presentedCredentials,
} from './client-auth.ts';
import type { Lifetimes } from './config.ts';
import {
  InvalidGrantError,
  InvalidRequestError,
  InvalidScopeError,
  UnauthorizedClientError,
  UnsupportedGrantTypeError,
} from './errors.ts';
import { booleanParam, type Params, requireParams, stringParam } from './params.ts';
import type { Clock, RandomSource } from './ports.ts';
import type { RateLimiter } from './rate-limit.ts';
import { ALL_SCOPES, formatScope, narrowScope, scopeSet } from './scopes.ts';
import {
  formatAccessToken,
  formatGrantToken,
  newValidator,
  openReplay,
  parseGrantToken,
  sameDigest,
  sealReplay,
  sha256,
} from './tokens.ts';

/** The success body of CONTRACT §4.2, fields in the documented order. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  user_id: number;
  refresh_token?: string;
  public_key: string;
  live_mode: boolean;
}

export interface TokenRequest {
  params: Params;
  /** The raw `Authorization` header, if any. */
  authorization: string | undefined;
  remoteAddress: string;
  /**
   * Called once the client has authenticated, before the grant runs: the HTTP layer counts the
   * request against that (verified) client's request budget there.
   */
  onAuthenticated?: (clientId: string) => Promise<void>;
}

/** What a grant handler returns; `outcome` feeds metrics and logs. */
export interface GrantResult {
  response: TokenResponse;
  outcome: 'issued' | 'rotated' | 'replayed';
}

interface GrantContext {
  params: Params;
  app: ApplicationRecord;
  client: AuthenticatedClient;
}

interface GrantHandler {
  /** Parameters the grant needs besides grant_type and client authentication. */
  required: readonly string[];
  handle(context: GrantContext): Promise<GrantResult>;
}

export interface TokenEndpointDeps {
  storage: StoragePort;
  clock: Clock;
  random: RandomSource;
  lifetimes: Lifetimes;
  rateLimiter: RateLimiter;
}

const GRANT_FAILED =
  'Error validating grant. Your authorization code or refresh token may be expired or it was already used.';
const PKCE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
const KNOWN_SCOPES = ALL_SCOPES.join(' ');

/** Private log details of the refresh preconditions answered with the generic GRANT_FAILED. */
const INVALID_REFRESH_DETAIL = {
  unknown: 'unknown refresh token',
  other_client: 'refresh token issued to another application',
  expired: 'refresh token expired',
} as const;

/** `{uuid}` as `APP_USR-{uuid}` or `TEST-{uuid}` (CONTRACT §2). */
function publicKey(uuid: string, liveMode: boolean): string {
  return `${liveMode ? 'APP_USR' : 'TEST'}-${uuid}`;
}

/**
 * `POST /oauth/token` (RFC 6749 §4.1.3, §4.4, §6; RFC 7636; CONTRACT §4.2). Reads as the steps a
 * request goes through: which grant, which parameters, which client, then the grant's own handler.
 */
export class TokenEndpoint {
  readonly #deps: TokenEndpointDeps;
  readonly #clients: ClientAuthenticator;
  readonly #grants: ReadonlyMap<string, GrantHandler>;

  constructor(deps: TokenEndpointDeps, clients?: ClientAuthenticator) {
    this.#deps = deps;
    this.#clients = clients ?? new ClientAuthenticator(deps.storage, deps.clock, deps.rateLimiter);
    this.#grants = new Map<string, GrantHandler>([
      [
        'authorization_code',
        { required: ['code', 'redirect_uri'], handle: (c) => this.#authorizationCode(c) },
      ],
      ['refresh_token', { required: ['refresh_token'], handle: (c) => this.#refreshToken(c) }],
      ['client_credentials', { required: [], handle: (c) => this.#clientCredentials(c) }],
    ]);
  }

  async handle(request: TokenRequest): Promise<GrantResult> {
    const { params } = request;
    const grantType = stringParam(params, 'grant_type');
    const credentials = presentedCredentials(params, request.authorization);
    // Without grant_type this throws, listing it and any missing credential parameters together.
    if (grantType === undefined) requireParams(params, ['grant_type', ...credentialParamNames(credentials)]);
    const grant = grantType === undefined ? undefined : this.#grants.get(grantType);
    if (grant === undefined) throw unsupportedGrantType(grantType ?? '');
    requireParams(params, ['grant_type', ...credentialParamNames(credentials), ...grant.required]);
    const client = await this.#clients.authenticateClient(credentials, request.remoteAddress);
    await request.onAuthenticated?.(client.app.clientId);
    const { app } = client;
    // RFC 6749 §5.2 unauthorized_client: "The authenticated client is not authorized to use this
    // authorization grant type"; which ones it may use is registered per application (RFC 7591 §2).
    if (!app.grantTypes.includes(grantType as GrantType)) {
      throw new UnauthorizedClientError(
        `this application is not allowed the ${grantType} grant (its grant_types: ${app.grantTypes.join(', ')}); an operator can change them with PATCH /admin/applications/${app.clientId}`,
      );
    }
    return grant.handle({ params, app, client });
  }

  /** RFC 6749 §4.1.3 with RFC 7636 §4.5-4.6; single use per RFC 6749 §4.1.2. */
  async #authorizationCode({ params, app }: GrantContext): Promise<GrantResult> {
    const { storage, clock, random, lifetimes } = this.#deps;
    const now = clock.now();
    const codeParam = stringParam(params, 'code') as string;
    const redirectUri = stringParam(params, 'redirect_uri') as string;
    const verifier = stringParam(params, 'code_verifier');
    const liveMode = !booleanParam(params, 'test_token');

    const parsed = parseGrantToken('code', codeParam);
    const code = parsed ? await storage.findAuthorizationCode(parsed.id) : null;
    if (!parsed || !code || !sameDigest(code.hash, sha256(parsed.secret))) {
      throw new InvalidGrantError(GRANT_FAILED, { detail: 'unknown authorization code' });
    }
    if (code.clientId !== app.clientId) {
      throw new InvalidGrantError(GRANT_FAILED, { detail: 'code issued to another application' });
    }
    if (code.expiresAt <= now) throw new InvalidGrantError(GRANT_FAILED, { detail: 'code expired' });
    // RFC 6749 §4.1.3: "ensure that the redirect_uri parameter is present if [it] was included in the
    // initial authorization request ... and if included ensure that their values are identical."
    if (redirectUri !== code.redirectUri) {
      throw new InvalidGrantError(
        'redirect_uri does not match the one of the authorization request; send exactly the same URI',
      );
    }
    this.#checkPkce(code.codeChallenge, code.codeChallengeMethod, verifier);

    const access = newValidator(random);
    const refresh = newValidator(random);
    const result = await storage.exchangeAuthorizationCode({
      codeId: code.id,
      now,
      liveMode,
      access: {
        hash: access.hash,
        scope: code.scope,
        issuedAt: now,
        expiresAt: now + lifetimes.accessTokenSeconds * 1000,
      },
      refresh: { hash: refresh.hash, issuedAt: now, expiresAt: now + lifetimes.refreshTokenSeconds * 1000 },
    });
    if (result.outcome === 'code_reused') {
      throw new InvalidGrantError(
        'this authorization code was already used; every token issued from it has been revoked. Start a new authorization',
        { detail: 'authorization code reuse' },
      );
    }
    if (result.outcome === 'grant_revoked') {
      throw new InvalidGrantError(GRANT_FAILED, { detail: 'grant revoked before exchange' });
    }
    const response = this.#pairResponse({
      clientId: app.clientId,
      userId: code.userId,
      liveMode,
      publicKeyUuid: result.publicKey,
      accessSecret: access.secret,
      refreshSecret: refresh.secret,
      pair: {
        accessTokenId: result.accessTokenId,
        refreshTokenId: result.refreshTokenId,
        access: { scope: code.scope, issuedAt: now, expiresAt: now + lifetimes.accessTokenSeconds * 1000 },
      },
    });
    return { response, outcome: 'issued' };
  }

  /** RFC 7636 §4.6, and RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt. */
  #checkPkce(challenge: string | null, method: 'S256' | 'plain' | null, verifier: string | undefined): void {
    if (challenge === null) {
      if (verifier !== undefined) {
        throw new InvalidGrantError(
          'code_verifier was sent but the authorization request carried no code_challenge; omit code_verifier or restart with PKCE',
        );
      }
      return;
    }
    if (verifier === undefined) {
      throw new InvalidGrantError(
        'code_verifier is required: the authorization request carried a code_challenge',
      );
    }
    if (!PKCE_VERIFIER.test(verifier)) {
      throw new InvalidRequestError(
        'code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1)',
      );
    }
    const computed = method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
    const a = Buffer.from(computed);
    const b = Buffer.from(challenge);
    if (a.length !== b.length || !sameDigest(a, b)) {
      throw new InvalidGrantError(
        'code_verifier does not match the code_challenge of the authorization request',
      );
    }
  }

  /**
   * RFC 6749 §6 with rotation, the replay window and reuse detection (RFC 9700 §4.14.2), in ONE
   * storage call: the checks on the presented token are preconditions of `rotateRefreshToken`,
   * taken inside its atomic step before any state change (storage/contract.ts RotateRefreshToken).
   */
  async #refreshToken({ params, app }: GrantContext): Promise<GrantResult> {
    const { storage, clock, random, lifetimes } = this.#deps;
    const now = clock.now();
    const presented = stringParam(params, 'refresh_token') as string;
    const requestedScope = stringParam(params, 'scope');

    const parsed = parseGrantToken('refresh', presented);
    if (!parsed) throw new InvalidGrantError(GRANT_FAILED, { detail: 'unknown refresh token' });
    // RFC 6749 §3.3: space-delimited scope names; only known ones, in canonical form. Whether they
    // are "originally granted by the resource owner" (§6) is a precondition of the storage step,
    // as set inclusion in the grant's scope.
    const canonicalScope =
      requestedScope === undefined
        ? null
        : narrowScope(requestedScope, KNOWN_SCOPES, 'the scopes Renova knows');

    const access = newValidator(random);
    const refresh = newValidator(random);
    const result = await storage.rotateRefreshToken({
      refreshTokenId: parsed.id,
      // The secret is checked before anything can change state: knowing a row id is not enough to
      // trigger reuse detection against somebody else's family.
      presentedHash: sha256(parsed.secret),
      // RFC 6749 §6: "ensure that the refresh token was issued to the authenticated client".
      clientId: app.clientId,
      // RFC 6749 §6: the new access token may narrow the scope; the new refresh token keeps the
      // grant's scope.
      requestedScope: canonicalScope,
      now,
      graceMs: lifetimes.refreshGraceSeconds * 1000,
      access: { hash: access.hash, issuedAt: now, expiresAt: now + lifetimes.accessTokenSeconds * 1000 },
      refresh: { hash: refresh.hash, issuedAt: now, expiresAt: now + lifetimes.refreshTokenSeconds * 1000 },
      replaySeal: sealReplay(parsed.secret, parsed.id, {
        accessSecret: access.secret,
        refreshSecret: refresh.secret,
      }),
    });
    switch (result.outcome) {
      case 'rotated':
        return {
          outcome: 'rotated',
          response: this.#pairResponse({
            clientId: app.clientId,
            userId: result.userId,
            liveMode: result.liveMode,
            publicKeyUuid: result.publicKey,
            accessSecret: access.secret,
            refreshSecret: refresh.secret,
            pair: result,
          }),
        };
      case 'replayed': {
        const first = openReplay(parsed.secret, parsed.id, result.replaySeal);
        if (!first) throw new InvalidGrantError(GRANT_FAILED, { detail: 'replay seal did not open' });
        return {
          outcome: 'replayed',
          response: this.#pairResponse({
            clientId: app.clientId,
            userId: result.userId,
            liveMode: result.liveMode,
            publicKeyUuid: result.publicKey,
            accessSecret: first.accessSecret,
            refreshSecret: first.refreshSecret,
            pair: result,
          }),
        };
      }
      case 'reused':
        throw new InvalidGrantError(
          'this refresh token was already used; every token of this authorization has been revoked for safety. The seller must authorize again',
          { detail: `refresh token reuse, family ${result.familyId} revoked` },
        );
      case 'invalid':
        throw new InvalidGrantError(GRANT_FAILED, { detail: INVALID_REFRESH_DETAIL[result.reason] });
      case 'revoked':
        throw new InvalidGrantError(GRANT_FAILED, { detail: 'refresh token revoked' });
      case 'not_refreshable':
        throw new UnauthorizedClientError(
          'this authorization does not include offline_access, so it cannot be refreshed; ask the seller to authorize again with offline_access',
        );
      case 'scope_not_granted':
        // The same message as a check against the grant's scope: narrowScope throws it here.
        narrowScope(requestedScope as string, result.grantScope, 'the scope the seller granted');
        throw new InvalidScopeError(`scope is outside the scope the seller granted ("${result.grantScope}")`);
    }
  }

  /** RFC 6749 §4.4: the application's own token; its user is the application's owner. */
  async #clientCredentials({ params, app, client }: GrantContext): Promise<GrantResult> {
    // CONTRACT §4.2 form 3 (an access token as client_secret) exists for the mercadopago Java SDK's
    // code and refresh calls. Letting it mint client_credentials tokens made one leaked bearer
    // token a credential forever: each token minted the next, past any secret rotation (security
    // review #3). RFC 6749 §4.4.2: the client_credentials grant needs real client authentication.
    if (client.scheme === 'access_token') {
      throw new UnauthorizedClientError(
        'an access token cannot be used as client_secret to obtain a client_credentials token; authenticate with client_id and the client secret',
      );
    }
    const { storage, clock, random, lifetimes } = this.#deps;
    const now = clock.now();
    const liveMode = !booleanParam(params, 'test_token');
    const requestedScope = stringParam(params, 'scope');
    // No refresh token comes with this grant (RFC 6749 §4.4.3), so offline_access means nothing here.
    const ceiling = formatScope([...scopeSet(app.scope)].filter((s) => s !== 'offline_access'));
    const scope =
      requestedScope === undefined
        ? ceiling
        : narrowScope(requestedScope, ceiling, "the application's scopes");
    const access = newValidator(random);
    const expiresAt = now + lifetimes.clientCredentialsTokenSeconds * 1000;
    const { accessTokenId } = await storage.issueClientCredentialsToken({
      hash: access.hash,
      scope,
      issuedAt: now,
      expiresAt,
      clientId: app.clientId,
      userId: app.ownerUserId,
      liveMode,
      // The secret that authenticated this request: as a form-3 secret the token lives no longer
      // than that secret does (core/client-auth.ts).
      issuingSecretId: client.secretId,
    });
    return {
      outcome: 'issued',
      response: {
        access_token: formatAccessToken({
          liveMode,
          clientId: app.clientId,
          issuedAt: now,
          id: accessTokenId,
          secret: access.secret,
          userId: app.ownerUserId,
        }),
        token_type: 'Bearer',
        expires_in: lifetimes.clientCredentialsTokenSeconds,
        scope,
        user_id: app.ownerUserId,
        public_key: publicKey(app.ownerPublicKey, liveMode),
        live_mode: liveMode,
      },
    };
  }

  #pairResponse(args: {
    clientId: string;
    userId: number;
    liveMode: boolean;
    publicKeyUuid: string;
    accessSecret: Buffer;
    refreshSecret: Buffer;
    pair: IssuedPair;
  }): TokenResponse {
    const { pair } = args;
    return {
      access_token: formatAccessToken({
        liveMode: args.liveMode,
        clientId: args.clientId,
        issuedAt: pair.access.issuedAt,
        id: pair.accessTokenId,
        secret: args.accessSecret,
        userId: args.userId,
      }),
      token_type: 'Bearer',
      expires_in: Math.round((pair.access.expiresAt - pair.access.issuedAt) / 1000),
      scope: pair.access.scope,
      user_id: args.userId,
      refresh_token: formatGrantToken('refresh', pair.refreshTokenId, args.refreshSecret, args.userId),
      public_key: publicKey(args.publicKeyUuid, args.liveMode),
      live_mode: args.liveMode,
    };
  }
}

function unsupportedGrantType(grantType: string): UnsupportedGrantTypeError {
  const supported = 'authorization_code, refresh_token, client_credentials';
  const hint = grantType.replace(/[-\s]/g, '_').toLowerCase();
  if (hint !== grantType && ['authorization_code', 'refresh_token', 'client_credentials'].includes(hint)) {
    return new UnsupportedGrantTypeError(
      `grant_type "${grantType}" is not supported; did you mean "${hint}" (with an underscore)?`,
    );
  }
  return new UnsupportedGrantTypeError(
    `grant_type "${grantType}" is not supported; use one of: ${supported}`,
  );
}
