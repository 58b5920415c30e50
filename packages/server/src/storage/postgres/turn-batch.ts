import { StorageUnavailableError } from '../contract.ts';

/**
 * Group commit for the token endpoint's hot steps on PostgreSQL (docs/design.md "Group commit on
 * PostgreSQL too"). A step in a statement of its own pays its own round trip and its own commit
 * with its WAL flush, which cost PostgreSQL more CPU than a refresh's own work (docs/performance.md);
 * the calls of one loop turn are therefore written together, as one statement.
 */
export interface TurnBatchWriter<I, R> {
  /** One call alone, as one statement. */
  one(input: I): Promise<R>;
  /**
   * Every input in ONE statement (so one transaction: all of them are written or none). Throws
   * when the statement failed, and then nothing was written; otherwise an answer per input, in
   * order, or the Error that input alone is rejected with.
   */
  many(inputs: readonly I[]): Promise<(R | Error)[]>;
  /** The order the inputs of a statement are written in, so that concurrent batches lock rows alike. */
  order?: (a: I, b: I) => number;
  /** Most inputs in one statement; more waiting in one turn go as several, in parallel on the pool. */
  max: number;
  /**
   * Most statements of this batch in flight at once (default: no limit). While that many are,
   * the calls that arrive wait, and go out together as soon as one returns: under load the
   * statements grow instead of multiplying, as a group commit's should.
   */
  maxInFlight?: number;
}

interface Waiting<I, R> {
  input: I;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects the calls of one loop turn and writes them with `many`, or `one` for a lone call; with
 * `maxInFlight` statements already out, the calls wait for one of them to return. Each
 * call is answered only after its statement returned (committed). A statement that failed for
 * another reason than an outage is written again element by element, so that one faulty input
 * answers for itself and the others are written; with the database away every call of the batch
 * gets that answer (503) at once, without trying again alone.
 */
export class TurnBatch<I, R> {
  readonly #writer: TurnBatchWriter<I, R>;
  readonly #maxInFlight: number;
  #waiting: Waiting<I, R>[] = [];
  #scheduled = false;
  #inFlight = 0;

  constructor(writer: TurnBatchWriter<I, R>) {
    this.#writer = writer;
    this.#maxInFlight = writer.maxInFlight ?? Number.POSITIVE_INFINITY;
    if (!(this.#maxInFlight >= 1)) throw new RangeError('maxInFlight must be at least 1');
  }

  add(input: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#waiting.push({ input, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight) return;
    this.#scheduled = true;
    // setImmediate: after this turn's I/O callbacks, so every request whose bytes arrived
    // together joins the same statement.
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    const { max, order } = this.#writer;
    while (this.#waiting.length > 0 && this.#inFlight < this.#maxInFlight) {
      const batch = this.#waiting.splice(0, max);
      if (order !== undefined) batch.sort((a, b) => order(a.input, b.input));
      this.#inFlight += 1;
      void this.#write(batch).finally(() => {
        this.#inFlight -= 1;
        if (this.#waiting.length > 0) this.#schedule();
      });
    }
  }

  async #write(batch: Waiting<I, R>[]): Promise<void> {
    if (batch.length === 1) {
      const only = batch[0] as Waiting<I, R>;
      return this.#alone(only);
    }
    let answers: (R | Error)[];
    try {
      answers = await this.#writer.many(batch.map((w) => w.input));
    } catch (error) {
      if (error instanceof StorageUnavailableError) {
        for (const waiting of batch) waiting.reject(error);
        return;
      }
      for (const waiting of batch) void this.#alone(waiting);
      return;
    }
    batch.forEach((waiting, i) => {
      const answer = answers[i];
      if (answer instanceof Error) waiting.reject(answer);
      else if (i < answers.length) waiting.resolve(answer as R);
      else waiting.reject(new Error(`batched statement: no answer for element ${i + 1}`));
    });
  }

  #alone(waiting: Waiting<I, R>): Promise<void> {
    return this.#writer.one(waiting.input).then(waiting.resolve, waiting.reject);
  }
}
