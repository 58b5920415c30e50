import { timingSafeEqual } from 'node:crypto';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import { InvalidTokenError, RateLimitedError } from '../core/errors.ts';
import type { Clock } from '../core/ports.ts';
import { countAgainst, longestWait, type RateLimiter } from '../core/rate-limit.ts';

/**
 * An operator's bearer secret guarding a route plugin (the admin API, /metrics). The secret is
 * compared first, in constant time: a throttle must never refuse credentials that verify, or
 * anyone guessing from the operator's address (a shared proxy, the loopback of the admin
 * listener) would lock the operator out. At 32+ random characters guessing is hopeless anyway;
 * the throttle, per address, bounds the noise and the log volume of those who try.
 */
export function bearerSecretGuard(options: {
  secret: string;
  /** `admin`, `metrics`: the limiter key prefix and the log events' name. */
  name: 'admin' | 'metrics';
  /** The variable that holds the secret, for the error message. */
  variable: string;
  limiter: RateLimiter;
  clock: Clock;
  log?: FastifyBaseLogger | undefined;
}): (request: FastifyRequest) => Promise<void> {
  const secret = Buffer.from(options.secret);
  const { name, limiter, clock, log } = options;
  return async (request) => {
    const presented = Buffer.from(/^Bearer[ ]+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '');
    if (presented.length === secret.length && timingSafeEqual(presented, secret)) return;
    const keys = [{ limiter, key: `${name}:${request.ip}` }];
    const now = clock.now();
    const wait = await longestWait(keys, now);
    if (wait > 0) {
      log?.warn(
        { event: `${name}.auth_throttled`, remote_address: request.ip },
        `${name} authentication throttled`,
      );
      throw new RateLimitedError(`too many failed ${name} authentications; retry in ${wait} s`, wait, {
        limiter: name === 'admin' ? 'admin_auth' : 'metrics_auth',
      });
    }
    await countAgainst(keys, now);
    log?.warn(
      { event: `${name}.auth_failed`, remote_address: request.ip, route: request.routeOptions.url },
      `${name} authentication failed`,
    );
    // RFC 6750 §3: 401 with a Bearer challenge naming the error.
    throw new InvalidTokenError(`send "Authorization: Bearer $${options.variable}" to use this endpoint`);
  };
}
