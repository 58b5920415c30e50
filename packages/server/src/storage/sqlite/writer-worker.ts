import { parentPort, workerData } from 'node:worker_threads';
import { omitAuditWritesForBenchmark } from '../audit.ts';
import { openConnection, reviveBuffers } from './connection.ts';
import { GroupCommitter } from './group-commit.ts';
import { prepareStatements } from './statements.ts';
import { type WireCodec, wireCodec } from './wire.ts';
import { writeSteps } from './write-steps.ts';
import type { WorkerReply, WorkerRequest } from './writer.ts';

/** The writer thread: owns the write connection and group-commits the steps it is sent. */
const port = parentPort;
if (!port) throw new Error('writer-worker must run as a worker thread');
const data = workerData as { path: string; stats?: Float64Array; omitAuditWrites?: boolean };
// The benchmark's A/B switch (storage/audit.ts), inherited from the thread that started this one.
omitAuditWritesForBenchmark(data.omitAuditWrites === true);
const db = openConnection(data.path);
const statements = prepareStatements(db);
// The statistics live in memory shared with the main thread (writer.ts WorkerWriter.stats).
const committer = new GroupCommitter(db, undefined, data.stats);
/**
 * A write statement that changes nothing: inside the batch's BEGIN IMMEDIATE it proves the file
 * is writable (SQLITE_READONLY otherwise) without writing a page, so a probe costs no fsync.
 */
const probe = db.prepare('UPDATE schema_migrations SET name = name WHERE 0');

function reply(id: number, codec: WireCodec | undefined, result: PromiseSettledResult<unknown>): WorkerReply {
  if (result.status === 'fulfilled') {
    return { id, ok: true, value: codec === undefined ? result.value : codec.encodeResult(result.value) };
  }
  const error = result.reason as { message?: string; code?: string };
  return { id, ok: false, error: { message: String(error?.message ?? error), code: error?.code } };
}

port.on('message', (message: WorkerRequest[] | { close: true }) => {
  if ('close' in message) {
    // Steps already queued commit first: their flush was scheduled before this message arrived.
    setImmediate(() => {
      db.close();
      port.close();
    });
    return;
  }
  // Every step of the message joins the committer's current batch; the answers go back together.
  const codecs = message.map((request) => wireCodec(request.name));
  const results = message.map((request, i) => {
    if (request.name === 'probe') return committer.run(() => probe.run() && null);
    const step = writeSteps[request.name] as (s: typeof statements, args: unknown) => unknown;
    const codec = codecs[i];
    const args =
      codec === undefined ? reviveBuffers(request.args) : codec.decodeArgs(request.args as unknown[]);
    return committer.run(() => step(statements, args));
  });
  void Promise.allSettled(results).then((settled) =>
    port.postMessage(settled.map((result, i) => reply((message[i] as WorkerRequest).id, codecs[i], result))),
  );
});
