import { AUDIT_EVENT_TYPES } from '../core/audit.ts';
import { GRANT_TYPES } from '../core/grants/index.ts';
import { CLIENT_ID_PATTERN } from '../core/identifiers.ts';
import { ALL_SCOPES } from '../core/scopes.ts';

/**
 * The OpenAPI 3.1 document of the HTTP API (docs/api.md §4), served at `GET /openapi.json`.
 *
 * It describes what THIS listener serves: the admin paths appear only where the admin API is
 * registered (the public listener without RENOVA_ADMIN_LISTEN, or the admin listener), `/metrics`
 * only where it is served, the demo pages only under `serve --demo`. A client reading the document
 * of the public listener therefore never learns of routes that answer it 404.
 *
 * `test/helpers/openapi-recorder.ts` validates every response of the HTTP test suites against this
 * document (route, method, status, content type, JSON body): a change of a response that is not
 * made here fails the tests.
 */
export interface OpenApiOptions {
  /** The admin API (`/admin/...`) is registered on this listener. */
  admin: boolean;
  /** `/metrics` is registered on this listener. */
  metrics: boolean;
  /** This is the public listener (OAuth endpoints, pages); false for the admin listener. */
  publicApi: boolean;
  /** `serve --demo`: the demo client's pages. */
  demo: boolean;
}

/**
 * The parts of OpenAPI 3.1 this document uses. Schemas are JSON Schema 2020-12 (OAS 3.1 §4.8.24),
 * an open vocabulary, so they stay plain objects; the document itself is validated against the
 * official OAS 3.1 schema by test/http/openapi-document.test.ts.
 */
// biome-ignore lint/suspicious/noExplicitAny: JSON Schema is an open vocabulary
type Schema = { [keyword: string]: any };
namespace OAS {
  export type ReferenceObject = { $ref: string };
  export type SchemaObject = Schema;
  export type HeaderObject = { description?: string; schema: Schema };
  export interface ResponseObject {
    description: string;
    headers?: Record<string, HeaderObject>;
    content?: Record<string, { schema: Schema | ReferenceObject; example?: unknown }>;
  }
  export type SecurityRequirementObject = Record<string, string[]>;
  export interface ParameterObject {
    name: string;
    in: 'path' | 'query' | 'header' | 'cookie';
    required: boolean;
    description?: string;
    schema: Schema;
  }
  export interface RequestBodyObject {
    required: boolean;
    content: Record<string, { schema: Schema | ReferenceObject; example?: unknown }>;
  }
  export interface OperationObject {
    tags: string[];
    operationId: string;
    summary: string;
    description?: string;
    security: SecurityRequirementObject[];
    parameters?: ParameterObject[];
    requestBody?: RequestBodyObject;
    responses: Record<string, ResponseObject | ReferenceObject>;
  }
  export type PathItemObject = { parameters?: ParameterObject[] } & {
    [method in 'get' | 'post' | 'patch' | 'delete']?: OperationObject;
  };
  export type PathsObject = Record<string, PathItemObject>;
  export interface Document {
    openapi: '3.1.0';
    jsonSchemaDialect: string;
    info: Record<string, unknown>;
    tags: { name: string; description: string }[];
    paths: PathsObject;
    components: {
      schemas: Record<string, Schema>;
      responses: Record<string, ResponseObject>;
      securitySchemes: Record<string, Record<string, unknown>>;
    };
  }
}
type Responses = Record<string, OAS.ResponseObject | OAS.ReferenceObject>;

const ref = (name: string): OAS.ReferenceObject => ({ $ref: `#/components/schemas/${name}` });
const errorRef = (name: string): OAS.ReferenceObject => ({ $ref: `#/components/responses/${name}` });

const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const clientIdSchema: Schema = { type: 'string', pattern: CLIENT_ID_PATTERN, examples: ['4934588586838432'] };
const userIdSchema: Schema = { type: 'integer', minimum: 1, examples: [241983636] };
const isoDate: Schema = { type: 'string', format: 'date-time' };
const JSON_TYPE = 'application/json';
const HTML_TYPE = 'text/html';
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** The error body of docs/api.md §4.3, with an example per status. */
function errorResponse(
  description: string,
  status: number,
  error: string,
  message: string,
  headers?: OAS.ResponseObject['headers'],
): OAS.ResponseObject {
  return {
    description,
    ...(headers ? { headers } : {}),
    content: {
      [JSON_TYPE]: {
        schema: ref('Error'),
        example: { error, error_description: message, message, status, cause: [] },
      },
    },
  };
}

const retryAfter: OAS.HeaderObject = {
  description: 'Seconds to wait before retrying (RFC 9110 §10.2.3).',
  schema: { type: 'integer', minimum: 0 },
};

/** An HTML page (the seller's side): its body is for people, not described further. */
function page(description: string, headers?: OAS.ResponseObject['headers']): OAS.ResponseObject {
  return { description, ...(headers ? { headers } : {}), content: { [HTML_TYPE]: { schema: str } } };
}

/** A public static file (stylesheet, script): no authentication, one 200 of the given type. */
function staticAsset(
  tag: string,
  operationId: string,
  summary: string,
  description: string,
  mediaType: string,
): OAS.PathItemObject {
  return {
    get: {
      tags: [tag],
      operationId,
      summary,
      security: [],
      responses: { '200': { description, content: { [mediaType]: { schema: str } } } },
    },
  };
}

function redirect(description: string): OAS.ResponseObject {
  return {
    description,
    headers: { Location: { description: 'Where the browser goes next.', schema: { type: 'string' } } },
  };
}

function json(
  description: string,
  schema: Schema | OAS.ReferenceObject,
  example?: unknown,
): OAS.ResponseObject {
  return {
    description,
    content: { [JSON_TYPE]: { schema, ...(example === undefined ? {} : { example }) } },
  };
}

/** A JSON request body (the admin API's bodies are checked by JSON schema, docs/api.md §4.5). */
function jsonBody(
  schema: Schema | OAS.ReferenceObject,
  example: unknown,
  required = true,
): OAS.RequestBodyObject {
  return { required, content: { [JSON_TYPE]: { schema, example } } };
}

const clientIdParam: OAS.ParameterObject = {
  name: 'client_id',
  in: 'path',
  required: true,
  description: "The application's `client_id` (16 digits).",
  schema: clientIdSchema,
};
const userIdParam: OAS.ParameterObject = {
  name: 'user_id',
  in: 'path',
  required: true,
  description: "The seller's user id (a positive integer).",
  schema: { type: 'string', pattern: '^[1-9][0-9]{0,15}$', examples: ['241983636'] },
};

/**
 * Client authentication of the token, revocation and introspection endpoints (docs/api.md §4.2):
 * HTTP Basic, or (the empty requirement) client_secret_post, whose credentials are fields of the
 * body. OpenAPI has no security scheme for credentials in a body, and inventing a header for it
 * would have generated clients send the secret where proxies log headers; the `client_secret_post`
 * scheme below is an OAuth 2.0 one that names the token URL, and the body schema carries the fields.
 */
const clientAuthentication: OAS.SecurityRequirementObject[] = [{ client_secret_basic: [] }, {}];

/** The answers of the client-authenticated endpoints that every one of them may give. */
const oauthErrors: Responses = {
  '400': errorRef('OAuthBadRequest'),
  '401': errorRef('InvalidClientBasic'),
  '413': errorRef('TooLarge'),
  '429': errorRef('RateLimited'),
  '503': errorRef('Unavailable'),
};

/** The admin API's answers to any call (docs/api.md §4.5). */
const adminErrors: Responses = {
  '400': errorRef('InvalidRequest'),
  '401': errorRef('InvalidToken'),
  '413': errorRef('TooLarge'),
  '429': errorRef('RateLimited'),
  '503': errorRef('Unavailable'),
};

/** Every page may fail in these ways, answered as a page (never JSON). */
const pageErrors: Responses = {
  '400': page('The request is malformed; the page says what is wrong.'),
  '413': page('The form is larger than 16 KiB.'),
  '429': page('Too many attempts; the page says how long to wait.', { 'Retry-After': retryAfter }),
  '503': page('The storage cannot answer now; try again shortly.', { 'Retry-After': retryAfter }),
};

const adminSecurity: OAS.SecurityRequirementObject[] = [{ admin_bearer: [] }];
const ownerSecurity: OAS.SecurityRequirementObject[] = [{ owner_bearer: [] }];

const schemas: Record<string, Schema> = {
  Error: {
    type: 'object',
    description: 'docs/api.md §4.3: every error of the JSON endpoints.',
    required: ['error', 'error_description', 'message', 'status', 'cause'],
    properties: {
      error: {
        type: 'string',
        description:
          'The RFC 6749 §5.2 code (or a Renova one: `not_found`, `local_rate_limited`, `invalid_token`).',
        examples: ['invalid_grant'],
      },
      error_description: { type: 'string', description: 'What is wrong and how to fix it; never a secret.' },
      message: {
        type: 'string',
        description: 'The same text as `error_description` (Mercado Pago clients read it).',
      },
      status: { type: 'integer', minimum: 400, maximum: 599, description: 'The HTTP status, repeated.' },
      cause: { type: 'array', items: {}, description: 'Always empty (Mercado Pago shape).' },
    },
  },
  TokenRequest: {
    type: 'object',
    description:
      'docs/api.md §4.2. Client authentication is exactly one of: `client_id` + `client_secret` here (client_secret_post), HTTP Basic (client_secret_basic), or `client_secret` = an unexpired client_credentials access token of the application (no `client_id`). Unknown parameters are ignored; a form parameter given twice is `invalid_request`.',
    required: ['grant_type'],
    properties: {
      grant_type: { type: 'string', enum: [...GRANT_TYPES] },
      client_id: clientIdSchema,
      client_secret: {
        type: 'string',
        description: 'The client secret (32 characters), or a client_credentials access token.',
      },
      code: { type: 'string', description: 'authorization_code: the code (`TG-…`).' },
      redirect_uri: {
        type: 'string',
        description: 'authorization_code: the redirect URI of the authorization request.',
      },
      code_verifier: {
        type: 'string',
        description: 'authorization_code: the PKCE verifier, iff a challenge was sent (RFC 7636 §4.5).',
      },
      test_token: {
        anyOf: [{ type: 'boolean' }, { type: 'string', enum: ['true', 'false'] }],
        description: 'Sandbox tokens (`TEST-…`).',
      },
      refresh_token: { type: 'string', description: 'refresh_token: the refresh token (`TG-…`).' },
      scope: {
        type: 'string',
        description: 'refresh_token: a subset of the grant’s scopes (narrows the access token only).',
      },
    },
  },
  TokenResponse: {
    type: 'object',
    description:
      'docs/api.md §4.2. All eight fields for authorization_code and refresh_token; client_credentials omits `refresh_token`.',
    required: ['access_token', 'token_type', 'expires_in', 'scope', 'user_id', 'public_key', 'live_mode'],
    additionalProperties: false,
    properties: {
      access_token: { type: 'string', pattern: '^(APP_USR|TEST)-[0-9]{16}-[0-9]{6}-[0-9a-f]{32,}-[0-9]+$' },
      token_type: { const: 'Bearer' },
      expires_in: { type: 'integer', minimum: 0 },
      scope: { type: 'string' },
      user_id: userIdSchema,
      refresh_token: { type: 'string', pattern: '^TG-[0-9a-f]{32,}-[0-9]+$' },
      public_key: { type: 'string', pattern: '^(APP_USR|TEST)-[0-9a-f-]{36}$' },
      live_mode: { type: 'boolean' },
    },
  },
  TokenParameter: {
    type: 'object',
    description:
      'RFC 7009 §2.1 / RFC 7662 §2.1 request, with client authentication as for the token endpoint.',
    required: ['token'],
    properties: {
      token: { type: 'string' },
      token_type_hint: { type: 'string', enum: ['access_token', 'refresh_token'] },
      client_id: clientIdSchema,
      client_secret: str,
    },
  },
  Introspection: {
    description: 'RFC 7662 §2.2: `{active:false}` says nothing more.',
    oneOf: [
      {
        type: 'object',
        required: ['active'],
        additionalProperties: false,
        properties: { active: { const: false } },
      },
      {
        type: 'object',
        required: ['active', 'scope', 'client_id', 'user_id', 'token_type', 'exp', 'iat', 'live_mode'],
        additionalProperties: false,
        properties: {
          active: { const: true },
          scope: str,
          client_id: clientIdSchema,
          user_id: userIdSchema,
          token_type: { type: 'string', enum: ['Bearer', 'refresh_token'] },
          exp: int,
          iat: int,
          live_mode: { type: 'boolean' },
        },
      },
    ],
  },
  AuthorizationServerMetadata: {
    type: 'object',
    description: 'RFC 8414 §2.',
    required: [
      'issuer',
      'authorization_endpoint',
      'token_endpoint',
      'response_types_supported',
      'grant_types_supported',
      'code_challenge_methods_supported',
      'token_endpoint_auth_methods_supported',
      'scopes_supported',
    ],
    properties: {
      issuer: { type: 'string', format: 'uri' },
      authorization_endpoint: { type: 'string', format: 'uri' },
      token_endpoint: { type: 'string', format: 'uri' },
      revocation_endpoint: { type: 'string', format: 'uri' },
      introspection_endpoint: { type: 'string', format: 'uri' },
      userinfo_endpoint: { type: 'string', format: 'uri' },
      response_types_supported: { type: 'array', items: str },
      response_modes_supported: { type: 'array', items: str },
      grant_types_supported: { type: 'array', items: str },
      code_challenge_methods_supported: { type: 'array', items: str },
      token_endpoint_auth_methods_supported: { type: 'array', items: str },
      revocation_endpoint_auth_methods_supported: { type: 'array', items: str },
      introspection_endpoint_auth_methods_supported: { type: 'array', items: str },
      scopes_supported: { type: 'array', items: { type: 'string', enum: [...ALL_SCOPES] } },
      authorization_response_iss_parameter_supported: { type: 'boolean' },
    },
  },
  UsersMe: {
    type: 'object',
    description: 'docs/api.md §4.4: the token’s user, in the shape of Mercado Pago’s users API.',
    required: ['id', 'nickname', 'email', 'site_id'],
    properties: {
      id: userIdSchema,
      nickname: str,
      email: { type: 'string', format: 'email' },
      site_id: str,
      country_id: { type: ['string', 'null'] },
      registration_date: isoDate,
      status: { type: 'object', properties: { site_status: str } },
    },
  },
  User: {
    type: 'object',
    required: ['id', 'email', 'nickname', 'site_id'],
    additionalProperties: false,
    properties: { id: userIdSchema, email: { type: 'string', format: 'email' }, nickname: str, site_id: str },
  },
  Application: {
    type: 'object',
    description: 'An application without its secrets.',
    required: [
      'client_id',
      'name',
      'owner_user_id',
      'redirect_uris',
      'scopes',
      'pkce_required',
      'notification_url',
      'grant_types',
    ],
    properties: {
      client_id: clientIdSchema,
      name: str,
      owner_user_id: userIdSchema,
      redirect_uris: { type: 'array', items: str, minItems: 1 },
      scopes: { type: 'array', items: { type: 'string', enum: [...ALL_SCOPES] } },
      pkce_required: { type: 'boolean' },
      notification_url: { type: ['string', 'null'] },
      grant_types: { type: 'array', items: { type: 'string', enum: [...GRANT_TYPES] } },
    },
  },
  CreatedApplication: {
    description: 'The new application with its secrets, shown this once.',
    allOf: [
      ref('Application'),
      {
        type: 'object',
        required: ['client_secret', 'webhook_secret'],
        properties: { client_secret: { type: 'string', pattern: '^[A-Za-z0-9]{32}$' }, webhook_secret: str },
      },
    ],
  },
  Grant: {
    type: 'object',
    description: 'A seller’s authorization of an application (docs/api.md §4.4).',
    required: ['user_id', 'scope', 'date_created'],
    properties: {
      user_id: userIdSchema,
      scope: str,
      date_created: isoDate,
      last_used: { anyOf: [isoDate, { type: 'null' }] },
    },
  },
  GrantPage: {
    type: 'object',
    description:
      'One page of the sellers who authorized the application, newest first, in Mercado Pago’s search shape; `paging.next_cursor` is null on the last page.',
    required: ['paging', 'results'],
    additionalProperties: false,
    properties: {
      paging: {
        type: 'object',
        required: ['total', 'limit', 'next_cursor'],
        properties: {
          total: { type: 'integer', minimum: 0 },
          limit: { type: 'integer', minimum: 1 },
          next_cursor: { type: ['string', 'null'] },
          real_users: { type: 'integer', minimum: 0 },
          test_users: { type: 'integer', minimum: 0 },
        },
      },
      results: { type: 'array', items: ref('Grant') },
    },
  },
  AuditEvent: {
    type: 'object',
    description:
      'One audit event (docs/api.md §4.5): identifiers and times only; never a token, code, secret or password.',
    required: [
      'id',
      'at',
      'type',
      'actor',
      'user_id',
      'client_id',
      'family_id',
      'request_id',
      'remote_address',
      'detail',
    ],
    additionalProperties: false,
    properties: {
      id: { type: 'integer', minimum: 1 },
      at: isoDate,
      type: { type: 'string', enum: [...AUDIT_EVENT_TYPES] },
      actor: {
        type: 'object',
        required: ['type', 'id'],
        additionalProperties: false,
        properties: {
          type: { type: 'string', enum: ['seller', 'application', 'operator', 'system'] },
          id: { type: ['string', 'null'] },
        },
      },
      user_id: { type: ['integer', 'null'] },
      client_id: { type: ['string', 'null'] },
      family_id: { type: ['integer', 'null'] },
      request_id: { type: ['string', 'null'] },
      remote_address: { type: ['string', 'null'] },
      detail: { type: ['string', 'null'] },
    },
  },
  AuditPage: {
    type: 'object',
    description: 'Newest first; pass `next_cursor` as `cursor` for the next page (null on the last).',
    required: ['events', 'next_cursor'],
    additionalProperties: false,
    properties: {
      events: { type: 'array', items: ref('AuditEvent') },
      next_cursor: { type: ['string', 'null'] },
    },
  },
  TestUser: {
    type: 'object',
    description: 'A sandbox seller (Mercado Pago’s test users); the password is shown this once.',
    required: ['id', 'nickname', 'password', 'site_status', 'email', 'site_id'],
    properties: {
      id: userIdSchema,
      nickname: str,
      password: str,
      site_status: str,
      email: str,
      site_id: str,
    },
  },
  Readiness: {
    type: 'object',
    required: ['status'],
    additionalProperties: false,
    properties: { status: { type: 'string', enum: ['ready', 'unavailable'] }, reason: str },
  },
};

const responses: Record<string, OAS.ResponseObject> = {
  OAuthBadRequest: errorResponse(
    'invalid_request, invalid_client (no HTTP Basic), invalid_grant, unauthorized_client, unsupported_grant_type or invalid_scope (docs/api.md §4.3).',
    400,
    'invalid_grant',
    'the refresh token is invalid, expired, revoked or was issued to another client',
  ),
  InvalidClientBasic: errorResponse(
    'invalid_client for a client that authenticated with HTTP Basic (RFC 6749 §5.2).',
    401,
    'invalid_client',
    'client authentication failed',
    { 'WWW-Authenticate': { description: '`Basic realm="renova"`', schema: str } },
  ),
  InvalidRequest: errorResponse(
    'A parameter is missing or malformed.',
    400,
    'invalid_request',
    'body/email must be string',
  ),
  InvalidToken: errorResponse(
    'No, or a wrong, bearer token (RFC 6750 §3.1).',
    401,
    'invalid_token',
    'the access token is unknown, expired or revoked',
    { 'WWW-Authenticate': { description: '`Bearer realm="renova", error="invalid_token"`', schema: str } },
  ),
  Forbidden: errorResponse(
    'The token may not act on this resource.',
    403,
    'access_denied',
    'this token belongs to another application',
  ),
  NotFound: errorResponse(
    'No such resource.',
    404,
    'not_found',
    'application 4934588586838432 does not exist',
  ),
  NoRoute: errorResponse('No route for this method and path.', 404, 'not_found', 'no route for GET /nope'),
  TooLarge: errorResponse(
    'The body is larger than 16 KiB.',
    413,
    'invalid_request',
    'the request body is larger than 16 KiB; send only the OAuth parameters',
  ),
  UriTooLong: errorResponse(
    'A path segment is longer than the router accepts.',
    414,
    'invalid_request',
    'a path segment is longer than 64 characters; check the identifier in the URL',
  ),
  RateLimited: errorResponse(
    'Too many requests or failed authentications.',
    429,
    'local_rate_limited',
    'too many token requests; retry in 30 s',
    {
      'Retry-After': retryAfter,
    },
  ),
  Unavailable: errorResponse(
    'Storage unreachable or not writable now; nothing was half-written.',
    503,
    'temporarily_unavailable',
    'the database is not writable now; retry shortly',
    { 'Retry-After': retryAfter },
  ),
};

const tokenExample = {
  access_token: 'APP_USR-4934588586838432-120113-3f2a9c0e1b7d4a6f8e5c2b1a0d9f8e7c-241983636',
  token_type: 'Bearer',
  expires_in: 15552000,
  scope: 'offline_access read write',
  user_id: 241983636,
  refresh_token: 'TG-5f0c9d8e7b6a5c4d3e2f1a0b9c8d7e6f-241983636',
  public_key: 'APP_USR-6b0f5c84-2a7e-4c1d-9d3e-8f7a6b5c4d3e',
  live_mode: true,
};

/** The form-encoded and JSON bodies of the client-authenticated endpoints. */
function oauthBody(schema: string, example: Record<string, unknown>): OAS.RequestBodyObject {
  return {
    required: true,
    content: {
      [FORM_TYPE]: { schema: ref(schema), example },
      [JSON_TYPE]: { schema: ref(schema), example },
    },
  };
}

function publicPaths(): OAS.PathsObject {
  return {
    '/oauth/token': {
      post: {
        tags: ['OAuth'],
        operationId: 'token',
        summary:
          'Exchange a code, refresh a token, or get a client_credentials token (RFC 6749 §4.1.3, §6, §4.4).',
        description:
          'Parameters go in the body only (a query string is `invalid_request`). A refresh token presented again within the replay window returns the first answer; outside it, reuse revokes the whole family (RFC 9700 §4.14.2). Responses carry `Cache-Control: no-store`.',
        security: clientAuthentication,
        requestBody: oauthBody('TokenRequest', {
          grant_type: 'refresh_token',
          client_id: '4934588586838432',
          client_secret: 'Xx9…',
          refresh_token: 'TG-5f0c9d8e7b6a5c4d3e2f1a0b9c8d7e6f-241983636',
        }),
        responses: { '200': json('The token response.', ref('TokenResponse'), tokenExample), ...oauthErrors },
      },
    },
    '/oauth/revoke': {
      post: {
        tags: ['OAuth'],
        operationId: 'revoke',
        summary: 'Revoke a token (RFC 7009): a refresh token takes its family with it.',
        security: clientAuthentication,
        requestBody: oauthBody('TokenParameter', {
          token: 'TG-…',
          client_id: '4934588586838432',
          client_secret: 'Xx9…',
        }),
        responses: {
          '200': json(
            'Revoked, or unknown (RFC 7009 §2.2: the same answer).',
            { type: 'object', maxProperties: 0 },
            {},
          ),
          ...oauthErrors,
        },
      },
    },
    '/oauth/introspect': {
      post: {
        tags: ['OAuth'],
        operationId: 'introspect',
        summary: 'Describe a token of the calling application (RFC 7662).',
        security: clientAuthentication,
        requestBody: oauthBody('TokenParameter', {
          token: 'APP_USR-…',
          client_id: '4934588586838432',
          client_secret: 'Xx9…',
        }),
        responses: {
          '200': json('The token’s description, or `{active:false}`.', ref('Introspection'), {
            active: true,
            scope: 'offline_access read write',
            client_id: '4934588586838432',
            user_id: 241983636,
            token_type: 'Bearer',
            exp: 1780000000,
            iat: 1764447000,
            live_mode: true,
          }),
          ...oauthErrors,
        },
      },
    },
    '/.well-known/oauth-authorization-server': {
      get: {
        tags: ['OAuth'],
        operationId: 'metadata',
        summary: 'Authorization server metadata (RFC 8414).',
        security: [],
        responses: { '200': json('The metadata.', ref('AuthorizationServerMetadata')) },
      },
    },
    '/users/me': {
      get: {
        tags: ['OAuth'],
        operationId: 'usersMe',
        summary: 'The user of an access token (Mercado Pago’s `/users/me`).',
        security: [{ user_bearer: [] }],
        responses: {
          '200': json('The user.', ref('UsersMe'), {
            id: 241983636,
            nickname: 'SELLER1',
            email: 'seller@example.com',
            site_id: 'MLA',
            country_id: 'AR',
            registration_date: '2026-11-25T12:00:00.000Z',
            status: { site_status: 'active' },
          }),
          '401': errorRef('InvalidToken'),
          '503': errorRef('Unavailable'),
        },
      },
    },
    '/users/test_user': {
      post: {
        tags: ['Owner API'],
        operationId: 'createTestUser',
        summary: 'Create a sandbox seller (Mercado Pago’s test users); limited per application.',
        security: ownerSecurity,
        requestBody: jsonBody(
          {
            type: 'object',
            required: ['site_id'],
            properties: { site_id: { type: 'string', examples: ['MLA'] }, description: str },
          },
          { site_id: 'MLA', description: 'checkout tests' },
        ),
        responses: {
          '201': json('The test user; its password is shown this once.', ref('TestUser'), {
            id: 1402389284,
            nickname: 'TESTUSER1402389284',
            password: 'qatest1234',
            site_status: 'active',
            email: 'test_user_1402389284@testuser.com',
            site_id: 'MLA',
          }),
          '400': errorRef('InvalidRequest'),
          '401': errorRef('InvalidToken'),
          '413': errorRef('TooLarge'),
          '429': errorRef('RateLimited'),
          '503': errorRef('Unavailable'),
        },
      },
    },
    '/applications/{client_id}/grants': {
      parameters: [clientIdParam],
      get: {
        tags: ['Owner API'],
        operationId: 'listOwnGrants',
        summary: 'The sellers who authorized the caller’s own application, paginated.',
        security: ownerSecurity,
        parameters: [
          {
            name: 'cursor',
            in: 'query',
            required: false,
            schema: str,
            description: '`next_cursor` of the previous page.',
          },
          {
            name: 'limit',
            in: 'query',
            required: false,
            schema: { type: 'integer', minimum: 1, maximum: 100 },
          },
        ],
        responses: {
          '200': json('One page of grants.', ref('GrantPage')),
          '400': errorRef('InvalidRequest'),
          '401': errorRef('InvalidToken'),
          '403': errorRef('Forbidden'),
          '404': errorRef('NotFound'),
          '503': errorRef('Unavailable'),
        },
      },
    },
    '/applications/{client_id}/grants/{user_id}': {
      parameters: [clientIdParam, userIdParam],
      delete: {
        tags: ['Owner API'],
        operationId: 'revokeOwnGrant',
        summary: 'Revoke one seller’s authorization of the caller’s own application (and its tokens).',
        security: ownerSecurity,
        responses: {
          '204': { description: 'Revoked.' },
          '400': errorRef('InvalidRequest'),
          '401': errorRef('InvalidToken'),
          '403': errorRef('Forbidden'),
          '404': errorRef('NotFound'),
          '503': errorRef('Unavailable'),
        },
      },
    },
    '/authorization': {
      get: {
        tags: ['Pages'],
        operationId: 'authorizationPage',
        summary: 'The seller’s consent (RFC 6749 §4.1.1): sign-in, then the consent screen.',
        security: [],
        parameters: [
          { name: 'client_id', in: 'query', required: true, schema: clientIdSchema },
          { name: 'response_type', in: 'query', required: true, schema: { const: 'code' } },
          { name: 'redirect_uri', in: 'query', required: true, schema: str },
          { name: 'state', in: 'query', required: false, schema: str },
          {
            name: 'platform_id',
            in: 'query',
            required: false,
            schema: str,
            description: 'Accepted, ignored.',
          },
          { name: 'scope', in: 'query', required: false, schema: str },
          { name: 'code_challenge', in: 'query', required: false, schema: str },
          {
            name: 'code_challenge_method',
            in: 'query',
            required: false,
            schema: { type: 'string', enum: ['S256', 'plain'] },
          },
        ],
        responses: {
          '200': page('The sign-in form, or the consent screen.'),
          '302': redirect('An error after the redirect URI was validated, back to it (RFC 6749 §4.1.2.1).'),
          ...pageErrors,
        },
      },
      post: {
        tags: ['Pages'],
        operationId: 'authorizationDecision',
        summary: 'The seller’s decision (CSRF-protected form).',
        security: [{ seller_session: [] }],
        requestBody: {
          required: true,
          content: {
            [FORM_TYPE]: {
              schema: {
                type: 'object',
                properties: { csrf: str, decision: { type: 'string', enum: ['allow', 'deny'] } },
              },
            },
          },
        },
        responses: {
          '302': redirect(
            'To the redirect URI with `code`, `state` and `iss`, or with `error=access_denied`.',
          ),
          '303': redirect('Signed out meanwhile: back to the sign-in form of the same request.'),
          '403': page('The form did not come from this server’s page (CSRF).'),
          ...pageErrors,
        },
      },
    },
    '/login': {
      post: {
        tags: ['Pages'],
        operationId: 'signIn',
        summary: 'Seller sign-in (CSRF-protected form); throttled per address and per (address, email).',
        security: [],
        requestBody: {
          required: true,
          content: {
            [FORM_TYPE]: {
              schema: {
                type: 'object',
                properties: {
                  csrf: str,
                  email: str,
                  password: { type: 'string', format: 'password' },
                  next: str,
                },
              },
            },
          },
        },
        responses: {
          '303': redirect('Signed in: to `next` (this server’s own pages only).'),
          '401': page('Wrong email or password: the form again.'),
          '403': page('The form did not come from this server’s page (CSRF).'),
          ...pageErrors,
        },
      },
    },
    '/logout': {
      post: {
        tags: ['Pages'],
        operationId: 'signOut',
        summary: 'Seller sign-out (CSRF-protected form).',
        security: [{ seller_session: [] }],
        requestBody: {
          required: true,
          content: { [FORM_TYPE]: { schema: { type: 'object', properties: { csrf: str, next: str } } } },
        },
        responses: {
          '303': redirect('Signed out: to `next`.'),
          '403': page('The form did not come from this server’s page (CSRF).'),
          ...pageErrors,
        },
      },
    },
    '/account/applications': {
      get: {
        tags: ['Pages'],
        operationId: 'accountApplications',
        summary: 'The applications the seller authorized, with a way to revoke each.',
        security: [{ seller_session: [] }],
        responses: { '200': page('The list, or the sign-in form.'), ...pageErrors },
      },
    },
    '/account/activity': {
      get: {
        tags: ['Pages'],
        operationId: 'accountActivity',
        summary: 'The seller’s own audit events (sign-ins, consents, revocations), newest first.',
        security: [{ seller_session: [] }],
        parameters: [
          {
            name: 'cursor',
            in: 'query',
            required: false,
            description: 'The next page’s cursor.',
            schema: str,
          },
        ],
        responses: { '200': page('The events, or the sign-in form.'), ...pageErrors },
      },
    },
    '/account/applications/revoke': {
      post: {
        tags: ['Pages'],
        operationId: 'accountRevoke',
        summary: 'Revoke one application (CSRF-protected form): every token of that (application, seller).',
        security: [{ seller_session: [] }],
        requestBody: {
          required: true,
          content: {
            [FORM_TYPE]: { schema: { type: 'object', properties: { csrf: str, client_id: clientIdSchema } } },
          },
        },
        responses: {
          '303': redirect('Back to the account page.'),
          '403': page('The form did not come from this server’s page (CSRF).'),
          ...pageErrors,
        },
      },
    },
    '/developers': {
      get: {
        tags: ['Pages'],
        operationId: 'developerPortal',
        summary: 'The developer portal for application owners, signed in with the seller accounts.',
        security: [{ seller_session: [] }],
        responses: {
          '200': page('The portal, or the sign-in form.'),
          '303': redirect('To the sign-in form.'),
          ...pageErrors,
        },
      },
    },
    '/assets/renova.css': staticAsset('Pages', 'stylesheet', 'The pages’ stylesheet.', 'CSS.', 'text/css'),
  };
}

/**
 * The developer portal's pages (http/developers.ts, docs/developer-portal.md). Every page needs the
 * seller session (anonymous GETs get the sign-in form, with `next` back); every form is a
 * CSRF-protected POST answered with a redirect (POST-redirect-GET), or with the form again and the
 * errors next to its fields (400).
 */
function developerPaths(): OAS.PathsObject {
  const appParam: OAS.ParameterObject = {
    name: 'clientId',
    in: 'path',
    required: true,
    description: "One of the signed-in owner's applications (16 digits); any other answers 404.",
    schema: str,
  };
  const security = [{ seller_session: [] }];
  const portalErrors: Responses = {
    ...pageErrors,
    '404': page('No such application among the signed-in owner’s.'),
  };
  // What every portal operation shares: its tag, the seller session, and the application in the path.
  const portalOperation = (operationId: string, summary: string, withApp: boolean) => ({
    tags: ['Developer portal'],
    operationId,
    summary,
    security,
    ...(withApp ? { parameters: [appParam] } : {}),
  });
  const view = (operationId: string, summary: string, withApp = true): OAS.OperationObject => ({
    ...portalOperation(operationId, summary, withApp),
    responses: {
      '200': page('The page, or the sign-in form.'),
      '303': redirect('Elsewhere in the portal (e.g. a secret that was already shown).'),
      ...portalErrors,
    },
  });
  const form = (operationId: string, summary: string, withApp = true): OAS.OperationObject => ({
    ...portalOperation(operationId, summary, withApp),
    requestBody: {
      required: true,
      content: { [FORM_TYPE]: { schema: { type: 'object', properties: { csrf: str } } } },
    },
    responses: {
      '200': page('The form again, with what went wrong.'),
      '303': redirect('Done: to the next page (a new secret is shown once, at `…/reveal`).'),
      '400': page('The form again, each error next to its field.'),
      '403': page('The form did not come from this server’s page (CSRF), or no one is signed in.'),
      ...portalErrors,
    },
  });
  const app = '/developers/applications/{clientId}';
  return {
    '/developers/applications/new': {
      get: view('developerNewApplication', 'The form to register an application.', false),
    },
    '/developers/applications': {
      post: form('developerCreateApplication', 'Register an application.', false),
    },
    [app]: {
      get: view('developerApplication', 'An application: production and test credentials, valid secrets.'),
    },
    [`${app}/reveal`]: {
      get: view('developerReveal', 'A secret just created or rotated, shown once (then gone).'),
    },
    [`${app}/client-secret`]: {
      post: form('developerRotateSecret', 'Rotate the client secret with a chosen overlap.'),
    },
    [`${app}/webhook-secret`]: {
      post: form('developerRotateWebhookSecret', 'Rotate the webhook signing secret.'),
    },
    [`${app}/settings`]: {
      get: view('developerSettings', 'Edit the application.'),
      post: form('developerSaveSettings', 'Save the application’s settings.'),
    },
    [`${app}/delete`]: {
      get: view('developerConfirmDelete', 'Confirm the deletion (type the name).'),
      post: form('developerDelete', 'Delete the application: every grant and token of it is revoked.'),
    },
    [`${app}/sellers`]: { get: view('developerSellers', 'The sellers who authorized it (search, pages).') },
    [`${app}/sellers/revoke`]: { post: form('developerRevokeSeller', 'Revoke one seller’s authorization.') },
    [`${app}/webhooks`]: { get: view('developerWebhooks', 'Recent webhook deliveries.') },
    [`${app}/webhooks/retry`]: { post: form('developerRetryWebhook', 'Retry a dead delivery.') },
    [`${app}/webhooks/test`]: {
      post: form('developerTestWebhook', 'Send a test event (`live_mode: false`).'),
    },
    [`${app}/testing`]: { get: view('developerTesting', 'Test users and the per-application limit.') },
    [`${app}/testing/users`]: {
      post: form('developerCreateTestUser', 'Create a test user (password shown once).'),
    },
    '/assets/developers.css': staticAsset(
      'Developer portal',
      'developerStylesheet',
      'The portal’s stylesheet.',
      'CSS.',
      'text/css',
    ),
    '/assets/developers.js': staticAsset(
      'Developer portal',
      'developerScript',
      'The copy buttons (the portal works without it).',
      'JavaScript.',
      'text/javascript',
    ),
  };
}

function demoPaths(): OAS.PathsObject {
  return {
    '/demo/start': {
      get: {
        tags: ['Demo'],
        operationId: 'demoStart',
        summary: '`serve --demo` only: starts a consent flow as the demo application (state + PKCE S256).',
        security: [],
        responses: {
          '302': redirect('To `/authorization`.'),
          '503': page('The demo data is not ready yet.'),
        },
      },
    },
    '/demo/callback': {
      get: {
        tags: ['Demo'],
        operationId: 'demoCallback',
        summary:
          '`serve --demo` only: the demo application’s redirect URI; exchanges the code and refreshes once.',
        security: [],
        responses: {
          '200': page('Both answers.'),
          '400': page('`state` or `iss` mismatch, or the exchange failed.'),
          ...pageErrors,
        },
      },
    },
  };
}

function operationalPaths(options: OpenApiOptions): OAS.PathsObject {
  const paths: OAS.PathsObject = {
    '/healthz': {
      get: {
        tags: ['Operations'],
        operationId: 'healthz',
        summary: 'The process is alive.',
        security: [],
        responses: {
          '200': json(
            'Alive.',
            {
              type: 'object',
              required: ['status'],
              additionalProperties: false,
              properties: { status: { const: 'ok' } },
            },
            { status: 'ok' },
          ),
        },
      },
    },
    '/openapi.json': {
      get: {
        tags: ['Operations'],
        operationId: 'openapi',
        summary: 'This document (OpenAPI 3.1) of what this listener serves.',
        security: [],
        responses: {
          '200': json('The document.', { type: 'object', required: ['openapi', 'info', 'paths'] }),
        },
      },
    },
  };
  if (options.publicApi) {
    paths['/readyz'] = {
      get: {
        tags: ['Operations'],
        operationId: 'readyz',
        summary: 'Ready only while a write can succeed.',
        security: [],
        responses: {
          '200': json('A write can succeed now.', ref('Readiness'), { status: 'ready' }),
          '503': {
            description: 'Writes cannot succeed now; the reason says why.',
            headers: { 'Retry-After': retryAfter },
            content: {
              [JSON_TYPE]: {
                schema: ref('Readiness'),
                example: { status: 'unavailable', reason: 'the database is read-only' },
              },
            },
          },
        },
      },
    };
  }
  if (options.metrics) {
    paths['/metrics'] = {
      get: {
        tags: ['Operations'],
        operationId: 'metrics',
        summary: 'Prometheus metrics (docs/operations.md, "Metrics and alerts").',
        description:
          'On the admin listener; on the public one only with RENOVA_METRICS_TOKEN, and then only to requests that present it.',
        security: [{ metrics_bearer: [] }],
        responses: {
          '200': { description: 'The Prometheus text format.', content: { 'text/plain': { schema: str } } },
          '401': errorRef('InvalidToken'),
          '429': errorRef('RateLimited'),
        },
      },
    };
  }
  return paths;
}

function adminPaths(): OAS.PathsObject {
  const appParam = [clientIdParam];
  return {
    '/admin/users': {
      post: {
        tags: ['Admin API'],
        operationId: 'adminCreateUser',
        summary: 'Create a user (seller or application owner).',
        security: adminSecurity,
        requestBody: jsonBody(
          {
            type: 'object',
            required: ['email'],
            properties: {
              email: str,
              password: { type: 'string', minLength: 8 },
              nickname: str,
              site_id: str,
            },
          },
          { email: 'seller@example.com', password: 'correct horse battery', site_id: 'MLA' },
        ),
        responses: {
          '201': json('The user.', ref('User'), {
            id: 241983636,
            email: 'seller@example.com',
            nickname: 'SELLER',
            site_id: 'MLA',
          }),
          ...adminErrors,
        },
      },
    },
    '/admin/applications': {
      post: {
        tags: ['Admin API'],
        operationId: 'adminCreateApplication',
        summary: 'Register an application; its client secret and webhook secret are shown this once.',
        security: adminSecurity,
        requestBody: jsonBody(
          {
            type: 'object',
            required: ['name', 'owner_user_id', 'redirect_uris'],
            properties: {
              name: str,
              owner_user_id: userIdSchema,
              redirect_uris: { type: 'array', items: str, minItems: 1 },
              scopes: { anyOf: [{ type: 'array', items: str, minItems: 1 }, str] },
              pkce_required: { type: 'boolean' },
              notification_url: { type: ['string', 'null'] },
              grant_types: { type: 'array', items: { type: 'string', enum: [...GRANT_TYPES] }, maxItems: 10 },
            },
          },
          { name: 'My shop', owner_user_id: 241983636, redirect_uris: ['https://shop.example.com/callback'] },
        ),
        responses: {
          '201': json('The application with its secrets.', ref('CreatedApplication')),
          ...adminErrors,
        },
      },
    },
    '/admin/applications/{client_id}': {
      parameters: appParam,
      patch: {
        tags: ['Admin API'],
        operationId: 'adminUpdateApplication',
        summary: 'Change any of an application’s settings; fields left out keep their value.',
        security: adminSecurity,
        requestBody: jsonBody(
          {
            type: 'object',
            minProperties: 1,
            properties: {
              name: str,
              description: str,
              logo_url: { anyOf: [str, { type: 'null' }] },
              redirect_uris: { type: 'array', items: str, minItems: 1 },
              scopes: { anyOf: [{ type: 'array', items: str, minItems: 1 }, str] },
              pkce_required: { type: 'boolean' },
              notification_url: { anyOf: [str, { type: 'null' }] },
              grant_types: { type: 'array', items: { type: 'string', enum: [...GRANT_TYPES] }, maxItems: 10 },
            },
          },
          { grant_types: ['authorization_code', 'refresh_token'] },
        ),
        responses: {
          '200': json('The application.', ref('Application')),
          '404': errorRef('NotFound'),
          ...adminErrors,
        },
      },
      delete: {
        tags: ['Admin API'],
        operationId: 'adminDeleteApplication',
        summary: 'Delete an application and revoke everything issued to it.',
        security: adminSecurity,
        responses: { '204': { description: 'Deleted.' }, '404': errorRef('NotFound'), ...adminErrors },
      },
    },
    '/admin/applications/{client_id}/grants': {
      parameters: appParam,
      get: {
        tags: ['Admin API'],
        operationId: 'adminListApplicationGrants',
        summary: 'The sellers who authorized an application, paginated.',
        security: adminSecurity,
        parameters: [{ name: 'cursor', in: 'query', required: false, schema: str }],
        responses: {
          '200': json('One page of grants.', ref('GrantPage')),
          '404': errorRef('NotFound'),
          ...adminErrors,
        },
      },
    },
    '/admin/applications/{client_id}/secret': {
      parameters: appParam,
      post: {
        tags: ['Admin API'],
        operationId: 'adminRotateClientSecret',
        summary: 'Rotate the client secret; the old one keeps working for `overlap_seconds` (default 24 h).',
        security: adminSecurity,
        requestBody: jsonBody(
          { type: 'object', properties: { overlap_seconds: { type: 'integer', minimum: 0 } } },
          { overlap_seconds: 3600 },
          false,
        ),
        responses: {
          '200': json('The new secret, shown this once.', {
            type: 'object',
            required: ['client_secret'],
            additionalProperties: false,
            properties: { client_secret: str },
          }),
          '404': errorRef('NotFound'),
          ...adminErrors,
        },
      },
    },
    '/admin/applications/{client_id}/webhook-secret': {
      parameters: appParam,
      post: {
        tags: ['Admin API'],
        operationId: 'adminRotateWebhookSecret',
        summary: 'Rotate the webhook signing secret.',
        security: adminSecurity,
        responses: {
          '200': json('The new webhook secret, shown this once.', {
            type: 'object',
            required: ['webhook_secret'],
            additionalProperties: false,
            properties: { webhook_secret: str },
          }),
          '404': errorRef('NotFound'),
          ...adminErrors,
        },
      },
    },
    '/admin/authorizations': {
      post: {
        tags: ['Admin API'],
        operationId: 'adminAuthorize',
        summary: 'Record a seller’s consent as an operator and issue a code, as the consent page would.',
        security: adminSecurity,
        requestBody: jsonBody(
          {
            type: 'object',
            required: ['client_id', 'user_id'],
            properties: {
              client_id: { anyOf: [clientIdSchema, { type: 'integer' }] },
              user_id: userIdSchema,
              redirect_uri: str,
              scope: str,
              code_challenge: str,
              code_challenge_method: { type: 'string', enum: ['S256', 'plain'] },
            },
          },
          { client_id: '4934588586838432', user_id: 241983636 },
        ),
        responses: {
          '201': json('The code and where it goes.', {
            type: 'object',
            required: ['code', 'redirect_uri'],
            additionalProperties: false,
            properties: { code: { type: 'string', pattern: '^TG-[0-9a-f]{32,}-[0-9]+$' }, redirect_uri: str },
          }),
          '404': errorRef('NotFound'),
          ...adminErrors,
        },
      },
    },
    '/admin/grants/{client_id}/{user_id}': {
      parameters: [
        { ...clientIdParam, schema: str },
        { ...userIdParam, schema: str },
      ],
      delete: {
        tags: ['Admin API'],
        operationId: 'adminRevokeGrant',
        summary: 'Revoke a seller’s authorization, its tokens and outstanding codes.',
        security: adminSecurity,
        responses: { '204': { description: 'Revoked.' }, '404': errorRef('NotFound'), ...adminErrors },
      },
    },
    '/admin/audit': {
      get: {
        tags: ['Admin API'],
        operationId: 'adminAudit',
        summary: 'The audit trail, newest first, paginated.',
        security: adminSecurity,
        parameters: [
          { name: 'user_id', in: 'query', required: false, schema: str },
          { name: 'client_id', in: 'query', required: false, schema: str },
          { name: 'type', in: 'query', required: false, schema: str },
          {
            name: 'since',
            in: 'query',
            required: false,
            schema: str,
            description: 'An ISO date or a duration (`24h`).',
          },
          { name: 'cursor', in: 'query', required: false, schema: str },
        ],
        responses: { '200': json('One page of events.', ref('AuditPage')), ...adminErrors },
      },
    },
  };
}

/** The document for one listener; see OpenApiOptions. */
export function openApiDocument(options: OpenApiOptions): OAS.Document {
  const paths: OAS.PathsObject = {
    ...(options.publicApi ? publicPaths() : {}),
    ...(options.publicApi ? developerPaths() : {}),
    ...(options.publicApi && options.demo ? demoPaths() : {}),
    ...operationalPaths(options),
    ...(options.admin ? adminPaths() : {}),
  };
  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    info: {
      title: 'Renova',
      version: '0.1.0',
      summary: 'OAuth 2.0 token service, wire-compatible with Mercado Pago’s OAuth.',
      description:
        'The reference in prose is docs/api.md. Every JSON error has the body of the `Error` schema. Unknown paths answer 404 `not_found`; a path segment over 64 characters answers 414; bad percent-encoding in the path answers 400.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'OAuth', description: 'RFC 6749, 7009, 7662, 8414 endpoints.' },
      { name: 'Owner API', description: 'Called by an application with its own client_credentials token.' },
      { name: 'Pages', description: 'HTML for sellers and owners; errors are pages too.' },
      { name: 'Developer portal', description: 'HTML for application owners (docs/developer-portal.md).' },
      { name: 'Operations', description: 'Health, readiness, metrics, this document.' },
      ...(options.admin
        ? [{ name: 'Admin API', description: 'Registered only with RENOVA_ADMIN_TOKEN.' }]
        : []),
      ...(options.demo && options.publicApi ? [{ name: 'Demo', description: '`serve --demo` only.' }] : []),
    ],
    paths,
    components: {
      schemas,
      responses,
      securitySchemes: {
        client_secret_basic: {
          type: 'http',
          scheme: 'basic',
          description:
            'RFC 6749 §2.3.1: `client_id:client_secret` in HTTP Basic; a failure answers 401 with `WWW-Authenticate: Basic`.',
        },
        client_secret_post: {
          type: 'oauth2',
          description:
            'RFC 6749 §2.3.1 client_secret_post: `client_id` and `client_secret` as fields of the token, revocation or introspection request body (form or JSON; see `TokenRequest`), never in a header; or `client_secret` = an unexpired client_credentials access token of the application, without `client_id` (Mercado Pago Java SDK). The operations list it as the empty security requirement `{}` beside `client_secret_basic`, since OpenAPI cannot name a body field as a credential.',
          flows: {
            authorizationCode: {
              authorizationUrl: '/authorization',
              tokenUrl: '/oauth/token',
              refreshUrl: '/oauth/token',
              scopes: {
                offline_access: 'Refresh tokens: the grant can be renewed without the seller.',
                read: 'Read the seller’s data.',
                write: 'Act for the seller.',
              },
            },
            clientCredentials: { tokenUrl: '/oauth/token', scopes: {} },
          },
        },
        user_bearer: { type: 'http', scheme: 'bearer', description: 'An access token (RFC 6750 §2.1).' },
        owner_bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'The application’s own client_credentials access token (docs/api.md §4.4).',
        },
        admin_bearer: {
          type: 'http',
          scheme: 'bearer',
          description: '`Authorization: Bearer $RENOVA_ADMIN_TOKEN`.',
        },
        metrics_bearer: {
          type: 'http',
          scheme: 'bearer',
          description: '`Authorization: Bearer $RENOVA_METRICS_TOKEN` (when set).',
        },
        seller_session: {
          type: 'apiKey',
          in: 'cookie',
          name: 'renova_session',
          description: 'The seller’s sign-in session.',
        },
      },
    },
  };
}
