import type { StoragePort } from '../storage/contract.ts';
import { ClientAuthenticator, credentialParamNames, presentedCredentials } from './client-auth.ts';
import type { Lifetimes } from './config.ts';
import { UnauthorizedClientError, UnsupportedGrantTypeError } from './errors.ts';
import { GRANT_TYPES, GRANTS, type GrantContext, type GrantResult, isGrantType } from './grants/index.ts';
import { type Params, requireParams, stringParam } from './params.ts';
import type { Clock, RandomSource } from './ports.ts';
import type { RateLimiter } from './rate-limit.ts';

export type { GrantResult } from './grants/index.ts';
export type { TokenResponse } from './token-response.ts';

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

export interface TokenEndpointDeps {
  storage: StoragePort;
  clock: Clock;
  random: RandomSource;
  lifetimes: Lifetimes;
  rateLimiter: RateLimiter;
  /**
   * Told after a code exchange or a refresh answered (the grant was used); must not wait or throw
   * (core/grant-use.ts batches these off the request path).
   */
  onGrantUsed?: ((clientId: string, userId: number) => void) | undefined;
}

/**
 * `POST /oauth/token` (RFC 6749 §4.1.3, §4.4, §6; RFC 7636; docs/api.md §4.2). Reads as the steps a
 * request goes through: which grant, which parameters, which client, then the grant's own handler
 * (core/grants/).
 */
export class TokenEndpoint {
  readonly #context: GrantContext;
  readonly #clients: ClientAuthenticator;
  readonly #onGrantUsed: (clientId: string, userId: number) => void;

  constructor(deps: TokenEndpointDeps, clients?: ClientAuthenticator) {
    const { storage, clock, random, lifetimes } = deps;
    this.#context = { storage, clock, random, lifetimes };
    this.#onGrantUsed = deps.onGrantUsed ?? (() => {});
    this.#clients = clients ?? new ClientAuthenticator(deps.storage, deps.clock, deps.rateLimiter);
  }

  async handle(request: TokenRequest): Promise<GrantResult> {
    const { params } = request;
    const grantType = stringParam(params, 'grant_type');
    const credentials = presentedCredentials(params, request.authorization);
    // Without grant_type this throws, listing it and any missing credential parameters together.
    if (grantType === undefined) requireParams(params, ['grant_type', ...credentialParamNames(credentials)]);
    const grant = grantType !== undefined && isGrantType(grantType) ? GRANTS.get(grantType) : undefined;
    if (grant === undefined) throw unsupportedGrantType(grantType ?? '');
    requireParams(params, ['grant_type', ...credentialParamNames(credentials), ...grant.required]);
    const client = await this.#clients.authenticateClient(credentials, request.remoteAddress);
    await request.onAuthenticated?.(client.app.clientId);
    const { app } = client;
    // RFC 6749 §5.2 unauthorized_client: "The authenticated client is not authorized to use this
    // authorization grant type"; which ones it may use is registered per application (RFC 7591 §2).
    if (!app.grantTypes.includes(grant.grantType)) {
      throw new UnauthorizedClientError(
        `this application is not allowed the ${grant.grantType} grant (its grant_types: ${app.grantTypes.join(', ')}); an operator can change them with PATCH /admin/applications/${app.clientId}`,
      );
    }
    const result = await grant.handle(this.#context, client, params);
    // client_credentials uses no seller's grant: only code exchanges and refreshes count as use.
    if (grant.grantType !== 'client_credentials') this.#onGrantUsed(app.clientId, result.response.user_id);
    return result;
  }
}

function unsupportedGrantType(grantType: string): UnsupportedGrantTypeError {
  const hint = grantType.replace(/[-\s]/g, '_').toLowerCase();
  if (hint !== grantType && isGrantType(hint)) {
    return new UnsupportedGrantTypeError(
      `grant_type "${grantType}" is not supported; did you mean "${hint}" (with an underscore)?`,
    );
  }
  return new UnsupportedGrantTypeError(
    `grant_type "${grantType}" is not supported; use one of: ${GRANT_TYPES.join(', ')}`,
  );
}
