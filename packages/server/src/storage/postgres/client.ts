import pg from 'pg';
import { isConnectionFailure, isRetryable, toStorageError } from './errors.ts';

/**
 * The PostgreSQL connection side of the adapter: the pool and its configuration, `run` and `tx`
 * with bounded retries of serialization failures, and the one LISTEN connection outside the pool.
 */

export interface PostgresClientOptions {
  connectionString: string;
  /** Schema to work in (search_path); the default is the database's (`public`). Tests isolate with it. */
  schema?: string;
  /** Connections per instance (default 16). */
  poolMax?: number;
  /** How long a request may wait for a free connection before it is answered 503 (ms). */
  connectionTimeoutMs?: number;
  /** Client-side bound on one statement, so a silent network cut cannot hang requests (ms). */
  queryTimeoutMs?: number;
  /** Attempts for a step that hit a serialization failure or deadlock (40001, 40P01). */
  maxAttempts?: number;
  /**
   * Where the one LISTEN connection goes (default: `connectionString`). Behind a transaction-mode
   * PgBouncer LISTEN does not work: point this at PostgreSQL directly.
   */
  listenConnectionString?: string;
}

/** `pg` returns BIGINT as text; every BIGINT here (ids < 2^53, epoch ms) fits a JS number. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** How long the listening connection waits before it reconnects after losing the database. */
const WATCH_RECONNECT_MS = 1_000;

/** What a transaction's work may do: run its own statements, nothing else. */
export interface Querier {
  query<R extends pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class PostgresClient {
  readonly pool: pg.Pool;
  readonly #maxAttempts: number;
  /** The LISTEN connection's configuration. */
  readonly #listenConnection: pg.ClientConfig;
  readonly #listeners: { channel: string; onChange: (payload: string | null) => void }[] = [];
  #listener: pg.Client | undefined;
  #reconnect: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: PostgresClientOptions) {
    if (options.schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(options.schema))
      throw new Error('schema must be a lower-case SQL identifier');
    this.#maxAttempts = options.maxAttempts ?? 4;
    const connection: pg.ClientConfig = {
      connectionString: options.connectionString,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 2_000,
      keepAlive: true,
      application_name: 'renova',
      types,
      ...(options.schema === undefined ? {} : { options: `-c search_path=${options.schema}` }),
    };
    this.#listenConnection = {
      ...connection,
      connectionString: options.listenConnectionString ?? options.connectionString,
    };
    this.pool = new pg.Pool({
      ...connection,
      max: options.poolMax ?? 16,
      query_timeout: options.queryTimeoutMs ?? 10_000,
      idleTimeoutMillis: 30_000,
    });

    // An idle connection that dies (database restart, network cut) emits 'error' on the pool; the
    // pool already discards it. Without a listener Node would treat it as fatal.
    this.pool.on('error', () => {});
  }

  /** One statement (atomic on its own), retried on serialization failures. */
  async run<R extends pg.QueryResultRow>(config: pg.QueryConfig): Promise<pg.QueryResult<R>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.pool.query<R>(config);
      } catch (error) {
        if (isRetryable(error) && attempt < this.#maxAttempts) {
          await sleep(attempt * 2 + Math.random() * 5);
          continue;
        }
        throw toStorageError(error);
      }
    }
  }

  /**
   * One short transaction. `work` must not await anything but its own queries. A connection that
   * failed is destroyed, not returned to the pool; a rejected promise means nothing was committed
   * (an error on COMMIT itself is the one ambiguous case, see docs/postgres.md).
   */
  async tx<T>(work: (db: Querier) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (error) {
        throw toStorageError(error);
      }
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (error) {
        let broken = isConnectionFailure(error);
        if (!broken) {
          try {
            await client.query('ROLLBACK');
          } catch {
            broken = true;
          }
        }
        client.release(broken ? (error as Error) : undefined);
        if (isRetryable(error) && attempt < this.#maxAttempts) {
          await sleep(attempt * 2 + Math.random() * 5);
          continue;
        }
        throw toStorageError(error);
      }
    }
  }

  /**
   * Calls `onChange(payload)` for every notification on `channel`, and `onChange(null)` whenever
   * notifications may have been missed (the LISTEN connection was lost, and once it is back).
   */
  listen(channel: string, onChange: (payload: string | null) => void): void {
    const known = this.#listeners.some((l) => l.channel === channel);
    this.#listeners.push({ channel, onChange });
    if (this.#listeners.length === 1) void this.#connectListener();
    else if (!known && this.#listener) void this.#listener.query(`LISTEN ${channel}`).catch(() => {});
  }

  #notify(channel: string | null, payload: string | null): void {
    for (const listener of this.#listeners)
      if (channel === null || listener.channel === channel) listener.onChange(payload);
  }

  /**
   * One connection outside the pool, LISTENing on every channel asked for. When it is lost, changes
   * may be missed until it is back: the listeners hear `null` then and again once it listens anew,
   * so they drop what they cached in between. (Behind a transaction-pooling PgBouncer LISTEN does
   * not work: give `listenConnectionString`, RENOVA_PG_LISTEN_URL, to PostgreSQL itself.)
   */
  async #connectListener(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client(this.#listenConnection);
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      if (this.#listener === client) this.#listener = undefined;
      client.end().catch(() => {});
      if (this.#closed) return;
      this.#notify(null, null);
      this.#reconnect = setTimeout(() => void this.#connectListener(), WATCH_RECONNECT_MS);
      this.#reconnect.unref();
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (message) => {
      if (message.payload) this.#notify(message.channel, message.payload);
    });
    try {
      await client.connect();
      for (const channel of new Set(this.#listeners.map((l) => l.channel)))
        await client.query(`LISTEN ${channel}`);
    } catch {
      onLost();
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#listener = client;
    // Whatever changed while nobody listened is forgotten now.
    this.#notify(null, null);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#reconnect) clearTimeout(this.#reconnect);
    const listener = this.#listener;
    this.#listener = undefined;
    await listener?.end().catch(() => {});
    await this.pool.end();
  }
}
