// Makes a fresh clone ready, so that `npm start` and `npm test` are the only commands a newcomer
// needs: installs the npm dependencies when they are missing, compiles both packages to dist/
// (`npm run build`: `npm start` and the `renova` CLI run the compiled JavaScript, as an installed
// package does; the tests run on the TypeScript sources through tsx), and, before tests, Debian's
// Chromium for the browser tests. Runs as the `prestart` and `pretest` hooks; quick when all is there.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const forTests = process.argv.includes('--test');
const run = (command) => execSync(command, { stdio: 'inherit' });

if (!existsSync('node_modules/.package-lock.json')) {
  console.error('setup: installing npm dependencies (npm ci)…');
  run('npm ci --no-audit --no-fund');
}

// Incremental: a second run with nothing changed takes about a second.
run('node scripts/build.mjs');
// `npm ci` links a workspace's bin only when its target exists, and dist/ did not exist yet: link
// `renova` now, so that `npx renova` runs this checkout's CLI (never a package from the registry).
if (!existsSync('node_modules/.bin/renova')) {
  run('npm rebuild --ignore-scripts --no-audit --no-fund --workspace @renova/server');
}

if (forTests && !existsSync('/usr/bin/chromium')) {
  if (process.getuid?.() !== 0) {
    console.error(
      'setup: the browser tests need Chromium; install it with: sudo apt-get install -y chromium',
    );
    process.exit(1);
  }
  console.error('setup: installing Chromium from Debian for the browser tests…');
  run('apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium');
}
