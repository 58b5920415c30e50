import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { restrictToOwner } from './connection.ts';
import { SQLITE_MIGRATIONS } from './migrations.ts';

/** A refusal of `renova backup` / `renova restore`: what is wrong and how to fix it. */
export class BackupError extends Error {
  override readonly name = 'BackupError';
}

/** The newest schema this build knows; a file from a newer Renova cannot be served by it. */
export const LATEST_SQLITE_MIGRATION = Math.max(...SQLITE_MIGRATIONS.map((m) => m.version));

export interface BackupResult {
  file: string;
  pages: number;
  bytes: number;
  migration: number;
  elapsedMs: number;
}

/** Every transfer after the first takes all remaining pages: one read transaction, see backupSqlite. */
const ALL_PAGES = 0x7fffffff;

/**
 * `renova backup --to FILE`: an online copy of the SQLite database with better-sqlite3's
 * `db.backup()` (SQLite's backup API), consistent while the server keeps serving.
 *
 * The copy is made in ONE step that holds one read transaction: in WAL mode a reader never blocks
 * the writer (the server's writer thread keeps committing; only the WAL checkpoint waits for the
 * copy to end), and the copy is the database as of one commit, so every write acknowledged before
 * the backup started is in it. The default of small steps releases the read lock between steps,
 * and SQLite restarts a backup from scratch whenever another connection wrote in between, which
 * under a steady load of refreshes may never finish. It runs in the CLI's own process, so the
 * server's event loop never waits for it.
 *
 * The file is written under a temporary name beside FILE, 0600 like the database, then renamed:
 * FILE is either the complete copy or absent (and an existing FILE is replaced only with `force`).
 */
export async function backupSqlite(
  source: string,
  to: string,
  options: { force?: boolean } = {},
): Promise<BackupResult> {
  const started = Date.now();
  const target = resolve(to);
  if (resolve(source) === target)
    throw new BackupError('--to names the database itself: choose another file');
  if (existsSync(target) && !options.force)
    throw new BackupError(`${to} exists: choose a new file name, or pass --force to replace it`);
  if (!existsSync(dirname(target)))
    throw new BackupError(`the directory of ${to} does not exist: create it first`);
  const db = openRenovaFile(source, 'the database');
  const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.partial`);
  try {
    const migration = migrationOf(db, source);
    const progress = await db.backup(temporary, { progress: () => ALL_PAGES });
    restrictToOwner(temporary);
    // The copy is checked before it takes FILE's name: a backup that cannot be read is no backup.
    const copy = openRenovaFile(temporary, 'the copy');
    try {
      const check = copy.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new BackupError(`the copy failed SQLite's quick_check (${String(check)})`);
    } finally {
      copy.close();
    }
    renameSync(temporary, target);
    return {
      file: target,
      pages: progress.totalPages,
      bytes: statSync(target).size,
      migration,
      elapsedMs: Date.now() - started,
    };
  } finally {
    db.close();
    rmSync(temporary, { force: true });
  }
}

export interface RestoreResult {
  db: string;
  migration: number;
  bytes: number;
}

/**
 * `renova restore --from FILE`: replaces the database at `target` with a backup.
 *
 * Refused when FILE is not a Renova database (no `schema_migrations`, or it fails quick_check),
 * when it comes from a newer Renova (a migration this build does not know), when `target` exists
 * and `force` is not given, and always when `target` is in use: SQLite lets a connection leave
 * WAL mode only while no other connection has the file open, so that switch is the test (a running
 * server keeps its connections open). The backup is copied beside `target` (0600), the target's
 * WAL and shared-memory files are removed (a stale WAL applied to another database corrupts it),
 * and the copy is renamed over `target`. Older schemas are fine: the next start migrates them.
 */
export async function restoreSqlite(
  from: string,
  target: string,
  options: { force?: boolean } = {},
): Promise<RestoreResult> {
  const source = resolve(from);
  const destination = resolve(target);
  if (source === destination) throw new BackupError('--from names the database itself');
  if (!existsSync(source)) throw new BackupError(`${from} does not exist`);
  const backup = openRenovaFile(source, 'the backup', { readonly: true });
  let migration: number;
  try {
    const check = backup.pragma('quick_check', { simple: true });
    if (check !== 'ok')
      throw new BackupError(`${from} is damaged: SQLite's quick_check says ${JSON.stringify(String(check))}`);
    migration = migrationOf(backup, from);
    if (migration > LATEST_SQLITE_MIGRATION)
      throw new BackupError(
        `${from} has schema version ${migration}, newer than this Renova knows (${LATEST_SQLITE_MIGRATION}): restore it with the Renova version that made it, or a newer one`,
      );
  } finally {
    backup.close();
  }
  if (!existsSync(dirname(destination)))
    throw new BackupError(`the directory of ${target} does not exist: create it first`);
  if (existsSync(destination)) {
    if (!options.force)
      throw new BackupError(
        `${target} exists: pass --force to replace it with the backup (stop the server first)`,
      );
    assertNotInUse(destination, target);
  }
  const temporary = join(dirname(destination), `.${basename(destination)}.${process.pid}.restoring`);
  try {
    const reader = new Database(source, { readonly: true, fileMustExist: true });
    try {
      await reader.backup(temporary, { progress: () => ALL_PAGES });
    } finally {
      reader.close();
    }
    restrictToOwner(temporary);
    for (const suffix of ['-wal', '-shm', '-journal']) rmSync(`${destination}${suffix}`, { force: true });
    renameSync(temporary, destination);
  } finally {
    rmSync(temporary, { force: true });
  }
  return { db: destination, migration, bytes: statSync(destination).size };
}

/** Opens an existing file and checks it holds Renova's schema table. */
function openRenovaFile(path: string, what: string, options: { readonly?: boolean } = {}): Database.Database {
  if (!existsSync(path)) throw new BackupError(`${what} ${path} does not exist`);
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: true, readonly: options.readonly ?? false });
    db.pragma('busy_timeout = 5000');
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
  } catch (error) {
    throw new BackupError(`${what} ${path} is not an SQLite database (${(error as Error).message})`);
  }
  const table = db
    .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'")
    .get();
  if (!table) {
    db.close();
    throw new BackupError(
      `${what} ${path} is an SQLite database but not Renova's (it has no schema_migrations table)`,
    );
  }
  return db;
}

function migrationOf(db: Database.Database, path: string): number {
  const row = db.prepare('SELECT max(version) AS version FROM schema_migrations').get() as {
    version: number | null;
  };
  if (row.version === null)
    throw new BackupError(`${path} has no migration applied: it is not a Renova database yet`);
  return row.version;
}

/**
 * Refuses a database another connection has open: leaving WAL mode needs exclusive access, so
 * `journal_mode = DELETE` answers `wal` while a server (or any other process) has it open. On
 * success the file is checkpointed and its WAL removed; nothing else is changed.
 */
function assertNotInUse(path: string, shown: string): void {
  const db = new Database(path, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 0');
    let mode: unknown;
    try {
      mode = db.pragma('journal_mode = DELETE', { simple: true });
    } catch (error) {
      if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) mode = 'busy';
      else throw error;
    }
    if (mode !== 'delete')
      throw new BackupError(
        `${shown} is in use (a running renova serve, or another process, has it open): stop it, then restore`,
      );
  } finally {
    db.close();
  }
}
