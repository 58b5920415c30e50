/**
 * The script of one of this package's worker threads (the SQLite store's writer, the keeper thread).
 *
 * From the compiled package (dist/), the `.js` file beside the calling module: a real file that
 * resolves its dependencies from wherever the package is installed. From the TypeScript sources
 * (tsx: the tests, the benchmarks), a worker thread cannot load .ts files on Node 20, so the
 * worker's sources are bundled once per process with esbuild (a devDependency, there wherever the
 * sources run) into CommonJS, and its `external` packages are required relative to the calling
 * module, as the compiled worker would resolve them.
 *
 * @module
 */

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const bundles = new Map<string, string>();

/**
 * @param from - the calling module's `import.meta.url`
 * @param name - the worker's file name beside it, without extension (`sqlite-worker`)
 * @param external - packages left to `require` at run time (the optional peers it loads)
 */
export function workerScript(
  from: string,
  name: string,
  external: readonly string[],
): { script: string | URL; eval: boolean } {
  if (!from.endsWith('.ts')) return { script: new URL(`./${name}.js`, from), eval: false };
  const entry = fileURLToPath(new URL(`./${name}.ts`, from));
  let text = bundles.get(entry);
  if (text === undefined) {
    const { buildSync } = createRequire(from)('esbuild') as typeof import('esbuild');
    text = buildSync({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: [...external],
      banner: {
        js: `var require = require('node:module').createRequire(${JSON.stringify(fileURLToPath(from))});`,
      },
      write: false,
      logLevel: 'silent',
    }).outputFiles[0]?.text;
    if (!text) throw new Error(`could not bundle the ${name} thread from its sources`);
    bundles.set(entry, text);
  }
  return { script: text, eval: true };
}
