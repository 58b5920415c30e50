// `npm run build`: compiles both workspaces to dist/ (JavaScript, declarations, declaration maps,
// source maps) with one incremental `tsc -b`, then marks the CLI executable, as `npm install`
// does for an installed package's bin. Quick when nothing changed; setup.mjs runs it before
// `npm start` and `npm test`.
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { createRequire } from 'node:module';

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const projects = ['packages/server/tsconfig.build.json', 'packages/client/tsconfig.build.json'];
execFileSync(process.execPath, [tsc, '-b', ...projects, ...process.argv.slice(2)], { stdio: 'inherit' });
if (!process.argv.includes('--clean')) chmodSync('packages/server/dist/cli/main.js', 0o755);
