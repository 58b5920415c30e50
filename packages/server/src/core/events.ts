/**
 * The metrics port: core (and the webhook dispatcher, and storage availability) report protocol
 * outcomes here as typed calls; `http/metrics.ts` subscribes and counts them with prom-client, so
 * nothing below `http/` imports a metrics library. Every method is a plain call with primitive
 * arguments: reporting allocates nothing on the token endpoint's hot path.
 */

/** Which throttle refused a request (docs/security.md). */
export type LimiterName =
  | 'token_requests'
  | 'client_auth'
  | 'admin_auth'
  | 'metrics_auth'
  | 'seller_sign_in'
  | 'seller_sign_in_busy';

/** Why a refresh-token family (every token descending from one authorization code) was revoked. */
export type FamilyRevocationReason = 'refresh_reuse' | 'code_reuse' | 'revocation_endpoint';

import type { StorageOutageKind } from '../storage/contract.ts';

export type { StorageOutageKind };

export type WebhookAttemptOutcome = 'delivered' | 'retry' | 'dead';

export interface ProtocolEvents {
  /** RFC 9700 §4.14.2 replay window: a rotated refresh token presented again got the first answer. */
  refreshReplayed(): void;
  /** A rotated refresh token presented outside the replay window (reuse, RFC 9700 §4.14.2). */
  refreshReuseDetected(): void;
  /** An authorization code presented a second time (RFC 6749 §4.1.2). */
  codeReuseDetected(): void;
  familyRevoked(reason: FamilyRevocationReason): void;
  rateLimited(limiter: LimiterName): void;
  storageUnavailable(kind: StorageOutageKind): void;
  webhookAttempt(outcome: WebhookAttemptOutcome): void;
}

/**
 * Fans each event out to the subscribers (the metrics of each listener's registry). With none,
 * each call is a loop over an empty array.
 */
export class ProtocolEventHub implements ProtocolEvents {
  readonly #subscribers: Partial<ProtocolEvents>[] = [];

  /** Adds a subscriber once; returns false when it was already subscribed. */
  subscribe(subscriber: Partial<ProtocolEvents>): boolean {
    if (this.#subscribers.includes(subscriber)) return false;
    this.#subscribers.push(subscriber);
    return true;
  }

  refreshReplayed(): void {
    for (const s of this.#subscribers) s.refreshReplayed?.();
  }
  refreshReuseDetected(): void {
    for (const s of this.#subscribers) s.refreshReuseDetected?.();
  }
  codeReuseDetected(): void {
    for (const s of this.#subscribers) s.codeReuseDetected?.();
  }
  familyRevoked(reason: FamilyRevocationReason): void {
    for (const s of this.#subscribers) s.familyRevoked?.(reason);
  }
  rateLimited(limiter: LimiterName): void {
    for (const s of this.#subscribers) s.rateLimited?.(limiter);
  }
  storageUnavailable(kind: StorageOutageKind): void {
    for (const s of this.#subscribers) s.storageUnavailable?.(kind);
  }
  webhookAttempt(outcome: WebhookAttemptOutcome): void {
    for (const s of this.#subscribers) s.webhookAttempt?.(outcome);
  }
}
