/**
 * Issue 24: the organisation's statements for the accountability report, versioned and reported
 * with what is missing; the rules of RCW 43.386.080(2), (3) and (5); the defendant's disclosure,
 * proven with `probity audit prove`; the retention policy anyone can read. On SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openDb, type Db } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { STATEMENT_ITEMS } from '../governance/org-statements.js';
import { NOT_SOLE_BASIS, PROTECTED_BASES } from '../governance/protected-basis.js';
import { toMarkdown } from '../governance/report-document.js';
import { buildApp } from '../server/app.js';
import { cliPath, skipWithoutLfw } from '../testing/fixtures.js';
import { refused } from '../testing/refusals.js';
import { backendSkip, backends, consentTo, faces, freshStore, missingPersonCharity, onboard, testEngine, testKey } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import { ProbityService } from './probity-service.js';
import { renderFria, renderWarrantSummary } from './fria-report.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
/** Adopted half a year before the test runs, its comment period and consultation before that. */
const ADOPTED = Math.floor((Date.now() - 180 * DAY) / 1000) * 1000;

/** A complete version of the statements, adopted on `adoptedAt`. */
export function completeStatements(adoptedAt = iso(ADOPTED)) {
  const at = Date.parse(adoptedAt);
  return {
    intendedBenefits: 'Missing people are found sooner: photographs sent in by the public are searched against reported missing people.',
    benefitEvidence: [{ title: 'Pilot evaluation, 2025', reference: 'https://example.org/pilot-2025.pdf' }],
    operationalTesting: { procedure: 'Before deployment and after every model change, "probity evaluate" on 2,000 photographs from our own cameras, with consent.', frequency: 'every six months' },
    civilRightsImpacts: 'A false match could put an innocent person before reviewers; error rates differ between groups.',
    mitigations: ['Two reviewers confirm every candidate', 'Equal-protection operating point'],
    feedbackChannels: [{ channel: 'email', address: 'facerec-feedback@example.org' }],
    feedbackProcedure: 'Every message is answered within 30 days and summarised in the next version.',
    feedbackAnswers: [{ received: iso(at - 60 * DAY), summary: 'Asked whether photographs are kept', answer: 'No: templates only, erased after the case' }],
    publicComment: { opensAt: iso(at - 60 * DAY), closesAt: iso(at - 30 * DAY), commentsReceived: 14, howAnswered: 'Published responses to each of the 14 comments; retention shortened to 90 days.' },
    consultations: [{ date: iso(at - 50 * DAY), audience: 'Central library, open meeting', summary: 'Concerns about misidentification of young people' }],
    retentionPolicy: 'Templates are destroyed within 90 days of the last search, or at once when the case closes.',
    adoptedAt,
  };
}

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `compliance (issue 24) on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let adminSecret: string;
    let dir: string;
    // The service's clock runs with real time, moved ahead by `ahead` where a test needs the future.
    let ahead = 0;
    const key = AuditSigningKey.generate();

    before(async () => {
      store = await freshStore(backend);
      dir = mkdtempSync(join(tmpdir(), 'probity-compliance-'));
      db = await openDb(store.location);
      service = await ProbityService.open({
        db, engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey), now: () => new Date(Date.now() + ahead),
        witness: { key, file: join(dir, 'audit-witness.jsonl'), everyEntries: 1000, everySeconds: 3600 },
      });
      adminSecret = (await service.access.bootstrapAdmin())!.secret;
    });
    after(async () => {
      await service.close();
      await store.drop();
      rmSync(dir, { recursive: true, force: true });
    });
    const operator = () => service.authenticate(adminSecret);
    const report = async () => toMarkdown((await service.report.document(await operator())).doc);

    test('with no statements recorded, the report names every missing statement with its citation', async () => {
      const md = await report();
      assert.match(md, /No statements recorded: this is not a complete report/);
      const missing = md.slice(md.indexOf('## Missing statements'));
      for (const item of STATEMENT_ITEMS) assert.ok(missing.includes(`| ${item.title} | ${item.citation} | ${item.key} |`), `missing statement "${item.title}" is named`);
      assert.match(md, /MISSING: the organisation has not recorded this statement \(RCW 43\.386\.020\(2\)\(c\)\(iii\): intended benefits\)/);
    });

    test('a recorded version shows every RCW 43.386.020(2) item, its version, comment period and next update; a new version does not change the old', async () => {
      const partial = await service.compliance.recordStatements(await operator(), { intendedBenefits: 'draft' });
      assert.equal(partial.version, 1);
      assert.deepEqual(partial.missing.map((m) => m.key).sort(), STATEMENT_ITEMS.map((i) => i.key).filter((k) => k !== 'intendedBenefits').sort());
      const v2 = await service.compliance.recordStatements(await operator(), completeStatements());
      assert.equal(v2.version, 2);
      assert.deepEqual(v2.missing, []);
      const due = new Date(ADOPTED);
      due.setUTCFullYear(due.getUTCFullYear() + 2);
      assert.equal(v2.nextUpdateDue, due.toISOString());
      const md = await report();
      assert.doesNotMatch(md, /## Missing statements/);
      assert.doesNotMatch(md, /MISSING/);
      assert.ok(md.includes(`Version 2, recorded `) && md.includes(`, adopted ${iso(ADOPTED)}. The next update is due ${due.toISOString()}`), 'version, adoption and next update');
      assert.ok(md.includes(`Public review and comment period: ${iso(ADOPTED - 60 * DAY)} to ${iso(ADOPTED - 30 * DAY)}; 14 comment(s) received. How they were answered: Published responses`), 'the comment period');
      const s = completeStatements();
      for (const t of [s.intendedBenefits, s.benefitEvidence[0]!.title, s.operationalTesting.procedure, s.civilRightsImpacts, ...s.mitigations, s.feedbackChannels[0]!.address, s.feedbackProcedure, s.feedbackAnswers[0]!.answer, s.consultations[0]!.audience, s.retentionPolicy]) {
        assert.ok(md.includes(t), `the report shows "${t.slice(0, 40)}"`);
      }
      const history = await service.compliance.history(await operator());
      assert.deepEqual(history.versions.map((v) => v.version), [2, 1]);
      assert.deepEqual(history.versions[1]!.statements, { intendedBenefits: 'draft' }, 'version 1 is kept as it was written');
      const entry = await db.one<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"record_statements"%' ORDER BY seq DESC LIMIT 1`);
      assert.match(entry!.body, /"version":2/);
    });

    test('a comment period that closes after adoption, or an unknown field, is refused naming it, and nothing is recorded', async () => {
      await refused(service.compliance.recordStatements(await operator(), { ...completeStatements(), publicComment: { ...completeStatements().publicComment, closesAt: '2026-07-01T00:00:00Z' } }), 'invalid_request');
      const e = await refused(service.compliance.recordStatements(await operator(), { intendedBenefit: 'typo' }), 'invalid_request');
      assert.match(e.message, /unknown field\(s\) intendedBenefit/);
      assert.equal((await service.compliance.history(await operator())).current.version, 2);
    });

    test('two years after adoption the statements are overdue, in the report and the overview; a renewal clears it', async () => {
      const due = new Date(ADOPTED);
      due.setUTCFullYear(due.getUTCFullYear() + 2);
      ahead = due.getTime() + DAY - Date.now();
      try {
        assert.ok((await report()).includes(`next update due ${due.toISOString()} (OVERDUE)`));
        const o = await service.compliance.overview();
        assert.equal(o.overdue, 1);
        await service.compliance.recordStatements(await operator(), completeStatements(iso(due.getTime())));
        assert.equal((await service.compliance.overview()).overdue, 0);
        assert.doesNotMatch(await report(), /OVERDUE/);
      } finally {
        ahead = 0;
      }
    });

    test("an organisation records only its own statements: an auditor may not, and an admin's go to its own organisation", async () => {
      const org = await onboard(service, adminSecret, { name: 'town-hall', sector: 'public_sector', jurisdictions: ['other'] }, ['building_access']);
      const auditor = await service.authenticate((await service.access.createKey(await operator(), { organisationId: org.organisationId, roles: ['auditor'], label: 'a' })).secret);
      const admin = await service.authenticate((await service.access.createKey(await operator(), { organisationId: org.organisationId, roles: ['admin'], label: 'adm' })).secret);
      await refused(service.compliance.recordStatements(auditor, { intendedBenefits: 'x' }), 'forbidden');
      await refused(service.compliance.recordStatements(org.caller, { intendedBenefits: 'x' }), 'forbidden');
      const v = await service.compliance.recordStatements(admin, { intendedBenefits: 'doors open for staff', retentionPolicy: 'Templates destroyed 30 days after employment ends.' });
      assert.equal(v.organisationId, org.organisationId);
      assert.equal(v.version, 1);
      await refused(service.compliance.history(admin, (await service.compliance.history(await operator())).current.organisationId), 'forbidden');
      const refusals = await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"record_statements"%' AND body LIKE '%"outcome":"refused"%'`);
      assert.equal(refusals.length, 2, 'both refused attempts are logged');
    });

    test('the retention policy is readable without a key, over HTTP, and names no gallery', async () => {
      const org = (await service.compliance.history(await operator())).current.organisationId;
      void org;
      const client = (await onboard(service, adminSecret, { name: 'gym', sector: 'commercial', jurisdictions: ['other'] }, ['building_access'])).caller;
      await service.createGallery(client, { name: 'members-secret-name', retentionDays: 45 });
      const app = await buildApp(service, { logger: false });
      try {
        const r = await app.inject({ method: 'GET', url: '/public/retention-policies' });
        assert.equal(r.statusCode, 200);
        const body = r.json();
        const townHall = body.organisations.find((o: { organisation: string }) => o.organisation === 'town-hall');
        assert.equal(townHall.writtenPolicy, 'Templates destroyed 30 days after employment ends.');
        const gym = body.organisations.find((o: { organisation: string }) => o.organisation === 'gym');
        assert.equal(gym.writtenPolicy, null);
        assert.match(gym.missing, /740 ILCS 14\/15\(a\)/);
        assert.equal(gym.schedules[0].retentionDays, 45);
        assert.doesNotMatch(r.body, /members-secret-name/, 'gallery names are not published');
        const keyed = await app.inject({ method: 'GET', url: '/v1/compliance/statements' });
        assert.equal(keyed.statusCode, 401, 'the statements themselves need a key');
      } finally {
        await app.close();
      }
    });

    test('RCW 43.386.080(2): a gallery or search declaring a protected activity or characteristic is refused and logged, and nothing of it is kept', async () => {
      const client = (await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, ['building_access'])).caller;
      for (const b of ['protest_participation', 'religious_views', 'immigration_status']) {
        assert.ok((PROTECTED_BASES as readonly string[]).includes(b));
        await refused(service.createGallery(client, { name: `by-${b}`, basis: [b] }), 'policy_refused', /default\/no-protected-basis RCW 43\.386\.080\(2\)/);
      }
      assert.equal((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM galleries WHERE name LIKE 'by-%'`))!.n, 0, 'no gallery was made');
      const logged = await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"create_gallery"%' AND body LIKE '%"outcome":"refused"%' AND body LIKE '%no-protected-basis%'`);
      assert.equal(logged.length, 3);
      // A free-text description of what someone was doing is not a basis: refused as unknown, never stored or logged (RCW 43.386.080(3)).
      const e = await refused(service.createGallery(client, { name: 'notes', basis: ['attended the rally on 5th street'] }), 'invalid_request');
      assert.match(e.message, /unknown basis/);
      assert.equal((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM audit_log WHERE body LIKE '%rally on 5th%'`))!.n, 0, 'the description is in no audit entry');
      const g = await service.createGallery(client, { name: 'staff', basis: ['employee_or_member'] });
      await consentTo(service, client, g.id, ['colin'], 'building_access');
      await service.enrol(client, { purpose: 'building_access', galleryId: g.id, subject: 'colin', images: [image(faces.colin1())] });
      await refused(service.identify(client, { purpose: 'building_access', galleryId: g.id, probe: image(faces.colin2()), basis: ['political_activity'] }), 'policy_refused', /no-protected-basis/);
      const searchRefusal = await db.one<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"identify"%' AND body LIKE '%"outcome":"refused"%' AND body LIKE '%no-protected-basis%'`);
      assert.ok(searchRefusal, 'the refused search is logged');
      // RCW 43.386.080(5): every released outcome says a match is not by itself grounds for action.
      const found = await service.identify(client, { purpose: 'building_access', galleryId: g.id, probe: image(faces.colin2()), basis: ['employee_or_member'] });
      assert.equal(found.outcome, 'candidates');
      assert.equal(found.notice, NOT_SOLE_BASIS);
      const none = await service.identify(client, { purpose: 'building_access', galleryId: g.id, probe: image(faces.serena1()) });
      assert.equal(none.notice, NOT_SOLE_BASIS);
      const v = await service.verify(client, { purpose: 'building_access', galleryId: g.id, subject: 'colin', probe: image(faces.colin3()) });
      assert.equal(v.match, true);
      assert.equal(v.notice, NOT_SOLE_BASIS);
    });

    test('RCW 43.386.070(1): a disclosure for a review case gathers the search, scores, reviewers and proofs, is audited, and probity audit prove verifies it; an edited one fails', async () => {
      const charity = await missingPersonCharity(service, adminSecret);
      const client = await charity.make(['client'], 'search desk');
      const r1 = await charity.make(['reviewer'], 'reviewer one');
      const r2 = await charity.make(['reviewer'], 'reviewer two');
      const P = 'missing_person_search';
      const g = await service.createGallery(client, { name: 'reported-missing', purposes: [P], basis: ['missing_person_report'] });
      await consentTo(service, client, g.id, ['colin', 'serena'], P);
      await service.enrol(client, { purpose: P, galleryId: g.id, subject: 'colin', images: [image(faces.colin1())] });
      await service.enrol(client, { purpose: P, galleryId: g.id, subject: 'serena', images: [image(faces.serena1())] });
      const search = await service.identify(client, { purpose: P, galleryId: g.id, probe: image(faces.colin2()) });
      assert.equal(search.outcome, 'review_required');
      const caseId = search.review.case!;
      await service.reviews.decide(r1, { caseId, subject: 'colin', decision: 'confirm', reason: 'same scar above the left eye' });
      await service.reviews.decide(r2, { caseId, subject: 'colin', decision: 'confirm', reason: 'ears and hairline match' });
      const outcome = await service.reviews.get(client, caseId) as { outcome: { statement: string } };
      assert.ok(outcome.outcome.statement.includes(NOT_SOLE_BASIS), 'the released review outcome says a match is not grounds for action');

      const auditor = await charity.make(['client'], 'x').then(async () => service.authenticate((await service.access.createKey(await operator(), { organisationId: charity.organisationId, roles: ['auditor'], label: 'records officer' })).secret));
      await refused(service.disclosures.export(r1, { caseId }), 'forbidden');
      // Another organisation's case (or search) answers exactly as a missing one (fourth outside test, finding 5).
      const town = (await db.one<{ id: string }>(`SELECT id FROM organisations WHERE name = 'town-hall'`))!.id;
      const stranger = await service.authenticate((await service.access.createKey(await operator(), { organisationId: town, roles: ['admin'], label: 'town admin' })).secret);
      const foreign = await refused(service.disclosures.export(stranger, { caseId }), 'not_found');
      const missing = await refused(service.disclosures.export(stranger, { caseId: '00000000-0000-0000-0000-000000000000' }), 'not_found');
      assert.equal(foreign.message.replace(caseId, 'ID'), missing.message.replace('00000000-0000-0000-0000-000000000000', 'ID'));
      assert.equal((await refused(service.disclosures.export(stranger, { auditSeq: search.auditSeq }), 'not_found')).message, `no search (identify or verify) at audit entry ${search.auditSeq}`);
      const exported = await service.disclosures.export(auditor, { caseId });
      const d = exported.disclosure;
      assert.equal(d.search.purpose, P);
      assert.equal(d.search.by.label, 'search desk');
      assert.equal(d.model, search.model);
      assert.equal(d.candidates[0].candidate, 'colin');
      assert.match(d.candidates[0].meaning, /clears the search's threshold/);
      assert.deepEqual(d.review.decisions.map((x: { reason: string }) => x.reason).sort(), ['ears and hairline match', 'same scar above the left eye']);
      assert.deepEqual(d.review.decisions.map((x: { reviewer: { name: string } }) => x.reviewer.name).sort(), ['reviewer one', 'reviewer two']);
      // The reviewers are registered people with training in force (the personnel register).
      assert.equal(d.review.decisions[0].reviewer.training.status, 'current');
      assert.equal(d.proofs.length, 3, 'the search and both decisions are proven');
      assert.equal(d.statement, NOT_SOLE_BASIS);
      const entry = await db.one<{ body: string }>(`SELECT body FROM audit_log WHERE seq = $1`, [exported.auditSeq]);
      assert.match(entry!.body, /"action":"export_disclosure"/);
      assert.ok(entry!.body.includes(exported.disclosureSha256));

      const pub = join(dir, 'audit-signing.pub');
      writeFileSync(pub, key.publicKeyPem());
      const file = join(dir, 'disclosure.json');
      writeFileSync(file, JSON.stringify(exported, null, 2));
      const prove = (f: string) => spawnSync(process.execPath, [cliPath, 'audit', 'prove', '--receipt', f, '--public-key', pub], { encoding: 'utf8' });
      const ok = prove(file);
      assert.equal(ok.status, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /receipt proven: audit entry \d+ \(export_disclosure\)/);
      assert.match(ok.stdout, /the disclosure, and the 3 record\(s\) it gathers, are in the signed audit log/);
      // A reason changed after export: the disclosure no longer hashes to what the log recorded.
      const edited = JSON.parse(JSON.stringify(exported));
      edited.disclosure.review.decisions[0].reason = 'a different reason';
      writeFileSync(join(dir, 'edited.json'), JSON.stringify(edited));
      const bad = prove(join(dir, 'edited.json'));
      assert.notEqual(bad.status, 0);
      assert.match(bad.stdout, /receipt NOT proven: the receipt's "disclosure" hashes to .* the disclosure was altered/);
      // Attack (fourth outside test): the disclosure taken out of its receipt; the rest (the digest, the proof of the export) still "proved".
      for (const [name, strip] of [['no-disclosure.json', ['disclosure']], ['proof-only.json', ['disclosure', 'disclosureSha256']]] as const) {
        const removed = JSON.parse(JSON.stringify(exported));
        for (const f of strip) delete removed[f];
        writeFileSync(join(dir, name), JSON.stringify(removed));
        const gone = prove(join(dir, name));
        assert.notEqual(gone.status, 0, `${name}: ${gone.stdout}`);
        assert.match(gone.stdout, /receipt NOT proven: audit entry \d+ records a disclosure \(SHA-256 [0-9a-f]{16}\.\.\.\), but the receipt carries none: the disclosure was removed/);
      }
      // The bare proof of the export entry (GET /v1/audit/proof) proves that entry, and says it proves no disclosure.
      writeFileSync(join(dir, 'bare.json'), JSON.stringify(exported.auditProof));
      const bare = prove(join(dir, 'bare.json'));
      assert.equal(bare.status, 0, bare.stdout + bare.stderr);
      assert.match(bare.stdout, /a proof of the audit entry alone: it carries no disclosure, so no disclosure is proven by it/);

      // Whatever directory the service reads reviewers through is what disclosures and the report show.
      const before = service.reviewerDirectory;
      service.reviewerDirectory = {
        describe: async (_q, keyId) => ({ keyId, name: `named person for ${keyId.slice(0, 4)}`, training: { status: 'current', detail: 'completed 2026-11-01' } }),
        trainingCounts: async () => ({ current: 2, lapsed: 1, notRecorded: 0 }),
      };
      try {
        const again = await service.disclosures.export(auditor, { caseId });
        assert.ok(again.disclosure.review.decisions.every((x: { reviewer: { name: string; training: { status: string } } }) => x.reviewer.name.startsWith('named person') && x.reviewer.training.status === 'current'));
        assert.match(await report(), /2 person\(s\) with current training, 1 whose training has lapsed, 0 with none recorded/);
      } finally {
        service.reviewerDirectory = before;
      }
    });

    test('RCW 43.386.040: an operational test on the deployment\'s own photographs is recorded against the approval, audited, and shown in the report', async () => {
      const town = (await db.one<{ id: string }>(`SELECT id FROM organisations WHERE name = 'town-hall'`))!.id;
      const results = Buffer.from(JSON.stringify({ dataset: { name: 'town-hall-cameras', images: 412, identities: 96 }, generatedAt: '2026-12-01T00:00:00.000Z' }));
      await refused(service.compliance.recordOperationalTest(await operator(), { organisationId: town, useCase: 'missing_person_search', results, summary: 'x' }), 'not_found');
      const admin = await service.authenticate((await service.access.createKey(await operator(), { organisationId: town, roles: ['admin'], label: 'adm2' })).secret);
      await refused(service.compliance.recordOperationalTest(admin, { organisationId: town, useCase: 'building_access', results, summary: 'x' }), 'forbidden');
      const t = await service.compliance.recordOperationalTest(await operator(), { organisationId: town, useCase: 'building_access', results, summary: 'probity evaluate on 412 photographs of 96 staff from the lobby cameras' });
      assert.match(t.resultsSha256, /^[0-9a-f]{64}$/);
      const md = await report();
      assert.ok(md.includes(`| ${town} | Building access |`), 'the approval is listed');
      assert.match(md, /probity evaluate on 412 photographs of 96 staff from the lobby cameras \(results sha256 [0-9a-f]{16}/);
      assert.match(md, /\| none recorded \|/, 'approvals without a test say so');
    });

    test('RCW 43.386.070(4): the yearly warrant summary counts each warrant once with the demographics its application states, hiding small counts', async () => {
      await service.access.setPolicy(await operator(), ['us-wa']);
      try {
        const sheriff = await onboard(service, adminSecret, { name: 'wa-sheriff', sector: 'law_enforcement', jurisdictions: ['us-wa'] }, ['real_time_identification']);
        await service.access.decideApplication(await operator(), { applicationId: sheriff.application.id, useCase: 'real_time_identification', decision: 'approve', reason: 'ordinance' });
        const caller = await service.authenticate((await service.access.createKey(await operator(), { organisationId: sheriff.organisationId, roles: ['client'], label: 'cams', useCases: ['real_time_identification'] })).secret);
        const g = await service.createGallery(caller, { name: 'watch', basis: ['named_in_warrant'] });
        const P = 'real_time_identification';
        const warrant = (n: number, d?: Record<string, string>) => ({ kind: 'warrant' as const, reference: `W-${n}`, issuer: 'King County Superior Court', expiresAt: iso(Date.now() + DAY), ...(d ? { subjectDemographics: d } : {}) });
        await refused(service.enrol(caller, { purpose: P, authority: { ...warrant(0), subjectDemographics: { sex: 'guessed' } } as never, galleryId: g.id, subject: 's0', images: [image(faces.colin1())] }), 'invalid_request');
        for (let i = 1; i <= 6; i++) {
          await service.enrol(caller, { purpose: P, authority: warrant(i, { ageBand: '25_34', sex: i <= 5 ? 'male' : 'female' }), galleryId: g.id, subject: `s${i}`, images: [image(i % 2 ? faces.colin1() : faces.serena1())] });
        }
        // The same warrant used again counts once.
        await service.identify(caller, { purpose: P, authority: warrant(1, { ageBand: '25_34', sex: 'male' }), galleryId: g.id, probe: image(faces.hugo1()) });
        const year = new Date(Date.now() + ahead).getUTCFullYear();
        const md = await renderWarrantSummary(service.report, await operator(), year, 'md', sheriff.organisationId);
        assert.match(md, /Warrants: 6; court orders: 0; exigencies: 0/);
        assert.match(md, /\| sex \| male \| 5 \|/);
        assert.match(md, /\| sex \| female \| fewer than 5 \|/);
        assert.match(md, /\| ageBand \| 25_34 \| 6 \|/);
        assert.doesNotMatch(md, /s[1-6]\b|W-[0-9]/, 'no subject or warrant is named');
        await refused(renderWarrantSummary(service.report, sheriff.caller, year, 'md'), 'forbidden');
      } finally {
        await service.access.setPolicy(await operator(), []);
      }
    });

    test('EU AI Act Art. 27: the fundamental rights impact assessment is built from live data and the statements, naming what is missing', async () => {
      const md = await renderFria(service.report, await operator(), 'md');
      for (const part of ['(a)', '(b)', '(c)', '(d)', '(e)', '(f)']) assert.ok(md.includes(`## Art. 27(1)${part}`), `section ${part}`);
      assert.ok(md.includes(completeStatements().civilRightsImpacts), 'the statements are quoted');
      assert.match(md, /review cases opened/);
      const other = (await db.one<{ id: string }>(`SELECT id FROM organisations WHERE name = 'gym'`))!.id;
      const bare = await renderFria(service.report, await operator(), 'md', other);
      assert.match(bare, /MISSING: the organisation has not recorded the potential impacts on civil rights and liberties/);
      // Its figures are its own, not the installation's (seventh outside test, eighth run, low).
      const searches = (md: string) => Number(/To date: (\d+) identification requests/.exec(md)?.[1]);
      const own = Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM audit_log WHERE organisation_id = $1 AND body LIKE '%"action":"identify"%' AND body LIKE '%"outcome":"ok"%'`, [other]))!.n);
      assert.equal(searches(bare), own);
      assert.ok(searches(md) > own, 'the installation searched no more than the one organisation');
    });

    test('an overdue report is shown in the readiness detail and the metrics, and with the option set holds consequential use until renewed', async () => {
      const metricsKey = 'metrics-key-for-the-compliance-test';
      const app = await buildApp(service, { logger: false, metrics: { key: metricsKey } });
      const gated = await ProbityService.open({ db: await openDb(store.location), engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey), now: () => new Date(Date.now() + ahead), options: { holdWhenReportOverdue: true } });
      try {
        const charity = (await db.one<{ id: string }>(`SELECT id FROM organisations WHERE name = 'charity'`))!.id;
        const charityAdmin = await service.authenticate((await service.access.createKey(await operator(), { organisationId: charity, roles: ['admin'], label: 'charity admin' })).secret);
        await service.compliance.recordStatements(charityAdmin, completeStatements());
        const client = await gated.authenticate((await service.access.createKey(await operator(), { organisationId: charity, roles: ['client'], label: 'desk 2', useCases: ['missing_person_search'] })).secret);
        const g = (await db.one<{ id: string }>(`SELECT id FROM galleries WHERE name = 'reported-missing'`))!.id;
        const search = () => gated.identify(client, { purpose: 'missing_person_search', galleryId: g, probe: image(faces.colin2()) });
        assert.equal((await search()).outcome, 'review_required', 'in date: the search runs');
        const ready = async () => (await app.inject({ method: 'GET', url: '/health/ready' })).json();
        const metric = async () => /probity_accountability_statements_overdue (\d+)/.exec((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${metricsKey}` } })).body)?.[1];
        assert.equal((await ready()).accountabilityStatements.overdue, 0);
        assert.equal(await metric(), '0');
        const due = new Date(ADOPTED);
        due.setUTCFullYear(due.getUTCFullYear() + 2);
        ahead = due.getTime() + DAY - Date.now();
        assert.ok((await ready()).accountabilityStatements.overdue >= 1);
        assert.ok(Number(await metric()) >= 1);
        await refused(search(), 'policy_refused', /accountability\/report-current RCW 43\.386\.020\(4\)/);
        await service.compliance.recordStatements(charityAdmin, completeStatements(iso(due.getTime())));
        assert.equal((await search()).outcome, 'review_required', 'renewed: the search runs again');
      } finally {
        ahead = 0;
        await gated.close();
        await app.close();
      }
    });
  });
}
