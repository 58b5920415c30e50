/**
 * The receiving side of Renova's (and Mercado Pago's) webhook signatures, CONTRACT.md §4.6:
 *
 *     x-signature: ts=<unix seconds>,v1=<hex HMAC-SHA256(webhook secret, manifest)>
 *     manifest   = "id:<data.id>;request-id:<x-request-id>;ts:<ts>;"
 *
 * Framework-neutral: functions over header values and the raw body, with examples for
 * `node:http`, Express and Fastify in docs/client-guide.md. Uses Web Crypto (`crypto.subtle`,
 * global in Node.js 20), so importing the package in a browser stays free of `node:` modules.
 *
 * @module
 */

const subtle = (): SubtleCrypto => globalThis.crypto.subtle;
const utf8 = new TextEncoder();

/** Headers as `node:http`, Express, Fastify (`IncomingHttpHeaders`) or `fetch` (`Headers`) give them. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

/** Options of {@link verifyWebhookSignature}. */
export interface VerifyWebhookSignatureOptions {
  /** The application's webhook secret; during a rotation, the new and the old one. */
  secret: string | readonly string[];
  /** The request headers (`x-signature` and `x-request-id` are read). */
  headers: WebhookHeaders;
  /** `data.id` of the notification: from the query string (`?data.id=`), as Mercado Pago documents. */
  dataId: string | null | undefined;
  /** How far `ts` may be from the receiver's clock, either way, in seconds. Default 300. */
  toleranceSeconds?: number;
  /** The receiver's clock in ms (tests). Default `Date.now()`. */
  now?: number;
}

/** The outcome of {@link verifyWebhookSignature}. */
export type WebhookVerification =
  | {
      /** The signature is Renova's, for this data id and request id, and fresh. */
      valid: true;
      /** `ts` of the signature (unix seconds). */
      timestamp: number;
      /** `x-request-id` (unique per delivery attempt). */
      requestId: string;
    }
  | {
      /** Refused. */
      valid: false;
      /** Why, for your logs (never includes the secret or the expected signature). */
      reason: string;
    };

/** Default clock-skew tolerance in seconds. */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;
/** Longest `x-signature` accepted (Renova's is 81 characters). */
const MAX_SIGNATURE_LENGTH = 512;
/** Longest `x-request-id` / `data.id` accepted. */
const MAX_ID_LENGTH = 256;
// Unix seconds: digits only, no sign, no leading zero, no exponent (Number() would accept all of
// those, and then the manifest would be built from a different text than the sender signed).
const TS = /^[1-9][0-9]{0,11}$/;
const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;
// Printable ASCII without the manifest's separators, so an id cannot smuggle a second field in.
const MANIFEST_SAFE = /^[\x21-\x3a\x3c-\x7e]+$/;

/** Reads one header, case-insensitively; `null` if absent, `undefined` if it was sent more than once. */
export function headerValue(headers: WebhookHeaders, name: string): string | null | undefined {
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).has === 'function') {
    return (headers as Headers).get(name);
  }
  const h = headers as Record<string, string | string[] | undefined>;
  let found: string | string[] | undefined;
  let count = 0;
  for (const key of Object.keys(h)) {
    if (key.toLowerCase() === name) {
      found = h[key];
      count++;
    }
  }
  if (count > 1 || (Array.isArray(found) && found.length !== 1)) return undefined;
  const value = Array.isArray(found) ? found[0] : found;
  return typeof value === 'string' ? value : null;
}

/** The signed manifest, exactly as Mercado Pago documents it. */
export function webhookManifest(dataId: string, requestId: string, ts: string | number): string {
  return `id:${dataId};request-id:${requestId};ts:${ts};`;
}

/**
 * Checks that a webhook request was signed by Renova with (one of) your webhook secret(s), for this
 * `data.id` and `x-request-id`, within `toleranceSeconds` of your clock. Never throws on what the
 * request carries: a malformed, duplicated, oversize or stale header is `{ valid: false, reason }`.
 * The comparison is constant-time: `crypto.subtle.verify('HMAC', …)` compares the MAC itself
 * (Node.js does it with `CRYPTO_memcmp`), so timing says nothing about how many bytes matched.
 *
 * @throws {TypeError} only for a programming error: no secret, or a bad tolerance
 */
export async function verifyWebhookSignature(
  options: VerifyWebhookSignatureOptions,
): Promise<WebhookVerification> {
  const secrets = typeof options.secret === 'string' ? [options.secret] : [...(options.secret ?? [])];
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new TypeError(
      'verifyWebhookSignature needs the webhook secret (a non-empty string, or a list of them)',
    );
  }
  const tolerance = options.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS;
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
    throw new TypeError('toleranceSeconds must be a non-negative number of seconds');
  }
  const fail = (reason: string): WebhookVerification => ({ valid: false, reason });

  const signature = headerValue(options.headers, 'x-signature');
  if (signature === undefined) return fail('x-signature was sent more than once');
  if (signature === null || signature === '') return fail('x-signature header is missing');
  if (signature.length > MAX_SIGNATURE_LENGTH) return fail('x-signature header is too long');
  const requestId = headerValue(options.headers, 'x-request-id');
  if (requestId === undefined) return fail('x-request-id was sent more than once');
  if (requestId === null || requestId === '') return fail('x-request-id header is missing');
  if (requestId.length > MAX_ID_LENGTH || !MANIFEST_SAFE.test(requestId)) {
    return fail('x-request-id is malformed (too long, or control characters, spaces or ";")');
  }
  const dataId = options.dataId;
  if (typeof dataId !== 'string' || dataId === '') return fail('data.id is missing');
  if (dataId.length > MAX_ID_LENGTH || !MANIFEST_SAFE.test(dataId)) return fail('data.id is malformed');

  let ts: string | undefined;
  let v1: string | undefined;
  for (const raw of signature.split(',')) {
    const part = raw.trim();
    const eq = part.indexOf('=');
    if (eq <= 0) return fail('x-signature is malformed: expected ts=<seconds>,v1=<hex>');
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 'ts') {
      if (ts !== undefined) return fail('x-signature has more than one ts');
      ts = value;
    } else if (key === 'v1') {
      if (v1 !== undefined) return fail('x-signature has more than one v1');
      v1 = value;
    } else if (!/^[a-z0-9]{1,16}$/.test(key)) {
      // Other well-formed keys (a future v2) are ignored, as Mercado Pago's receivers do.
      return fail('x-signature is malformed: unexpected part');
    }
  }
  if (ts === undefined || v1 === undefined) return fail('x-signature needs both ts and v1');
  if (!TS.test(ts)) return fail('x-signature ts is not unix seconds');
  if (!HEX_SHA256.test(v1)) return fail('x-signature v1 is not 64 hex digits (HMAC-SHA256)');
  const tsSeconds = Number(ts);
  const nowSeconds = (options.now ?? Date.now()) / 1000;
  // A captured request must not be replayable later: refuse timestamps outside the tolerance.
  if (tsSeconds < nowSeconds - tolerance) return fail(`x-signature ts is more than ${tolerance} s old`);
  if (tsSeconds > nowSeconds + tolerance)
    return fail(`x-signature ts is more than ${tolerance} s in the future`);

  const given = Uint8Array.from(v1.match(/../g) as string[], (h) => Number.parseInt(h, 16));
  const manifest = utf8.encode(webhookManifest(dataId, requestId, ts));
  let match = false;
  for (const secret of secrets) {
    const key = await subtle().importKey(
      'raw',
      utf8.encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['verify'],
    );
    if (await subtle().verify('HMAC', key, given, manifest)) match = true;
  }
  if (!match)
    return fail('x-signature does not match (wrong webhook secret, or data.id / x-request-id altered)');
  return { valid: true, timestamp: tsSeconds, requestId };
}

/** What a Renova (mp-connect) notification body holds, once checked. */
export interface MpConnectNotification {
  /** The outbox id, stable across retries: dedupe on it. */
  id: number;
  /** `application.authorized` or `application.deauthorized`. */
  action: 'application.authorized' | 'application.deauthorized';
  /** The application (client id). */
  applicationId: string;
  /** The seller. */
  userId: number;
  /** `data.id` (the seller id as a string). */
  dataId: string;
  /** `live_mode`. */
  liveMode: boolean;
  /** When the change happened on the server (ms since the epoch). */
  dateCreated: number;
}

/** Longest body {@link parseMpConnectBody} reads (Renova's is about 250 bytes). */
export const MAX_WEBHOOK_BODY_BYTES = 16 * 1024;

/**
 * Parses and checks a notification body. Returns a reason string when it is not a well-formed
 * mp-connect notification.
 */
export function parseMpConnectBody(raw: string | Uint8Array): MpConnectNotification | string {
  const bytes = typeof raw === 'string' ? utf8.encode(raw).byteLength : raw.byteLength;
  if (bytes > MAX_WEBHOOK_BODY_BYTES) return `body is larger than ${MAX_WEBHOOK_BODY_BYTES} bytes`;
  let body: unknown;
  try {
    // fatal: invalid UTF-8 is refused rather than silently replaced.
    body = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    return 'body is not UTF-8 JSON';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body is not a JSON object';
  const b = body as Record<string, unknown>;
  if (b.type !== 'mp-connect') return 'type is not mp-connect';
  if (b.action !== 'application.authorized' && b.action !== 'application.deauthorized') {
    return 'action is not application.authorized or application.deauthorized';
  }
  if (!Number.isSafeInteger(b.id) || (b.id as number) < 1) return 'id is not a positive integer';
  if (!Number.isSafeInteger(b.user_id) || (b.user_id as number) < 1)
    return 'user_id is not a positive integer';
  if (typeof b.application_id !== 'string' || b.application_id === '') return 'application_id is missing';
  const data = b.data as Record<string, unknown> | undefined;
  if (typeof data !== 'object' || data === null || typeof data.id !== 'string') return 'data.id is missing';
  if (data.id !== String(b.user_id)) return 'data.id does not match user_id';
  const dateCreated = typeof b.date_created === 'string' ? Date.parse(b.date_created) : Number.NaN;
  if (!Number.isFinite(dateCreated)) return 'date_created is not a date';
  return {
    id: b.id as number,
    action: b.action,
    applicationId: b.application_id,
    userId: b.user_id as number,
    dataId: data.id,
    liveMode: b.live_mode !== false,
    dateCreated,
  };
}

/** A digest of a body, for telling a duplicate delivery from a tampered replay. */
export async function bodyDigest(raw: string | Uint8Array): Promise<string> {
  const bytes = typeof raw === 'string' ? utf8.encode(raw) : new Uint8Array(raw);
  const digest = new Uint8Array(await subtle().digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Remembers the request ids seen within the tolerance window (each delivery attempt has its own),
 * so a captured request cannot be replayed with another body while its signature is still fresh.
 * Bounded: the oldest entries go first.
 */
export class ReplayGuard {
  readonly #seen = new Map<string, { digest: string; until: number }>();
  readonly #max: number;

  /** @param max - most request ids remembered */
  constructor(max = 10_000) {
    this.#max = max;
  }

  /**
   * @returns `new`, `duplicate` (same request id, same body: a re-sent request) or `tampered`
   *   (same request id, another body)
   */
  check(requestId: string, digest: string, now: number, keepMs: number): 'new' | 'duplicate' | 'tampered' {
    for (const [id, e] of this.#seen) {
      if (e.until > now) break;
      this.#seen.delete(id);
    }
    const prev = this.#seen.get(requestId);
    if (prev !== undefined && prev.until > now) return prev.digest === digest ? 'duplicate' : 'tampered';
    if (this.#seen.size >= this.#max) this.#seen.delete(this.#seen.keys().next().value as string);
    this.#seen.set(requestId, { digest, until: now + keepMs });
    return 'new';
  }
}
