import { createHmac, timingSafeEqual } from 'node:crypto';
import type {
  ApplicationRecord,
  NewWebhookEvent,
  WebhookAction,
  WebhookEventRecord,
} from '../storage/contract.ts';

/**
 * mp-connect notifications (docs/api.md §4.6), in Mercado Pago's scheme so that receivers' existing
 * verification code works unchanged. This module is pure: building events and bodies, signing, and
 * the retry schedule. Delivery (HTTP, leases, timers) lives in `webhooks/dispatcher.ts`.
 */

/**
 * The sealing purpose of an application's webhook secret: bound to its client id, so a sealed
 * secret copied onto another application's row does not open (core/sealing.ts).
 */
export function webhookSecretPurpose(clientId: string): string {
  return `webhook-secret:${clientId}`;
}

/** The outbox event for an application with a `notification_url`, or undefined when it has none. */
export function webhookEventFor(
  app: Pick<ApplicationRecord, 'clientId' | 'notificationUrl'>,
  userId: number,
  action: WebhookAction,
  now: number,
): NewWebhookEvent | undefined {
  if (!app.notificationUrl) return undefined;
  const url = new URL(app.notificationUrl);
  // docs/api.md §4.6: `{notification_url}?data.id={user_id}&type=mp-connect`, keeping any query the
  // integrator registered.
  url.searchParams.set('data.id', String(userId));
  url.searchParams.set('type', 'mp-connect');
  return { clientId: app.clientId, userId, action, url: url.toString(), createdAt: now };
}

export interface WebhookBody {
  id: number;
  live_mode: boolean;
  type: 'mp-connect';
  action: WebhookAction;
  application_id: string;
  user_id: number;
  api_version: 'v1';
  date_created: string;
  data: { id: string };
}

/** The JSON body; its `id` is the outbox row id, stable across retries, for receivers to dedupe. */
export function webhookBody(event: WebhookEventRecord): WebhookBody {
  return {
    id: event.id,
    // Consent happens on the live site; sandbox tokens are chosen later, at the exchange. A "send
    // test event" of the developer portal says live_mode false, so receivers can ignore it.
    live_mode: !event.test,
    type: 'mp-connect',
    action: event.action,
    application_id: event.clientId,
    user_id: event.userId,
    api_version: 'v1',
    date_created: new Date(event.createdAt).toISOString(),
    data: { id: String(event.userId) },
  };
}

/** The signed manifest, exactly as Mercado Pago documents it: `id:…;request-id:…;ts:…;`. */
export function signatureManifest(dataId: string, requestId: string, ts: number): string {
  return `id:${dataId};request-id:${requestId};ts:${ts};`;
}

/** `x-signature: ts=<unix seconds>,v1=<hex HMAC-SHA256(webhook secret, manifest)>`. */
export function signWebhook(secret: string, dataId: string, requestId: string, ts: number): string {
  const v1 = createHmac('sha256', secret)
    .update(signatureManifest(dataId, requestId, ts))
    .digest('hex');
  return `ts=${ts},v1=${v1}`;
}

/**
 * What a receiver does (shown in docs/consent-and-webhooks.md): parse `x-signature`, rebuild the
 * manifest from `data.id` of the query string and `x-request-id`, compare in constant time, and
 * refuse stale timestamps so a captured request cannot be replayed later.
 */
export function verifyWebhookSignature(args: {
  secret: string;
  xSignature: string | undefined;
  xRequestId: string | undefined;
  dataId: string | undefined;
  nowSeconds: number;
  toleranceSeconds?: number;
}): boolean {
  if (!args.xSignature || !args.xRequestId || !args.dataId) return false;
  const parts = new Map(
    args.xSignature.split(',').map((part) => {
      const [key, ...value] = part.trim().split('=');
      return [key, value.join('=')] as const;
    }),
  );
  const ts = Number(parts.get('ts'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isSafeInteger(ts) || !/^[0-9a-f]{64}$/.test(v1)) return false;
  if (Math.abs(args.nowSeconds - ts) > (args.toleranceSeconds ?? 300)) return false;
  const expected = signWebhook(args.secret, args.dataId, args.xRequestId, ts).split('v1=')[1] as string;
  return timingSafeEqual(Buffer.from(v1, 'hex'), Buffer.from(expected, 'hex'));
}

/** Retry policy; every field is configurable (the RENOVA_WEBHOOK_* settings of src/config.ts). */
export interface WebhookPolicy {
  /** Delay before the second attempt; doubles after each failure. */
  baseDelayMs: number;
  /** Cap of the delay between two attempts. */
  maxDelayMs: number;
  /** After this many failed attempts the event is `dead` (visible in `renova webhooks list`). */
  maxAttempts: number;
  /** Per-request timeout. */
  timeoutMs: number;
  /** How often the dispatcher looks for due events when nothing wakes it. */
  pollMs: number;
}

export const DEFAULT_WEBHOOK_POLICY: WebhookPolicy = {
  baseDelayMs: 10_000,
  maxDelayMs: 3_600_000,
  maxAttempts: 20,
  timeoutMs: 10_000,
  pollMs: 1_000,
};

/**
 * Exponential backoff with "equal jitter": half the exponential delay is fixed, the other half
 * random, so many events failing together (a receiver outage) do not retry in lockstep, yet no
 * retry comes sooner than half its nominal delay. `attempts` counts the failures so far (≥ 1).
 */
export function nextRetryDelay(policy: WebhookPolicy, attempts: number, random01: number): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempts - 1, 40));
  return Math.round(exponential / 2 + (exponential / 2) * random01);
}
