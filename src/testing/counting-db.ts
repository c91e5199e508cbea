import type { Db, Queryable } from '../gallery/db.js';

/**
 * The same store, counting the queries made through it (in transactions too), and keeping their SQL: what a read costs,
 * measured in queries rather than in time, so a test can assert that a read costs the same
 * whatever it leaves out, with no timing in the test.
 */
export function countingDb(db: Db): { db: Db; queries: () => number; statements: string[] } {
  let n = 0;
  const statements: string[] = [];
  const counted = <Q extends Queryable>(target: Q): Q => new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (prop === 'all' || prop === 'one' || prop === 'run') {
        return (...args: unknown[]) => {
          n++;
          statements.push(String(args[0]));
          return (value as (...a: unknown[]) => unknown).apply(t, args);
        };
      }
      if (prop === 'transaction') {
        return (fn: (tx: Queryable) => Promise<unknown>) => (value as (f: typeof fn) => Promise<unknown>).call(t, (tx) => fn(counted(tx)));
      }
      return (value as (...a: unknown[]) => unknown).bind(t);
    },
  });
  return { db: counted(db), queries: () => n, statements };
}
