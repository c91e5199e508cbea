import type { Db } from '../gallery/db.js';

/** The last audit entry of an action with this outcome, as stored; undefined when there is none. */
export async function lastAuditEntry(db: Db, action: string, outcome = 'ok'): Promise<any> {
  const rows = await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE $1 AND body LIKE $2 ORDER BY seq DESC LIMIT 1`, [`%"action":"${action}"%`, `%"outcome":"${outcome}"%`]);
  return rows[0] ? JSON.parse(rows[0].body) : undefined;
}
