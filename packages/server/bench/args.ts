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

/**
 * The options `npm run bench` (bench/refresh.ts) and bench/cluster.ts both take: refresh.ts hands
 * its whole command line to cluster.ts for `--db postgres://…` and `--instances` runs, so what they
 * share is declared once. Each file adds its own (and the ones whose defaults differ).
 */
export const SHARED_BENCH_OPTIONS = {
  mode: { type: 'string', default: 'refresh' },
  concurrency: { type: 'string', default: '64' },
  duration: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '2' },
  /** `--mode authorization_code`: codes seeded through the admin API, each exchanged once. */
  codes: { type: 'string', default: '30000' },
  json: { type: 'boolean', default: false },
  /** No ceiling run (cluster.ts has none). */
  'skip-ceiling': { type: 'boolean', default: false },
  /** Also measure the canned answer through Fastify: the framework's share of the cost. */
  'with-fastify': { type: 'boolean', default: false },
  /** Writes V8 CPU profiles of the server (every instance, every thread) into this folder. */
  'cpu-prof-dir': { type: 'string' },
  /** `KEY=VALUE` (repeatable): added to the server's (every instance's) environment. */
  env: { type: 'string', multiple: true },
  /** After the timed run, time one housekeeping purge at the database's size. */
  'time-purge': { type: 'boolean', default: false },
  /**
   * PostgreSQL runs (cluster.ts) only: every instance runs this server entry instead, e.g.
   * bench/serve-audit-off.ts for the audit trail's cost there, or another checkout's main.ts.
   */
  server: { type: 'string' },
} as const;
