import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import {
  InvalidRequestError,
  NotFoundError,
  OAuthError,
  RateLimitedError,
  TemporarilyUnavailableError,
} from '../core/errors.ts';
import { GRANT_TYPES, isGrantType } from '../core/grants/index.ts';
import { forLog, LOG_FIELD_MAX } from '../core/identifiers.ts';
import type { Params } from '../core/params.ts';
import { countAgainst, longestWait } from '../core/rate-limit.ts';
import { ALL_SCOPES } from '../core/scopes.ts';
import type { Services } from '../services.ts';
import { usersMeView } from '../views.ts';
import { adminRoutes } from './admin.ts';
import { parseParamsBody } from './body.ts';
import { type DemoState, registerDemoPages } from './demo.ts';
import { toErrorReply } from './errors.ts';
import { createMetrics, type HttpMetrics, metricsRoutes } from './metrics.ts';
import { ownerRoutes } from './owner.ts';
import { answerFrameworkError, answerParserError, MAX_PARAM_LENGTH } from './parser-errors.ts';
import { registerSellerPages } from './seller.ts';

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
  /**
   * RENOVA_METRICS_TOKEN (at least 32 characters). `/metrics` is served on this listener only with
   * it, and only to requests that present it; without it `/metrics` is not registered here (the
   * admin listener serves it, see `buildAdminApp`).
   */
  metricsToken?: string | undefined;
  /** Shared with the admin listener so both serve the same counters; created when omitted. */
  metrics?: HttpMetrics | undefined;
}

/** docs/api.md §4.2: a body over 16 KiB is rejected. */
const BODY_LIMIT = 16 * 1024;

/** Builds the HTTP application. This layer alone knows URLs, headers and status codes. */
export async function buildApp(services: Services, options: HttpOptions): Promise<FastifyInstance> {
  // Fastify gets no logger: a child logger per request cost more than the token endpoint's own
  // checks. Refusals and failures are logged here, with their private detail.
  const log = options.logger || undefined;
  const app = createFastify(log, options.trustProxy);
  const metrics = options.metrics ?? createMetrics();

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
        const onAuthenticated = services.requestLimiter
          ? await countTokenRequest(services, input)
          : undefined;
        const result = await services.tokens.handle({ ...input, onAuthenticated });
        outcome = result.outcome;
        void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
        return result.response;
      } catch (error) {
        if (error instanceof OAuthError) outcome = error.error;
        throw error;
      } finally {
        const known = isGrantType(grantType);
        const labels = { grant_type: known ? grantType : 'other', outcome };
        metrics.tokenRequests.inc(labels);
        end(labels);
      }
    });

    oauth.post('/oauth/revoke', async (request, reply) => {
      await services.revocation.revoke(clientRequest(request));
      void reply.header('cache-control', 'no-store');
      return {};
    });

    oauth.post('/oauth/introspect', async (request, reply) => {
      const answer = await services.introspection.introspect(clientRequest(request));
      void reply.header('cache-control', 'no-store');
      return answer;
    });
  });

  app.get('/.well-known/oauth-authorization-server', async () => metadata(options.issuer));

  app.get('/users/me', async (request) => {
    const { user } = await services.bearer.userOfBearer(request.headers.authorization);
    return usersMeView(user);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  // Ready means a write can succeed now (the storage answers, its writer runs, the file is
  // writable): a load balancer then never sends traffic this instance cannot store. The reason is
  // in the body, and logged once per change, not once per probe.
  let unready: string | undefined;
  app.get('/readyz', async (_request, reply) => {
    try {
      await services.ready();
      if (unready !== undefined) log?.info({ previously: unready }, 'ready again');
      unready = undefined;
      return { status: 'ready' };
    } catch (error) {
      const reason = error instanceof OAuthError ? error.description : 'the storage did not answer';
      // Once per change, not once per probe. An expected outage (503 temporarily_unavailable) is
      // a warning without a stack; anything else is a fault worth its stack.
      if (unready !== reason) {
        if (error instanceof TemporarilyUnavailableError) {
          log?.warn(
            { event: 'readiness.unready', reason, detail: error.detail },
            'not ready: writes cannot succeed',
          );
        } else log?.error({ err: error, reason }, 'not ready: writes cannot succeed');
      }
      unready = reason;
      return reply.code(503).header('retry-after', '1').send({ status: 'unavailable', reason });
    }
  });
  // Token outcomes by error code show attacks in progress (review #12): on the public listener
  // only behind the metrics token.
  if (options.metricsToken !== undefined) {
    const token = options.metricsToken;
    await app.register((plugin) => metricsRoutes(plugin, services, { metrics, token, log }));
  }

  if (options.adminToken && options.adminListener !== 'separate') {
    const token = options.adminToken;
    await app.register((admin) => adminRoutes(admin, services, { token, log }), { prefix: '/admin' });
  }
  // Application owners' API: test users and their own application's sellers (Bearer = the
  // application's client_credentials token, checked by the plugin's hook).
  await app.register((api) => ownerRoutes(api, services));
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
  options: {
    adminToken: string;
    logger?: FastifyBaseLogger | false;
    trustProxy?: HttpOptions['trustProxy'];
    /** The public app's counters; `/metrics` is served here, behind the metrics token when one is set. */
    metrics?: HttpMetrics | undefined;
    metricsToken?: string | undefined;
  },
): Promise<FastifyInstance> {
  const log = options.logger || undefined;
  const app = createFastify(log, options.trustProxy);
  app.get('/healthz', async () => ({ status: 'ok' }));
  if (options.metrics) {
    const { metrics, metricsToken: token } = options;
    await app.register((plugin) => metricsRoutes(plugin, services, { metrics, token, log }));
  }
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
    // What the HTTP parser and the router reject still answers in the contract's shape and closes
    // the connection cleanly (docs/api.md §4.3).
    clientErrorHandler: (error, socket) => answerParserError(error, socket, log),
    frameworkErrors: answerFrameworkError,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
  });

  app.setErrorHandler((error, request, reply) => {
    const answer = toErrorReply(error);
    if (answer.status >= 500 && !(error instanceof OAuthError)) {
      log?.error(
        { err: error, method: request.method, url: forLog(request.url, LOG_FIELD_MAX) },
        'request failed',
      );
    } else if (
      error instanceof OAuthError &&
      error.detail &&
      !(error instanceof TemporarilyUnavailableError)
    ) {
      // Storage outages are logged once per episode (services.availability), not per request.
      // Both fields may quote what a client sent: cut, so one request cannot grow the log by its
      // size (security review #7).
      log?.info(
        {
          error: error.error,
          detail: forLog(error.detail, LOG_FIELD_MAX),
          url: forLog(request.url, LOG_FIELD_MAX),
        },
        'request refused',
      );
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
 * Token requests per address and per client (docs/security.md, finding 2). The address is counted before any
 * storage work, so that a flood costs one counter increment each. The client is counted only once
 * it has authenticated, under its verified id: counting the presented (public) `client_id` would let
 * anyone spend a client's budget and lock it out of its own token endpoint (security review #2).
 * Returns the hook the token endpoint calls after authentication.
 */
async function countTokenRequest(
  services: Services,
  input: { remoteAddress: string },
): Promise<((clientId: string) => Promise<void>) | undefined> {
  const limiter = services.requestLimiter;
  if (!limiter) return undefined;
  const limit = async (key: string) => {
    const now = services.clock.now();
    const keys = [{ limiter, key }];
    const wait = await longestWait(keys, now);
    if (wait > 0) throw new RateLimitedError(`too many token requests; retry in ${wait} s`, wait);
    await countAgainst(keys, now);
  };
  await limit(`addr:${input.remoteAddress}`);
  return (clientId) => limit(`client:${clientId}`);
}

/** docs/api.md §4.2: parameters in the query string are rejected; the body is the only source. */
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
    grant_types_supported: GRANT_TYPES,
    code_challenge_methods_supported: ['S256', 'plain'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    revocation_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    introspection_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
    scopes_supported: [...ALL_SCOPES],
    authorization_response_iss_parameter_supported: true,
  };
}
