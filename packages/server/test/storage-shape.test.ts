import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

/**
 * The storage adapters' shape (issue 10 item 4): the port owns its outage error, so nothing under
 * src/storage depends on core, and adapters take their settings as constructor options, so none
 * reads the environment (the composition root does).
 */

const STORAGE = fileURLToPath(new URL('../src/storage/', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

/** Import and export specifiers of a module (static, side-effect and dynamic). */
function specifiers(source: string): string[] {
  return [...source.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)].map(
    (m) => m[1] as string,
  );
}

describe('storage adapters are thin and depend on nothing above them (issue 10 item 4)', () => {
  const files = sources(STORAGE);

  test('no module under src/storage imports src/core, src/http, src/cli or the runtime', () => {
    const offending = files.flatMap((file) =>
      specifiers(readFileSync(file, 'utf8'))
        .filter((s) => /(^|\/)(core|http|cli)\/|runtime\.ts$|services\.ts$|config\.ts$/.test(s))
        .map((s) => `${relative(STORAGE, file)} imports ${s}`),
    );
    assert.deepEqual(offending, []);
  });

  test('no module under src/storage reads process.env: settings are constructor options', () => {
    const offending = files
      .filter((file) => /process\.env/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(STORAGE, file));
    assert.deepEqual(offending, []);
  });
});
