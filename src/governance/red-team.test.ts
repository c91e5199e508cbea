/**
 * The red team: each forbidden act is tried and must be refused with its code and the rule
 * that refuses it; then the audit log is tampered with directly in the database, each way,
 * and `probity audit verify` must name the break and where it is.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ProbityError } from '../errors.js';
import type { Db } from '../gallery/db.js';
import { buildApp } from '../server/app.js';
import type { ProbityService } from '../service/probity-service.js';
import { cliPath, skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, faces, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { canonicalJson, entryHash } from './audit-chain.js';
import { verifyStoredAudit } from './audit-store.js';
import { suiteUnless } from '../testing/suite.js';
import { refused } from '../testing/refusals.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });
const inOneDay = () => new Date(Date.now() + 86_400_000).toISOString();

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `red team on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let adminSecret: string;

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location));
      adminSecret = (await service.access.bootstrapAdmin())!.secret;
    });
    after(async () => {
      await service.close();
      await store.drop();
    });

    const admin = () => service.authenticate(adminSecret);

    test('under default, a law-enforcement organisation gets no identification: refused application, no key, no search', async () => {
      const police = await onboard(service, adminSecret, { name: 'county-police', sector: 'law_enforcement', jurisdictions: ['other'] }, ['investigative_leads', 'sign_in_verification']);
      const leads = police.application.decisions.find((d) => d.useCase === 'investigative_leads')!;
      assert.equal(leads.outcome, 'refused');
      assert.equal(leads.reasons[0]!.rule, 'default/no-police-identification');
      assert.match(leads.reasons[0]!.citation, /Microsoft, 11 June 2020/);
      assert.equal(police.application.decisions.find((d) => d.useCase === 'sign_in_verification')!.outcome, 'approved');
      await refused(service.access.createKey(await admin(), { organisationId: police.organisationId, roles: ['client'], label: 'x', useCases: ['investigative_leads'] }), 'purpose_not_approved');
      const gallery = await service.createGallery(police.caller, { name: 'mugshots' });
      await refused(service.identify(police.caller, { purpose: 'investigative_leads', galleryId: gallery.id, probe: image(faces.colin1()) }), 'purpose_not_approved', /access\/key-scope/);
    });

    test('under us-wa, real-time identification needs a warrant: none, expired and valid', async () => {
      await service.access.setPolicy(await admin(), ['us-wa']);
      try {
        const sheriff = await onboard(service, adminSecret, { name: 'wa-sheriff', sector: 'law_enforcement', jurisdictions: ['us-wa'] }, ['real_time_identification']);
        const d = sheriff.application.decisions[0]!;
        assert.equal(d.outcome, 'held', 'consequential identification is held for the operator');
        assert.ok(d.obligations.includes('require_legal_authority'));
        assert.ok(d.reasons.some((r) => r.citation === 'RCW 43.386.080(1)'));
        await service.access.decideApplication(await admin(), { applicationId: sheriff.application.id, useCase: 'real_time_identification', decision: 'approve', reason: 'county ordinance 12 reviewed' });
        const key = await service.access.createKey(await admin(), { organisationId: sheriff.organisationId, roles: ['client'], label: 'cameras', useCases: ['real_time_identification'] });
        const caller = await service.authenticate(key.secret);
        const gallery = await service.createGallery(caller, { name: 'watch-list' });
        const purpose = 'real_time_identification';
        await refused(service.identify(caller, { purpose, galleryId: gallery.id, probe: image(faces.colin1()) }), 'legal_authority_required', /RCW 43\.386\.080/);
        const expired = { kind: 'warrant' as const, reference: 'W-2026-0042', issuer: 'King County Superior Court', expiresAt: '2026-01-01T00:00:00Z' };
        const e = await refused(service.identify(caller, { purpose, authority: expired, galleryId: gallery.id, probe: image(faces.colin1()) }), 'legal_authority_expired', /RCW 43\.386\.080/);
        assert.match(e.message, /W-2026-0042 expired/);
        await refused(service.identify(caller, { purpose, authority: { kind: 'exigency', reason: 'x' }, galleryId: gallery.id, probe: image(faces.colin1()) }), 'legal_authority_required');
        const valid = { ...expired, expiresAt: inOneDay() };
        await refused(service.enrol(caller, { purpose, galleryId: gallery.id, subject: 'suspect-1', images: [image(faces.colin1())] }), 'legal_authority_required');
        await service.enrol(caller, { purpose, authority: valid, galleryId: gallery.id, subject: 'suspect-1', images: [image(faces.colin1())] });
        const ok = await service.identify(caller, { purpose, authority: valid, galleryId: gallery.id, probe: image(faces.colin2()) });
        assert.equal(ok.outcome, 'review_required', 'a consequential search releases no candidate before review');
        assert.deepEqual(ok.candidates, []);
        assert.equal(ok.review.state, 'pending');
        const entry = (await service.access.auditEntries(await service.authenticate(adminSecret).then(async () => {
          const auditor = await service.access.createKey(await admin(), { organisationId: (await db.one<{ id: string }>(`SELECT id FROM organisations WHERE name = 'operator'`))!.id, roles: ['installation_auditor'], label: 'auditor' });
          return service.authenticate(auditor.secret);
        }), { purpose, limit: 100 })).items.find((i: any) => i.outcome === 'ok' && i.action === 'identify') as any;
        assert.equal(entry.legalAuthority.reference, 'W-2026-0042', 'the warrant is in the audit log');
        assert.ok(entry.obligations.includes('require_human_review'));
      } finally {
        await service.access.setPolicy(await admin(), []);
      }
    });

    test('a key used for a purpose it was not approved for, or for an operation its purpose does not include', async () => {
      const org = await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, ['sign_in_verification', 'building_access']);
      const narrow = await service.access.createKey(await admin(), { organisationId: org.organisationId, roles: ['client'], label: 'sign-in only', useCases: ['sign_in_verification'] });
      const caller = await service.authenticate(narrow.secret);
      const gallery = await service.createGallery(caller, { name: 'staff' });
      await refused(service.identify(caller, { purpose: 'building_access', galleryId: gallery.id, probe: image(faces.colin1()) }), 'purpose_not_approved', /this key|access\/key-scope/);
      await refused(service.identify(caller, { purpose: 'sign_in_verification', galleryId: gallery.id, probe: image(faces.colin1()) }), 'purpose_mismatch', /use-case-capability/);
      await refused(service.identify(caller, { purpose: 'photo_library_tagging', galleryId: gallery.id, probe: image(faces.colin1()) }), 'purpose_not_approved');
      // The refusals are in the log, with the rule that refused them.
      const refusals = await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"outcome":"refused"%' AND organisation_id = $1`, [org.organisationId]);
      assert.equal(refusals.length, 3);
      assert.ok(refusals.every((r) => JSON.parse(r.body).rules.length === 1));
    });

    test("another organisation's gallery is refused, answered as a missing one (issue 22, finding 8), and logged", async () => {
      const a = await onboard(service, adminSecret, { name: 'org-a', sector: 'commercial', jurisdictions: ['other'] }, ['photo_library_tagging']);
      const b = await onboard(service, adminSecret, { name: 'org-b', sector: 'commercial', jurisdictions: ['other'] }, ['photo_library_tagging']);
      const gallery = await service.createGallery(a.caller, { name: 'family' });
      const missing = '00000000-0000-4000-8000-000000000000';
      const attempts = async (galleryId: string) => {
        const out: ProbityError[] = [];
        for (const attempt of [
          () => service.identify(b.caller, { purpose: 'photo_library_tagging', galleryId, probe: image(faces.colin1()) }),
          () => service.enrol(b.caller, { purpose: 'photo_library_tagging', galleryId, subject: 'x', images: [image(faces.colin1())] }),
          () => service.verify(b.caller, { purpose: 'photo_library_tagging', galleryId, subject: 'x', probe: image(faces.colin1()) }),
          () => service.eraseSubject(b.caller, galleryId, 'x'),
        ]) out.push(await attempt().then(() => assert.fail('allowed'), (e: ProbityError) => e));
        return out;
      };
      const before = Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM audit_log WHERE organisation_id = $1 AND body LIKE '%"outcome":"refused"%'`, [b.organisationId]))!.n);
      const theirs = await attempts(gallery.id);
      const absent = await attempts(missing);
      theirs.forEach((e, i) => {
        assert.equal(e.code, 'not_found', e.message);
        assert.equal(e.message, absent[i]!.message.replace(missing, gallery.id), 'the same answer as for a gallery that does not exist');
        assert.doesNotMatch(e.message, new RegExp(`another organisation|${a.organisationId}`), 'the owner is not named');
      });
      const refusals = await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE organisation_id = $1 AND body LIKE '%"outcome":"refused"%' ORDER BY seq`, [b.organisationId]);
      const logged = refusals.slice(before).map((r) => JSON.parse(r.body) as { action: string; result: { reason: string } });
      assert.deepEqual(logged.map((l) => l.action), ['identify', 'enrol', 'verify', 'erase_subject'], 'each attempt on the other organisation\'s gallery is logged');
      assert.ok(logged.every((l) => /belongs to another organisation/.test(l.result.reason)));
    });

    test('attribute inference is refused on its route and as an option of another', async () => {
      const org = await onboard(service, adminSecret, { name: 'shop', sector: 'commercial', jurisdictions: ['other'] }, ['photo_library_tagging']);
      const gallery = await service.createGallery(org.caller, { name: 'g' });
      const app = await buildApp(service);
      try {
        const headers = { authorization: `Bearer ${org.secret}`, 'content-type': 'application/json' };
        const direct = await app.inject({ method: 'POST', url: '/v1/faces/attributes', headers, payload: JSON.stringify({ image: faces.colin1().toString('base64') }) });
        assert.equal(direct.statusCode, 403);
        assert.equal(direct.json().error.code, 'attribute_inference_refused');
        assert.equal(direct.json().error.rule, 'default/no-attribute-inference');
        assert.match(direct.json().error.citation, /Art\. 5\(1\)\(f\)-\(g\)/);
        const asOption = await app.inject({
          method: 'POST', url: `/v1/galleries/${gallery.id}/identify`, headers,
          payload: JSON.stringify({ purpose: 'photo_library_tagging', image: faces.colin1().toString('base64'), returnFaceAttributes: ['age', 'emotion'] }),
        });
        assert.equal(asOption.statusCode, 403);
        assert.equal(asOption.json().error.code, 'attribute_inference_refused');
      } finally {
        await app.close();
      }
    });

    test('applications the policy must refuse, and one it must hold for the operator', async () => {
      await service.access.setPolicy(await admin(), ['us-il']);
      try {
        const broker = await onboard(service, adminSecret, { name: 'data-broker', sector: 'commercial', jurisdictions: ['us-il'] }, ['photo_library_tagging'], { sellsBiometricData: true });
        const d = broker.application.decisions[0]!;
        assert.equal(d.outcome, 'refused');
        assert.equal(d.reasons[0]!.citation, '740 ILCS 14/15(c)');
      } finally {
        await service.access.setPolicy(await admin(), []);
      }
      const mall = await onboard(service, adminSecret, { name: 'mall', sector: 'commercial', jurisdictions: ['other'] }, ['persistent_tracking']);
      assert.equal(mall.application.decisions[0]!.outcome, 'refused');
      assert.ok(mall.application.decisions[0]!.reasons.some((r) => r.rule === 'default/surveillance-only-public-authorities'));

      const charity = await onboard(service, adminSecret, { name: 'missing-people-charity', sector: 'nonprofit', jurisdictions: ['other'] }, ['missing_person_search']);
      const held = charity.application.decisions[0]!;
      assert.equal(held.outcome, 'held');
      assert.equal(held.reasons[0]!.rule, 'default/consequential-identification-reviewed');
      assert.ok((await service.access.listApplications(await admin(), { status: 'held' })).some((a) => a.id === charity.application.id));
      await refused(service.access.createKey(await admin(), { organisationId: charity.organisationId, roles: ['client'], label: 'x', useCases: ['missing_person_search'] }), 'purpose_not_approved');
      await refused(service.access.decideApplication(await admin(), { applicationId: charity.application.id, useCase: 'nope', decision: 'approve', reason: 'r' }), 'not_found');
      const decided = await service.access.decideApplication(await admin(), { applicationId: charity.application.id, useCase: 'missing_person_search', decision: 'approve', reason: 'charity registration checked' });
      assert.equal(decided.decisions[0]!.outcome, 'approved');
      await refused(service.access.decideApplication(await admin(), { applicationId: charity.application.id, useCase: 'missing_person_search', decision: 'refuse', reason: 'again' }), 'conflict');
      const key = await service.access.createKey(await admin(), { organisationId: charity.organisationId, roles: ['client'], label: 'search', useCases: ['missing_person_search'] });
      assert.deepEqual(key.useCases, ['missing_person_search']);
      await refused(service.access.decideApplication(await service.authenticate(key.secret), { applicationId: charity.application.id, useCase: 'missing_person_search', decision: 'approve', reason: 'self' }), 'forbidden');
    });

    describe('tampering with the audit log in the database', () => {
      type Row = { id: number; seq: number; at: string; prev_hash: string; hash: string; body: string; organisation_id: string | null; purpose: string | null };
      let original: Row[];
      const restore = async () => {
        await db.run(`DELETE FROM audit_log`);
        for (const r of original) {
          await db.run(`INSERT INTO audit_log (seq, at, prev_hash, hash, body, organisation_id, purpose) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [r.seq, r.at, r.prev_hash, r.hash, r.body, r.organisation_id, r.purpose]);
        }
        const last = original[original.length - 1]!;
        await db.run(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, [last.seq, last.hash]);
      };
      const verifyCli = () => {
        const args = backend === 'postgres' ? ['--database', store.location] : ['--data', dirname(store.location)];
        return spawnSync(process.execPath, [cliPath, 'audit', 'verify', ...args], { encoding: 'utf8' });
      };
      before(async () => {
        original = await db.all<Row>(`SELECT * FROM audit_log ORDER BY id`);
      });

      test('the log of everything above is intact, and the command says so with exit 0', async () => {
        assert.ok(original.length > 30);
        const r = await verifyStoredAudit(db);
        assert.equal(r.ok, true, JSON.stringify(r.breaks));
        const cli = verifyCli();
        assert.equal(cli.status, 0, cli.stdout + cli.stderr);
        assert.match(cli.stdout, new RegExp(`intact: ${original.length} entries`));
      });

      for (const [kind, tamper, expect] of [
        ['edited', (rows: Row[]) => db.run(`UPDATE audit_log SET body = $1 WHERE seq = 5`, [canonicalJson({ ...JSON.parse(rows[4]!.body), keyId: 'someone-else' })]), ['edited', 5]],
        ['deleted', () => db.run(`DELETE FROM audit_log WHERE seq = 7`), ['deleted', 7]],
        // Only the unhashed filter column changed, to hide an entry from an organisation's export.
        ['re-filed', () => db.run(`UPDATE audit_log SET organisation_id = 'someone-else' WHERE seq = 6`), ['edited', 6]],
        ['inserted', async (rows: Row[]) => {
          // A forged entry that links correctly to the last one and hashes correctly: only the head, kept apart, gives it away.
          const last = rows[rows.length - 1]!;
          const body = { action: 'identify', organisationId: null, keyId: null, roles: [], outcome: 'ok' };
          await db.run(`INSERT INTO audit_log (seq, at, prev_hash, hash, body) VALUES ($1, $2, $3, $4, $5)`, [last.seq + 1, last.at, last.hash, entryHash(last.seq + 1, last.at, last.hash, body), canonicalJson(body)]);
        }, ['inserted', 0]],
        ['reordered', async (rows: Row[]) => {
          // Entries 3 and 4 taken out and written back the other way round.
          await db.run(`DELETE FROM audit_log WHERE seq IN (3, 4)`);
          for (const r of [rows[3]!, rows[2]!]) {
            await db.run(`INSERT INTO audit_log (seq, at, prev_hash, hash, body) VALUES ($1, $2, $3, $4, $5)`, [r.seq, r.at, r.prev_hash, r.hash, r.body]);
          }
        }, ['reordered', 3]],
        ['truncated', (rows: Row[]) => db.run(`DELETE FROM audit_log WHERE seq = $1`, [rows[rows.length - 1]!.seq]), ['truncated', -1]],
      ] as const) {
        test(`an entry ${kind} directly in the database is caught, with its position`, async () => {
          try {
            await tamper(original);
            const r = await verifyStoredAudit(db);
            assert.equal(r.ok, false);
            const lastSeq = original[original.length - 1]!.seq;
            const seq = expect[1] === -1 ? lastSeq : expect[1] === 0 ? lastSeq + 1 : expect[1];
            assert.ok(r.breaks.some((b) => b.kind === expect[0] && b.seq === seq), `${kind} at ${seq}: got ${JSON.stringify(r.breaks)}`);
            const cli = verifyCli();
            assert.equal(cli.status, 1);
            assert.match(cli.stdout, new RegExp(`${expect[0]} at entry ${seq}`));
          } finally {
            await restore();
          }
        });
      }
    });
  });
}
