import { GENESIS } from '../governance/audit-chain.js';
import { catchUpTree } from '../governance/audit-tree.js';
import type { Db, Queryable } from './db.js';
import { personnelStatements } from '../governance/personnel.js';
import { signInStatements } from '../governance/sign-in.js';

/**
 * 2: templates record the pipeline that made them (`templates.pipeline`; NULL on rows written
 * before, which no search, verification or enrolment accepts: see model-guard.ts).
 */
export const SCHEMA_VERSION = 2;

/**
 * One schema for both back-ends; only the auto-numbered key and the byte type differ. Times are
 * ISO-8601 text in UTC on both, so they sort and compare the same way everywhere.
 */
function statements(kind: Db['kind']): string[] {
  const serial = kind === 'postgres' ? 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY' : 'INTEGER PRIMARY KEY AUTOINCREMENT';
  const bytes = kind === 'postgres' ? 'BYTEA' : 'BLOB';
  return [
    `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS organisations (
      id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, sector TEXT NOT NULL, jurisdictions TEXT NOT NULL,
      created_at TEXT NOT NULL)`,
    // An organisation's application for access: what it declared, and the policy's answer per use case.
    `CREATE TABLE IF NOT EXISTS applications (
      id TEXT PRIMARY KEY, organisation_id TEXT NOT NULL REFERENCES organisations(id),
      use_cases TEXT NOT NULL, declarations TEXT NOT NULL, decisions TEXT NOT NULL, policy TEXT NOT NULL,
      submitted_at TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS approvals (
      organisation_id TEXT NOT NULL REFERENCES organisations(id), use_case TEXT NOT NULL,
      application_id TEXT NOT NULL REFERENCES applications(id), decided_by TEXT NOT NULL, reason TEXT NOT NULL,
      approved_at TEXT NOT NULL, PRIMARY KEY (organisation_id, use_case))`,
    `CREATE TABLE IF NOT EXISTS api_keys (
      id TEXT PRIMARY KEY, organisation_id TEXT NOT NULL REFERENCES organisations(id),
      label TEXT NOT NULL, roles TEXT NOT NULL, use_cases TEXT NOT NULL DEFAULT '', secret_hash TEXT NOT NULL UNIQUE,
      created_at TEXT NOT NULL, revoked_at TEXT)`,
    // `purposes`: the use cases the gallery was made for (comma-separated); no other may enrol into or search it.
    `CREATE TABLE IF NOT EXISTS galleries (
      id TEXT PRIMARY KEY, organisation_id TEXT NOT NULL REFERENCES organisations(id),
      name TEXT NOT NULL, version BIGINT NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
      retention_days INTEGER NOT NULL, purpose_ends_at TEXT, keep_reference_faces INTEGER NOT NULL DEFAULT 0,
      purposes TEXT NOT NULL DEFAULT '', UNIQUE (organisation_id, name))`,
    `CREATE TABLE IF NOT EXISTS subjects (
      id TEXT PRIMARY KEY, gallery_id TEXT NOT NULL REFERENCES galleries(id) ON DELETE CASCADE,
      ref TEXT NOT NULL, created_at TEXT NOT NULL, last_interaction_at TEXT NOT NULL,
      enrolment_purpose TEXT NOT NULL, UNIQUE (gallery_id, ref))`,
    // The legal authority a subject is on a watch list under (an enrolment whose basis is a legal
    // authority), so that it stops covering searches at its expiry. Goes with the subject.
    `CREATE TABLE IF NOT EXISTS enrolment_authorities (
      subject_id TEXT PRIMARY KEY REFERENCES subjects(id) ON DELETE CASCADE, kind TEXT NOT NULL,
      reference TEXT, issuer TEXT, expires_at TEXT, expires_ms BIGINT, recorded_at TEXT NOT NULL)`,
    // A subject's data key, wrapped by the installation key (see subject-keys.ts): deleting this
    // row makes every copy of the subject's sealed templates unreadable, wherever it lingers.
    `CREATE TABLE IF NOT EXISTS subject_keys (
      subject_id TEXT PRIMARY KEY REFERENCES subjects(id) ON DELETE CASCADE, key_id TEXT NOT NULL UNIQUE,
      kek_id TEXT NOT NULL, wrapped ${bytes} NOT NULL, created_at TEXT NOT NULL)`,
    // The key a gallery's persisted HNSW index file is sealed under, wrapped by the installation
    // key: an erasure deletes it, so an index file written before the erasure (or any copy of it)
    // no longer opens, as with the subjects' own keys.
    `CREATE TABLE IF NOT EXISTS index_keys (
      gallery_id TEXT PRIMARY KEY REFERENCES galleries(id) ON DELETE CASCADE, wrapped ${bytes} NOT NULL, created_at TEXT NOT NULL)`,
    // Consent is recorded before enrolment and kept after erasure: it holds no biometric data and
    // shows on what basis data was held, and when that basis ended. The *_ms columns hold the same
    // instants as epoch milliseconds, so a search can ask storage who is covered now by comparing numbers.
    `CREATE TABLE IF NOT EXISTS consents (
      id TEXT PRIMARY KEY, gallery_id TEXT NOT NULL REFERENCES galleries(id) ON DELETE CASCADE, subject_ref TEXT NOT NULL,
      notice_version TEXT NOT NULL, purposes TEXT NOT NULL, method TEXT NOT NULL, given_at TEXT NOT NULL,
      expires_at TEXT, withdrawn_at TEXT, recorded_by TEXT NOT NULL, created_at TEXT NOT NULL,
      given_ms BIGINT, expires_ms BIGINT, withdrawn_ms BIGINT)`,
    `CREATE INDEX IF NOT EXISTS consents_subject ON consents (gallery_id, subject_ref)`,
    // A consequential identification waits here for people to decide; the probe face is kept,
    // sealed, only until the case is resolved. An erased candidate leaves `candidates` and is only
    // counted in erased_candidates (see erasure-mentions.ts).
    `CREATE TABLE IF NOT EXISTS review_cases (
      id TEXT PRIMARY KEY, organisation_id TEXT NOT NULL REFERENCES organisations(id), gallery_id TEXT NOT NULL,
      purpose TEXT NOT NULL, requested_by TEXT NOT NULL, required_reviewers INTEGER NOT NULL, status TEXT NOT NULL,
      search TEXT NOT NULL, candidates TEXT NOT NULL, probe_sealed ${bytes}, callback_url TEXT, authority TEXT,
      created_at TEXT NOT NULL, resolved_at TEXT, erased_candidates INTEGER NOT NULL DEFAULT 0)`,
    // An organisation's webhook signing secret, sealed under the installation key: the service must
    // be able to sign with it, so it cannot be kept as a hash. The one it replaced still signs
    // until previous_until, so receivers can switch without losing a delivery.
    // A review case's own key, wrapped by the installation key, that its probe face is sealed
    // under (see CaseKeys in subject-keys.ts): deleted when the probe is dropped, so no copy of the
    // probe (old pages, a backup) opens after the case is closed.
    `CREATE TABLE IF NOT EXISTS case_keys (
      case_id TEXT PRIMARY KEY REFERENCES review_cases(id), key_id TEXT NOT NULL UNIQUE,
      kek_id TEXT NOT NULL, wrapped ${bytes} NOT NULL, created_at TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS webhook_secrets (
      organisation_id TEXT PRIMARY KEY REFERENCES organisations(id), sealed ${bytes} NOT NULL, created_at TEXT NOT NULL,
      previous_sealed ${bytes}, previous_until TEXT)`,
    `CREATE TABLE IF NOT EXISTS review_decisions (
      case_id TEXT NOT NULL REFERENCES review_cases(id), subject TEXT NOT NULL, reviewer_key_id TEXT NOT NULL,
      decision TEXT NOT NULL, reason TEXT NOT NULL, decided_at TEXT NOT NULL,
      PRIMARY KEY (case_id, subject, reviewer_key_id))`,
    `CREATE TABLE IF NOT EXISTS templates (
      id ${serial}, uuid TEXT NOT NULL UNIQUE,
      gallery_id TEXT NOT NULL REFERENCES galleries(id) ON DELETE CASCADE,
      subject_id TEXT NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
      model TEXT NOT NULL, sealed ${bytes} NOT NULL, quality TEXT NOT NULL, created_at TEXT NOT NULL,
      face_sealed ${bytes}, pipeline INTEGER)`,
    `CREATE INDEX IF NOT EXISTS templates_subject ON templates (subject_id)`,
    // Every change to a gallery's templates, numbered per gallery under the gallery row's lock,
    // so each process can bring its in-memory index up to date without missing a step.
    `CREATE TABLE IF NOT EXISTS template_changes (
      gallery_id TEXT NOT NULL REFERENCES galleries(id) ON DELETE CASCADE, version BIGINT NOT NULL,
      template_id BIGINT NOT NULL, op TEXT NOT NULL, PRIMARY KEY (gallery_id, version))`,
    // gallery_id and subject_ref: whom the stored answer concerns, so their erasure deletes it.
    `CREATE TABLE IF NOT EXISTS idempotency (
      api_key_id TEXT NOT NULL, idem_key TEXT NOT NULL, request_hash TEXT NOT NULL,
      status INTEGER NOT NULL, response TEXT NOT NULL, created_at TEXT NOT NULL,
      gallery_id TEXT, subject_ref TEXT, PRIMARY KEY (api_key_id, idem_key))`,
    `CREATE INDEX IF NOT EXISTS idempotency_subject ON idempotency (gallery_id, subject_ref)`,
    // `id` numbers rows in the order they were written, so rows re-inserted out of order show as reordered.
    `CREATE TABLE IF NOT EXISTS audit_log (
      id ${serial}, seq BIGINT NOT NULL UNIQUE, at TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
      body TEXT NOT NULL, organisation_id TEXT, purpose TEXT)`,
    `CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at)`,
    // The chain's head, kept apart from the log: cutting entries off the end shows as a mismatch.
    `CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL)`,
    // The log's Merkle tree (RFC 9162) as complete subtrees, and the checkpoints signed over it.
    // Neither is trusted by verification; they make roots and proofs cheap to produce.
    `CREATE TABLE IF NOT EXISTS audit_tree (level INTEGER NOT NULL, idx BIGINT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (level, idx))`,
    // The statements only an organisation can write (RCW 43.386.020(2)-(4)), one row per version, never changed once written.
    `CREATE TABLE IF NOT EXISTS compliance_statements (
      organisation_id TEXT NOT NULL, version INTEGER NOT NULL, statements TEXT NOT NULL, recorded_at TEXT NOT NULL,
      recorded_by TEXT NOT NULL, PRIMARY KEY (organisation_id, version))`,
    // An operational test (RCW 43.386.040) run on the deployment's own photographs, recorded against an approval.
    `CREATE TABLE IF NOT EXISTS operational_tests (
      id TEXT PRIMARY KEY, organisation_id TEXT NOT NULL, use_case TEXT NOT NULL, summary TEXT NOT NULL,
      results_sha256 TEXT NOT NULL, recorded_at TEXT NOT NULL, recorded_by TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS audit_checkpoints (id ${serial}, size BIGINT NOT NULL, root TEXT NOT NULL, at TEXT NOT NULL, hash TEXT NOT NULL, line TEXT NOT NULL)`,
    // The people who operate or review, the keys that are theirs, and their training (personnel.ts).
    ...personnelStatements(),
    // Console sign-in through an organisation's identity provider, and the sessions it opens (sign-in.ts).
    ...signInStatements(),
  ];
}

/** Columns added after schema version 1, added to a store made before them (the rows keep NULL). */
const ADDED_COLUMNS: { table: string; column: string; type: string }[] = [
  // Schema 2: the pipeline that made each template. Rows from before stay NULL: made on an unknown pipeline.
  { table: 'templates', column: 'pipeline', type: 'INTEGER' },
];

async function addMissingColumns(tx: Queryable, kind: Db['kind']): Promise<void> {
  for (const c of ADDED_COLUMNS) {
    if (kind === 'postgres') {
      await tx.run(`ALTER TABLE ${c.table} ADD COLUMN IF NOT EXISTS ${c.column} ${c.type}`);
    } else if (!(await tx.one(`SELECT name FROM pragma_table_info('${c.table}') WHERE name = $1`, [c.column]))) {
      await tx.run(`ALTER TABLE ${c.table} ADD COLUMN ${c.column} ${c.type}`);
    }
  }
}

/** Creates or checks the schema; safe when several processes start at once. */
export async function migrate(db: Db): Promise<void> {
  await db.transaction(async (tx) => {
    if (db.kind === 'postgres') await tx.one(`SELECT pg_advisory_xact_lock(7401)`);
    for (const s of statements(db.kind)) await tx.run(s);
    // The head exists from the start (sequence 0), so concurrent first appends lock a row rather than race to insert one.
    // A head missing beside a non-empty log was deleted: it is not made again, so verification says so.
    if (!(await tx.one(`SELECT seq FROM audit_head WHERE id = 1`)) && !(await tx.one(`SELECT seq FROM audit_log LIMIT 1`))) {
      await tx.run(`INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, $1)`, [GENESIS]);
    }
    await catchUpTree(tx);
    const row = await tx.one<{ value: string }>(`SELECT value FROM meta WHERE key = 'schema_version'`);
    if (row && Number(row.value) > SCHEMA_VERSION) {
      throw new Error(`the database has schema version ${row.value}, newer than this Probity (${SCHEMA_VERSION}); upgrade Probity`);
    }
    await addMissingColumns(tx, db.kind);
    if (!row) {
      await tx.run(`INSERT INTO meta (key, value) VALUES ('schema_version', $1)`, [String(SCHEMA_VERSION)]);
    } else if (Number(row.value) < SCHEMA_VERSION) {
      // Recorded so that an older Probity, which would store templates without their pipeline, refuses this store.
      await tx.run(`UPDATE meta SET value = $1 WHERE key = 'schema_version'`, [String(SCHEMA_VERSION)]);
    }
  });
}
