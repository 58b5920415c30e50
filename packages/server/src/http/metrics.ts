import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry as MetricsRegistry } from 'prom-client';
import { weakBearerSecret } from '../config.ts';
import type { ProtocolEvents } from '../core/events.ts';
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

/**
 * One registry per server: the public and the admin listener serve the same counters. Every
 * metric is documented, with an alert rule, in docs/operations.md "Metrics and alerts".
 */
export function createMetrics() {
  const registry = new MetricsRegistry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  /** The services whose outbox and writer the scrape-time gauges read; set by bindMetrics. */
  let sources: Services | undefined;

  const reuse = new Counter({
    name: 'renova_token_reuse_detected_total',
    help: 'Single-use credentials presented again outside the replay window (RFC 9700 §4.14.2, RFC 6749 §4.1.2), by kind: refresh_token or authorization_code.',
    labelNames: ['kind'] as const,
    registers,
  });
  const replays = new Counter({
    name: 'renova_refresh_replays_total',
    help: 'Rotated refresh tokens presented again within the replay window, answered with the first answer.',
    registers,
  });
  const familyRevocations = new Counter({
    name: 'renova_token_family_revocations_total',
    help: 'Token families (every token descending from one authorization code) revoked, by reason.',
    labelNames: ['reason'] as const,
    registers,
  });
  const rateLimited = new Counter({
    name: 'renova_rate_limited_total',
    help: 'Requests refused by a throttle, by limiter.',
    labelNames: ['limiter'] as const,
    registers,
  });
  const storageErrors = new Counter({
    name: 'renova_storage_errors_total',
    help: 'Storage calls that failed because the storage was unavailable (answered 503), by kind.',
    labelNames: ['kind'] as const,
    registers,
  });
  const webhookAttempts = new Counter({
    name: 'renova_webhook_attempts_total',
    help: 'Webhook delivery attempts by outcome: delivered, retry (failed, will retry), dead (failed, given up).',
    labelNames: ['outcome'] as const,
    registers,
  });

  // Read on each scrape, one query: nothing is counted per request.
  let webhookQueue: Promise<void> | undefined;
  const pending = new Gauge({
    name: 'renova_webhook_queue_pending',
    help: 'Webhook events waiting for delivery.',
    registers,
    collect: () => readWebhookQueue(),
  });
  const oldest = new Gauge({
    name: 'renova_webhook_queue_oldest_age_seconds',
    help: 'Age of the oldest webhook event waiting for delivery (0 when none).',
    registers,
    collect: () => readWebhookQueue(),
  });
  const dead = new Gauge({
    name: 'renova_webhook_dead_events',
    help: 'Webhook events given up after every retry.',
    registers,
    collect: () => readWebhookQueue(),
  });
  function readWebhookQueue(): Promise<void> {
    // The three gauges share one query per scrape.
    webhookQueue ??= (async () => {
      try {
        if (!sources) return;
        const stats = await sources.operationalStats.webhookQueue();
        pending.set(stats.pending);
        dead.set(stats.dead);
        const since = stats.oldestPendingCreatedAt;
        oldest.set(since === null ? 0 : Math.max(0, (sources.clock.now() - since) / 1000));
      } catch {
        // Storage down: the gauges keep their last values; renova_storage_errors_total says why.
      } finally {
        webhookQueue = undefined;
      }
    })();
    return webhookQueue;
  }

  // The SQLite writer's group commit: its thread keeps the numbers in shared memory
  // (storage/sqlite/group-commit.ts); a scrape copies them. Counters move by the difference.
  const commitBatches = new Counter({
    name: 'renova_sqlite_group_commit_batches_total',
    help: 'Transactions committed by the SQLite writer (each holds a batch of writes).',
    registers,
    // One reading per scrape sets all six (reading resets the maxima). The registry collects its
    // metrics in registration order, and this one is registered first of the six.
    collect: () => readWriter(),
  });
  const commitWrites = new Counter({
    name: 'renova_sqlite_group_commit_writes_total',
    help: 'Writes committed by the SQLite writer; divided by the batches, the mean batch size.',
    registers,
  });
  const commitWait = new Counter({
    name: 'renova_sqlite_group_commit_wait_seconds_total',
    help: "Seconds from each batch's first queued write to its durable COMMIT, summed.",
    registers,
  });
  const maxBatch = new Gauge({
    name: 'renova_sqlite_group_commit_batch_size_max',
    help: 'Largest batch since the previous scrape.',
    registers,
  });
  const maxWait = new Gauge({
    name: 'renova_sqlite_group_commit_wait_seconds_max',
    help: 'Longest batch wait (first queued write to COMMIT) since the previous scrape.',
    registers,
  });
  const queueDepth = new Gauge({
    name: 'renova_sqlite_writer_queue_depth',
    help: 'Writes sent to the SQLite writer and not yet answered.',
    registers,
  });
  const seen = { batches: 0, writes: 0, waitSeconds: 0 };
  function readWriter(): void {
    const stats = sources?.operationalStats.writer();
    if (!stats) return;
    commitBatches.inc(Math.max(0, stats.batches - seen.batches));
    commitWrites.inc(Math.max(0, stats.writes - seen.writes));
    commitWait.inc(Math.max(0, stats.waitSeconds - seen.waitSeconds));
    seen.batches = stats.batches;
    seen.writes = stats.writes;
    seen.waitSeconds = stats.waitSeconds;
    maxBatch.set(stats.maxBatch);
    maxWait.set(stats.maxWaitSeconds);
    queueDepth.set(stats.queueDepth);
  }

  /** What core reports through the metrics port (core/events.ts). */
  const subscriber: ProtocolEvents = {
    refreshReplayed: () => replays.inc(),
    refreshReuseDetected: () => reuse.inc({ kind: 'refresh_token' }),
    codeReuseDetected: () => reuse.inc({ kind: 'authorization_code' }),
    familyRevoked: (reason) => familyRevocations.inc({ reason }),
    rateLimited: (limiter) => rateLimited.inc({ limiter }),
    storageUnavailable: (kind) => storageErrors.inc({ kind }),
    webhookAttempt: (outcome) => webhookAttempts.inc({ outcome }),
  };

  return {
    registry,
    subscriber,
    /** Counts `services`' outcomes and reads its outbox and writer on a scrape (once per pair). */
    bind(services: Services): void {
      services.events.subscribe(subscriber);
      sources = services;
    },
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
