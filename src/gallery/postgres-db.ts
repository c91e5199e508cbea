import pg from 'pg';
import type { Db, Queryable, Row, SqlValue } from './db.js';

// BIGINT columns (sequence numbers, counts) come back as numbers, which they fit.
pg.types.setTypeParser(20, (v) => Number(v));

function queryable(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    all: async <T extends Row>(sql: string, params: SqlValue[] = []) => (await client.query(sql, params)).rows as T[],
    one: async <T extends Row>(sql: string, params: SqlValue[] = []) => (await client.query(sql, params)).rows[0] as T | undefined,
    run: async (sql: string, params: SqlValue[] = []) => (await client.query(sql, params)).rowCount ?? 0,
  };
}

/** PostgreSQL through a connection pool; several service processes may share one database. */
export class PostgresDb implements Db {
  readonly kind = 'postgres' as const;
  private readonly direct: Queryable;

  private constructor(private readonly pool: pg.Pool) {
    this.direct = queryable(pool);
  }

  static async open(url: string): Promise<PostgresDb> {
    const pool = new pg.Pool({ connectionString: url, max: 8 });
    // An idle client losing its server must not take the process down; the next query reconnects.
    pool.on('error', () => undefined);
    await pool.query('SELECT 1');
    return new PostgresDb(pool);
  }

  all<T extends Row = Row>(sql: string, params?: SqlValue[]): Promise<T[]> {
    return this.direct.all<T>(sql, params);
  }
  one<T extends Row = Row>(sql: string, params?: SqlValue[]): Promise<T | undefined> {
    return this.direct.one<T>(sql, params);
  }
  run(sql: string, params?: SqlValue[]): Promise<number> {
    return this.direct.run(sql, params);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const value = await fn(queryable(client));
      await client.query('COMMIT');
      return value;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  isUniqueViolation(e: unknown): boolean {
    return (e as { code?: string })?.code === '23505';
  }

  /**
   * PostgreSQL keeps a deleted row's old version (a dead tuple) in the table's pages until VACUUM
   * reclaims the space, and even then its bytes may stay in the file until overwritten. Sealed
   * templates left so are harmless: their data key was deleted in the erasure's transaction
   * (crypto-shredding). The data key's own dead tuple is the one that matters, so the small
   * subject_keys table (and case_keys, the review probes' keys) is vacuumed now rather than whenever autovacuum comes round; the big
   * templates table is left to autovacuum.
   */
  async scrub(): Promise<void> {
    await this.pool.query('VACUUM subject_keys');
    await this.pool.query('VACUUM case_keys');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
