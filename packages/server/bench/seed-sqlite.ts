import Database from 'better-sqlite3';

/**
 * `--seed-grants N` on SQLite: N more grants straight in SQL, each with a token family, a rotated
 * refresh token and its access token (expired a day ago, as the predecessors a running service
 * keeps until housekeeping purges them) and a live pair: 4N token rows. Recursive-CTE INSERTs on a
 * second connection to the server's file (WAL), one transaction per `chunk` grants so that the
 * server's own writer never waits long for the lock (one transaction for a million grants held it
 * ~90 s here and the server gave up); seeding 10 M grants takes minutes instead of the hours the
 * HTTP path would. Ids start at `base` so that they join without lookups and stay apart from
 * whatever the server issues.
 */
export function seedSqliteBulk(
  path: string,
  clientId: string,
  n: number,
  base = 1_000_000_000,
  chunk = 20_000,
): number {
  const started = performance.now();
  const db = new Database(path);
  try {
    db.pragma('busy_timeout = 30000');
    const now = Date.now();
    const far = now + 180 * 86_400_000;
    const expired = now - 86_400_000;
    const series = 'WITH RECURSIVE n(i) AS (SELECT @lo + 1 UNION ALL SELECT i + 1 FROM n WHERE i < @hi)';
    const statements = [
      `${series} INSERT INTO users (id, email, nickname, site_id, created_at)
         SELECT @base + i, 'bulk' || i || '@bench.test', 'B', 'MLA', @now FROM n`,
      `${series} INSERT INTO grants (id, client_id, user_id, scope, public_key, created_at, updated_at)
         SELECT @base + i, @client, @base + i, 'offline_access read write', lower(hex(randomblob(16))), @now, @now FROM n`,
      `${series} INSERT INTO token_families (id, grant_id, scope, live_mode, created_at)
         SELECT @base + i, @base + i, 'offline_access read write', 1, @now FROM n`,
      // Even ids: the rotated, expired predecessor; odd ids: the live successor.
      `${series} INSERT INTO refresh_tokens (id, token_hash, family_id, issued_at, expires_at, rotated_at,
           successor_refresh_id, successor_access_id)
         SELECT 2 * (@base + i), randomblob(32), @base + i, @now, @expired, @now,
           2 * (@base + i) + 1, 2 * (@base + i) + 1 FROM n`,
      `${series} INSERT INTO refresh_tokens (id, token_hash, family_id, issued_at, expires_at, access_expires_at)
         SELECT 2 * (@base + i) + 1, randomblob(32), @base + i, @now, @far, @far FROM n`,
      `${series} INSERT INTO access_tokens (id, token_hash, family_id, client_id, user_id, scope, live_mode, issued_at, expires_at)
         SELECT 2 * (@base + i) + k, randomblob(32), @base + i, @client, @base + i, 'read', 1, @now,
           CASE k WHEN 0 THEN @expired ELSE @far END
         FROM n, (SELECT 0 AS k UNION ALL SELECT 1)`,
    ];
    const prepared = statements.map((sql) => db.prepare(sql));
    const insertChunk = db.transaction((lo: number, hi: number) => {
      for (const statement of prepared) statement.run({ lo, hi, base, now, far, expired, client: clientId });
    });
    for (let lo = 0; lo < n; lo += chunk) insertChunk(lo, Math.min(n, lo + chunk));
    db.exec('ANALYZE');
  } finally {
    db.close();
  }
  return (performance.now() - started) / 1000;
}
