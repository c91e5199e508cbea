/**
 * Crypto-shredding benchmark, on a real SQLite file (WAL, synchronous=FULL, secure_delete), or
 * PostgreSQL when PROBITY_BENCH_DATABASE_URL names an empty database:
 * - the enrolment transaction (subject, sealed template, change log, audit entry) with the
 *   previous single-key sealing and with per-subject data keys, in alternating rounds so the
 *   shared machine's noise falls on both alike; the face model's time, identical for both, is
 *   left out, so the figure is the change's whole cost on the part it changes;
 * - erasure latency through the service (`eraseSubject`: the governed transaction deleting the
 *   rows and the data key, the index update, and the WAL checkpoint), and the checkpoint alone.
 * Writes bench-results/shred-sqlite.json (or shred-postgres.json). Usage: node dist/bench/shred-bench.js [--subjects 2000] [--rounds 6] [--per-round 300] [--erasures 200]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FaceEngine, PIPELINE_VERSION } from '../engine/engine.js';
import { openDb, type Db, type Queryable } from '../gallery/db.js';
import { KeyRing, SubjectKeys } from '../gallery/subject-keys.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { insertTemplate } from '../gallery/template-store.js';
import { appendAudit } from '../governance/audit-log.js';
import { ProbityService } from '../service/probity-service.js';
import { lfwImage, projectRoot } from '../testing/fixtures.js';
import { readFileSync } from 'node:fs';

const { values } = parseArgs({ options: { subjects: { type: 'string' }, rounds: { type: 'string' }, 'per-round': { type: 'string' }, erasures: { type: 'string' } } });
const subjects = Number(values.subjects ?? 2000);
const rounds = Number(values.rounds ?? 6);
const perRound = Number(values['per-round'] ?? 300);
const erasures = Number(values.erasures ?? 200);

const dir = mkdtempSync(join(tmpdir(), 'probity-shred-bench-'));
const location = process.env.PROBITY_BENCH_DATABASE_URL ?? join(dir, 'probity.sqlite');
const installation = TemplateCipher.fromKey(randomBytes(32));
const keys = new SubjectKeys(new KeyRing([installation]));
const engine = await FaceEngine.load();
const db = await openDb(location);
const service = await ProbityService.open({ db, engine, cipher: installation });

const adminSecret = (await service.access.bootstrapAdmin())!.secret;
const admin = await service.authenticate(adminSecret);
const org = await service.access.createOrganisation(admin, { name: 'bench', sector: 'employer', jurisdictions: ['other'] });
const applicant = await service.access.createKey(admin, { organisationId: org.id, roles: ['client'], label: 'applicant' });
await service.access.submitApplication(await service.authenticate(applicant.secret), { useCases: ['building_access'], declarations: {} });
const client = await service.authenticate((await service.access.createKey(admin, { organisationId: org.id, roles: ['client'], label: 'app', useCases: ['building_access'] })).secret);
const galleryId = (await service.createGallery(client, { name: 'bench' })).id;

function unitVector(): Float32Array {
  const v = Float32Array.from({ length: 512 }, () => Math.random() - 0.5);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}
const vectors = Array.from({ length: 64 }, unitVector);

/** The enrolment transaction as it was (one key for everything) or as it is (the subject's data key). */
async function enrolRows(tx: Queryable, kind: Db['kind'], ref: string, perSubject: boolean, i: number): Promise<void> {
  const at = new Date().toISOString();
  await tx.run(
    `INSERT INTO subjects (id, gallery_id, ref, created_at, last_interaction_at, enrolment_purpose) VALUES ($1, $2, $3, $4, $4, $5)
     ON CONFLICT (gallery_id, ref) DO UPDATE SET last_interaction_at = $4`,
    [randomUUID(), galleryId, ref, at, 'building_access'],
  );
  const subject = (await tx.one<{ id: string }>(`SELECT id FROM subjects WHERE gallery_id = $1 AND ref = $2`, [galleryId, ref]))!;
  const uuid = randomUUID();
  const vector = vectors[i % vectors.length]!;
  let sealed: Buffer;
  if (perSubject) {
    const dk = await keys.forEnrolment(tx, kind, subject.id);
    sealed = dk.seal(vector, uuid);
    dk.destroy();
  } else {
    sealed = installation.seal(vector, uuid);
  }
  await insertTemplate(tx, { uuid, galleryId, subjectId: subject.id, model: 'bench', pipeline: PIPELINE_VERSION, sealed, quality: 'high', at });
  await appendAudit(tx, new Date(), { action: 'enrol', organisationId: org.id, keyId: client.keyId, roles: client.roles, galleryId, subject: ref, outcome: 'ok', result: { templatesAdded: 1 } }, db.kind);
}

async function enrolRound(perSubject: boolean, round: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < perRound; i++) {
    await db.transaction((tx) => enrolRows(tx, db.kind, `${perSubject ? 'k' : 's'}${round}-${i}`, perSubject, i));
  }
  return perRound / ((performance.now() - started) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

// Warm-up, then alternating rounds: single key, per-subject, single key, ...
await enrolRound(false, -1);
await enrolRound(true, -1);
const single: number[] = [];
const perSubjectRates: number[] = [];
for (let r = 0; r < rounds; r++) {
  if (r % 2 === 0) {
    single.push(await enrolRound(false, r));
    perSubjectRates.push(await enrolRound(true, r));
  } else {
    perSubjectRates.push(await enrolRound(true, r));
    single.push(await enrolRound(false, r));
  }
}
const cost = 1 - median(perSubjectRates) / median(single);
console.log(`enrolment transaction, single installation key: ${r1(median(single))} /s (rounds ${single.map(r1).join(', ')})`);
console.log(`enrolment transaction, per-subject data keys:   ${r1(median(perSubjectRates))} /s (rounds ${perSubjectRates.map(r1).join(', ')})`);
console.log(`cost of per-subject keys: ${(cost * 100).toFixed(1)}% of the transaction's throughput (median of ${rounds} alternating rounds of ${perRound}; a shared, noisy machine)`);

// The whole enrolment through the service (face model included), for scale: what the change adds per enrolment, as a share of it.
const photo = { label: 'lfw', bytes: readFileSync(lfwImage('Colin_Powell', 1)) };
for (const subject of ['full-warm', ...Array.from({ length: 20 }, (_, i) => `full${i}`)]) {
  await service.people.recordConsent(client, { galleryId, subject, noticeVersion: 'bench', purposes: ['building_access'], method: 'written', givenAt: new Date(Date.now() - 60_000).toISOString() });
}
await service.enrol(client, { purpose: 'building_access', galleryId, subject: 'full-warm', images: [photo] });
const fullMs: number[] = [];
for (let i = 0; i < 20; i++) {
  const t = performance.now();
  await service.enrol(client, { purpose: 'building_access', galleryId, subject: `full${i}`, images: [photo] });
  fullMs.push(performance.now() - t);
}
const addedMs = 1000 / median(perSubjectRates) - 1000 / median(single);
console.log(`whole enrolment through the service (one LFW photo): p50 ${r1(median(fullMs))} ms; per-subject keys add ${r3(addedMs)} ms to it (${((addedMs / median(fullMs)) * 100).toFixed(2)}%)`);

// A gallery of `subjects` subjects with data keys, then erasures through the service.
const existing = (await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM subjects WHERE gallery_id = $1`, [galleryId]))!.n;
for (let i = Number(existing); i < subjects; i += 200) {
  await db.transaction(async (tx) => {
    for (let j = i; j < Math.min(subjects, i + 200); j++) await enrolRows(tx, db.kind, `e${j}`, true, j);
  });
}
const refs = (await db.all<{ ref: string }>(`SELECT ref FROM subjects WHERE gallery_id = $1 AND ref LIKE 'k%' ORDER BY ref`, [galleryId])).map((r) => r.ref);
await service.loadIndexes();
const gallerySize = Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM templates WHERE gallery_id = $1`, [galleryId]))!.n);
const eraseMs: number[] = [];
for (const ref of refs.slice(0, erasures)) {
  const t = performance.now();
  await service.eraseSubject(client, galleryId, ref);
  eraseMs.push(performance.now() - t);
}
const scrubMs: number[] = [];
for (let i = 0; i < 50; i++) {
  await db.transaction((tx) => enrolRows(tx, db.kind, `scrub${i}`, true, i));
  const t = performance.now();
  await db.scrub();
  scrubMs.push(performance.now() - t);
}
console.log(`erasure (eraseSubject, ${gallerySize} templates in the gallery): p50 ${r3(median(eraseMs))} ms, p99 ${r3(pct(eraseMs, 0.99))} ms over ${eraseMs.length} erasures; of which the WAL checkpoint alone p50 ${r3(median(scrubMs))} ms`);

await service.close();
const out = join(projectRoot, 'bench-results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, `shred-${db.kind}.json`), JSON.stringify({
  measuredAt: new Date().toISOString(),
  store: db.kind === 'sqlite' ? 'SQLite (WAL, synchronous=FULL, secure_delete=ON)' : 'PostgreSQL',
  caveat: 'measured on a shared 2-core machine with other work running; compare the two enrolment figures with each other (alternating rounds), not with other runs',
  enrolmentTransaction: {
    what: 'the enrolment transaction without the face model (subject row, sealed template, change log, audit entry), one new subject each',
    rounds, perRound,
    singleKeyPerSecond: r1(median(single)), perSubjectKeysPerSecond: r1(median(perSubjectRates)),
    singleKeyRounds: single.map(r1), perSubjectKeysRounds: perSubjectRates.map(r1),
    costPercent: r1(cost * 100),
  },
  wholeEnrolment: {
    what: 'ProbityService.enrol of one LFW photograph (face detection, alignment, embedding, then the transaction), per-subject keys',
    p50Ms: r1(median(fullMs)), addedByPerSubjectKeysMs: r3(addedMs), addedPercent: r3((addedMs / median(fullMs)) * 100),
  },
  erasure: {
    what: 'ProbityService.eraseSubject: the governed transaction (templates, data key, subject row, change log, audit entry), the index update and the WAL checkpoint',
    gallerySize, erasures: eraseMs.length, p50Ms: r3(median(eraseMs)), p99Ms: r3(pct(eraseMs, 0.99)), checkpointP50Ms: r3(median(scrubMs)),
  },
}, null, 2) + '\n');
console.log(`wrote ${join(out, `shred-${db.kind}.json`)}`);
rmSync(dir, { recursive: true, force: true });
