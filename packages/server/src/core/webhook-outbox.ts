import type { AuditContext, StoragePort, WebhookEventRecord, WebhookStatus } from '../storage/contract.ts';
import type { Clock } from './ports.ts';

/** The operator's view of the webhook outbox (docs/api.md §4.6): list events, retry a dead one. */
export class WebhookOutbox {
  readonly #storage: StoragePort;
  readonly #clock: Clock;

  constructor(storage: StoragePort, clock: Clock) {
    this.#storage = storage;
    this.#clock = clock;
  }

  list(args: { status?: WebhookStatus | undefined; limit: number }): Promise<WebhookEventRecord[]> {
    return this.#storage.listWebhookEvents(args.status === undefined ? { limit: args.limit } : args);
  }

  /** Makes a dead (or pending) event due now; false when it is unknown or already delivered. */
  retry(id: number, audit?: AuditContext): Promise<boolean> {
    return this.#storage.retryWebhookEvent(id, this.#clock.now(), audit);
  }
}
