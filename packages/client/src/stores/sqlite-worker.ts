/**
 * The SQLite store's writer thread: owns the write connection and group-commits the steps it is
 * sent. With `synchronous=FULL` each COMMIT waits for an fsync; here that wait blocks this thread,
 * not the integrator's event loop, and the steps that arrive meanwhile become the next batch.
 *
 * @module
 */

import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import {
  commitGroup,
  configure,
  prepareStatements,
  type WriterData,
  type WriterRequest,
} from './sqlite-steps.ts';

const port = parentPort;
if (port === null) throw new Error('sqlite-worker must run as a worker thread');
const data = workerData as WriterData;
const db = new Database(data.path);
configure(db, data.busyTimeoutMs);
const statements = prepareStatements(db, data.prefix);

const queue: WriterRequest[] = [];
let scheduled = false;

/** Commits everything that arrived in this loop turn (at most 1,000 steps per transaction). */
function flush(): void {
  scheduled = false;
  while (queue.length > 0) {
    const batch = queue.splice(0, 1000);
    port?.postMessage(commitGroup(db, statements, batch));
  }
}

port.on('message', (message: WriterRequest[] | { close: true }) => {
  if ('close' in message) {
    // Steps already queued commit first: their flush was scheduled before this message arrived.
    setImmediate(() => {
      flush();
      db.close();
      port.close();
    });
    return;
  }
  queue.push(...message);
  if (!scheduled) {
    scheduled = true;
    // setImmediate runs after this turn's messages: everything posted together joins one batch.
    setImmediate(flush);
  }
});
