import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import { weakBearerSecret } from '../config.ts';
import type { UpdateApplicationInput } from '../core/applications.ts';
import { asOperator } from '../core/audit.ts';
import { InvalidRequestError } from '../core/errors.ts';
import { CLIENT_ID_PATTERN, forLog, isClientId, isUserId } from '../core/identifiers.ts';
import type { Services } from '../services.ts';
import {
  applicationView,
  auditPageView,
  clientSecretView,
  createdApplicationView,
  issuedCodeView,
  sellersPageView,
  testUserView,
  userView,
  webhookSecretView,
} from '../views.ts';
import { bearerSecretGuard } from './bearer-secret.ts';
import { sellersQuery } from './owner.ts';

const str = { type: 'string' } as const;
/** RFC 7591 §2 `grant_types`; the values are checked by core/applications.ts, which names the accepted ones. */
const grantTypes = { type: 'array', items: str, maxItems: 10 } as const;
const userId = { type: 'integer', minimum: 1 } as const;
const clientId = { type: 'string', pattern: CLIENT_ID_PATTERN } as const;
/** The `:client_id` path parameter of the application routes (a fresh schema object per route). */
const clientIdParams = () => ({ type: 'object', properties: { client_id: clientId } }) as const;

/**
 * Throws a message an operator can act on when the admin token is too weak: it is the only thing
 * between the internet and every seller. The same rule as the configuration's (src/config.ts).
 */
export function assertAdminToken(token: string): void {
  const weakness = weakBearerSecret(token);
  if (weakness) throw new Error(`RENOVA_ADMIN_TOKEN ${weakness}`);
}

export interface AdminApiOptions {
  /** The bearer token every admin call must present (at least MIN_BEARER_SECRET_LENGTH characters, src/config.ts). */
  token: string;
  log?: FastifyBaseLogger | undefined;
}

/**
 * What an admin action acted on, for the log: identifiers only, never a body field that may hold a
 * secret. A path or body value that is not a well-formed identifier is logged only as a cut
 * (security review #7): the path of a refused call may be kilobytes long.
 */
function actionTarget(request: FastifyRequest): Record<string, unknown> {
  const target: Record<string, unknown> = {};
  const identifier = (field: string, value: unknown) =>
    field === 'client_id' ? isClientId(value) || typeof value === 'number' : isUserId(value);
  const add = (field: string, value: unknown) => {
    if (identifier(field, value)) target[field] = value;
    else if (typeof value === 'string') target[field] = forLog(value);
  };
  for (const [field, value] of Object.entries((request.params as Record<string, unknown> | undefined) ?? {}))
    add(field, value);
  const body = request.body as Record<string, unknown> | null | undefined;
  if (body && typeof body === 'object') {
    for (const field of ['client_id', 'user_id', 'owner_user_id'] as const) {
      const value = body[field];
      if (identifier(field, value)) target[field] = value;
    }
  }
  return target;
}

/**
 * The admin API (docs/api.md, "Admin API"). Register it only when an admin token is configured:
 * without one the routes do not exist. Authentication is a hook of this plugin, so it runs for
 * every route the plugin declares however the path was spelled (`/%61dmin/users` is routed here
 * after decoding, and meets the same check); nothing tests the URL string.
 * It calls the same core services the CLI calls. Bodies are checked by JSON schema.
 */
export async function adminRoutes(
  admin: FastifyInstance,
  services: Services,
  options: AdminApiOptions,
): Promise<void> {
  const { accounts, applications, consent } = services;
  /** Every change an admin call makes is recorded in the audit trail as the operator's. */
  const operator = (request: FastifyRequest) =>
    asOperator('admin-api', { requestId: request.id, remoteAddress: request.ip });
  assertAdminToken(options.token);
  const log = options.log;
  const authenticated = new WeakSet<FastifyRequest>();

  const guard = bearerSecretGuard({
    secret: options.token,
    name: 'admin',
    variable: 'RENOVA_ADMIN_TOKEN',
    limiter: services.adminLimiter,
    clock: services.clock,
    log,
  });
  admin.addHook('onRequest', async (request) => {
    await guard(request);
    authenticated.add(request);
  });

  // Every authenticated admin call leaves one structured event: who, what, on which target, with
  // what result. Never a body: it may hold a password or a secret.
  admin.addHook('onResponse', async (request, reply) => {
    if (!authenticated.has(request)) return;
    log?.info(
      {
        event: 'admin.action',
        actor: 'operator',
        action: `${request.method} ${request.routeOptions.url}`,
        target: actionTarget(request),
        status: reply.statusCode,
        remote_address: request.ip,
        request_id: request.id,
      },
      'admin action',
    );
  });

  admin.post(
    '/users',
    {
      schema: {
        body: {
          type: 'object',
          required: ['email'],
          properties: { email: str, password: str, nickname: str, site_id: str },
        },
      },
    },
    async (request, reply) => {
      const body = request.body as { email: string; password?: string; nickname?: string; site_id?: string };
      const user = await accounts.createUser(
        {
          email: body.email,
          password: body.password,
          nickname: body.nickname,
          siteId: body.site_id,
        },
        operator(request),
      );
      return reply.code(201).send(userView(user));
    },
  );

  admin.post(
    '/applications',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name', 'owner_user_id', 'redirect_uris'],
          properties: {
            name: str,
            description: str,
            logo_url: { anyOf: [str, { type: 'null' }] },
            owner_user_id: userId,
            redirect_uris: { type: 'array', items: str, minItems: 1 },
            scopes: { anyOf: [{ type: 'array', items: str, minItems: 1 }, str] },
            pkce_required: { type: 'boolean' },
            notification_url: { anyOf: [str, { type: 'null' }] },
            grant_types: grantTypes,
          },
        },
      },
    },
    async (request, reply) => {
      const body = request.body as ApplicationSettingsBody & {
        name: string;
        owner_user_id: number;
        redirect_uris: string[];
      };
      const created = await applications.create(
        {
          ...applicationSettings(body),
          name: body.name,
          ownerUserId: body.owner_user_id,
          redirectUris: body.redirect_uris,
        },
        operator(request),
      );
      return reply.code(201).send(createdApplicationView(created));
    },
  );

  // Changes any subset of an application's settings; core checks every value and reports all
  // invalid fields at once (InvalidApplicationFieldsError → 400 invalid_request).
  admin.patch(
    '/applications/:client_id',
    {
      schema: {
        params: clientIdParams(),
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name: str,
            description: str,
            logo_url: { anyOf: [str, { type: 'null' }] },
            redirect_uris: { type: 'array', items: str, maxItems: 100 },
            scopes: { anyOf: [{ type: 'array', items: str, minItems: 1, maxItems: 10 }, str] },
            pkce_required: { type: 'boolean' },
            notification_url: { anyOf: [str, { type: 'null' }] },
            grant_types: grantTypes,
          },
        },
      },
    },
    async (request) => {
      const { client_id } = request.params as { client_id: string };
      const body = request.body as ApplicationSettingsBody;
      return applicationView(
        await applications.update(client_id, applicationSettings(body), operator(request)),
      );
    },
  );

  // Revokes every grant, token, code and secret of the application; its client_id stays taken.
  admin.delete(
    '/applications/:client_id',
    { schema: { params: clientIdParams() } },
    async (request, reply) => {
      await applications.delete((request.params as { client_id: string }).client_id, operator(request));
      return reply.code(204).send();
    },
  );

  // The operator's superset of GET /applications/{client_id}/grants (any application).
  admin.get('/applications/:client_id/grants', { schema: { params: clientIdParams() } }, async (request) =>
    sellersPageView(
      await applications.sellers(
        (request.params as { client_id: string }).client_id,
        sellersQuery(request.query),
      ),
    ),
  );

  admin.get(
    '/applications/:client_id/test_users',
    { schema: { params: clientIdParams() } },
    async (request) => {
      const { client_id } = request.params as { client_id: string };
      const users = await services.testUsers.list(client_id);
      return {
        paging: { total: users.length, limit: services.testUsers.limit },
        results: users.map(testUserView),
      };
    },
  );

  admin.post(
    '/applications/:client_id/secret',
    {
      schema: {
        params: clientIdParams(),
        body: {
          anyOf: [
            { type: 'object', properties: { overlap_seconds: { type: 'integer', minimum: 0 } } },
            { type: 'null' },
          ],
        },
      },
    },
    async (request) => {
      const { client_id } = request.params as { client_id: string };
      const body = (request.body ?? {}) as { overlap_seconds?: number };
      return clientSecretView(
        await applications.rotateClientSecret(client_id, body.overlap_seconds, operator(request)),
      );
    },
  );

  admin.post(
    '/applications/:client_id/webhook-secret',
    { schema: { params: clientIdParams() } },
    async (request) =>
      webhookSecretView(
        await applications.rotateWebhookSecret(
          (request.params as { client_id: string }).client_id,
          operator(request),
        ),
      ),
  );

  admin.post(
    '/authorizations',
    {
      schema: {
        body: {
          type: 'object',
          required: ['client_id', 'user_id'],
          properties: {
            client_id: { anyOf: [clientId, { type: 'integer' }] },
            user_id: userId,
            redirect_uri: str,
            scope: str,
            code_challenge: str,
            code_challenge_method: str,
          },
        },
      },
    },
    async (request, reply) => {
      const body = request.body as {
        client_id: string | number;
        user_id: number;
        redirect_uri?: string;
        scope?: string;
        code_challenge?: string;
        code_challenge_method?: string;
      };
      const issued = await consent.authorize(
        {
          clientId: String(body.client_id),
          userId: body.user_id,
          redirectUri: body.redirect_uri,
          scope: body.scope,
          codeChallenge: body.code_challenge,
          codeChallengeMethod: body.code_challenge_method,
        },
        operator(request),
      );
      return reply.code(201).send(issuedCodeView(issued));
    },
  );

  admin.delete('/grants/:client_id/:user_id', async (request, reply) => {
    const params = request.params as { client_id: string; user_id: string };
    if (!isClientId(params.client_id)) throw new InvalidRequestError('client_id must be 16 digits');
    if (!isUserId(params.user_id)) throw new InvalidRequestError('user_id must be a positive integer');
    await consent.revokeGrant(params.client_id, Number(params.user_id), operator(request));
    return reply.code(204).send();
  });

  // The audit trail, newest first (docs/api.md §4.5). Every parameter is validated by core
  // (AuditTrail.list), which names what is wrong; a parameter given twice is refused here, since
  // Fastify would otherwise hand over an array.
  admin.get('/audit', async (request) => {
    const query = request.query as Record<string, unknown>;
    const known = ['user_id', 'client_id', 'type', 'since', 'cursor', 'limit'];
    const one = (name: string): string | undefined => {
      const value = query[name];
      if (value === undefined) return undefined;
      if (typeof value !== 'string') throw new InvalidRequestError(`${name} must be given at most once`);
      return value;
    };
    for (const name of Object.keys(query)) {
      if (!known.includes(name)) {
        throw new InvalidRequestError(`unknown parameter ${forLog(name)}; use ${known.join(', ')}`);
      }
    }
    return auditPageView(
      await services.audit.list({
        userId: one('user_id'),
        clientId: one('client_id'),
        type: one('type'),
        since: one('since'),
        cursor: one('cursor'),
        limit: one('limit'),
      }),
    );
  });
}

/** An application's settings as the admin API's POST and PATCH take them (snake_case, the wire names). */
interface ApplicationSettingsBody {
  name?: string;
  description?: string;
  logo_url?: string | null;
  redirect_uris?: string[];
  scopes?: string[] | string;
  pkce_required?: boolean;
  notification_url?: string | null;
  grant_types?: string[];
}

/** The wire body's settings for core (`scopes` may come as an array or as one space-separated string). */
function applicationSettings(body: ApplicationSettingsBody): UpdateApplicationInput {
  return {
    name: body.name,
    description: body.description,
    logoUrl: body.logo_url,
    redirectUris: body.redirect_uris,
    scope: Array.isArray(body.scopes) ? body.scopes.join(' ') : body.scopes,
    pkceRequired: body.pkce_required,
    notificationUrl: body.notification_url,
    grantTypes: body.grant_types,
  };
}
