import Database from 'better-sqlite3';
import { SQLITE_MIGRATIONS } from '../../src/storage/sqlite/migrations.ts';

/**
 * A SQLite file as an earlier release left it: migrations 1 to `version` applied and recorded, and
 * nothing after them. The caller adds the rows (`sql`) that the upgrade under test must carry over.
 */
export function sqliteAtVersion(file: string, version: number, sql: string): void {
  const db = new Database(file);
  try {
    db.exec(
      'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    for (const m of SQLITE_MIGRATIONS.filter((m) => m.version <= version)) {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, 0);
    }
    db.exec(sql);
  } finally {
    db.close();
  }
}
