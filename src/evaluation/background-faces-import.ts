/**
 * How many people, and how many of their photographs, `probity import` enrols when some of the
 * photographs show other faces besides the person's. Rerunnable:
 *
 *   node dist/evaluation/background-faces-import.js [--lfw DIR] [--people 20] [--max-photos 12] [--seed 21] [--out FILE]
 *
 * People are picked from LFW deterministically: those with 2 to `--max-photos` photographs, in a
 * seeded shuffle, taken in turn when at least one of their photographs holds several faces by the
 * engine's own detector, until `--people` are found. Then the real command runs (`bin/probity.js
 * import`, a fresh SQLite store, an organisation approved for building access, a consent per
 * person) and its report is read back. Each photograph with several faces is also put through the
 * rule here, to count how often the face taken is the one LFW's crop centres on, its labelled person.
 * Photographs are linked from LFW into a temporary folder, never copied into the project.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FaceEngine, type Face } from '../engine/engine.js';
import { decodeImage } from '../engine/image.js';
import { subjectFace } from '../engine/subject-face.js';
import { isProbityError } from '../errors.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { openDb } from '../gallery/db.js';
import { ProbityService } from '../service/probity-service.js';
import { seededRandom } from '../seeded-random.js';
import type { ImportReport } from '../cli/import-command.js';
import { cliPath, lfwDir as defaultLfw } from '../testing/fixtures.js';
import { onboard } from '../testing/service-fixture.js';

const PURPOSE = 'building_access';

export interface Person {
  name: string;
  photographs: string[];
  /** Photographs (file names) in which the engine finds several faces. */
  withOtherFaces: string[];
}

/** LFW's people with 2 to `maxPhotos` photographs, in a seeded shuffle: the order people are considered in. */
export function candidateOrder(lfw: string, maxPhotos: number, seed: number): { name: string; photographs: string[] }[] {
  const people = readdirSync(join(lfw, 'images')).sort()
    .map((name) => ({ name, photographs: readdirSync(join(lfw, 'images', name)).filter((f) => f.endsWith('.jpg')).sort() }))
    .filter((p) => p.photographs.length >= 2 && p.photographs.length <= maxPhotos);
  const random = seededRandom(seed);
  for (let i = people.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [people[i], people[j]] = [people[j]!, people[i]!];
  }
  return people;
}

interface FacesSeen { file: string; width: number; height: number; faces: Face[] }

export async function pickPeople(engine: FaceEngine, lfw: string, count: number, maxPhotos: number, seed: number): Promise<{ people: Person[]; seen: Map<string, FacesSeen>; considered: number }> {
  const people: Person[] = [];
  const seen = new Map<string, FacesSeen>();
  let considered = 0;
  for (const p of candidateOrder(lfw, maxPhotos, seed)) {
    if (people.length >= count) break;
    considered++;
    const withOtherFaces: string[] = [];
    for (const f of p.photographs) {
      const file = join(lfw, 'images', p.name, f);
      const image = await decodeImage(readFileSync(file), file);
      const faces = await engine.detect(image);
      seen.set(file, { file, width: image.width, height: image.height, faces });
      if (faces.length > 1) withOtherFaces.push(f);
    }
    if (withOtherFaces.length) people.push({ name: p.name, photographs: p.photographs, withOtherFaces });
  }
  return { people, seen, considered };
}

/** Which face the rule takes in a photograph with several: LFW's labelled person (the face nearest the centre), another, or none. */
function ruleOutcome(s: FacesSeen): 'labelled_person' | 'another_face' | 'refused' {
  try {
    const chosen = subjectFace(s.faces, s, s.file)!;
    const off = (f: Face) => Math.hypot(f.box.x + f.box.width / 2 - s.width / 2, f.box.y + f.box.height / 2 - s.height / 2);
    const central = s.faces.reduce((a, b) => (off(a) <= off(b) ? a : b));
    return chosen.face === central ? 'labelled_person' : 'another_face';
  } catch (e) {
    if (isProbityError(e)) return 'refused';
    throw e;
  }
}

export async function measure(options: { lfw: string; people: number; maxPhotos: number; seed: number }) {
  const engine = await FaceEngine.load();
  const { people, seen, considered } = await pickPeople(engine, options.lfw, options.people, options.maxPhotos, options.seed);
  const root = mkdtempSync(join(tmpdir(), 'probity-background-faces-'));
  try {
    const dataDir = join(root, 'data');
    mkdirSync(dataDir);
    const secretKey = randomBytes(32).toString('hex');
    const db = await openDb(join(dataDir, 'probity.sqlite'));
    const service = await ProbityService.open({ db, engine, cipher: TemplateCipher.fromKey(Buffer.from(secretKey, 'hex')), options: { indexDir: dataDir } });
    let galleryId: string, clientSecret: string;
    try {
      const admin = (await service.access.bootstrapAdmin())!.secret;
      const client = await onboard(service, admin, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [PURPOSE]);
      galleryId = (await service.createGallery(client.caller, { name: 'staff', retentionDays: 30 })).id;
      clientSecret = client.secret;
    } finally {
      await service.close();
    }
    const collection = join(root, 'photos');
    for (const p of people) {
      mkdirSync(join(collection, p.name), { recursive: true });
      for (const f of p.photographs) symlinkSync(join(options.lfw, 'images', p.name, f), join(collection, p.name, f));
    }
    const given = new Date(Date.now() - 86_400_000).toISOString();
    writeFileSync(join(root, 'consents.csv'), ['subject,notice_version,method,given_at,purposes', ...people.map((p) => `${p.name},notice-v1,written,${given},${PURPOSE}`)].join('\n') + '\n');
    const reportFile = join(root, 'report.json');
    const run = spawnSync(process.execPath, [cliPath, 'import', '--gallery', galleryId, '--purpose', PURPOSE, '--consents', join(root, 'consents.csv'), '--data', dataDir, '--report', reportFile, collection], {
      env: { ...process.env, PROBITY_SECRET_KEY: secretKey, PROBITY_KEY: clientSecret, PROBITY_DATABASE_URL: '' }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024,
    });
    if (run.status !== 0) throw new Error(`probity import failed (${run.status}): ${run.stderr}`);
    const report = JSON.parse(readFileSync(reportFile, 'utf8')) as ImportReport;
    const multi = [...seen.values()].filter((s) => s.faces.length > 1 && people.some((p) => s.file.includes(`/${p.name}/`)));
    const rule = { labelled_person: 0, another_face: 0, refused: 0 };
    for (const s of multi) rule[ruleOutcome(s)]++;
    const t = report.totals;
    return {
      detector: engine.cards[0]!.id,
      selection: { seed: options.seed, maxPhotos: options.maxPhotos, peopleConsidered: considered },
      people: { picked: people.length, enrolled: t.enrolled, refused: t.refused },
      photographs: { total: t.photographs, enrolled: t.photographs - t.photographsRefused, refused: t.photographsRefused, withSeveralFaces: multi.length },
      severalFaces: rule,
      refusals: report.subjects.flatMap((o) => o.outcome === 'refused'
        ? [{ person: o.subject, file: '(all)', code: o.code!, reason: o.reason! }]
        : (o.photographsRefused ?? []).map((r) => ({ person: o.subject, file: r.file.split('/').pop()!, code: r.code, reason: r.reason }))),
      peoplePicked: people.map((p) => ({ name: p.name, photographs: p.photographs.length, withOtherFaces: p.withOtherFaces })),
      stdout: run.stdout.trim(),
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { lfw: { type: 'string' }, people: { type: 'string' }, 'max-photos': { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } } });
  const r = await measure({ lfw: values.lfw ?? defaultLfw, people: Number(values.people ?? 20), maxPhotos: Number(values['max-photos'] ?? 12), seed: Number(values.seed ?? 21) });
  const pct = (a: number, b: number) => `${((100 * a) / Math.max(b, 1)).toFixed(1)}%`;
  const lines = [
    `detector ${r.detector}; ${r.people.picked} LFW people with 2 to ${r.selection.maxPhotos} photographs, at least one with several faces (seed ${r.selection.seed}, ${r.selection.peopleConsidered} considered)`,
    `people enrolled: ${r.people.enrolled} of ${r.people.picked} (${pct(r.people.enrolled, r.people.picked)})`,
    `photographs enrolled: ${r.photographs.enrolled} of ${r.photographs.total} (${pct(r.photographs.enrolled, r.photographs.total)})`,
    `photographs with several faces: ${r.photographs.withSeveralFaces}; the rule took LFW's labelled person in ${r.severalFaces.labelled_person}, another face in ${r.severalFaces.another_face}, refused ${r.severalFaces.refused}`,
    ...r.refusals.map((x) => `  left out: ${x.person}/${x.file}: ${x.code}: ${x.reason}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (values.out) writeFileSync(values.out, JSON.stringify(r, null, 2) + '\n');
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) await main();
