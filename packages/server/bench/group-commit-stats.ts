import Database from 'better-sqlite3';
import { GroupCommitter, newCommitStats } from '../src/storage/sqlite/group-commit.ts';

/**
 * The cost of the group-commit statistics (docs/operations.md "Metrics and alerts"): the same
 * batches through a GroupCommitter with and without its shared statistics array, on an in-memory
 * database so that no fsync hides the difference. Alternates the two, several rounds, medians.
 * `node --import tsx bench/group-commit-stats.ts [batches] [batchSize]`
 */
const batches = Number(process.argv[2] ?? 20_000);
const batchSize = Number(process.argv[3] ?? 8);

function committer(stats: Float64Array | undefined) {
  const db = new Database(':memory:');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)');
  const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
  return { db, gc: new GroupCommitter(db, 512, stats), insert };
}

async function run(stats: Float64Array | undefined): Promise<number> {
  const { db, gc, insert } = committer(stats);
  const start = process.hrtime.bigint();
  for (let b = 0; b < batches; b++) {
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < batchSize; i++) pending.push(gc.run(() => insert.run(i)));
    await Promise.all(pending);
  }
  const ns = Number(process.hrtime.bigint() - start);
  db.close();
  return ns / batches / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const plain: number[] = [];
const counted: number[] = [];
for (let round = 0; round < 5; round++) {
  plain.push(await run(undefined));
  counted.push(await run(newCommitStats()));
}
const p = median(plain);
const c = median(counted);
console.log(
  `${batches} batches of ${batchSize}: without stats ${p.toFixed(2)} µs/batch, with stats ${c.toFixed(2)} µs/batch (${(((c - p) / p) * 100).toFixed(1)} %)`,
);
