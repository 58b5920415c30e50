/**
 * `@renova/server` as a library: embed the Renova authorization server in another Node program.
 *
 * - `startServer` opens the storage, wires the services and listens, as `renova serve` does;
 *   `openRuntime` gives the services without HTTP (what the CLI commands use).
 * - `createServices` + `buildApp` compose the pieces yourself: bring a `StoragePort`
 *   (`SqliteStorage`, `PostgresStorage`, or your own adapter), get a Fastify instance.
 * - The error types are what the services throw; `toErrorReply` maps them to HTTP answers.
 *
 * @packageDocumentation
 */

export { ConfigError, loadConfig, type RenovaConfig, SETTINGS } from './config.ts';
export { DEFAULT_LIFETIMES, type Lifetimes } from './core/config.ts';
export * from './core/errors.ts';
export { type Clock, type RandomSource, systemClock } from './core/ports.ts';
export { type FixedWindowOptions, InProcessRateLimiter, type RateLimiter } from './core/rate-limit.ts';
export type { DemoInfo } from './demo.ts';
export { buildAdminApp, buildApp, type DemoState, type HttpOptions } from './http/app.ts';
export { toErrorReply } from './http/errors.ts';
/** `startServer` under the name embedding programs look for. */
export {
  isPostgresUrl,
  loadServerKey,
  openRuntime,
  openStorage,
  type RunningServer,
  type Runtime,
  redactUrl,
  resolveDb,
  type ServeOptions,
  startServer,
  startServer as createServer,
} from './runtime.ts';
export { createServices, type ServiceOptions, type Services } from './services.ts';
export type * from './storage/contract.ts';
export { StorageUnavailableError } from './storage/contract.ts';
export { Housekeeper, type HousekeepingOptions } from './storage/housekeeping.ts';
export { PostgresStorage, type PostgresStorageOptions } from './storage/postgres/adapter.ts';
export { SqliteStorage, type SqliteStorageOptions } from './storage/sqlite/adapter.ts';
export type { WriterStatus } from './storage/sqlite/writer.ts';
