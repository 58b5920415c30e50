import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';

/** The developer portal as a browser sees it, for in-process tests (app.inject). */

export const csrfOf = (body: string) => /name="csrf" value="([^"]+)"/.exec(body)?.[1] ?? '';
export const secretOf = (body: string, id: string) =>
  new RegExp(`<code id="${id}" data-secret>([^<]+)</code>`).exec(body)?.[1];

/** A browser for app.inject: keeps cookies, sends the CSRF token of the last page it saw. */
export class Browser {
  readonly cookies = new Map<string, string>();
  csrf = '';
  readonly app: FastifyInstance;
  readonly language: string;
  constructor(app: FastifyInstance, language = 'en') {
    this.app = app;
    this.language = language;
  }

  #cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  #keep(headers: Record<string, unknown>): void {
    const raw = headers['set-cookie'];
    for (const line of Array.isArray(raw) ? raw : raw === undefined ? [] : [String(raw)]) {
      const [pair = ''] = String(line).split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/Max-Age=0/.test(String(line)) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async get(url: string) {
    const answer = await this.app.inject({
      url,
      headers: { cookie: this.#cookieHeader(), 'accept-language': this.language },
    });
    this.#keep(answer.headers);
    const token = csrfOf(answer.body);
    if (token) this.csrf = token;
    return answer;
  }

  async post(url: string, fields: Record<string, string | string[]>, extra: Record<string, string> = {}) {
    const body = new URLSearchParams();
    if (!('csrf' in fields)) body.append('csrf', this.csrf);
    for (const [k, v] of Object.entries(fields)) for (const one of [v].flat()) body.append(k, one);
    const answer = await this.app.inject({
      method: 'POST',
      url,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        cookie: this.#cookieHeader(),
        'accept-language': this.language,
        ...extra,
      },
      payload: body.toString(),
    });
    this.#keep(answer.headers);
    return answer;
  }

  async signIn(email: string, password = 'correct horse') {
    await this.get('/developers');
    const answer = await this.post('/login', { email, password, next: '/developers' });
    assert.equal(answer.statusCode, 303, answer.body);
    assert.equal(answer.headers.location, '/developers');
    await this.get('/developers');
  }
}

export function validForm(
  overrides: Record<string, string | string[]> = {},
): Record<string, string | string[]> {
  return {
    name: 'Acme Store Sync',
    description: 'Syncs the catalogue',
    logo_url: '',
    redirect_uris: 'https://acme.example/callback\nhttp://localhost:3000/cb',
    scope: ['read', 'write', 'offline_access'],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    pkce_required: 'true',
    notification_url: '',
    ...overrides,
  };
}
