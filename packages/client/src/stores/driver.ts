/**
 * The store drivers are optional peer dependencies: an integrator installs only the one their
 * store needs. Each store imports its driver on first use through {@link loadDriver}, so a missing
 * one is reported then, by name, with the command that installs it.
 *
 * @module
 */

import { StoreError } from '../errors.ts';

/**
 * Runs `load` (a dynamic `import()` of `driver`); when the package is not installed, fails with a
 * {@link StoreError} such as "SqliteTokenStore needs the optional dependency better-sqlite3: npm
 * install better-sqlite3@^12". Any other failure (a driver that is there but broken) is rethrown.
 */
export async function loadDriver<T>(
  store: string,
  driver: string,
  range: string,
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const missing =
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      String((error as { message?: unknown }).message).includes(`'${driver}'`);
    if (!missing) throw error;
    throw new StoreError(
      `${store} needs the optional dependency ${driver}: npm install ${driver}@${range}`,
      error,
    );
  }
}
