import type { FastifyInstance } from 'fastify';
import { DEFAULT_LIFETIMES, type Lifetimes } from '../../src/core/config.ts';
import { buildApp, type HttpOptions } from '../../src/http/app.ts';
import { createServices, type ServiceOptions, type Services } from '../../src/services.ts';
import { createdApplicationView, issuedCodeView } from '../../src/views.ts';
import { TestClock } from './clock.ts';
import { attachOpenApiRecorder, type OpenApiRecorder } from './openapi-recorder.ts';
import type { StorageFactory, TestStorage } from './storages.ts';

export { TestClock };

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef0123456789';
/** RENOVA_METRICS_TOKEN of the harness: `/metrics` is only served to requests that present it. */
export const METRICS_TOKEN = 'test-metrics-token-0123456789abcdef012345678';

export interface Harness {
  app: FastifyInstance;
  services: Services;
  clock: TestClock;
  testStorage: TestStorage;
  /** Checks every response against /openapi.json; `close()` fails on a mismatch. */
  openapi: OpenApiRecorder | undefined;
  /** An integrator (owner), a seller and an application with all scopes. */
  seed(options?: { scope?: string; pkceRequired?: boolean }): Promise<Seeded>;
  close(): Promise<void>;
}

export interface Seeded {
  ownerId: number;
  sellerId: number;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** A fresh authorization code for the seller. */
  code(options?: { scope?: string; codeChallenge?: string; codeChallengeMethod?: string }): Promise<string>;
}

let counter = 0;

/** Services and an in-process Fastify app over a fresh storage from `factory`. */
export async function harness(
  factory: StorageFactory,
  options: {
    lifetimes?: Partial<Lifetimes>;
    clock?: TestClock;
    realClock?: boolean;
    /** Overrides of the HTTP options (admin token, admin listener, logger…). */
    http?: Partial<HttpOptions>;
    /** Injected services (rate limiters…). */
    services?: Pick<ServiceOptions, 'rateLimiter' | 'requestLimiter' | 'logger'>;
    /**
     * Check every response against the app's /openapi.json (test/helpers/openapi-recorder.ts).
     * On by default; RENOVA_TEST_OPENAPI=0 turns it off for a whole run.
     */
    openapi?: boolean;
  } = {},
): Promise<Harness> {
  const testStorage = await factory.create();
  const clock = options.clock ?? new TestClock();
  const services = createServices({
    storage: testStorage.storage,
    serverKey: Buffer.alloc(32, 7),
    lifetimes: { ...DEFAULT_LIFETIMES, ...options.lifetimes },
    clock: options.realClock ? { now: () => Date.now() } : clock,
    ...options.services,
  });
  const app = await buildApp(services, {
    issuer: 'http://renova.test',
    adminToken: ADMIN_TOKEN,
    metricsToken: METRICS_TOKEN,
    logger: false,
    ...options.http,
  });
  const openapi =
    (options.openapi ?? process.env.RENOVA_TEST_OPENAPI !== '0') ? attachOpenApiRecorder(app) : undefined;
  await app.ready();
  await openapi?.load(app);
  return {
    app,
    services,
    clock,
    testStorage,
    openapi,
    async seed(seedOptions = {}) {
      counter += 1;
      const owner = await services.accounts.createUser({ email: `owner${counter}@example.com` });
      const seller = await services.accounts.createUser({
        email: `seller${counter}@example.com`,
        password: 'correct horse',
      });
      const redirectUri = 'https://integrator.example.com/callback';
      const created = createdApplicationView(
        await services.applications.create({
          name: `App ${counter}`,
          ownerUserId: owner.id,
          redirectUris: [redirectUri, 'http://localhost:3000/cb'],
          pkceRequired: seedOptions.pkceRequired,
          scope: seedOptions.scope,
        }),
      );
      return {
        ownerId: owner.id,
        sellerId: seller.id,
        clientId: created.client_id,
        clientSecret: created.client_secret,
        redirectUri,
        async code(codeOptions = {}) {
          const issued = issuedCodeView(
            await services.consent.authorize({
              clientId: created.client_id,
              userId: seller.id,
              redirectUri,
              ...codeOptions,
            }),
          );
          return issued.code;
        },
      };
    },
    async close() {
      await app.close();
      await testStorage.cleanup();
      openapi?.assertNoDrift();
    },
  };
}

/** POST a form to the app in-process; returns status, headers and parsed JSON. */
export async function postForm(
  app: FastifyInstance,
  url: string,
  params: Record<string, string>,
  headers: Record<string, string> = {},
  remoteAddress?: string,
) {
  const response = await app.inject({
    method: 'POST',
    url,
    ...(remoteAddress === undefined ? {} : { remoteAddress }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(params).toString(),
  });
  return {
    status: response.statusCode,
    headers: response.headers,
    body: response.json() as Record<string, unknown>,
  };
}

export async function postJson(
  app: FastifyInstance,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const response = await app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: response.statusCode,
    headers: response.headers,
    body: response.json() as Record<string, unknown>,
  };
}

/** Exchanges a fresh code and returns the token response. */
export async function exchange(app: FastifyInstance, seeded: Seeded, extra: Record<string, string> = {}) {
  const code = await seeded.code();
  const answer = await postForm(app, '/oauth/token', {
    grant_type: 'authorization_code',
    client_id: seeded.clientId,
    client_secret: seeded.clientSecret,
    code,
    redirect_uri: seeded.redirectUri,
    ...extra,
  });
  if (answer.status !== 200) throw new Error(`exchange failed: ${JSON.stringify(answer.body)}`);
  return answer.body as { access_token: string; refresh_token: string; [k: string]: unknown };
}

export function refresh(
  app: FastifyInstance,
  seeded: Seeded,
  refreshToken: string,
  extra: Record<string, string> = {},
) {
  return postForm(app, '/oauth/token', {
    grant_type: 'refresh_token',
    client_id: seeded.clientId,
    client_secret: seeded.clientSecret,
    refresh_token: refreshToken,
    ...extra,
  });
}
