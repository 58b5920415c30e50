import pg from 'pg';
import type { ApplicationRecord } from '../contract.ts';

/** The channel on which a change to an application's row or secrets is announced. */
export const APPLICATION_CHANNEL = 'renova_applications';

/**
 * A per-instance cache of application records, kept coherent across instances by LISTEN/NOTIFY.
 *
 * Every token request authenticates its client, so without this the application lookup would be
 * one of the three round trips of a refresh. The rows change only through `rotateClientSecret`,
 * which sends `pg_notify(renova_applications, client_id)` in the same transaction; PostgreSQL
 * delivers it to every listening instance at commit, and each drops its entry.
 *
 * The cache serves only while this instance's LISTEN connection is up: when it drops, the cache is
 * emptied and bypassed until the listener is back, so a lost notification cannot leave a stale
 * entry. Entries also expire after `ttlMs` as a second bound. Unknown applications are not cached.
 * Secret expiry is not the cache's concern: the core compares each secret's end with its clock.
 */
export class ApplicationCache {
  readonly #config: pg.ClientConfig;
  readonly #ttlMs: number;
  readonly #entries = new Map<string, { record: ApplicationRecord; until: number }>();
  #client: pg.Client | undefined;
  #listening = false;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;
  /** Bumped on every invalidation, so a lookup that raced with one does not store its result. */
  #generation = 0;

  constructor(config: pg.ClientConfig, ttlMs: number) {
    this.#config = config;
    this.#ttlMs = ttlMs;
  }

  get enabled(): boolean {
    return this.#ttlMs > 0;
  }

  async start(): Promise<void> {
    if (!this.enabled || this.#closed) return;
    const client = new pg.Client(this.#config);
    this.#client = client;
    const lost = () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      this.#listening = false;
      this.clear();
      client.end().catch(() => {});
      if (!this.#closed) {
        this.#retry = setTimeout(() => void this.start(), 1_000);
        this.#retry.unref();
      }
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (message) => {
      if (message.channel === APPLICATION_CHANNEL && message.payload) this.invalidate(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${APPLICATION_CHANNEL}`);
      if (this.#client === client) this.#listening = true;
    } catch {
      lost();
    }
  }

  get(clientId: string, now: number): ApplicationRecord | undefined {
    if (!this.#listening) return undefined;
    const entry = this.#entries.get(clientId);
    if (!entry) return undefined;
    if (entry.until <= now) {
      this.#entries.delete(clientId);
      return undefined;
    }
    return entry.record;
  }

  /** Looks `clientId` up through `load`, storing the result unless an invalidation came meanwhile. */
  async load(
    clientId: string,
    load: () => Promise<ApplicationRecord | null>,
  ): Promise<ApplicationRecord | null> {
    const generation = this.#generation;
    const record = await load();
    if (record && this.#listening && generation === this.#generation) {
      if (this.#entries.size >= 10_000) this.#entries.clear();
      this.#entries.set(clientId, { record, until: Date.now() + this.#ttlMs });
    }
    return record;
  }

  invalidate(clientId: string): void {
    this.#generation += 1;
    this.#entries.delete(clientId);
  }

  clear(): void {
    this.#generation += 1;
    this.#entries.clear();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#listening = false;
    this.clear();
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }
}
