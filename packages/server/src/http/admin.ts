import type { FastifyInstance } from 'fastify';
import { InvalidRequestError, InvalidTokenError, NotFoundError } from '../core/errors.ts';
import type { Services } from '../services.ts';
import { isAdmin } from './app.ts';

const str = { type: 'string' } as const;
const userId = { type: 'integer', minimum: 1 } as const;
const clientId = { type: 'string', pattern: '^[0-9]{16}$' } as const;

/**
 * The admin API (CONTRACT §4.5): enabled only when RENOVA_ADMIN_TOKEN is set, every call needs it as
 * a bearer token. It calls the same Registry the CLI calls. Bodies are checked by JSON schema.
 */
export function registerAdminRoutes(
  admin: FastifyInstance,
  services: Services,
  adminToken: string | undefined,
): void {
  const { registry } = services;

  admin.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/admin/') && request.url !== '/admin') return;
    if (!adminToken)
      throw new NotFoundError('the admin API is disabled; set RENOVA_ADMIN_TOKEN to enable it');
    if (!isAdmin(request, adminToken)) {
      throw new InvalidTokenError('send "Authorization: Bearer $RENOVA_ADMIN_TOKEN" to use the admin API');
    }
  });

  admin.post(
    '/admin/users',
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
      const user = await registry.createUser({
        email: body.email,
        password: body.password,
        nickname: body.nickname,
        siteId: body.site_id,
      });
      return reply.code(201).send(user);
    },
  );

  admin.post(
    '/admin/applications',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name', 'owner_user_id', 'redirect_uris'],
          properties: {
            name: str,
            owner_user_id: userId,
            redirect_uris: { type: 'array', items: str, minItems: 1 },
            scopes: { anyOf: [{ type: 'array', items: str, minItems: 1 }, str] },
            pkce_required: { type: 'boolean' },
            notification_url: { anyOf: [str, { type: 'null' }] },
          },
        },
      },
    },
    async (request, reply) => {
      const body = request.body as {
        name: string;
        owner_user_id: number;
        redirect_uris: string[];
        scopes?: string[] | string;
        pkce_required?: boolean;
        notification_url?: string | null;
      };
      const created = await registry.createApplication({
        name: body.name,
        ownerUserId: body.owner_user_id,
        redirectUris: body.redirect_uris,
        scope: Array.isArray(body.scopes) ? body.scopes.join(' ') : body.scopes,
        pkceRequired: body.pkce_required,
        notificationUrl: body.notification_url,
      });
      return reply.code(201).send(created);
    },
  );

  admin.post(
    '/admin/applications/:client_id/secret',
    {
      schema: {
        params: { type: 'object', properties: { client_id: clientId } },
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
      return registry.rotateClientSecret(client_id, body.overlap_seconds);
    },
  );

  admin.post(
    '/admin/applications/:client_id/webhook-secret',
    { schema: { params: { type: 'object', properties: { client_id: clientId } } } },
    async (request) => registry.rotateWebhookSecret((request.params as { client_id: string }).client_id),
  );

  admin.post(
    '/admin/authorizations',
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
      const issued = await registry.authorize({
        clientId: String(body.client_id),
        userId: body.user_id,
        redirectUri: body.redirect_uri,
        scope: body.scope,
        codeChallenge: body.code_challenge,
        codeChallengeMethod: body.code_challenge_method,
      });
      return reply.code(201).send(issued);
    },
  );

  admin.delete('/admin/grants/:client_id/:user_id', async (request, reply) => {
    const params = request.params as { client_id: string; user_id: string };
    if (!/^[0-9]{16}$/.test(params.client_id)) throw new InvalidRequestError('client_id must be 16 digits');
    if (!/^[1-9][0-9]{0,15}$/.test(params.user_id))
      throw new InvalidRequestError('user_id must be a positive integer');
    await registry.revokeGrant(params.client_id, Number(params.user_id));
    return reply.code(204).send();
  });
}
