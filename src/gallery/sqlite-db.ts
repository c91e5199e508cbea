import Database from 'better-sqlite3';
import type { Db, Queryable, Row, SqlValue } from './db.js';
import { privateFile } from './private-files.js';

/** `$1`-style placeholders to SQLite's anonymous `?`, with the parameters in order of use. */
function rewrite(sql: string, params: SqlValue[]): { sql: string; params: SqlValue[] } {
  const ordered: SqlValue[] = [];
  const text = sql.replace(/\$(\d+)/g, (_m, n: string) => {
    ordered.push(params[Number(n) - 1] ?? null);
    return '?';
  });
  return { sql: text, params: ordered };
}

/**
 * SQLite through better-sqlite3, which is synchronous: a transaction that awaits would let
 * other requests' statements into it, so transactions take turns behind a promise chain.
 * WAL with synchronous=FULL: a commit that returned is on disk and survives a kill -9.
 */
export class SqliteDb implements Db {
  readonly kind = 'sqlite' as const;
  private turn: Promise<unknown> = Promise.resolve();
  private readonly statements = new Map<string, Database.Statement>();

  private constructor(private readonly db: Database.Database) {}

  static open(path: string): SqliteDb {
    // Created 0600 first: SQLite then gives its -wal and -shm files the same mode.
    if (path !== ':memory:' && !path.startsWith('file:')) privateFile(path);
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // Deleted rows are overwritten with zeros, not left in free pages for anyone reading the file.
    db.pragma('secure_delete = ON');
    // Other service processes on the same file wait for the write lock rather than fail.
    db.pragma('busy_timeout = 10000');
    return new SqliteDb(db);
  }

  private prepare(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private readonly direct: Queryable = {
    all: async <T extends Row>(sql: string, params: SqlValue[] = []) => {
      const q = rewrite(sql, params);
      return this.prepare(q.sql).all(...q.params) as T[];
    },
    one: async <T extends Row>(sql: string, params: SqlValue[] = []) => {
      const q = rewrite(sql, params);
      const s = this.prepare(q.sql);
      return (s.reader ? s.get(...q.params) : (s.run(...q.params), undefined)) as T | undefined;
    },
    run: async (sql: string, params: SqlValue[] = []) => {
      const q = rewrite(sql, params);
      return this.prepare(q.sql).run(...q.params).changes;
    },
  };

  // A statement outside a transaction also waits its turn, so it never sees another request's
  // uncommitted writes on this one shared connection.
  all<T extends Row = Row>(sql: string, params?: SqlValue[]): Promise<T[]> {
    return this.inTurn(() => this.direct.all<T>(sql, params));
  }
  one<T extends Row = Row>(sql: string, params?: SqlValue[]): Promise<T | undefined> {
    return this.inTurn(() => this.direct.one<T>(sql, params));
  }
  run(sql: string, params?: SqlValue[]): Promise<number> {
    return this.inTurn(() => this.direct.run(sql, params));
  }

  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.turn.then(fn);
    this.turn = result.catch(() => undefined);
    return result;
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.inTurn(async () => {
      // IMMEDIATE takes the write lock up front, so two processes cannot both read then write.
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const value = await fn(this.direct);
        this.db.exec('COMMIT');
        return value;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw e;
      }
    });
  }

  isUniqueViolation(e: unknown): boolean {
    const code = (e as { code?: string })?.code ?? '';
    return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
  }

  /**
   * Copies every committed page of the WAL into the file (where secure_delete has zeroed what
   * was deleted) and truncates the WAL to nothing, so a deleted row's old page images go too.
   * A reader in another process holding an old snapshot can keep part of it for now; the next
   * checkpoint finishes the work.
   */
  scrub(): Promise<void> {
    return this.inTurn(async () => {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    });
  }

  /** A consistent copy of the whole database (SQLite's online backup), taken while it is in use. */
  backup(path: string): Promise<unknown> {
    return this.inTurn(() => this.db.backup(path));
  }

  async close(): Promise<void> {
    await this.turn;
    // A clean shutdown leaves no WAL behind, and so no old page images in it.
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // Another process may hold the file; its own checkpoints will do.
    }
    this.db.close();
  }
}
