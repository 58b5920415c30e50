import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { Counter, collectDefaultMetrics, Histogram, Registry as MetricsRegistry } from 'prom-client';
import { presentedCredentials } from '../core/client-auth.ts';
import { InvalidRequestError, NotFoundError, OAuthError, RateLimitedError } from '../core/errors.ts';
import type { Params } from '../core/params.ts';
import { ALL_SCOPES } from '../core/scopes.ts';
import type { Services } from '../services.ts';
import { adminRoutes } from './admin.ts';
import { parseParamsBody } from './body.ts';
import { type DemoState, registerDemoPages } from './demo.ts';
import { toErrorReply } from './errors.ts';
import { registerSellerPages } from './seller.ts';
import { usersMeView } from './views.ts';

export type { DemoState };

export interface HttpOptions {
  /** The issuer identifier (RFC 8414 §2), e.g. `http://127.0.0.1:8080`. */
  issuer: string;
  /**
   * Enables the admin API when set (at least 32 characters). Without it the admin routes are not
   * registered at all.
   */
  adminToken?: string | undefined;
  /**
   * Where the admin API is served: `public` (default) beside the OAuth endpoints, or `separate`:
   * not on this app at all, because `buildAdminApp` serves it on its own listener
   * (RENOVA_ADMIN_LISTEN).
   */
  adminListener?: 'public' | 'separate';
  logger?: FastifyBaseLogger | false;
  /** `serve --demo`: serves /demo/start and /demo/callback with these (late-filled) credentials. */
  demo?: DemoState | undefined;
  /** Which proxies' X-Forwarded-For to believe (see runtime.ts trustProxyFromEnv); none by default. */
  trustProxy?: boolean | number | string[];
}

/** CONTRACT §4.2: a body over 16 KiB is rejected. */
const BODY_LIMIT = 16 * 1024;

/** Builds the HTTP application. This layer alone knows URLs, headers and status codes. */
export async function buildApp(services: Services, options: HttpOptions): Promise<FastifyInstance> {
  // Fastify gets no logger: a child logger per request cost more than the token endpoint's own
  // checks. Refusals and failures are logged here, with their private detail.
  const log = options.logger || undefined;
  const app = createFastify(log, options.trustProxy);
  const metrics = createMetrics();

  // The OAuth endpoints parse their own bodies, so that every malformed body gets a precise
  // invalid_request (JSON syntax errors located, duplicate form parameters refused).
  await app.register(async (oauth) => {
    oauth.removeAllContentTypeParsers();
    oauth.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_request, body, done) =>
      done(null, body),
    );

    const clientRequest = (request: FastifyRequest) => ({
      params: readParams(request),
      authorization: request.headers.authorization,
      remoteAddress: request.ip,
    });

    oauth.post('/oauth/token', async (request, reply) => {
      const end = metrics.tokenDuration.startTimer();
      let outcome = 'error';
      let grantType = 'unknown';
      try {
        const input = clientRequest(request);
        grantType = typeof input.params.grant_type === 'string' ? input.params.grant_type : 'unknown';
        if (services.requestLimiter) await countTokenRequest(services, input);
        const result = await services.tokens.handle(input);
        outcome = result.outcome;
        void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
        return result.response;
      } catch (error) {
        if (error instanceof OAuthError) outcome = error.error;
        throw error;
      } finally {
        const known = ['authorization_code', 'refresh_token', 'client_credentials'].includes(grantType);
        const labels = { grant_type: known ? grantType : 'other', outcome };
        metrics.tokenRequests.inc(labels);
        end(labels);
      }
    });

    oauth.post('/oauth/revoke', async (request, reply) => {
      await services.inspection.revoke(clientRequest(request));
      void reply.header('cache-control', 'no-store');
      return {};
    });

    oauth.post('/oauth/introspect', async (request, reply) => {
      const answer = await services.inspection.introspect(clientRequest(request));
      void reply.header('cache-control', 'no-store');
      return answer;
    });
  });

  app.get('/.well-known/oauth-authorization-server', async () => metadata(options.issuer));

  app.get('/users/me', async (request) => {
    const { user } = await services.inspection.userOfBearer(request.headers.authorization);
    return usersMeView(user);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  // Ready means a write can succeed now (the storage answers, its writer runs, the file is
  // writable): a load balancer then never sends traffic this instance cannot store. The reason is
  // in the body, and logged once per change, not once per probe.
  let unready: string | undefined;
  app.get('/readyz', async (_request, reply) => {
    try {
      await services.storage.ping();
      if (unready !== undefined) log?.info({ previously: unready }, 'ready again');
      unready = undefined;
      return { status: 'ready' };
    } catch (error) {
      const reason = error instanceof OAuthError ? error.description : 'the storage did not answer';
      if (unready !== reason) log?.error({ err: error, reason }, 'not ready: writes cannot succeed');
      unready = reason;
      return reply.code(503).header('retry-after', '1').send({ status: 'unavailable', reason });
    }
  });
  app.get('/metrics', async (_request, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  if (options.adminToken && options.adminListener !== 'separate') {
    const token = options.adminToken;
    await app.register((admin) => adminRoutes(admin, services, { token, log }), { prefix: '/admin' });
  }
  // The seller's side: consent, sign-in, account page (and the demo client in demo mode).
  await app.register(async (pages) => {
    registerSellerPages(pages, services, {
      issuer: () => options.issuer,
      demo: options.demo !== undefined,
      log,
    });
    if (options.demo) registerDemoPages(pages, services, () => options.issuer, options.demo);
  });
  return app;
}

/**
 * The admin API alone, for its own listener (RENOVA_ADMIN_LISTEN), so that operators can keep it
 * off the public interface as Ory Hydra separates its public and admin ports.
 */
export async function buildAdminApp(
  services: Services,
  options: { adminToken: string; logger?: FastifyBaseLogger | false; trustProxy?: HttpOptions['trustProxy'] },
): Promise<FastifyInstance> {
  const log = options.logger || undefined;
  const app = createFastify(log, options.trustProxy);
  app.get('/healthz', async () => ({ status: 'ok' }));
  await app.register((admin) => adminRoutes(admin, services, { token: options.adminToken, log }), {
    prefix: '/admin',
  });
  return app;
}

/** A Fastify instance with the one error mapping and 404 answer every listener shares. */
function createFastify(log: FastifyBaseLogger | undefined, trustProxy: HttpOptions['trustProxy']) {
  // Fastify gets no logger: a child logger per request cost more than the token endpoint's own
  // checks. Refusals and failures are logged here, with their private detail.
  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    // A hop count becomes a function: Fastify's types take booleans, addresses or a function.
    trustProxy:
      typeof trustProxy === 'number'
        ? (
            (hops: number) => (_address: string, hop: number) =>
              hop < hops
          )(trustProxy)
        : (trustProxy ?? false),
    return503OnClosing: true,
  });

  app.setErrorHandler((error, request, reply) => {
    const answer = toErrorReply(error);
    if (answer.status >= 500 && !(error instanceof OAuthError)) {
      log?.error({ err: error, method: request.method, url: request.url }, 'request failed');
    } else if (error instanceof OAuthError && error.detail) {
      log?.info({ error: error.error, detail: error.detail, url: request.url }, 'request refused');
    }
    void reply
      .code(answer.status)
      .headers(answer.headers)
      .header('cache-control', 'no-store')
      .send(answer.body);
  });

  app.setNotFoundHandler((request, reply) => {
    const answer = toErrorReply(
      new NotFoundError(`no route for ${request.method} ${request.url.split('?')[0]}`),
    );
    void reply.code(answer.status).send(answer.body);
  });
  return app;
}

/**
 * Token requests per address and per client (issue 4 §4), counted before any storage work so that a
 * flood costs one counter increment each. The client id is the one presented, not yet verified:
 * this only spreads the budget, authentication still decides.
 */
async function countTokenRequest(
  services: Services,
  input: { params: Params; authorization: string | undefined; remoteAddress: string },
): Promise<void> {
  const limiter = services.requestLimiter;
  if (!limiter) return;
  const now = services.clock.now();
  const keys = [`addr:${input.remoteAddress}`];
  let clientId: string | undefined;
  try {
    clientId = presentedCredentials(input.params, input.authorization).clientId;
  } catch {
    // Malformed credentials are answered by the token endpoint itself.
  }
  if (clientId !== undefined) keys.push(`client:${clientId}`);
  for (const key of keys) {
    const wait = await limiter.retryAfter(key, now);
    if (wait > 0) throw new RateLimitedError(`too many token requests; retry in ${wait} s`, wait);
  }
  await Promise.all(keys.map((key) => limiter.recordFailure(key, now)));
}

/** CONTRACT §4.2: parameters in the query string are rejected; the body is the only source. */
function readParams(request: FastifyRequest): Params {
  const query = request.url.indexOf('?');
  if (query >= 0 && query < request.url.length - 1) {
    throw new InvalidRequestError(
      'parameters must be sent in the request body, not in the query string (RFC 6749 §3.2)',
    );
  }
  return parseParamsBody(request.headers['content-type'], request.body as string | undefined);
}

/** RFC 8414 §2. */
function metadata(issuer: string) {
  return {
    issuer,
    authorization_endpoint: `${issuer}/authorization`,
    token_endpoint: `${issuer}/oauth/token`,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    introspection_endpoint: `${issuer}/oauth/introspect`,
    userinfo_endpoint: `${issuer}/users/me`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    code_challenge_methods_supported: ['S256', 'plain'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    revocation_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    introspection_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    scopes_supported: [...ALL_SCOPES],
    authorization_response_iss_parameter_supported: true,
  };
}

function createMetrics() {
  const registry = new MetricsRegistry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    tokenRequests: new Counter({
      name: 'renova_token_requests_total',
      help: 'Token endpoint requests by grant type and outcome (issued, rotated, replayed, or the error code).',
      labelNames: ['grant_type', 'outcome'] as const,
      registers: [registry],
    }),
    tokenDuration: new Histogram({
      name: 'renova_token_request_duration_seconds',
      help: 'Token endpoint latency, including the durable commit.',
      labelNames: ['grant_type', 'outcome'] as const,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
      registers: [registry],
    }),
  };
}

export type { FastifyReply };
