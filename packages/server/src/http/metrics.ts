import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Histogram, Registry as MetricsRegistry } from 'prom-client';
import { weakBearerSecret } from '../config.ts';
import type { Services } from '../services.ts';
import { bearerSecretGuard } from './bearer-secret.ts';

/** Throws a message an operator can act on when RENOVA_METRICS_TOKEN is too weak or reuses the admin token. */
export function assertMetricsToken(token: string, adminToken: string | undefined): void {
  // Like the admin token: long and random, so that a scraper's credential cannot be guessed.
  const weakness = weakBearerSecret(token);
  if (weakness) throw new Error(`RENOVA_METRICS_TOKEN ${weakness}`);
  if (token === adminToken) {
    throw new Error(
      'RENOVA_METRICS_TOKEN must differ from RENOVA_ADMIN_TOKEN: a metrics scraper must not hold admin power',
    );
  }
}

export type HttpMetrics = ReturnType<typeof createMetrics>;

/** One registry per server: the public and the admin listener serve the same counters. */
export function createMetrics() {
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

/**
 * `GET /metrics` (Prometheus) as a plugin of its own. With a token, authentication is a hook of
 * this plugin, so it runs however the path was spelled (`/%6detrics` is routed here after
 * decoding and meets the same check); nothing tests the URL string. Failures are throttled per
 * address with the admin limiter's budget (the token is random, so failures are probes); the
 * right token is never throttled.
 */
export async function metricsRoutes(
  plugin: FastifyInstance,
  services: Services,
  options: { metrics: HttpMetrics; token: string | undefined; log?: FastifyBaseLogger | undefined },
): Promise<void> {
  const { metrics, log } = options;
  if (options.token !== undefined) {
    assertMetricsToken(options.token, undefined);
    plugin.addHook(
      'onRequest',
      bearerSecretGuard({
        secret: options.token,
        name: 'metrics',
        variable: 'RENOVA_METRICS_TOKEN',
        limiter: services.adminLimiter,
        clock: services.clock,
        log,
      }),
    );
  }
  plugin.get('/metrics', async (_request, reply) => {
    void reply.header('content-type', metrics.registry.contentType).header('cache-control', 'no-store');
    return metrics.registry.metrics();
  });
}
