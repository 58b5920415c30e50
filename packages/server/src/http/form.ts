import type { FastifyRequest } from 'fastify';

/**
 * The HTML pages' forms and query strings (the consent and account pages, the developer portal):
 * every value of each name, in order, so that a repeated field can be told from a single one.
 */
export type Form = Map<string, string[]>;

/** An `application/x-www-form-urlencoded` text (WHATWG URLSearchParams), repeated names kept. */
export function parseMulti(text: string): Form {
  const form: Form = new Map();
  for (const [name, value] of new URLSearchParams(text)) {
    const values = form.get(name);
    if (values) values.push(value);
    else form.set(name, [value]);
  }
  return form;
}

/** The request's query string, `?` and all; '' when it has none. */
export function rawQuery(request: FastifyRequest): string {
  const i = request.url.indexOf('?');
  return i >= 0 ? request.url.slice(i) : '';
}

export function queryOf(request: FastifyRequest): Form {
  return parseMulti(rawQuery(request).slice(1));
}

/** The form the page plugin's body parser made; empty when the request carried none. */
export function formOf(request: FastifyRequest): Form {
  return request.body instanceof Map ? (request.body as Form) : new Map();
}

/** A field given exactly once; a repeated or absent field is undefined (treated as missing). */
export function one(form: Form, name: string): string | undefined {
  const values = form.get(name);
  return values?.length === 1 ? values[0] : undefined;
}
