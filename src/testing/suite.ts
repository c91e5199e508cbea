import { describe, test } from 'node:test';

/**
 * A suite that needs something this machine may lack (PostgreSQL, LFW, Chromium, NUAA). When it
 * is absent the suite is one skipped test carrying the reason, so node's runner counts it under
 * "# skipped" (a skipped `describe` counts only as a suite, and the summary said "skipped 0").
 */
export function suiteUnless(skip: string | false | undefined, name: string, fn: () => void): void {
  if (skip) test(name, { skip });
  else describe(name, fn);
}
