'use strict';
/**
 * The floor server's writer (bench/floor.ts), a thread unless floor.ts runs inline: one better-sqlite3 connection, WAL,
 * synchronous=FULL, and group commit of every rotation that arrives in one message, as Renova's
 * writer thread does, with nothing else: no audit row, no replay seal, no statistics.
 *
 * A message is a flat array, five values per rotation: presented id, presented hash, new refresh
 * hash, new access hash (SHA-256 digests as latin1 strings, as Renova's wire.ts sends them), now. The answer is a flat array, two values per rotation: the new
 * refresh id and the new access id, or 0 and 0 when the presented token was refused.
 */
const { isMainThread, parentPort, workerData } = require('node:worker_threads');
const Database = require('better-sqlite3');

const REFRESH_MS = 180 * 86_400_000;

/** Opens the write connection; returns the function that commits one message's rotations. */
function openWriter(path) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const find = db.prepare('SELECT token_hash, rotated_at, expires_at FROM refresh_tokens WHERE id = ?').raw();
  const insertRefresh = db.prepare(
    'INSERT INTO refresh_tokens (token_hash, issued_at, expires_at) VALUES (?, ?, ?)',
  );
  const insertAccess = db.prepare(
    'INSERT INTO access_tokens (token_hash, issued_at, expires_at) VALUES (?, ?, ?)',
  );
  const markRotated = db.prepare(
    'UPDATE refresh_tokens SET rotated_at = ?, successor_id = ? WHERE id = ? AND rotated_at IS NULL',
  );

  function rotate(id, presented, refreshHash, accessHash, now) {
    const row = find.get(id);
    if (!row || row[1] !== null || row[2] <= now || !row[0].equals(presented)) return [0, 0];
    const refreshId = Number(insertRefresh.run(refreshHash, now, now + REFRESH_MS).lastInsertRowid);
    const accessId = Number(insertAccess.run(accessHash, now, now + REFRESH_MS).lastInsertRowid);
    if (markRotated.run(now, refreshId, id).changes !== 1) throw new Error('rotated twice');
    return [refreshId, accessId];
  }

  return (steps) => {
    const answers = [];
    begin.run();
    try {
      for (let i = 0; i < steps.length; i += 5) {
        const [refreshId, accessId] = rotate(
          steps[i],
          Buffer.from(steps[i + 1], 'latin1'),
          Buffer.from(steps[i + 2], 'latin1'),
          Buffer.from(steps[i + 3], 'latin1'),
          steps[i + 4],
        );
        answers.push(refreshId, accessId);
      }
      commit.run();
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw error;
    }
    return answers;
  };
}

if (isMainThread) {
  // `bench/floor.ts --inline` commits on its own event loop, without a thread.
  module.exports = { openWriter };
} else {
  const commitBatch = openWriter(workerData.path);
  parentPort.on('message', (steps) => parentPort.postMessage(commitBatch(steps)));
}
