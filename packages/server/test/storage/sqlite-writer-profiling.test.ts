import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { profilerExecArgv } from '../../src/storage/sqlite/writer.ts';

/**
 * `node --cpu-prof --cpu-prof-dir DIR renova serve` (docs/performance.md "where the time goes")
 * must profile the writer thread too, and above all must not stop it: the thread got the flag
 * without its value ("--cpu-prof-dir requires an argument"), refused to start, and every write of
 * the server failed.
 */
const serverDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('the SQLite writer thread under the CPU profiler', () => {
  test('keeps the --cpu-prof options with their values, in both spellings, and nothing else', () => {
    assert.deepEqual(
      profilerExecArgv([
        '--import',
        'tsx',
        '--cpu-prof',
        '--cpu-prof-dir',
        '/tmp/p r',
        '--cpu-prof-interval=200',
        '--cpu-prof-name',
        'x.cpuprofile',
        '--max-old-space-size=64',
        '--cpu-prof-dir=/tmp/q',
      ]),
      [
        '--cpu-prof',
        '--cpu-prof-dir',
        '/tmp/p r',
        '--cpu-prof-interval=200',
        '--cpu-prof-name',
        'x.cpuprofile',
        '--cpu-prof-dir=/tmp/q',
      ],
    );
    assert.deepEqual(profilerExecArgv(['--import', 'tsx']), []);
    // A value flag at the very end has no value to take: kept alone, as node itself would see it.
    assert.deepEqual(profilerExecArgv(['--cpu-prof-dir']), ['--cpu-prof-dir']);
  });

  test('`--cpu-prof-dir DIR` (a separate argument): writes succeed and both threads leave a profile', () => {
    const dir = mkdtempSync(join(tmpdir(), 'renova-prof-'));
    try {
      const script = `
        import { SqliteStorage } from './src/storage/sqlite/adapter.ts';
        const storage = new SqliteStorage({ path: ${JSON.stringify(join(dir, 'r.db'))} });
        await storage.migrate();
        const user = await storage.createUser({ email: 'p@x.test', nickname: 'P', siteId: 'MLA', passwordHash: null, createdAt: 1 });
        if (!user) throw new Error('no user written');
        await storage.close();`;
      const profiles = join(dir, 'profiles');
      const run = spawnSync(
        process.execPath,
        ['--cpu-prof', '--cpu-prof-dir', profiles, '--import', 'tsx', '--input-type=module', '-e', script],
        { cwd: serverDir, encoding: 'utf8', timeout: 60_000 },
      );
      assert.equal(run.status, 0, run.stderr);
      const written = readdirSync(profiles).filter((name) => name.endsWith('.cpuprofile'));
      assert.ok(written.length >= 2, `a profile of the main thread and one of the writer: ${written}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
