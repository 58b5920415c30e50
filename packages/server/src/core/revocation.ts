import type { StoragePort } from '../storage/contract.ts';
import { asApplication } from './audit.ts';
import type { ClientAuthenticator, ClientRequest } from './client-auth.ts';
import { ProtocolEventHub, type ProtocolEvents } from './events.ts';
import type { Clock } from './ports.ts';
import { authenticatedTokenRequest } from './presented-token.ts';

/** `POST /oauth/revoke` (RFC 7009). */
export class Revocation {
  readonly #storage: StoragePort;
  readonly #clock: Clock;
  readonly #clients: ClientAuthenticator;
  readonly #events: ProtocolEvents;

  constructor(
    storage: StoragePort,
    clock: Clock,
    clients: ClientAuthenticator,
    events: ProtocolEvents = new ProtocolEventHub(),
  ) {
    this.#storage = storage;
    this.#clock = clock;
    this.#clients = clients;
    this.#events = events;
  }

  /**
   * RFC 7009 §2.1: revoking a refresh token revokes its family and the access tokens issued from it;
   * revoking an access token revokes it alone. §2.2: "invalid tokens do not cause an error response",
   * and a token of another client is left alone without telling the caller it exists.
   */
  async revoke(request: ClientRequest): Promise<void> {
    const { app, found } = await authenticatedTokenRequest(this.#clients, this.#storage, request);
    if (!found || found.record.clientId !== app.clientId) return;
    const now = this.#clock.now();
    const audit = asApplication(app.clientId, {
      requestId: request.requestId ?? null,
      remoteAddress: request.remoteAddress,
    });
    if (found.type === 'refresh') {
      await this.#storage.revokeFamily(found.record.familyId, now, audit);
      this.#events.familyRevoked('revocation_endpoint');
    } else await this.#storage.revokeAccessToken(found.record.id, now, audit);
  }
}
