import { InvalidRequestError } from './errors.ts';

/**
 * Request parameters as the HTTP layer hands them over: one value per name (duplicates were
 * already refused), strings from a form body, any JSON value from a JSON body.
 */
export type Params = Readonly<Record<string, unknown>>;

/**
 * Reads a string parameter. RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if
 * they were omitted from the request." JSON numbers are accepted for ids (some clients send
 * `client_id` as a number); any other non-string is refused with a message naming the parameter.
 */
export function stringParam(params: Params, name: string): string | undefined {
  const value = params[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  throw new InvalidRequestError(
    `${name} must be a string, got ${Array.isArray(value) ? 'an array' : typeof value}`,
  );
}

/** `test_token`: `true` or `"true"` (docs/api.md §4.2); `false`/`"false"` and absence mean live mode. */
export function booleanParam(params: Params, name: string): boolean {
  const value = params[name];
  if (value === undefined || value === null || value === '' || value === false || value === 'false')
    return false;
  if (value === true || value === 'true') return true;
  throw new InvalidRequestError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

/** Lists what is required and what is missing, in the style Mercado Pago's API uses. */
export function requireParams(params: Params, required: readonly string[]): void {
  const missing = required.filter((name) => stringParam(params, name) === undefined);
  if (missing.length > 0) {
    throw new InvalidRequestError(
      `the following parameters are required: ${required.join(', ')}. Missing parameters: ${missing.join(', ')}`,
    );
  }
}
