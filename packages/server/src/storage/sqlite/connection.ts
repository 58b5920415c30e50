import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/** Owner read/write only: the database holds emails, password hashes and sealed secrets. */
const PRIVATE_FILE = 0o600;

/**
 * chmod, umask-independent (the mode given at creation is masked by the umask; chmod is not).
 * A file that is gone (a WAL checkpointed away) or a file system without modes is left alone.
 */
export function restrictToOwner(file: string): void {
  try {
    chmodSync(file, PRIVATE_FILE);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'ENOENT' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EROFS') throw error;
  }
}

/**
 * Opens a connection the way every Renova connection must be: WAL (readers never wait for the
 * writer), `synchronous=FULL` (a COMMIT returns only after the WAL is fsync'ed, so an answered
 * token survives a power cut), foreign keys on, and a busy timeout for other processes' locks.
 *
 * The database file is created 0600 before SQLite opens it, and it, its WAL and its shared-memory
 * file are chmod'ed 0600 after (review #11: they were 0644 under umask 022). SQLite gives the WAL
 * and SHM files it creates later the database file's mode.
 */
export function openConnection(path: string, options: { readonly?: boolean } = {}): Database.Database {
  const file = path !== ':memory:' && !path.startsWith('file:') && !options.readonly;
  if (file) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // 'a' creates the file if it is missing and never truncates an existing one.
    closeSync(openSync(path, 'a', PRIVATE_FILE));
    restrictToOwner(path);
  }
  const db = new Database(path, { readonly: options.readonly ?? false });
  if (!options.readonly) db.pragma('journal_mode = WAL');
  if (file) for (const suffix of ['', '-wal', '-shm']) restrictToOwner(`${path}${suffix}`);
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  return db;
}

/**
 * Structured clone turns a Buffer into a plain Uint8Array; better-sqlite3 binds only Buffers as
 * blobs, and callers expect Buffers back. Walks plain objects and arrays.
 */
export function reviveBuffers<T>(value: T): T {
  if (value instanceof Uint8Array) {
    return (
      Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    ) as T;
  }
  if (Array.isArray(value)) return value.map(reviveBuffers) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = reviveBuffers(v);
    return out as T;
  }
  return value;
}
