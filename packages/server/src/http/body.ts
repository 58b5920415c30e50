import { InvalidRequestError } from '../core/errors.ts';
import { forLog } from '../core/identifiers.ts';
import type { Params } from '../core/params.ts';

/**
 * Request bodies of the JSON endpoints (docs/api.md §4.2): an `application/json` object or an
 * `application/x-www-form-urlencoded` form. Every refusal says what to change.
 */
export function parseParamsBody(contentType: string | undefined, raw: string | undefined): Params {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  if (raw === undefined || raw.trim() === '') {
    if (mediaType === undefined) {
      throw new InvalidRequestError(
        'the request has no body; send the parameters as application/x-www-form-urlencoded or application/json',
      );
    }
    return {};
  }
  if (mediaType === 'application/json') return refuseDuplicateNames(raw, parseJsonObject(raw));
  if (mediaType === 'application/x-www-form-urlencoded') return parseForm(raw);
  throw new InvalidRequestError(
    `Content-Type ${mediaType === undefined ? 'is missing' : `"${mediaType}" is not supported`}; send application/x-www-form-urlencoded or application/json`,
  );
}

/** RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once." */
function parseForm(raw: string): Params {
  const params: Record<string, string> = Object.create(null);
  for (const [name, value] of new URLSearchParams(raw)) {
    if (name in params)
      throw new InvalidRequestError(`parameter ${name} is given more than once; send it once`);
    params[name] = value;
  }
  return params;
}

function parseJsonObject(raw: string): Params {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new InvalidRequestError(describeJsonError(raw, (error as Error).message));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidRequestError('the JSON body must be an object, like {"grant_type":"refresh_token", …}');
  }
  // A JSON object with "__proto__" must not reach code that copies it into a prototype chain.
  return Object.assign(Object.create(null), value) as Params;
}

/** Turns V8's "… at position N" into line and column, and names the usual mistakes. */
export function describeJsonError(raw: string, message: string): string {
  const position = /position (\d+)/.exec(message)?.[1];
  const reason = message
    .replace(/ in JSON at position \d+.*$/, '')
    .replace(/^Unexpected end of JSON input$/, 'the body ends early');
  let where = '';
  let hint = '';
  if (position !== undefined) {
    const offset = Number(position);
    const before = raw.slice(0, offset);
    const line = before.split('\n').length;
    const column = offset - before.lastIndexOf('\n');
    where = ` at line ${line}, column ${column}`;
    if (/,\s*$/.test(before) && /^\s*[}\]]/.test(raw.slice(offset))) {
      hint = ' (a trailing comma before the closing brace: remove it)';
    } else if (raw[offset] === "'" || /^\s*'/.test(raw.slice(offset))) {
      hint = ' (JSON strings and names use double quotes, not single quotes)';
    }
  }
  const grantHint = /"grant_type"\s*:\s*"refresh-token"/.test(raw)
    ? ' Also, grant_type must be "refresh_token" with an underscore.'
    : '';
  return `the request body is not valid JSON: ${reason}${where}${hint}.${grantHint}`;
}

/**
 * The JSON bodies of the application-owner API (`POST /users/test_user`): `application/json`, an
 * object, and no name given twice. RFC 8259 §4: "The names within an object SHOULD be unique";
 * parsers disagree on which duplicate wins (JSON.parse keeps the last), so a body with one is
 * refused rather than read one way here and another way by a proxy in front.
 */
export function parseJsonObjectBody(contentType: string | undefined, raw: string | undefined): Params {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    throw new InvalidRequestError(
      `Content-Type ${mediaType === undefined ? 'is missing' : `"${forLogShort(mediaType)}" is not supported`}; send application/json`,
    );
  }
  if (raw === undefined || raw.trim() === '') {
    throw new InvalidRequestError('the request has no body; send a JSON object');
  }
  return refuseDuplicateNames(raw, parseJsonObject(raw));
}

/**
 * RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once", in a JSON
 * body as in a form: JSON.parse keeps the last of two equal names where another parser (a proxy, a
 * WAF) may keep the first, so such a body is refused instead of read one way here.
 */
function refuseDuplicateNames(raw: string, params: Params): Params {
  const duplicate = duplicateJsonKey(raw);
  if (duplicate !== undefined) {
    throw new InvalidRequestError(
      `the JSON body gives "${forLogShort(duplicate)}" more than once; send each name once`,
    );
  }
  return params;
}

const forLogShort = (value: string) => forLog(value, 40);

/**
 * The first name that appears twice in one object of `raw`, which must be valid JSON (JSON.parse
 * accepted it): a scan of the text that tracks objects and arrays and reads each name once.
 */
export function duplicateJsonKey(raw: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  let expectName = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '"') {
      let j = i + 1;
      while (j < raw.length && raw[j] !== '"') j += raw[j] === '\\' ? 2 : 1;
      const names = stack[stack.length - 1];
      if (expectName && names) {
        // Only a name with an escape needs decoding ("a\u0062" and "ab" are one name).
        const quoted = raw.slice(i, j + 1);
        const name = quoted.includes('\\') ? (JSON.parse(quoted) as string) : quoted.slice(1, -1);
        if (names.has(name)) return name;
        names.add(name);
        expectName = false;
      }
      i = j;
    } else if (c === '{') {
      stack.push(new Set());
      expectName = true;
    } else if (c === '[') {
      stack.push(null);
      expectName = false;
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectName = false;
    } else if (c === ',') {
      expectName = stack[stack.length - 1] != null;
    }
  }
  return undefined;
}
