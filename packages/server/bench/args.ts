/**
 * The benchmarks' command lines: `parseArgs`, but a mistyped or unknown option ends the run with
 * its message and exit code 2 instead of a stack trace.
 */
export function argsOrExit<T>(parse: () => T, command: string): T {
  try {
    return parse();
  } catch (error) {
    process.stderr.write(`${command}: ${(error as Error).message}\n`);
    process.exit(2);
  }
}
