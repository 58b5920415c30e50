/**
 * `@renova/client`: a drop-in for the `mercadopago` SDK's `OAuth` class, and a `TokenKeeper` that
 * keeps many sellers' tokens fresh without ever losing a rotated refresh token.
 *
 * The store drivers (`better-sqlite3`, `pg`, `ioredis`) are loaded only when a store of that kind
 * is first used, so importing this module in a browser for `OAuth` and `createPkcePair` is fine.
 *
 * @packageDocumentation
 */

export * from './errors.ts';
export {
  type KeeperErrorEvent,
  type KeeperEvents,
  type KeeperListener,
  type KeeperMetrics,
  type KeyRotationResult,
  type NotificationEvent,
  type NotificationRequest,
  type NotificationResult,
  type ReauthorizationRequiredEvent,
  type RetryOptions,
  type RotatedEvent,
  type RotateKeyOptions,
  type SchedulerOptions,
  TokenKeeper,
  type TokenKeeperOptions,
  type WebhookOptions,
} from './keeper.ts';
export { KeeperThread, KeeperThreadError, type KeeperThreadOptions } from './keeper-thread.ts';
export { backoffDelay, MAX_TIMER_MS, TokenBucket } from './limiter.ts';
export {
  type AuthorizationURLOptions,
  DEFAULT_TIMEOUT_MS,
  type FetchLike,
  MERCADOPAGO_API_URL,
  MERCADOPAGO_AUTHORIZATION_URL,
  OAuth,
  type OAuthClientCredentialsBody,
  type OAuthConfig,
  type OAuthCreateBody,
  type OAuthRefreshBody,
  type OAuthResponse,
  type RequestOptions,
} from './oauth.ts';
export { computeCodeChallenge, createPkcePair, type PkcePair } from './pkce.ts';
export {
  DATA_KEY_MAX_USES,
  type KmsSealingKey,
  type LocalSealingKey,
  type SealingKey,
  type TokenSealingOptions,
} from './sealing.ts';
export {
  type HistogramStats,
  type KeeperPrometheusMetrics,
  type KeeperStats,
  type PromCounterLike,
  type PrometheusOptions,
  type PromGaugeLike,
  type PromHistogramLike,
  type PromRegistryLike,
  REFRESH_BUCKETS,
  STORE_BUCKETS,
} from './stats.ts';
export type {
  CompareAndSwapRequest,
  JournalEntry,
  StoredToken,
  TokenData,
  TokenPage,
  TokenStatus,
  TokenStore,
} from './store.ts';
export { MemoryTokenStore } from './stores/memory.ts';
export { PostgresTokenStore, type PostgresTokenStoreOptions } from './stores/postgres.ts';
export { RedisTokenStore, type RedisTokenStoreOptions } from './stores/redis.ts';
export { SqliteTokenStore, type SqliteTokenStoreOptions } from './stores/sqlite.ts';
export {
  DEFAULT_WEBHOOK_TOLERANCE_SECONDS,
  MAX_WEBHOOK_BODY_BYTES,
  type MpConnectNotification,
  parseMpConnectBody,
  type VerifyWebhookSignatureOptions,
  verifyWebhookSignature,
  type WebhookHeaders,
  type WebhookVerification,
  webhookManifest,
} from './webhooks.ts';
