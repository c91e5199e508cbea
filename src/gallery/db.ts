/**
 * The little SQL surface both storage back-ends share. Statements are written once, with
 * PostgreSQL's `$1` placeholders; the SQLite adapter rewrites them. Everything that touches
 * storage goes through a `Db`, so the service can be tested on either back-end unchanged.
 */
export type SqlValue = string | number | bigint | Buffer | null;
export type Row = Record<string, unknown>;

export interface Queryable {
  all<T extends Row = Row>(sql: string, params?: SqlValue[]): Promise<T[]>;
  one<T extends Row = Row>(sql: string, params?: SqlValue[]): Promise<T | undefined>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: SqlValue[]): Promise<number>;
}

export interface Db extends Queryable {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Runs `fn` in one transaction: committed if it resolves, rolled back if it throws. Writers
   * are serialised, so whatever `fn` reads it may rely on until it returns.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Whether an error is a violated unique or primary key constraint. */
  isUniqueViolation(e: unknown): boolean;
  /**
   * After an erasure: pushes what the back-end still holds of deleted rows out of its side
   * files (SQLite: checkpoints and truncates the WAL; deleted content is zeroed by secure_delete).
   */
  scrub(): Promise<void>;
  close(): Promise<void>;
}

/** Where the data lives: a PostgreSQL URL, or else a SQLite file path. */
export async function openDb(location: string): Promise<Db> {
  if (/^postgres(ql)?:\/\//.test(location)) {
    const { PostgresDb } = await import('./postgres-db.js');
    return PostgresDb.open(location);
  }
  const { SqliteDb } = await import('./sqlite-db.js');
  return SqliteDb.open(location);
}
