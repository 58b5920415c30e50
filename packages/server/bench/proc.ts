import { readFileSync } from 'node:fs';

/**
 * The benchmarks' one reader of /proc stat(5) files (a process's `/proc/PID/stat`, a thread's
 * `/proc/PID/task/TID/stat`). Both throw when the process or thread is gone.
 */

/**
 * The fields after the command name, from field 3 (state) on. The name is cut at the LAST `)`:
 * a command name may itself hold `) `.
 */
export function statFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Fields 14 and 15, utime + stime, in clock ticks (USER_HZ: 100 per second on Linux). */
export function statTicks(path: string): number {
  const fields = statFields(path);
  return Number(fields[11]) + Number(fields[12]);
}
