import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { COMMIT_STATS, GroupCommitter, newCommitStats } from '../../src/storage/sqlite/group-commit.ts';

/** A committer over a fresh in-memory database with one table of unique names. */
function committer() {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (name TEXT PRIMARY KEY)');
  const insert = db.prepare('INSERT INTO t (name) VALUES (?)');
  const names = () =>
    (db.prepare('SELECT name FROM t ORDER BY name').all() as { name: string }[]).map((r) => r.name);
  const stats = newCommitStats();
  return { db, insert, names, stats, commits: new GroupCommitter(db, 512, stats) };
}

describe('SQLite group commit', () => {
  test('the steps of one loop turn commit in one transaction, each answered with its own value', async () => {
    const { insert, names, stats, commits } = committer();
    const values = await Promise.all(
      ['a', 'b', 'c'].map((name) => commits.run(() => insert.run(name).changes)),
    );
    assert.deepEqual(values, [1, 1, 1]);
    assert.deepEqual(names(), ['a', 'b', 'c']);
    assert.equal(stats[COMMIT_STATS.batches], 1);
    assert.equal(stats[COMMIT_STATS.writes], 3);
  });

  test('a step that throws after writing rolls back alone and the others commit (the batch runs again, step by step)', async () => {
    const { insert, names, commits } = committer();
    const runs = { a: 0, bad: 0, c: 0 };
    const results = await Promise.allSettled([
      commits.run(() => {
        runs.a++;
        return insert.run('a').changes;
      }),
      commits.run(() => {
        runs.bad++;
        insert.run('half-written');
        throw new Error('an invariant broke after a write');
      }),
      commits.run(() => {
        runs.c++;
        return insert.run('c').changes;
      }),
    ]);
    assert.equal(results[0].status, 'fulfilled');
    assert.equal(results[1].status, 'rejected');
    assert.match(String((results[1] as PromiseRejectedResult).reason), /an invariant broke/);
    assert.equal(results[2].status, 'fulfilled');
    assert.deepEqual(names(), ['a', 'c'], 'nothing of the failed step is committed');
    // The batch ran without savepoints up to the failure, then again step by step.
    assert.deepEqual(runs, { a: 2, bad: 2, c: 1 });
  });

  test('a step that catches its own constraint violation keeps its other writes', async () => {
    const { insert, names, commits } = committer();
    await commits.run(() => insert.run('taken'));
    const outcome = await commits.run(() => {
      insert.run('kept');
      try {
        insert.run('taken');
        return 'inserted';
      } catch {
        return 'already there';
      }
    });
    assert.equal(outcome, 'already there');
    assert.deepEqual(names(), ['kept', 'taken']);
  });

  test('a failing batch leaves the connection usable: the next batch commits', async () => {
    const { insert, names, commits, db } = committer();
    await assert.rejects(
      commits.run(() => {
        insert.run('x');
        throw new Error('fails alone');
      }),
      /fails alone/,
    );
    assert.equal(db.inTransaction, false);
    await commits.run(() => insert.run('y'));
    assert.deepEqual(names(), ['y']);
  });
});
