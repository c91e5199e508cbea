/**
 * The red team on identity, purpose, time and disclosure (issue 12, findings 1, 4, 5, 6, 7): each
 * attack was first reproduced against the service and must now be refused or come to nothing.
 * Every test fails if the attack succeeds.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ProbityError } from '../errors.js';
import type { Db } from '../gallery/db.js';
import type { Caller } from './api-keys.js';
import { buildApp } from '../server/app.js';
import type { ProbityService } from '../service/probity-service.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService, reviewerKey } from '../testing/service-fixture.js';
import { auditPage } from './audit-store.js';
import { parseInstant } from './instants.js';
import { lastAuditEntry } from '../testing/audit-entries.js';
import { suiteUnless } from '../testing/suite.js';
import { refused } from '../testing/refusals.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MIN = 60_000;
const ACCESS = 'building_access';
const TAGGING = 'photo_library_tagging';
const MISSING = 'missing_person_search';
const SIGN_IN = 'sign_in_verification';

/** A time written with an offset, as a client elsewhere would write it: `offset` minutes east of UTC. */
function withOffset(ms: number, offsetMinutes: number, wholeSeconds = true): string {
  const local = new Date(ms + offsetMinutes * MIN).toISOString().slice(0, wholeSeconds ? 19 : 23);
  const sign = offsetMinutes >= 0 ? '+' : '-';
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

test('client times: RFC 3339 with any offset becomes one canonical UTC instant; anything else is refused, naming the field', () => {
  assert.equal(parseInstant('givenAt', '2026-12-01T10:30:00+01:00'), '2026-12-01T09:30:00.000Z');
  assert.equal(parseInstant('givenAt', '2026-12-01T04:00:00.250-05:00'), '2026-12-01T09:00:00.250Z');
  assert.equal(parseInstant('givenAt', '2026-12-01T09:30:00Z'), '2026-12-01T09:30:00.000Z');
  for (const bad of ['yesterday', '2026-12-01T10:30:00', '2026-13-01T00:00:00Z', '', '1733045400']) {
    assert.throws(() => parseInstant('expiresAt', bad), (e: unknown) => e instanceof ProbityError && e.code === 'invalid_request' && /^expiresAt: /.test(e.message), bad);
  }
});

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `red team: identity, purpose, time and disclosure on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let adminSecret: string;
    // The service's clock: real time, unless a test pins it to an instant of its choosing.
    let pinned: number | undefined;
    const now = () => new Date(pinned ?? Date.now());
    let client: Caller;
    let clientSecret: string;
    let galleryId: string;

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location, {}, now));
      adminSecret = (await service.access.bootstrapAdmin())!.secret;
      ({ caller: client, secret: clientSecret } = await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [ACCESS, TAGGING, SIGN_IN]));
      galleryId = (await service.createGallery(client, { name: 'staff' })).id;
      await consentTo(service, client, galleryId, ['colin'], ACCESS);
      await service.enrol(client, { purpose: ACCESS, galleryId, subject: 'colin', images: [image(faces.colin1())] });
    });
    after(async () => {
      await service.close();
      await store.drop();
    });

    describe('finding 1: verification for the wrong person', () => {
      test('naming a subject and bringing a reference image is refused (400), and nobody is recorded as verified', async () => {
        const before = Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM audit_log WHERE body LIKE '%"action":"verify"%'`))!.n);
        // The attack: colin's name with someone else's photograph as the reference, matching the probe.
        const e = await refused(service.verify(client, { purpose: ACCESS, galleryId, subject: 'colin', probe: image(faces.serena1()), reference: image(faces.serena2()) }), 'invalid_request');
        assert.match(e.message, /never both/);
        await refused(service.verify(client, { purpose: ACCESS, subject: 'colin', probe: image(faces.serena1()), reference: image(faces.serena2()) }), 'invalid_request');
        await refused(service.verify(client, { purpose: ACCESS, galleryId, probe: image(faces.serena1()) }), 'invalid_request');
        const app = await buildApp(service);
        try {
          const r = await app.inject({
            method: 'POST', url: '/v1/verify', headers: { authorization: `Bearer ${clientSecret}`, 'content-type': 'application/json' },
            payload: JSON.stringify({ purpose: ACCESS, galleryId, subject: 'colin', image: faces.serena1().toString('base64'), reference: faces.serena2().toString('base64') }),
          });
          assert.equal(r.statusCode, 400);
          assert.equal(r.json().error.code, 'invalid_request');
        } finally {
          await app.close();
        }
        const after = Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM audit_log WHERE body LIKE '%"action":"verify"%'`))!.n);
        assert.equal(after, before, 'no verification of colin is in the audit log');
      });

      test("a subject is compared with their own stored templates only, and the audit entry says exactly what was compared", async () => {
        const impostor = await service.verify(client, { purpose: ACCESS, galleryId, subject: 'colin', probe: image(faces.serena1()) });
        assert.equal(impostor.match, false, "someone else's face does not pass as colin");
        const genuine = await service.verify(client, { purpose: ACCESS, galleryId, subject: 'colin', probe: image(faces.colin2()) });
        assert.equal(genuine.match, true);
        assert.deepEqual(genuine.comparedWith, { kind: 'subject', gallery: galleryId, subject: 'colin', templates: 1 });
        const entry = await lastAuditEntry(db, 'verify');
        assert.equal(entry.subject, 'colin');
        assert.deepEqual(entry.result.comparedWith, { kind: 'subject', gallery: galleryId, subject: 'colin', templates: 1 });
        // Two supplied photographs: only where a use case grants it (sign-in: a live face against an identity document).
        const pair = await service.verify(client, { purpose: SIGN_IN, probe: image(faces.serena1()), reference: image(faces.serena2()) });
        assert.equal(pair.subject, undefined);
        assert.deepEqual((await lastAuditEntry(db, 'verify')).result.comparedWith, { kind: 'image', inputHash: sha(faces.serena2()) });
        assert.equal((await lastAuditEntry(db, 'verify')).subject, undefined, 'a two-image verification names no enrolled subject');
        const app = await buildApp(service);
        try {
          const r = await app.inject({
            method: 'POST', url: '/v1/verify', headers: { authorization: `Bearer ${clientSecret}`, 'content-type': 'application/json' },
            payload: JSON.stringify({ purpose: ACCESS, galleryId, subject: 'colin', image: faces.colin2().toString('base64') }),
          });
          assert.equal(r.statusCode, 200);
          assert.deepEqual(r.json().comparedWith, { kind: 'subject', gallery: galleryId, subject: 'colin', templates: 1 });
        } finally {
          await app.close();
        }
      });
    });

    describe('finding 4: purpose limitation when searching', () => {
      test('a subject who consented to building access only is not found for photo tagging; the answer and the log say so', async () => {
        const tagging = await service.identify(client, { purpose: TAGGING, galleryId, probe: image(faces.colin2()) });
        assert.ok(!JSON.stringify(tagging).includes('colin'), 'colin is not a candidate for a purpose he did not consent to');
        assert.equal(tagging.outcome, 'no_match');
        assert.equal(tagging.excludedByPurpose, 1);
        assert.ok(tagging.notes.some((n) => /1 subject\(s\) in the gallery were left out/.test(n)));
        const entry = await lastAuditEntry(db, 'identify');
        assert.equal(entry.purpose, TAGGING);
        assert.equal(entry.result.excludedByPurpose, 1);
        assert.equal(entry.result.searched, 0);
        const access = await service.identify(client, { purpose: ACCESS, galleryId, probe: image(faces.colin2()) });
        assert.equal(access.candidates[0]?.subject, 'colin', 'for the purpose he consented to, he is found');
        assert.equal(access.excludedByPurpose, 0);
        const v = await refused(service.verify(client, { purpose: SIGN_IN, galleryId, subject: 'colin', probe: image(faces.colin2()) }), 'purpose_not_covered', /purpose\/enrolment-basis/);
        assert.match(v.message, /consented to building_access, not to "sign_in_verification"/);
        assert.equal((await lastAuditEntry(db, 'verify', 'refused')).result.code, 'purpose_not_covered', 'the refusal is logged');
      });

      test('a gallery serves only the purposes it declared: enrolling, verifying or searching for another is refused (403)', async () => {
        const doors = await service.createGallery(client, { name: 'doors', purposes: [ACCESS] });
        assert.deepEqual(doors.purposes, [ACCESS]);
        assert.deepEqual((await service.getGallery(client, doors.id)).purposes, [ACCESS]);
        await refused(service.createGallery(client, { name: 'nonsense', purposes: ['spying'] }), 'invalid_request');
        await consentTo(service, client, doors.id, ['ann'], TAGGING);
        await refused(service.enrol(client, { purpose: TAGGING, galleryId: doors.id, subject: 'ann', images: [image(faces.serena1())] }), 'purpose_not_declared', /purpose\/gallery-declaration/);
        await refused(service.identify(client, { purpose: TAGGING, galleryId: doors.id, probe: image(faces.serena2()) }), 'purpose_not_declared');
        await refused(service.verify(client, { purpose: SIGN_IN, galleryId: doors.id, subject: 'ann', probe: image(faces.serena2()) }), 'purpose_not_declared');
        assert.equal((await lastAuditEntry(db, 'identify', 'refused')).result.code, 'purpose_not_declared');
        const app = await buildApp(service);
        try {
          const r = await app.inject({
            method: 'POST', url: `/v1/galleries/${doors.id}/identify`, headers: { authorization: `Bearer ${clientSecret}`, 'content-type': 'application/json' },
            payload: JSON.stringify({ purpose: TAGGING, image: faces.serena2().toString('base64') }),
          });
          assert.equal(r.statusCode, 403);
          assert.equal(r.json().error.code, 'purpose_not_declared');
          const made = await app.inject({
            method: 'POST', url: '/v1/galleries', headers: { authorization: `Bearer ${clientSecret}`, 'content-type': 'application/json' },
            payload: JSON.stringify({ name: 'doors-http', purposes: [ACCESS, SIGN_IN] }),
          });
          assert.equal(made.statusCode, 201);
          assert.deepEqual(made.json().purposes, [ACCESS, SIGN_IN]);
        } finally {
          await app.close();
        }
      });

      test('once a consequential use case is approved later, the people who never consented to it are still left out', async () => {
        const charity = await onboard(service, adminSecret, { name: 'charity', sector: 'nonprofit', jurisdictions: ['other'] }, [ACCESS, MISSING]);
        await service.access.decideApplication(await service.authenticate(adminSecret), { applicationId: charity.application.id, useCase: MISSING, decision: 'approve', reason: 'registered charity' });
        const key = await service.access.createKey(await service.authenticate(adminSecret), { organisationId: charity.organisationId, roles: ['client'], label: 'both', useCases: [ACCESS, MISSING] });
        const caller = await service.authenticate(key.secret);
        const g = (await service.createGallery(caller, { name: 'volunteers' })).id;
        assert.deepEqual((await service.getGallery(caller, g)).purposes, [ACCESS, MISSING]);
        await consentTo(service, caller, g, ['volunteer'], ACCESS);
        await service.enrol(caller, { purpose: ACCESS, galleryId: g, subject: 'volunteer', images: [image(faces.colin1())] });
        const search = await service.identify(caller, { purpose: MISSING, galleryId: g, probe: image(faces.colin2()) });
        // A consequential search opens a case whoever clears (sixth outside test): this one names no one.
        assert.equal(search.outcome, 'review_required');
        assert.deepEqual(search.candidates, []);
        assert.equal(search.excludedByPurpose, 1);
        const cases = await db.all<{ candidates: string }>(`SELECT candidates FROM review_cases WHERE gallery_id = $1`, [g]);
        assert.deepEqual(cases.map((c) => JSON.parse(c.candidates)), [[]], 'no reviewer sees the volunteer either: the only match never consented to this purpose');
      });

      describe('under top-k, the best eligible subject is found however many ineligible ones score higher', () => {
        let crowd: string;
        before(async () => {
          crowd = (await service.createGallery(client, { name: 'crowd' })).id;
          const decoys = Array.from({ length: 45 }, (_, i) => `decoy-${i}`);
          const others = Array.from({ length: 45 }, (_, i) => `other-${i}`);
          await consentTo(service, client, crowd, decoys, ACCESS);
          await consentTo(service, client, crowd, [...others, 'colin-tagged'], TAGGING);
          // The same photograph as the probe's person, under 45 names that did not consent to tagging: they all outscore the eligible colin.
          for (const d of decoys) await service.enrol(client, { purpose: ACCESS, galleryId: crowd, subject: d, images: [image(faces.colin1())] });
          for (const o of others) await service.enrol(client, { purpose: TAGGING, galleryId: crowd, subject: o, images: [image(faces.serena1())] });
          await service.enrol(client, { purpose: TAGGING, galleryId: crowd, subject: 'colin-tagged', images: [image(faces.colin3())] });
        });

        const check = async (svc: ProbityService, topK: number) => {
          const caller = await svc.authenticate(clientSecret);
          const r = await svc.identify(caller, { purpose: TAGGING, galleryId: crowd, probe: image(faces.colin2()), topK });
          assert.equal(r.candidates[0]?.subject, 'colin-tagged', `top-${topK}: ${JSON.stringify(r.candidates)}`);
          assert.ok(r.candidates.every((c) => !c.subject.startsWith('decoy-')));
          assert.equal(r.excludedByPurpose, 45);
          // And for building access, the decoys are there: the filter is the purpose, not the index.
          const access = await svc.identify(caller, { purpose: ACCESS, galleryId: crowd, probe: image(faces.colin2()), topK });
          assert.ok(access.candidates.length > 0 && access.candidates.every((c) => c.subject.startsWith('decoy-')));
        };

        test('with the exact index', async () => {
          await check(service, 1);
          await check(service, 3);
          assert.equal(service.search.kindOf(crowd), 'exact');
        });

        test('with the HNSW index', async () => {
          const other = await openTestService(store.location, { hnswAbove: 20 }, now);
          try {
            await check(other.service, 1);
            await check(other.service, 3);
            assert.equal(other.service.search.kindOf(crowd), 'hnsw');
          } finally {
            await other.service.close();
          }
        });
      });
    });

    describe('finding 5: times are instants', () => {
      let times: string;
      before(async () => {
        times = (await service.createGallery(client, { name: 'times' })).id;
      });
      const consent = (subject: string, givenAt: string, expiresAt?: string) => service.people.recordConsent(client, {
        galleryId: times, subject, noticeVersion: 'v1', purposes: [ACCESS], method: 'written', givenAt, ...(expiresAt ? { expiresAt } : {}),
      });

      test('a consent given "now" in whole seconds is accepted at once', async () => {
        pinned = Math.floor(Date.now() / 1000) * 1000 + 500; // half a second into the second the client gives
        try {
          const givenNow = new Date(Math.floor(pinned / 1000) * 1000).toISOString().replace('.000Z', 'Z');
          await consent('now', givenNow);
          await service.enrol(client, { purpose: ACCESS, galleryId: times, subject: 'now', images: [image(faces.colin1())] });
        } finally {
          pinned = undefined;
        }
      });

      test('givenAt written at +01:00 ten minutes ago is accepted, and stored in UTC', async () => {
        const clock = Date.now();
        const c = await consent('paris', withOffset(clock - 10 * MIN, 60));
        assert.equal(c.givenAt, new Date(Math.floor((clock - 10 * MIN) / 1000) * 1000).toISOString());
        await service.enrol(client, { purpose: ACCESS, galleryId: times, subject: 'paris', images: [image(faces.serena1())] });
      });

      test('expiresAt one hour ago written at +05:00 is refused at enrolment, and nothing is held', async () => {
        const clock = Date.now();
        // +05:00 makes the text sort after the present, an hour after the instant has passed.
        const c = await consent('karachi', withOffset(clock - 2 * 60 * MIN, 300), withOffset(clock - 60 * MIN, 300));
        assert.equal(c.expiresAt, new Date(Math.floor((clock - 60 * MIN) / 1000) * 1000).toISOString());
        await refused(service.enrol(client, { purpose: ACCESS, galleryId: times, subject: 'karachi', images: [image(faces.hugo1())] }), 'consent_required');
        assert.equal(await db.one(`SELECT id FROM subjects WHERE gallery_id = $1 AND ref = 'karachi'`, [times]), undefined);
      });

      test('unparseable or offset-less times are refused, naming the field, everywhere a client gives one', async () => {
        const clock = Date.now();
        for (const [field, work] of [
          ['givenAt', consent('x', 'yesterday')],
          ['givenAt', consent('x', '2026-12-01T10:00:00')],
          ['expiresAt', consent('x', new Date(clock - MIN).toISOString(), 'soon')],
          ['purposeEndsAt', service.createGallery(client, { name: 'bad-end', purposeEndsAt: 'next year' })],
          ['authority.expiresAt', service.identify(client, { purpose: ACCESS, authority: { kind: 'warrant', reference: 'W1', issuer: 'court', expiresAt: '31/12/2026' }, galleryId: times, probe: image(faces.colin2()) })],
        ] as const) {
          const e = await refused(work, 'invalid_request');
          assert.ok(e.message.startsWith(`${field}: `), `${field}: ${e.message}`);
        }
        assert.equal(Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM consents WHERE subject_ref = 'x'`))!.n), 0);
        // The audit log's time filter: a bound at +05:00 is the same instant as its UTC form; garbage is refused.
        const bound = clock - 30 * MIN;
        const utc = await auditPage(db, { from: new Date(bound).toISOString() }, 0, 1000);
        const east = await auditPage(db, { from: withOffset(bound, 300, false) }, 0, 1000);
        assert.ok(utc.length > 0);
        assert.deepEqual(east.map((e) => e.seq), utc.map((e) => e.seq));
        await refused(auditPage(db, { to: 'tomorrow' }, 0, 10), 'invalid_request');
        const app = await buildApp(service);
        try {
          const r = await app.inject({
            method: 'POST', url: `/v1/galleries/${times}/subjects/y/consents`, headers: { authorization: `Bearer ${clientSecret}`, 'content-type': 'application/json' },
            payload: JSON.stringify({ noticeVersion: 'v1', purposes: [ACCESS], method: 'written', givenAt: 'not a time' }),
          });
          assert.equal(r.statusCode, 400);
          assert.equal(r.json().error.code, 'invalid_request');
          assert.match(r.json().error.message, /givenAt/);
        } finally {
          await app.close();
        }
      });

      test('a gallery purpose end given with an offset is stored in UTC and purged at its instant', async () => {
        const clock = Date.now();
        const g = await service.createGallery(client, { name: 'event', purposeEndsAt: withOffset(clock + 60 * MIN, -300) });
        assert.equal(g.retention.purposeEndsAt, new Date(Math.floor((clock + 60 * MIN) / 1000) * 1000).toISOString());
        await consentTo(service, client, g.id, ['guest'], ACCESS);
        await service.enrol(client, { purpose: ACCESS, galleryId: g.id, subject: 'guest', images: [image(faces.gloria1())] });
        const operator = await service.authenticate(adminSecret);
        const before = (await service.report.render(operator, 'md')).usage;
        assert.deepEqual((await service.people.purge(new Date(clock + 59 * MIN))).filter((r) => r.gallery === g.id), []);
        assert.deepEqual((await service.people.purge(new Date(clock + 61 * MIN))).filter((r) => r.gallery === g.id).map((r) => r.reason), ['purpose_ended']);
        const after = (await service.report.render(operator, 'md')).usage;
        assert.equal(after.subjectsPurged - before.subjectsPurged, 1, 'a purpose end is the retention schedule');
        assert.equal(after.subjectsErasedAtConsentEnd, before.subjectsErasedAtConsentEnd);
      });
    });

    describe('second red team, finding 2: a legal authority is one, and in force, or it is no basis', () => {
      const L = 'investigative_leads';
      let caller: Caller;
      let g: string;
      const warrant = (expiresAt: string) => ({ kind: 'warrant' as const, reference: 'W-2026-7', issuer: 'District court', expiresAt });

      before(async () => {
        // An organisation under no law that requires an authority: what it states must still hold.
        const agency = await onboard(service, adminSecret, { name: 'tribunal-unit', sector: 'public_sector', jurisdictions: ['other'] }, [L]);
        const admin = await service.authenticate(adminSecret);
        await service.access.decideApplication(admin, { applicationId: agency.application.id, useCase: L, decision: 'approve', reason: 'statutory powers reviewed' });
        caller = await service.authenticate((await service.access.createKey(admin, { organisationId: agency.organisationId, roles: ['client'], label: 'desk', useCases: [L] })).secret);
        g = (await service.createGallery(caller, { name: 'list' })).id;
      });

      test('a search stating an expired warrant is refused and logged, not recorded as its basis', async () => {
        const e = await refused(service.identify(caller, { purpose: L, authority: warrant('2020-01-01T00:00:00Z'), galleryId: g, probe: image(faces.colin2()) }), 'legal_authority_expired', /access\/authority-in-force/);
        assert.match(e.message, /W-2026-7 expired at 2020-01-01T00:00:00.000Z/);
        assert.equal((await lastAuditEntry(db, 'identify', 'refused')).result.code, 'legal_authority_expired');
        const incomplete = await refused(service.identify(caller, { purpose: L, authority: { kind: 'warrant', reference: 'W-1' }, galleryId: g, probe: image(faces.colin2()) }), 'legal_authority_required', /access\/authority-in-force/);
        assert.match(incomplete.message, /needs its reference, issuer and expiry/);
      });

      test('nobody is put on a watch list without an authority', async () => {
        await refused(service.enrol(caller, { purpose: L, galleryId: g, subject: 'no-basis', images: [image(faces.serena1())] }), 'legal_authority_required', /enrolment\/legal-authority/);
        await refused(service.enrol(caller, { purpose: L, authority: warrant(new Date(Date.now() - 1000).toISOString()), galleryId: g, subject: 'no-basis', images: [image(faces.serena1())] }), 'legal_authority_expired');
        assert.equal(await db.one(`SELECT id FROM subjects WHERE gallery_id = $1 AND ref = 'no-basis'`, [g]), undefined, 'no subject row was left');
      });

      test('on a moved clock: a person enrolled under a warrant is searched while it lasts and left out from the instant it expires', async () => {
        const expiresAt = new Date(Date.now() + 10 * MIN).toISOString();
        await service.enrol(caller, { purpose: L, authority: warrant(expiresAt), galleryId: g, subject: 'listed', images: [image(faces.colin1())] });
        const search = { purpose: L, authority: { kind: 'exigency' as const, reason: 'a person is missing and in danger tonight' }, galleryId: g, probe: image(faces.colin2()) };
        const during = await service.identify(caller, search);
        assert.equal(during.outcome, 'review_required', 'found while the warrant lasts');
        assert.equal(during.excludedByPurpose, 0);
        pinned = Date.parse(expiresAt);
        try {
          const after = await service.identify(caller, search);
          assert.equal(after.outcome, 'review_required', 'the same answer as while the warrant lasted (sixth outside test)');
          assert.equal(after.excludedByPurpose, 1);
          const left = await db.one<{ candidates: string }>(`SELECT candidates FROM review_cases WHERE id = $1`, [after.review.case!]);
          assert.deepEqual(JSON.parse(left!.candidates), [], 'nobody to review: the only person listed is left out');
          // A renewed warrant, stated at a new enrolment, is what the listing rests on from then.
          await service.enrol(caller, { purpose: L, authority: warrant(new Date(pinned + 30 * MIN).toISOString()), galleryId: g, subject: 'listed', images: [image(faces.colin3())] });
          assert.equal((await service.identify(caller, search)).excludedByPurpose, 0);
        } finally {
          pinned = undefined;
        }
        // The warrant a person is listed under names them: it goes with their erasure.
        assert.equal(Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM enrolment_authorities WHERE reference = 'W-2026-7'`))!.n), 1);
        await service.eraseSubject(caller, g, 'listed');
        assert.equal(Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM enrolment_authorities WHERE reference = 'W-2026-7'`))!.n), 0);
      });
    });

    describe('finding 6: consent ends at its instant', () => {
      test('on a moved clock: an expired consent removes the subject from identify and verify at that moment, and erases them with a receipt', async () => {
        const clock = Date.now();
        const g = (await service.createGallery(client, { name: 'short-stay' })).id;
        const expiresAt = new Date(clock + 10 * MIN).toISOString();
        await consentTo(service, client, g, ['ann', 'bea'], ACCESS, expiresAt);
        await service.enrol(client, { purpose: ACCESS, galleryId: g, subject: 'ann', images: [image(faces.serena1())] });
        await service.enrol(client, { purpose: ACCESS, galleryId: g, subject: 'bea', images: [image(faces.colin1())] });
        assert.equal((await service.identify(client, { purpose: ACCESS, galleryId: g, probe: image(faces.serena2()) })).candidates[0]?.subject, 'ann');
        assert.equal((await service.verify(client, { purpose: ACCESS, galleryId: g, subject: 'bea', probe: image(faces.colin2()) })).match, true);
        const operator = await service.authenticate(adminSecret);
        const before = (await service.report.render(operator, 'md')).usage;
        pinned = Date.parse(expiresAt); // the very instant it expires
        try {
          const v = await refused(service.verify(client, { purpose: ACCESS, galleryId: g, subject: 'bea', probe: image(faces.colin2()) }), 'purpose_not_covered');
          assert.match(v.message, /has expired/);
          const search = await service.identify(client, { purpose: ACCESS, galleryId: g, probe: image(faces.serena2()) });
          assert.equal(search.outcome, 'no_match');
          assert.ok(!JSON.stringify(search).includes('ann'));
          // Both erased without waiting for the purge, each with its receipt.
          assert.equal(Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM templates WHERE gallery_id = $1`, [g]))!.n), 0);
          const receipts = (await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"purge"%' AND body LIKE $1`, [`%"galleryId":"${g}"%`])).map((r) => JSON.parse(r.body));
          assert.deepEqual(receipts.map((r) => [r.subject, r.result.reason, r.result.templatesErased, r.result.when]).sort(), [['ann', 'consent_expired', 1, 'at_search'], ['bea', 'consent_expired', 1, 'at_search']]);
          assert.ok((await lastAuditEntry(db, 'identify')).result.erasedAtSearch.length === 1);
          assert.deepEqual((await service.people.purge()).filter((r) => r.gallery === g), [], 'nothing left for the purge');
          const { usage, text } = await service.report.render(operator, 'md');
          assert.equal(usage.subjectsErasedAtConsentEnd - before.subjectsErasedAtConsentEnd, 2, 'both counted as erased when their consent ended');
          assert.equal(usage.subjectsPurged, before.subjectsPurged, 'not as purged by the retention schedule');
          assert.match(text, new RegExp(`${usage.subjectsErasedAtConsentEnd} subjects erased by the system when their consent ended`));
        } finally {
          pinned = undefined;
        }
      });

      test('on a moved clock: a withdrawal of the only consent for a purpose removes the subject from that purpose at once', async () => {
        const g = (await service.createGallery(client, { name: 'two-purposes' })).id;
        await consentTo(service, client, g, ['cat'], ACCESS);
        const [tagging] = await consentTo(service, client, g, ['cat'], TAGGING);
        await service.enrol(client, { purpose: ACCESS, galleryId: g, subject: 'cat', images: [image(faces.gloria1())] });
        assert.equal((await service.identify(client, { purpose: TAGGING, galleryId: g, probe: image(faces.gloria1()) })).candidates[0]?.subject, 'cat');
        await service.people.withdrawConsent(client, { galleryId: g, subject: 'cat', consentId: tagging! });
        assert.equal((await service.identify(client, { purpose: TAGGING, galleryId: g, probe: image(faces.gloria1()) })).candidates.length, 0);
        assert.equal((await service.identify(client, { purpose: ACCESS, galleryId: g, probe: image(faces.gloria1()) })).candidates[0]?.subject, 'cat', 'the building-access consent still stands');
      });

      test('with a real expiry two seconds ahead: the templates are erased at that time, with no search and no purge run', async () => {
        const real = await openTestService(store.location);
        try {
          const caller = await real.service.authenticate(clientSecret);
          const g = (await real.service.createGallery(caller, { name: 'two-seconds' })).id;
          const expiresAt = Date.now() + 2000;
          await real.service.people.recordConsent(caller, { galleryId: g, subject: 'dee', noticeVersion: 'v1', purposes: [ACCESS], method: 'written', givenAt: new Date(Date.now() - MIN).toISOString(), expiresAt: new Date(expiresAt).toISOString() });
          await real.service.enrol(caller, { purpose: ACCESS, galleryId: g, subject: 'dee', images: [image(faces.hugo1())] });
          // Waiting for the consent to end, not measuring anything: the erasure must follow it without being asked.
          let row: unknown = {};
          for (let i = 0; i < 100 && row; i++) {
            await new Promise((r) => setTimeout(r, 200));
            row = await db.one(`SELECT id FROM subjects WHERE gallery_id = $1 AND ref = 'dee'`, [g]);
          }
          assert.equal(row, undefined, 'the subject was erased when the consent expired');
          assert.ok(Date.now() >= expiresAt);
          const receipt = (await db.all<{ body: string; at: string }>(`SELECT body, at FROM audit_log WHERE body LIKE '%"action":"purge"%' AND body LIKE $1`, [`%"galleryId":"${g}"%`]));
          assert.equal(receipt.length, 1);
          assert.equal(JSON.parse(receipt[0]!.body).result.reason, 'consent_expired');
          assert.ok(Date.parse(receipt[0]!.at) >= expiresAt, 'not before the consent ended');
        } finally {
          await real.service.close();
        }
      });
    });

    describe('finding 7: a "no match" names nobody', () => {
      test('identify returns only candidates who clear the threshold; a search nobody clears returns no subject and no score', async () => {
        const g = (await service.createGallery(client, { name: 'names' })).id;
        await consentTo(service, client, g, ['colin', 'serena', 'gloria'], ACCESS);
        for (const [s, b] of [['colin', faces.colin1()], ['serena', faces.serena1()], ['gloria', faces.gloria1()]] as const) await service.enrol(client, { purpose: ACCESS, galleryId: g, subject: s, images: [image(b)] });
        const nobody = await service.identify(client, { purpose: ACCESS, galleryId: g, probe: image(faces.hugo1()), topK: 3 });
        assert.equal(nobody.outcome, 'no_match');
        assert.deepEqual(nobody.candidates, []);
        for (const name of ['colin', 'serena', 'gloria']) assert.ok(!JSON.stringify(nobody).includes(name), `${name} is not named`);
        assert.equal((await lastAuditEntry(db, 'identify')).result.candidates, 0);
        const app = await buildApp(service);
        try {
          const r = await app.inject({
            method: 'POST', url: `/v1/galleries/${g}/identify`, headers: { authorization: `Bearer ${clientSecret}`, 'content-type': 'application/json' },
            payload: JSON.stringify({ purpose: ACCESS, image: faces.hugo1().toString('base64'), topK: 3 }),
          });
          assert.equal(r.statusCode, 200);
          assert.deepEqual(r.json().candidates, []);
          assert.ok(!/colin|serena|gloria/.test(r.body));
        } finally {
          await app.close();
        }
        const some = await service.identify(client, { purpose: ACCESS, galleryId: g, probe: image(faces.colin2()), topK: 3 });
        assert.deepEqual(some.candidates.map((c) => [c.subject, c.match]), [['colin', true]], 'only the one who clears it');
      });

      test('ranked leads are refused for a use case that does not provide them', async () => {
        await refused(service.identify(client, { purpose: ACCESS, galleryId, probe: image(faces.hugo1()), candidateList: 'ranked_leads' }), 'policy_refused', /disclosure\/threshold-only/);
        assert.equal((await lastAuditEntry(db, 'identify', 'refused')).result.code, 'policy_refused');
      });

      test('ranked leads for investigative leads go to reviewers only, never to the requester', async () => {
        const L = 'investigative_leads';
        const agency = await onboard(service, adminSecret, { name: 'inspectorate', sector: 'public_sector', jurisdictions: ['other'] }, [L]);
        const admin = await service.authenticate(adminSecret);
        await service.access.decideApplication(admin, { applicationId: agency.application.id, useCase: L, decision: 'approve', reason: 'statutory inspection powers' });
        const caller = await service.authenticate((await service.access.createKey(admin, { organisationId: agency.organisationId, roles: ['client'], label: 'desk', useCases: [L] })).secret);
        const reviewer = (await reviewerKey(service, admin, agency.organisationId, 'reviewer', [L])).caller;
        const g = (await service.createGallery(caller, { name: 'records' })).id;
        const order = { kind: 'court_order' as const, reference: 'CO-17', issuer: 'Inspectorate tribunal', expiresAt: new Date(Date.now() + 30 * 86_400_000).toISOString() };
        for (const [s, b] of [['r-1', faces.colin1()], ['r-2', faces.serena1()]] as const) await service.enrol(caller, { purpose: L, authority: order, galleryId: g, subject: s, images: [image(b)] });
        const plain = await service.identify(caller, { purpose: L, galleryId: g, probe: image(faces.hugo1()) });
        assert.equal(plain.outcome, 'review_required', 'a case whoever clears (sixth outside test)');
        const plainCase = (await service.reviews.queue(reviewer)).find((c) => c.id === plain.review.case)! as { candidates: unknown[] };
        assert.deepEqual(plainCase.candidates, [], 'by default nobody is put before a reviewer on a score below the threshold');
        const leads = await service.identify(caller, { purpose: L, galleryId: g, probe: image(faces.hugo1()), candidateList: 'ranked_leads' });
        assert.equal(leads.outcome, 'review_required');
        assert.deepEqual(leads.candidates, []);
        assert.ok(!/r-1|r-2/.test(JSON.stringify(leads)));
        const item = (await service.reviews.queue(reviewer)).find((c) => c.id === leads.review.case)! as { candidates: { subject: string; match: boolean }[] };
        assert.deepEqual(item.candidates.map((c) => c.subject).sort(), ['r-1', 'r-2']);
        assert.ok(item.candidates.every((c) => c.match === false), 'the reviewer sees they are below the threshold');
        assert.equal((await lastAuditEntry(db, 'identify')).result.candidateList, 'ranked_leads');
        // Rejecting a lead below the threshold agrees with the engine: the report must not count it as overturned.
        const before = (await service.report.render(admin, 'md')).usage;
        await service.reviews.decide(reviewer, { caseId: leads.review.case!, subject: 'r-1', decision: 'reject', reason: 'not the person' });
        const entry = await lastAuditEntry(db, 'decide_review');
        assert.equal(entry.result.overturned, false);
        assert.equal(entry.result.clearedThreshold, false);
        const after = (await service.report.render(admin, 'md')).usage;
        assert.equal(after.candidatesOverturned, before.candidatesOverturned, 'a rejected lead below the threshold overturns nothing');
      });
    });
  });
}
