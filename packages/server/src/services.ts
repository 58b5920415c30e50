import { ClientAuthenticator } from './core/client-auth.ts';
import { DEFAULT_LIFETIMES, type Lifetimes } from './core/config.ts';
import type { Clock, RandomSource } from './core/ports.ts';
import { systemClock } from './core/ports.ts';
import { cryptoRandom } from './core/random.ts';
import { InProcessRateLimiter, type RateLimiter } from './core/rate-limit.ts';
import { Registry } from './core/registry.ts';
import { Sealer } from './core/sealing.ts';
import { TokenEndpoint } from './core/token-endpoint.ts';
import { TokenInspection } from './core/token-inspection.ts';
import type { StoragePort } from './storage/contract.ts';

export interface ServiceOptions {
  storage: StoragePort;
  /** 32+ bytes; seals the secrets Renova must read back (webhook secrets). */
  serverKey: Buffer;
  lifetimes?: Lifetimes;
  clock?: Clock;
  random?: RandomSource;
  rateLimiter?: RateLimiter;
  /**
   * Counts every token request per client and per address (issue 4 §4); none when omitted. Shared
   * through Redis when several instances run.
   */
  requestLimiter?: RateLimiter;
}

/** Everything the HTTP layer and the CLI call: the composition root of `core/`. */
export interface Services {
  storage: StoragePort;
  lifetimes: Lifetimes;
  clock: Clock;
  tokens: TokenEndpoint;
  inspection: TokenInspection;
  registry: Registry;
  sealer: Sealer;
  requestLimiter: RateLimiter | undefined;
}

export function createServices(options: ServiceOptions): Services {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  const lifetimes = options.lifetimes ?? DEFAULT_LIFETIMES;
  const rateLimiter = options.rateLimiter ?? new InProcessRateLimiter();
  const { storage } = options;
  const clients = new ClientAuthenticator(storage, clock, rateLimiter);
  const sealer = new Sealer(options.serverKey, random);
  return {
    storage,
    lifetimes,
    clock,
    tokens: new TokenEndpoint({ storage, clock, random, lifetimes, rateLimiter }, clients),
    inspection: new TokenInspection(storage, clock, clients),
    registry: new Registry({ storage, clock, random, lifetimes, sealer }),
    sealer,
    requestLimiter: options.requestLimiter,
  };
}
