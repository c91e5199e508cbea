import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { FaceEngine } from '../engine/engine.js';
import { isProbityError, ProbityError } from '../errors.js';
import { openDb } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import type { Caller } from '../governance/api-keys.js';
import { ProbityService } from '../service/probity-service.js';

export const IMPORT_USAGE = `  probity import --gallery ID --purpose USE_CASE --consents consents.csv DIR [--data DIR | --database URL]
                 [--key KEY] [--report FILE]   (one folder of images per subject; the client key in PROBITY_KEY or --key)`;

/** `probity import --help`: what the command does and what each input must look like. */
export const IMPORT_HELP = `probity import: enrol many people at once, through the service's governed path

${IMPORT_USAGE}

  DIR             one folder per subject, named by the subject's reference (letters, digits, . _ : @ -),
                  holding that person's images (.jpg, .jpeg, .png, .webp); all of a folder's images
                  are enrolled together, all or nothing
  --gallery ID    the gallery to enrol into (it must serve --purpose)
  --purpose UC    the use case the enrolment serves (the key must be scoped to it)
  --consents CSV  one row per subject, after a header row naming the columns:
                    subject,notice_version,method,given_at[,purposes][,expires_at]
                    colin,notice-v1,written,2026-11-30T09:00:00Z
                  purposes: separated by ; (default --purpose); times: RFC 3339 with an offset
  --data DIR      the data folder (SQLite and the template key), as serve uses it; or
  --database URL  a postgres:// URL (the template key from PROBITY_SECRET_KEY or --data DIR)
  --key KEY       the client key (better: PROBITY_KEY, not visible in the process list)
  --report FILE   also write the outcome of every subject as JSON

Every consent and enrolment goes through the Governor and the audit log, as over HTTP. A refused
subject (no consent, no usable face...) is reported with its reason and the run goes on; running
the same command again resumes it, enrolling nothing twice. Exit 0 when the run completes.`;

export const IMPORT_OPTIONS = {
  gallery: { type: 'string' }, purpose: { type: 'string' }, consents: { type: 'string' }, data: { type: 'string' }, database: { type: 'string' },
  key: { type: 'string' }, report: { type: 'string' },
} as const;

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp']);
const REQUIRED_COLUMNS = ['subject', 'notice_version', 'method', 'given_at'];
const KNOWN_COLUMNS = [...REQUIRED_COLUMNS, 'purposes', 'expires_at'];

interface ConsentLine {
  subject: string;
  noticeVersion: string;
  purposes: string[];
  method: string;
  givenAt: string;
  expiresAt?: string;
}

export interface SubjectOutcome {
  subject: string;
  images: number;
  outcome: 'enrolled' | 'already_enrolled' | 'refused';
  templates?: number;
  consent: 'recorded' | 'already_recorded' | 'none_in_csv';
  code?: string;
  reason?: string;
  /** The photographs left out of an enrolment that went ahead with the others: which file, and why. */
  photographsRefused?: PhotographRefusal[];
}

export interface PhotographRefusal {
  file: string;
  code: string;
  reason: string;
}

export interface ImportReport {
  gallery: string;
  purpose: string;
  directory: string;
  consents: string;
  startedAt: string;
  finishedAt: string;
  totals: { subjects: number; enrolled: number; alreadyEnrolled: number; refused: number; templatesAdded: number; photographs: number; photographsRefused: number };
  refusedBy: Record<string, number>;
  subjects: SubjectOutcome[];
}

/** consents.csv: one row per subject; `purposes` (separated by ; or spaces) defaults to --purpose. */
export function readConsents(file: string, purpose: string): Map<string, ConsentLine> {
  if (!existsSync(file)) throw new ProbityError('file_not_found', `no consents file at ${file}`);
  let rows: Record<string, string>[];
  try {
    rows = parseCsv(readFileSync(file), { columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), skip_empty_lines: true, trim: true, bom: true });
  } catch (e) {
    throw new ProbityError('invalid_request', `${file} is not valid CSV: ${(e as Error).message}`);
  }
  const header = parseCsv(readFileSync(file), { to_line: 1, skip_empty_lines: true, trim: true, bom: true }) as string[][];
  const names = (header[0] ?? []).map((c) => c.trim().toLowerCase());
  // A file without its header row would have its first consent read as the column names, and
  // every subject then refused for want of consent: say so instead.
  if (names.length && !names.some((c) => KNOWN_COLUMNS.includes(c))) {
    throw new ProbityError('invalid_request', `${file} has no header row: its first line ("${(header[0] ?? []).join(',').slice(0, 80)}") names no column. Add this line first: ${REQUIRED_COLUMNS.join(',')}[,purposes][,expires_at]`);
  }
  const present = rows.length ? Object.keys(rows[0]!) : names;
  const missing = REQUIRED_COLUMNS.filter((c) => !present.includes(c));
  if (missing.length) throw new ProbityError('invalid_request', `${file} lacks the column(s) ${missing.join(', ')} (needed: ${REQUIRED_COLUMNS.join(', ')}; optional: purposes, expires_at)`);
  const out = new Map<string, ConsentLine>();
  rows.forEach((r, i) => {
    const blank = REQUIRED_COLUMNS.filter((c) => !r[c]);
    if (blank.length) throw new ProbityError('invalid_request', `${file} line ${i + 2}: empty ${blank.join(', ')}`);
    if (out.has(r.subject!)) throw new ProbityError('invalid_request', `${file} line ${i + 2}: subject "${r.subject}" appears twice`);
    out.set(r.subject!, {
      subject: r.subject!, noticeVersion: r.notice_version!, method: r.method!, givenAt: r.given_at!,
      purposes: r.purposes ? r.purposes.split(/[;\s]+/).filter(Boolean) : [purpose],
      ...(r.expires_at ? { expiresAt: r.expires_at } : {}),
    });
  });
  return out;
}

/** One folder per subject, named by the subject's reference; the images in it, in name order. */
export function readCollection(dir: string): { subject: string; files: string[] }[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ProbityError('file_not_found', `no folder at ${dir}`);
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort()
    .map((subject) => ({
      subject,
      files: readdirSync(join(dir, subject)).filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase())).sort().map((f) => join(dir, subject, f)),
    }));
}

/**
 * Same request, same key: a resumed run replays the stored answer for every subject it enrolled
 * before, and enrols nothing twice. The key names the gallery, the subject and every image's bytes.
 */
export function importIdempotencyKey(galleryId: string, subject: string, imageHashes: string[]): string {
  return `import-${createHash('sha256').update(JSON.stringify([galleryId, subject, imageHashes])).digest('hex')}`;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * Bulk enrolment through the service's own governed path: the client's key, the Governor's
 * checks and audit entries, consent recorded from the CSV by `people.recordConsent` (skipped
 * when the same consent is on record already), each subject enrolled by `enrol` with a derived
 * Idempotency-Key. Each usable photograph of a subject is enrolled and each other one reported
 * (which file, why); a subject refused (no consent, no usable photograph at all, a bad reference)
 * is reported with the reason and the run goes on.
 */
export async function runImport(
  values: { gallery?: string; purpose?: string; consents?: string; data?: string; database?: string; key?: string; report?: string },
  directory: string,
  io: { env: NodeJS.ProcessEnv; out: (s: string) => void; err: (s: string) => void; tty: boolean },
): Promise<ImportReport> {
  const { gallery, purpose, consents: consentsFile } = values;
  const missing = [!gallery && '--gallery ID', !purpose && '--purpose USE_CASE', !consentsFile && '--consents FILE'].filter(Boolean);
  if (missing.length) throw new ProbityError('invalid_request', `import needs ${missing.join(', ')}`);
  const key = values.key ?? io.env.PROBITY_KEY;
  if (!key) throw new ProbityError('invalid_request', 'import needs a client key: set PROBITY_KEY (or give --key)');
  const consents = readConsents(consentsFile!, purpose!);
  const collection = readCollection(directory);
  const dataDir = values.data ?? io.env.PROBITY_DATA ?? 'probity-data';
  const url = values.database || io.env.PROBITY_DATABASE_URL || undefined;
  const sqlite = join(dataDir, 'probity.sqlite');
  if (!url && !existsSync(sqlite)) throw new ProbityError('file_not_found', `no Probity data at ${sqlite}; give --data DIR or --database URL`);
  const cipher = TemplateCipher.fromEnvironment({ env: io.env, keyFile: join(dataDir, 'template.key') });
  const [db, engine] = await Promise.all([openDb(url ?? sqlite), FaceEngine.load()]);
  const service = await ProbityService.open({ db, engine, cipher, options: { indexDir: dataDir } });
  const startedAt = new Date();
  const outcomes: SubjectOutcome[] = [];
  try {
    const caller = await service.authenticate(key);
    await service.getGallery(caller, gallery!); // fails now, naming the gallery, rather than once per subject
    const started = Date.now();
    let worked = 0; // subjects whose faces were processed (a replay costs almost nothing): the rate and ETA count these
    for (const [i, item] of collection.entries()) {
      const t = Date.now();
      const outcome = await importSubject(service, caller, gallery!, purpose!, item, consents.get(item.subject));
      outcomes.push(outcome);
      if (outcome.outcome !== 'already_enrolled') worked++;
      const done = i + 1;
      const elapsed = (Date.now() - started) / 1000;
      const rate = worked / Math.max(elapsed, 1e-3);
      const eta = (collection.length - done) / Math.max(rate, 1e-9);
      const count = (o: SubjectOutcome['outcome']) => outcomes.filter((x) => x.outcome === o).length;
      const line = `[${done}/${collection.length}] ${rate.toFixed(2)} subjects/s, ETA ${duration(done === collection.length ? 0 : eta)}; enrolled ${count('enrolled')}, already ${count('already_enrolled')}, refused ${count('refused')} (${((Date.now() - t) / 1000).toFixed(1)} s: ${item.subject} ${outcome.outcome})`;
      io.err(io.tty ? `\r${line.padEnd(100)}` : `${line}\n`);
    }
    if (io.tty) io.err('\n');
  } finally {
    await service.close();
  }
  const refusedBy: Record<string, number> = {};
  for (const o of outcomes) if (o.outcome === 'refused') refusedBy[o.code!] = (refusedBy[o.code!] ?? 0) + 1;
  const report: ImportReport = {
    gallery: gallery!, purpose: purpose!, directory, consents: consentsFile!, startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(),
    totals: {
      subjects: outcomes.length, enrolled: outcomes.filter((o) => o.outcome === 'enrolled').length, alreadyEnrolled: outcomes.filter((o) => o.outcome === 'already_enrolled').length,
      refused: outcomes.filter((o) => o.outcome === 'refused').length, templatesAdded: outcomes.reduce((n, o) => n + (o.outcome === 'enrolled' ? o.templates ?? 0 : 0), 0),
      photographs: outcomes.reduce((n, o) => n + o.images, 0),
      photographsRefused: outcomes.reduce((n, o) => n + (o.outcome === 'refused' ? o.images : o.photographsRefused?.length ?? 0), 0),
    },
    refusedBy,
    subjects: outcomes,
  };
  if (values.report) {
    const temp = `${values.report}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(report, null, 2) + '\n');
    renameSync(temp, values.report);
  }
  const t = report.totals;
  const lines = [
    `import into gallery ${gallery} for ${purpose}: ${t.subjects} subject(s); ${t.enrolled} enrolled (${t.templatesAdded} template(s)), ${t.alreadyEnrolled} enrolled by an earlier run, ${t.refused} refused; ` +
      `${t.photographs - t.photographsRefused} of ${t.photographs} photograph(s) used`,
  ];
  for (const o of outcomes) {
    if (o.outcome === 'refused') lines.push(`  refused ${o.subject}: ${o.code}: ${o.reason}`);
    for (const p of o.photographsRefused ?? []) lines.push(`  photograph left out, ${o.subject} enrolled from the others: ${p.file}: ${p.code}: ${p.reason}`);
  }
  if (values.report) lines.push(`wrote ${values.report}`);
  io.out(lines.join('\n') + '\n');
  return report;
}

async function importSubject(service: ProbityService, caller: Caller, galleryId: string, purpose: string, item: { subject: string; files: string[] }, consent: ConsentLine | undefined): Promise<SubjectOutcome> {
  const base = { subject: item.subject, images: item.files.length, consent: 'none_in_csv' as SubjectOutcome['consent'] };
  try {
    if (item.files.length === 0) throw new ProbityError('invalid_request', 'the folder holds no .jpg, .jpeg, .png or .webp image');
    if (consent) base.consent = await ensureConsent(service, caller, galleryId, consent);
    const images = item.files.map((f, i) => ({ label: `${item.subject}/${f.split(/[\\/]/).pop()} (image ${i + 1})`, bytes: readFileSync(f) }));
    const hashes = images.map((im) => createHash('sha256').update(im.bytes).digest('hex'));
    // Each usable photograph is enrolled; one that cannot be used (no face, no clear person, too
    // poor) is reported and the others go ahead. The subject is refused only when none can be used.
    const r = await service.enrol(caller, { purpose, galleryId, subject: item.subject, images, skipUnusable: true, idempotencyKey: importIdempotencyKey(galleryId, item.subject, hashes) });
    const body = r.body as { templates?: unknown[]; refused?: { label: string; code: string; message: string }[] };
    const templates = body.templates?.length ?? 0;
    const photographsRefused = (body.refused ?? []).map((x) => ({ file: item.files[images.findIndex((im) => im.label === x.label)] ?? x.label, code: x.code, reason: x.message }));
    return { ...base, outcome: r.replayed ? 'already_enrolled' : 'enrolled', templates, ...(photographsRefused.length ? { photographsRefused } : {}) };
  } catch (e) {
    if (!isProbityError(e)) throw e;
    return { ...base, outcome: 'refused', code: e.code, reason: e.message };
  }
}

/** The CSV's consent, recorded once: a resumed run finds it on record and records nothing more. */
async function ensureConsent(service: ProbityService, caller: Caller, galleryId: string, c: ConsentLine): Promise<'recorded' | 'already_recorded'> {
  const onRecord = await service.people.listConsents(caller, galleryId, c.subject);
  const same = onRecord.find((r) => r.noticeVersion === c.noticeVersion && r.method === c.method && Date.parse(r.givenAt) === Date.parse(c.givenAt)
    && [...r.purposes].sort().join(',') === [...c.purposes].sort().join(','));
  // The same consent, withdrawn since: a re-run of an old CSV must not bring it back.
  if (same?.withdrawnAt) throw new ProbityError('conflict', `this consent (notice ${c.noticeVersion}, given ${c.givenAt}) was withdrawn at ${same.withdrawnAt}; it is not recorded again`);
  if (same) return 'already_recorded';
  await service.people.recordConsent(caller, { galleryId, ...c });
  return 'recorded';
}
