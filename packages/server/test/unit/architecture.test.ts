/**
 * A guard on the shape (docs/architecture.md): the layers import only downwards, core knows
 * nothing of HTTP, SQL, the CLI or the environment, storage knows nothing of core or HTTP, HTTP and
 * the CLI reach storage only through services, and no import cycle exists. It reads the sources as
 * text: no build needed.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const serverSrc = join(root, 'packages/server/src');
const clientSrc = join(root, 'packages/client/src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

interface Module {
  /** Path relative to packages/server/src, e.g. `core/pkce.ts`. */
  name: string;
  text: string;
  /** Relative imports resolved to module names, and bare package specifiers. */
  local: string[];
  /** The relative imports that bring in values, not only types (`import type …`). */
  localValues: string[];
  packages: string[];
}

function modules(dir: string): Map<string, Module> {
  const found = new Map<string, Module>();
  for (const path of sourceFiles(dir)) {
    const text = readFileSync(path, 'utf8');
    const statements = [
      ...text.matchAll(/(?:^|\n)\s*(import|export)(\s+type)?\s[^;]*?from\s+'([^']+)'/g),
    ].map((m) => ({ specifier: m[3] as string, typeOnly: m[2] !== undefined }));
    statements.push(
      ...[...text.matchAll(/import\(\s*'([^']+)'\s*\)/g)].map((m) => ({
        specifier: m[1] as string,
        typeOnly: false,
      })),
    );
    const toModule = (specifier: string) => relative(dir, resolve(dirname(path), specifier));
    const relativeOnes = statements.filter((s) => s.specifier.startsWith('.'));
    found.set(relative(dir, path), {
      name: relative(dir, path),
      text,
      local: relativeOnes.map((s) => toModule(s.specifier)),
      localValues: relativeOnes.filter((s) => !s.typeOnly).map((s) => toModule(s.specifier)),
      packages: statements.filter((s) => !s.specifier.startsWith('.')).map((s) => s.specifier),
    });
  }
  return found;
}

const server = modules(serverSrc);
const inLayer = (layer: string) => [...server.values()].filter((m) => m.name.startsWith(`${layer}/`));

describe('architecture', () => {
  test('core imports no HTTP framework, SQL driver, CLI, logger or process.env', () => {
    const forbidden =
      /^(fastify|@fastify\/|pg$|better-sqlite3|ioredis|commander|pino|prom-client|node:http|undici)/;
    for (const m of inLayer('core')) {
      for (const p of m.packages) assert.doesNotMatch(p, forbidden, `${m.name} imports ${p}`);
      for (const l of m.local) {
        assert.ok(l.startsWith('core/') || l === 'storage/contract.ts', `${m.name} imports ${l}`);
      }
      const code = m.text.replace(/\/\/.*|\/\*[\s\S]*?\*\//g, '');
      assert.doesNotMatch(code, /process\.env|ProcessEnv/, `${m.name} reads the environment`);
    }
  });

  test('storage imports neither core nor HTTP', () => {
    for (const m of inLayer('storage')) {
      for (const l of m.local) assert.ok(l.startsWith('storage/'), `${m.name} imports ${l}`);
      for (const p of m.packages) assert.doesNotMatch(p, /^(fastify|commander)/, `${m.name} imports ${p}`);
    }
  });

  test('HTTP and the CLI never call the storage port (they may name its record types)', () => {
    for (const m of [...inLayer('http'), ...inLayer('cli')]) {
      for (const l of m.localValues) assert.ok(!l.startsWith('storage/'), `${m.name} imports ${l}`);
      assert.doesNotMatch(m.text, /\.storage\b/, `${m.name} reaches services.storage`);
    }
  });

  test('only the configuration module reads the environment', () => {
    for (const m of server.values()) {
      if (m.name === 'config.ts' || m.name.startsWith('cli/')) continue;
      assert.doesNotMatch(
        m.text.replace(/\/\/.*|\/\*[\s\S]*?\*\//g, ''),
        /process\.env/,
        `${m.name} reads process.env`,
      );
    }
  });

  test('the runtime never imports the CLI', () => {
    for (const m of server.values()) {
      if (m.name.startsWith('cli/')) continue;
      for (const l of m.local) assert.ok(!l.startsWith('cli/'), `${m.name} imports ${l}`);
    }
  });

  test('there is no import cycle', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (name: string, path: string[]): void => {
      if (state.get(name) === 'done') return;
      assert.notEqual(state.get(name), 'visiting', `import cycle: ${[...path, name].join(' → ')}`);
      state.set(name, 'visiting');
      for (const next of server.get(name)?.local ?? []) visit(next, [...path, name]);
      state.set(name, 'done');
    };
    for (const name of server.keys()) visit(name, []);
  });

  test('the client SDK shares no code with the server', () => {
    for (const m of modules(clientSrc).values()) {
      for (const p of m.packages) assert.ok(!p.startsWith('@renova/server'), `${m.name} imports ${p}`);
      for (const l of m.local) assert.ok(!l.startsWith('..'), `${m.name} imports ${l} outside the client`);
    }
  });
});
