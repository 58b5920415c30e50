import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The drift check of the OpenAPI document (src/http/openapi.ts): a Fastify `onSend` hook, added by
 * the test harness and never by production code, checks every response an app gives against the
 * document that app serves at `/openapi.json`: the route template and method must be documented,
 * the status must be one of the operation's, the content type one of that status's, and a JSON
 * body must validate against its schema (ajv, JSON Schema 2020-12, the dialect of OAS 3.1). The
 * document itself is validated against the official OAS 3.1 schema first
 * (@seriousme/openapi-schema-validator). Mismatches are collected and reported by
 * `assertNoDrift()` (the harness calls it on close), so the test that caused them fails.
 */

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv2020,
) => Ajv2020;

/** A streamed body: its bytes are not at hand in onSend. */
const STREAMED = Symbol('streamed');
const DOCUMENT_ID = 'urn:renova:openapi';
const METHODS = new Set(['get', 'post', 'patch', 'delete', 'put']);

interface MediaType {
  schema?: unknown;
}
interface Response {
  $ref?: string;
  content?: Record<string, MediaType>;
}
interface Operation {
  responses: Record<string, Response>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { responses: Record<string, Response> };
}

/** A checked document: its ajv instance, with one compiled validator per schema location. */
interface CompiledDocument {
  document: Document;
  ajv: Ajv2020;
  validators: Map<string, ValidateFunction>;
}

/** Documents differ only by a few options (admin API, metrics, demo): compile each text once. */
const compiled = new Map<string, Promise<CompiledDocument>>();

const pointer = (...parts: string[]) =>
  parts.map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/');

async function compile(text: string): Promise<CompiledDocument> {
  const document = JSON.parse(text) as Document;
  const validator = new Validator();
  const result = await validator.validate(structuredClone(document) as unknown as Record<string, unknown>);
  if (!result.valid) {
    throw new Error(`/openapi.json is not a valid OpenAPI 3.1 document: ${JSON.stringify(result.errors)}`);
  }
  // The whole document is one schema resource, so that `#/components/schemas/…` references
  // inside the response schemas resolve; only the schemas a response points at are compiled.
  // strict: false because the document's own keys (openapi, paths…) are not JSON Schema keywords.
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: DOCUMENT_ID, ...document });
  return { document, ajv, validators: new Map() };
}

/** Fastify's `/admin/grants/:client_id/:user_id` as OpenAPI's `/admin/grants/{client_id}/{user_id}`. */
function templateOf(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function mediaTypeOf(contentType: unknown): string | undefined {
  if (typeof contentType !== 'string') return undefined;
  return contentType.split(';')[0]?.trim().toLowerCase();
}

export interface OpenApiRecorder {
  /** Fetches and compiles the app's document; call after `app.ready()`. */
  load(app: FastifyInstance): Promise<void>;
  /** Every mismatch seen so far. */
  readonly violations: readonly string[];
  /** Throws, listing every mismatch seen, when there was one. */
  assertNoDrift(): void;
  /** How many responses were checked (for the dedicated test to prove it saw them). */
  readonly checked: number;
}

/** Adds the checking hook to `app` (before `ready()`); responses before `load()` are not checked. */
export function attachOpenApiRecorder(app: FastifyInstance): OpenApiRecorder {
  let doc: CompiledDocument | undefined;
  const violations: string[] = [];
  let checked = 0;

  const check = (request: FastifyRequest, status: number, contentType: unknown, payload: unknown) => {
    if (!doc) return;
    checked += 1;
    const method = request.method.toLowerCase();
    const where = `${request.method} ${request.url.split('?')[0]} → ${status}`;
    const fail = (reason: string): void => {
      violations.push(`${where}: ${reason}`);
    };
    const route = request.routeOptions.url;
    let response: Response | undefined;
    let location: string;
    if (route === undefined) {
      // No route matched: the not-found handler (404) or the router's own refusals (bad
      // percent-encoding 400, an overlong path segment 414), documented once for every path.
      const name = { 400: 'InvalidRequest', 404: 'NoRoute', 414: 'UriTooLong' }[status];
      if (!name) return fail('a status that no unrouted request may get');
      response = doc.document.components.responses[name];
      location = pointer('components', 'responses', name);
      if (!response) return fail(`components/responses/${name} is missing from the document`);
    } else {
      const template = templateOf(route);
      const item = doc.document.paths[template];
      // HEAD is answered by the GET route (RFC 9110 §9.3.2), without a body.
      const documented = method === 'head' ? 'get' : method;
      const operation = item && METHODS.has(documented) ? item[documented] : undefined;
      if (!operation) return fail(`${request.method} ${template} is not in the document`);
      response = operation.responses[String(status)];
      if (!response) {
        return fail(
          `status ${status} is not documented for ${documented.toUpperCase()} ${template} (documented: ${Object.keys(operation.responses).join(', ')})`,
        );
      }
      location = pointer('paths', template, documented, 'responses', String(status));
    }
    if (response.$ref) {
      const name = response.$ref.replace('#/components/responses/', '');
      location = pointer('components', 'responses', name);
      response = doc.document.components.responses[name];
      if (!response) return fail(`dangling reference ${name}`);
    }
    const bodyless = method === 'head' || payload === null || payload === undefined || payload === '';
    const mediaType = mediaTypeOf(contentType);
    if (!response.content) {
      if (!bodyless) fail(`a body (${String(contentType)}) where the document has none`);
      return;
    }
    if (method === 'head') return;
    if (!mediaType || !response.content[mediaType]) {
      return fail(
        `content type ${String(contentType)} is not documented (documented: ${Object.keys(response.content).join(', ')})`,
      );
    }
    if (mediaType !== 'application/json' || payload === STREAMED) return;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.isBuffer(payload) ? payload.toString('utf8') : String(payload));
    } catch {
      return fail('the body is not JSON');
    }
    const schemaAt = `${DOCUMENT_ID}#/${location}/${pointer('content', mediaType, 'schema')}`;
    let validate = doc.validators.get(schemaAt);
    if (!validate) {
      validate = doc.ajv.compile({ $ref: schemaAt });
      doc.validators.set(schemaAt, validate);
    }
    if (!validate(body)) {
      fail(
        `body does not match the schema: ${doc.ajv.errorsText(validate.errors)}; body ${JSON.stringify(body).slice(0, 500)}`,
      );
    }
  };

  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (typeof payload === 'object' && payload !== null && !Buffer.isBuffer(payload)) {
      // A stream: its bytes are not at hand here; the documented status and type still are.
      check(request, reply.statusCode, reply.getHeader('content-type'), STREAMED);
    } else {
      check(request, reply.statusCode, reply.getHeader('content-type'), payload);
    }
    return payload;
  });

  return {
    async load(target) {
      const served = await target.inject({ method: 'GET', url: '/openapi.json' });
      if (served.statusCode !== 200) throw new Error(`GET /openapi.json answered ${served.statusCode}`);
      let entry = compiled.get(served.body);
      if (!entry) {
        entry = compile(served.body);
        compiled.set(served.body, entry);
      }
      doc = await entry;
    },
    get violations() {
      return violations;
    },
    get checked() {
      return checked;
    },
    assertNoDrift() {
      if (violations.length > 0) {
        throw new Error(
          `responses differ from /openapi.json (src/http/openapi.ts):\n  ${violations.join('\n  ')}`,
        );
      }
    },
  };
}
