import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StorageUnavailableError } from '../../src/storage/contract.ts';
import { TurnBatch, type TurnBatchWriter } from '../../src/storage/postgres/turn-batch.ts';

/**
 * TurnBatch without a database (the PostgreSQL side is test/storage/postgres-turn-batch.test.ts):
 * what goes into one statement, in which order, and who is answered what when a statement fails.
 */

/** A writer that records its calls; `many` answers each input doubled unless told otherwise. */
function recorder(options: Partial<TurnBatchWriter<number, number>> = {}) {
  const calls: { kind: 'one' | 'many'; inputs: number[] }[] = [];
  const writer: TurnBatchWriter<number, number> = {
    max: 3,
    one: async (input) => {
      calls.push({ kind: 'one', inputs: [input] });
      if (input < 0) throw new Error(`refused ${input}`);
      return input * 2;
    },
    many: async (inputs) => {
      calls.push({ kind: 'many', inputs: [...inputs] });
      return inputs.map((i) => i * 2);
    },
    ...options,
  };
  return { calls, batch: new TurnBatch(writer) };
}

describe('TurnBatch: group commit of one loop turn', () => {
  test('the calls of one turn go out together, at most `max` a statement, in the given order', async () => {
    const { calls, batch } = recorder({ order: (a, b) => a - b });
    const answers = await Promise.all([5, 1, 4, 2, 3].map((i) => batch.add(i)));
    assert.deepEqual(answers, [10, 2, 8, 4, 6], 'each caller gets its own answer');
    assert.deepEqual(calls, [
      { kind: 'many', inputs: [1, 4, 5] },
      { kind: 'many', inputs: [2, 3] },
    ]);
  });

  test('a lone call is written alone; calls of a later turn make a statement of their own', async () => {
    const { calls, batch } = recorder();
    assert.equal(await batch.add(7), 14);
    await Promise.all([batch.add(1), batch.add(2)]);
    assert.deepEqual(calls, [
      { kind: 'one', inputs: [7] },
      { kind: 'many', inputs: [1, 2] },
    ]);
  });

  test('a statement that failed is written again element by element: the faulty one alone fails', async () => {
    const { calls, batch } = recorder({
      many: async (inputs) => {
        calls.push({ kind: 'many', inputs: [...inputs] });
        throw new Error('invalid input syntax');
      },
    });
    const results = await Promise.allSettled([1, -2, 3].map((i) => batch.add(i)));
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
      [2, 'refused -2', 6],
    );
    assert.deepEqual(
      calls.map((c) => c.kind),
      ['many', 'one', 'one', 'one'],
    );
  });

  test('with the storage away every call of the statement is answered so, none written again', async () => {
    const away = new StorageUnavailableError('the database is not reachable');
    const { calls, batch } = recorder({
      many: async (inputs) => {
        calls.push({ kind: 'many', inputs: [...inputs] });
        throw away;
      },
    });
    const results = await Promise.allSettled([1, 2, 3].map((i) => batch.add(i)));
    for (const r of results) assert.ok(r.status === 'rejected' && r.reason === away);
    assert.equal(calls.length, 1);
  });

  test('an element answered with an Error, or not answered, is rejected; the others resolve', async () => {
    const { batch } = recorder({
      many: async (inputs) => inputs.slice(0, 2).map((i) => (i === 2 ? new Error('no row for 2') : i * 2)),
    });
    const results = await Promise.allSettled([1, 2, 3].map((i) => batch.add(i)));
    assert.equal(results[0]?.status === 'fulfilled' && results[0].value, 2);
    assert.match(
      String(results[1]?.status === 'rejected' && (results[1].reason as Error).message),
      /no row for 2/,
    );
    assert.match(
      String(results[2]?.status === 'rejected' && (results[2].reason as Error).message),
      /no answer/,
    );
  });

  test('with maxInFlight statements out, later calls wait and go together when one returns', async () => {
    const releases: (() => void)[] = [];
    const { calls, batch } = recorder({
      max: 10,
      maxInFlight: 1,
      many: async (inputs) => {
        calls.push({ kind: 'many', inputs: [...inputs] });
        await new Promise<void>((resolve) => releases.push(resolve));
        return inputs.map((i) => i * 2);
      },
    });
    const first = Promise.all([batch.add(1), batch.add(2)]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(releases.length, 1, 'the first statement is out');
    // Three turns of calls while it is: none goes out yet.
    const waiting: Promise<number>[] = [];
    for (const turn of [[3], [4, 5], [6]]) {
      waiting.push(...turn.map((i) => batch.add(i)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(calls.length, 1, 'nothing more is written while the limit is reached');
    releases.shift()?.();
    assert.deepEqual(await first, [2, 4]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      calls[1],
      { kind: 'many', inputs: [3, 4, 5, 6] },
      'the waiting calls share one statement',
    );
    releases.shift()?.();
    assert.deepEqual(await Promise.all(waiting), [6, 8, 10, 12]);
  });

  test('a statement that failed frees its place: the calls waiting behind it are written', async () => {
    let statements = 0;
    const { batch } = recorder({
      maxInFlight: 1,
      many: async (inputs) => {
        statements += 1;
        if (statements === 1) {
          await new Promise((resolve) => setImmediate(resolve));
          throw new StorageUnavailableError('the database is not reachable');
        }
        return inputs.map((i) => i * 2);
      },
    });
    const failed = Promise.allSettled([batch.add(1), batch.add(2)]);
    await new Promise((resolve) => setImmediate(resolve));
    const later = Promise.all([batch.add(3), batch.add(4)]);
    assert.ok((await failed).every((r) => r.status === 'rejected'));
    assert.deepEqual(await later, [6, 8]);
  });

  test('maxInFlight below 1 is refused', () => {
    assert.throws(() => recorder({ maxInFlight: 0 }), /maxInFlight must be at least 1/);
    assert.throws(() => recorder({ maxInFlight: Number.NaN }), /maxInFlight must be at least 1/);
  });
});
