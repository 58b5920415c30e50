import type { FastifyInstance, FastifyRequest } from 'fastify';
import { InvalidRequestError } from '../core/errors.ts';
import { isClientId, isUserId } from '../core/identifiers.ts';
import type { Services } from '../services.ts';
import type { ApplicationRecord } from '../storage/contract.ts';
import { sellersPageView } from '../views.ts';
import { parseJsonObjectBody } from './body.ts';

/** docs/api.md §4.2's limit applies here too. */
const BODY_LIMIT = 16 * 1024;

/**
 * The application-owner API (docs/api.md "Application-owner API"): Mercado Pago's
 * `POST /users/test_user` and the sellers of one's own application. Every route takes
 * `Authorization: Bearer <a client_credentials token of the application>`; the check is this
 * plugin's `onRequest` hook, so it runs for every route however its path was spelled, before any
 * body is read. An unknown, expired or revoked token is 401 (`WWW-Authenticate: Bearer
 * error="invalid_token"`, as `/users/me`); a seller's token, or another application's, 403
 * `insufficient_scope` (RFC 6750 §3.1).
 */
export async function ownerRoutes(api: FastifyInstance, services: Services): Promise<void> {
  const callers = new WeakMap<FastifyRequest, ApplicationRecord>();
  const caller = (request: FastifyRequest): ApplicationRecord => {
    const app = callers.get(request);
    // The hook ran for every route of this plugin; a missing entry is a bug, not a client error.
    if (!app) throw new Error('owner API route reached without authentication');
    return app;
  };

  api.removeAllContentTypeParsers();
  api.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_request, body, done) =>
    done(null, body),
  );

  api.addHook('onRequest', async (request) => {
    const { app } = await services.bearer.applicationOfBearer(request.headers.authorization);
    callers.set(request, app);
  });

  /**
   * The path's client_id: checked as an identifier before any use (a malformed one is never
   * echoed or looked up), then as the caller's own application (403 otherwise).
   */
  const requireOwn = (request: FastifyRequest): string => {
    const { client_id } = request.params as { client_id: string };
    if (!isClientId(client_id)) throw new InvalidRequestError('client_id in the path must be 16 digits');
    services.bearer.requireSameApplication(caller(request), client_id);
    return client_id;
  };

  api.post('/users/test_user', async (request, reply) => {
    const app = caller(request);
    const body = parseJsonObjectBody(request.headers['content-type'], request.body as string | undefined);
    const created = await services.testUsers.create(app.clientId, {
      siteId: body.site_id,
      description: body.description,
    });
    return reply.code(201).header('cache-control', 'no-store').send(created);
  });

  api.get('/applications/:client_id/grants', async (request, reply) => {
    const clientId = requireOwn(request);
    const page = await services.applications.sellers(clientId, sellersQuery(request.query));
    return reply.header('cache-control', 'no-store').send(sellersPageView(page));
  });

  api.delete('/applications/:client_id/grants/:user_id', async (request, reply) => {
    const clientId = requireOwn(request);
    const { user_id } = request.params as { user_id: string };
    if (!isUserId(user_id)) throw new InvalidRequestError('user_id in the path must be a positive integer');
    // The same step as the seller's own revocation: tokens, codes and the application.deauthorized
    // webhook in one transaction.
    await services.consent.revokeGrant(clientId, Number(user_id));
    return reply.code(204).send();
  });
}

/**
 * `?limit=&cursor=&search=&test_users=` of the sellers listings (owner and admin API). Each is
 * given at most once; unknown parameters are ignored.
 */
export function sellersQuery(query: unknown): {
  limit?: number;
  cursor?: string;
  search?: string;
  testUsers?: boolean;
} {
  const q = (query ?? {}) as Record<string, unknown>;
  const one = (name: string): string | undefined => {
    const value = q[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string')
      throw new InvalidRequestError(`${name} is given more than once; send it once`);
    return value;
  };
  const out: { limit?: number; cursor?: string; search?: string; testUsers?: boolean } = {};
  const limit = one('limit');
  if (limit !== undefined) {
    if (!/^[0-9]{1,4}$/.test(limit))
      throw new InvalidRequestError('limit must be a whole number from 1 to 100');
    out.limit = Number(limit);
  }
  const cursor = one('cursor');
  if (cursor !== undefined) out.cursor = cursor;
  const search = one('search');
  if (search !== undefined) out.search = search;
  const testUsers = one('test_users');
  if (testUsers !== undefined) {
    if (testUsers !== 'true' && testUsers !== 'false')
      throw new InvalidRequestError('test_users must be true or false');
    out.testUsers = testUsers === 'true';
  }
  return out;
}
