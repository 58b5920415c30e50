import { omitAuditWritesForBenchmark } from '../src/storage/audit.ts';

/**
 * `renova …` with the audit insert left out, for `npm run bench -- --audit-ab` only: the B side of
 * the measurement of the audit trail's cost on the refresh path. A composition switch of the
 * benchmark, not a product setting: no configuration or environment variable turns the trail off.
 */
omitAuditWritesForBenchmark(true);
await import('../src/cli/main.ts');
