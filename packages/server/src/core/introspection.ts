import type { StoragePort } from '../storage/contract.ts';
import type { ClientAuthenticator, ClientRequest } from './client-auth.ts';
import type { Clock } from './ports.ts';
import { authenticatedTokenRequest } from './presented-token.ts';

/** RFC 7662 §2.2 response; `{active:false}` says nothing more. */
export type IntrospectionResponse =
  | { active: false }
  | {
      active: true;
      scope: string;
      client_id: string;
      user_id: number;
      token_type: 'Bearer' | 'refresh_token';
      exp: number;
      iat: number;
      live_mode: boolean;
    };

const seconds = (ms: number) => Math.floor(ms / 1000);

/** `POST /oauth/introspect` (RFC 7662). */
export class Introspection {
  readonly #storage: StoragePort;
  readonly #clock: Clock;
  readonly #clients: ClientAuthenticator;

  constructor(storage: StoragePort, clock: Clock, clients: ClientAuthenticator) {
    this.#storage = storage;
    this.#clock = clock;
    this.#clients = clients;
  }

  /** RFC 7662 §2: only tokens of the calling application are described. */
  async introspect(request: ClientRequest): Promise<IntrospectionResponse> {
    const { app, found } = await authenticatedTokenRequest(this.#clients, this.#storage, request);
    const now = this.#clock.now();
    if (
      !found ||
      found.record.clientId !== app.clientId ||
      found.record.revoked ||
      found.record.expiresAt <= now
    ) {
      return { active: false };
    }
    if (found.type === 'refresh' && found.record.rotatedAt !== null) return { active: false };
    const { record } = found;
    return {
      active: true,
      scope: record.scope,
      client_id: record.clientId,
      user_id: record.userId,
      token_type: found.type === 'access' ? 'Bearer' : 'refresh_token',
      exp: seconds(record.expiresAt),
      iat: seconds(record.issuedAt),
      live_mode: record.liveMode,
    };
  }
}
