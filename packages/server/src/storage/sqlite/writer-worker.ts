import { parentPort, workerData } from 'node:worker_threads';
import { openConnection, reviveBuffers } from './connection.ts';
import { GroupCommitter } from './group-commit.ts';
import { prepareStatements } from './statements.ts';
import { type WriteStepName, writeSteps } from './write-steps.ts';
import type { WorkerReply } from './writer.ts';

/** The writer thread: owns the write connection and group-commits the steps it is sent. */
const port = parentPort;
if (!port) throw new Error('writer-worker must run as a worker thread');
const db = openConnection((workerData as { path: string }).path);
const statements = prepareStatements(db);
const committer = new GroupCommitter(db);

port.on('message', (message: { id: number; name: WriteStepName; args: unknown } | { close: true }) => {
  if ('close' in message) {
    // Steps already queued commit first: run() scheduled them before this message arrived.
    setImmediate(() => {
      db.close();
      port.close();
    });
    return;
  }
  const step = writeSteps[message.name] as (s: typeof statements, args: unknown) => unknown;
  const args = reviveBuffers(message.args);
  committer
    .run(() => step(statements, args))
    .then(
      (value) => port.postMessage({ id: message.id, ok: true, value } satisfies WorkerReply),
      (error: { message?: string; code?: string }) =>
        port.postMessage({
          id: message.id,
          ok: false,
          error: { message: String(error?.message ?? error), code: error?.code },
        } satisfies WorkerReply),
    );
});
