/**
 * Identifiers as Renova issues them, checked before anything else uses a presented value: before
 * it becomes a rate-limiter key, a log field or a storage lookup. A value that fails these checks
 * is refused as it is, never stored, counted or logged in full (security review #7).
 */

/**
 * Client ids are 16 decimal digits (core/tokens.ts newClientId). The source is exported for JSON
 * schema `pattern`s (http/admin.ts); code calls isClientId.
 */
export const CLIENT_ID_PATTERN = '^[0-9]{16}$';
const CLIENT_ID = new RegExp(CLIENT_ID_PATTERN);
/** User ids are positive integers that fit a JS safe integer (storage ids stop at 2^53 − 1). */
const USER_ID = /^[1-9][0-9]{0,15}$/;

export function isClientId(value: unknown): value is string {
  return typeof value === 'string' && CLIENT_ID.test(value);
}

/** A positive safe integer, or its decimal spelling (path segments arrive as text). */
export function isUserId(value: unknown): boolean {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0;
  return typeof value === 'string' && USER_ID.test(value) && Number.isSafeInteger(Number(value));
}

/** Longest value a log field carries; longer ones are cut (the result still fits), noting the length. */
export const LOG_VALUE_MAX = 64;

/**
 * Longest whole log field (a refusal's detail, a URL): a detail quotes at most a LOG_VALUE_MAX cut
 * of a presented value, so this bounds every line a refused request writes.
 */
export const LOG_FIELD_MAX = 160;

/**
 * A presented value as it may appear in a log line: at most LOG_VALUE_MAX characters, control
 * characters replaced, so one request cannot grow the log by its body size or forge log lines.
 */
export function forLog(value: string, max = LOG_VALUE_MAX): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, '?');
  if (clean.length <= max) return clean;
  const suffix = `…(${value.length} chars)`;
  return `${clean.slice(0, Math.max(0, max - suffix.length))}${suffix}`;
}
