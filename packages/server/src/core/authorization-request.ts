import type { ApplicationRecord, StoragePort } from '../storage/contract.ts';
import { checkMayRequestCode } from './applications.ts';
import { OAuthError } from './errors.ts';
import { forLog, isClientId } from './identifiers.ts';
import { checkPkceRequest } from './pkce.ts';
import { narrowScope } from './scopes.ts';

/** A request to `GET /authorization` that may proceed to login and consent. */
export interface ValidAuthorizationRequest {
  app: ApplicationRecord;
  redirectUri: string;
  state: string | undefined;
  scope: string;
  codeChallenge: string | null;
  codeChallengeMethod: 'S256' | 'plain' | null;
}

/**
 * How a request to `GET /authorization` ends when it cannot proceed.
 *
 * RFC 6749 §4.1.2.1: "If the request fails due to a missing, invalid, or mismatching redirection
 * URI, or if the client identifier is missing or invalid, the authorization server SHOULD inform
 * the resource owner of the error and MUST NOT automatically redirect the user-agent to the
 * invalid redirection URI." Those are `page` errors. Every later error goes back to the client on
 * its (now validated) redirect URI: `redirect` errors.
 */
export type AuthorizationRequestCheck =
  | { kind: 'valid'; request: ValidAuthorizationRequest }
  | { kind: 'page'; reason: 'unknown_client' | 'bad_redirect_uri'; description: string }
  | {
      kind: 'redirect';
      redirectUri: string;
      state: string | undefined;
      error: string;
      description: string;
    };

/**
 * Validates the query of `GET /authorization` (docs/api.md §4.1). `query` holds every value of every
 * parameter, so duplicates can be refused: RFC 6749 §3.1 "Request and response parameters MUST NOT
 * be included more than once."
 */
/** The query of `GET /authorization`: every value of every parameter, so duplicates can be refused. */
export type AuthorizationQuery = ReadonlyMap<string, readonly string[]>;

export async function checkAuthorizationRequest(
  storage: StoragePort,
  query: AuthorizationQuery,
): Promise<AuthorizationRequestCheck> {
  const one = (name: string): string | undefined => {
    const values = query.get(name);
    // RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted".
    return values && values.length === 1 && values[0] !== '' ? values[0] : undefined;
  };
  const repeated = [...query].filter(([, values]) => values.length > 1).map(([name]) => name);

  const clientId = one('client_id');
  if (repeated.includes('client_id') || clientId === undefined) {
    return { kind: 'page', reason: 'unknown_client', description: 'client_id is missing or given twice.' };
  }
  const app = isClientId(clientId) ? await storage.findApplication(clientId) : null;
  if (!app) {
    return {
      kind: 'page',
      reason: 'unknown_client',
      description: `No application has client_id ${forLog(clientId)}.`,
    };
  }
  const redirectUri = one('redirect_uri');
  // Exact string comparison, no normalization (RFC 9700 §4.1.3 / §2.1).
  if (
    repeated.includes('redirect_uri') ||
    redirectUri === undefined ||
    !app.redirectUris.includes(redirectUri)
  ) {
    return {
      kind: 'page',
      reason: 'bad_redirect_uri',
      description:
        redirectUri === undefined
          ? 'redirect_uri is missing or given twice; send exactly one of the URIs registered for the application.'
          : `redirect_uri ${redirectUri} is not registered for this application; it must equal one of the registered URIs exactly.`,
    };
  }

  const state = repeated.includes('state') ? undefined : one('state');
  const fail = (error: string, description: string): AuthorizationRequestCheck => ({
    kind: 'redirect',
    redirectUri,
    state,
    error,
    description,
  });
  if (repeated.length > 0) {
    return fail('invalid_request', `parameter ${repeated.join(', ')} is given more than once; send it once`);
  }
  const responseType = one('response_type');
  if (responseType === undefined)
    return fail('invalid_request', 'response_type is required; send response_type=code');
  if (responseType !== 'code') {
    return fail(
      'unsupported_response_type',
      `response_type "${responseType}" is not supported; send response_type=code`,
    );
  }
  try {
    checkMayRequestCode(app);
    const requested = one('scope');
    const scope =
      requested === undefined ? app.scope : narrowScope(requested, app.scope, "the application's scopes");
    const pkce = checkPkceRequest(one('code_challenge'), one('code_challenge_method'), app.pkceRequired);
    return { kind: 'valid', request: { app, redirectUri, state, scope, ...pkce } };
  } catch (error) {
    if (error instanceof OAuthError) return fail(error.error, error.description);
    throw error;
  }
}

/**
 * The redirect back to the client (RFC 6749 §4.1.2 and §4.1.2.1), with `iss` (RFC 9207 §2: "the
 * authorization server MUST include the iss parameter in the authorization response", errors too).
 * Parameters are added to any query the registered URI already has (RFC 6749 §3.1.2).
 */
export function authorizationResponseUrl(
  redirectUri: string,
  issuer: string,
  params:
    | { code: string; state: string | undefined }
    | { error: string; description: string; state: string | undefined },
): string {
  const url = new URL(redirectUri);
  if ('code' in params) url.searchParams.set('code', params.code);
  else {
    url.searchParams.set('error', params.error);
    url.searchParams.set('error_description', params.description);
  }
  if (params.state !== undefined) url.searchParams.set('state', params.state);
  url.searchParams.set('iss', issuer);
  return url.toString();
}
