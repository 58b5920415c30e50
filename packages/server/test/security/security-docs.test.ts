/**
 * docs/security.md maps every checklist item and review finding to the test that proves it. This
 * keeps the map true: every test named there exists, in the file named beside it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';

const here = import.meta.dirname;
const doc = readFileSync(join(here, '../../../../docs/security.md'), 'utf8');
/** Every test file under test/, by its name (the doc names files, not folders; unit and integration may share one). */
const testFiles = new Map<string, string[]>();
for (const path of readdirSync(join(here, '..'), { recursive: true }) as string[]) {
  if (!path.endsWith('.test.ts')) continue;
  testFiles.set(basename(path), [...(testFiles.get(basename(path)) ?? []), join(here, '..', path)]);
}

test('every test docs/security.md cites exists in the file it names', () => {
  let cited = 0;
  for (const row of doc.split('\n').filter((line) => line.startsWith('|'))) {
    // A cell lists `file.test.ts` — "name", "name"; `other.test.ts` — "name" …
    for (const group of row.matchAll(/`([a-z-]+\.test\.ts)` — ((?:"[^"]+"(?:, )?)+)/g)) {
      const files = testFiles.get(group[1] as string);
      assert.ok(files, `docs/security.md cites ${group[1]}, which is not a test file`);
      const source = files.map((file) => readFileSync(file, 'utf8')).join('\n');
      for (const name of (group[2] as string).matchAll(/"([^"]+)"/g)) {
        const pattern = (name[1] as string)
          .split('…')
          .map((part) =>
            part
              .trim()
              .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
              .replace(/ #/g, ' \\\\?#'),
          )
          .join('[\\s\\S]{0,120}');
        assert.match(source, new RegExp(pattern), `${group[1]} has no test "${name[1]}"`);
        cited++;
      }
    }
  }
  assert.ok(cited >= 60, `only ${cited} tests cited`);
});
