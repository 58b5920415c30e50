/**
 * Rewrites the README's configuration table from src/config.ts (`npm run docs:config`); the
 * configuration test fails while the two differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configurationTable } from '../src/config.ts';

const readme = join(import.meta.dirname, '../../../README.md');
const text = readFileSync(readme, 'utf8');
const table = /\n(\| variable [^\n]*\n(?:\|[^\n]*\n)*)/;
if (!table.test(text))
  throw new Error('README.md has no configuration table (a "| variable |" header) to replace');
writeFileSync(readme, text.replace(table, `\n${configurationTable()}\n`));
