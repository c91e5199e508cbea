/**
 * Every face in a frame (issue 16): `faces: "all"` searches each face of the image on its own.
 * Each test mounts an attack on it (more searches than a request may make, a face released
 * without review, a forbidden or one-to-one purpose gaining 1:N, a subject found for a purpose
 * they did not consent to, a weak face searched) and fails if the attack succeeds.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { after, before, describe, test } from 'node:test';
import type { Db } from '../gallery/db.js';
import type { Caller } from '../governance/api-keys.js';
import { buildApp } from '../server/app.js';
import type { ProbityService } from './probity-service.js';
import { lfwImage, sampleImage, skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService, registerReviewer } from '../testing/service-fixture.js';
import { lastAuditEntry } from '../testing/audit-entries.js';
import { suiteUnless } from '../testing/suite.js';
import { refused } from '../testing/refusals.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });
const ACCESS = 'building_access';
const TAGGING = 'photo_library_tagging';
const SIGN_IN = 'sign_in_verification';
const MISSING = 'missing_person_search';
/** Tony Blair alone, and George W. Bush alone: the two people of `faces.tonyWithOther`. */
const tony = () => readFileSync(lfwImage('Tony_Blair', 2));
const bush = () => readFileSync(lfwImage('George_W_Bush', 1));

/** Which subject each face of the answer names, in the answer's order ('-' for none). */
const named = (r: { faces: { candidates: { subject: string }[] }[] }) => r.faces.map((f) => f.candidates.map((c) => c.subject).join(',') || '-');

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `every face in a frame on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let adminSecret: string;
    let client: Caller;
    let clientSecret: string;
    let galleryId: string;

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location));
      adminSecret = (await service.access.bootstrapAdmin())!.secret;
      ({ caller: client, secret: clientSecret } = await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [ACCESS, TAGGING, SIGN_IN]));
      galleryId = (await service.createGallery(client, { name: 'staff' })).id;
      // Each consented to one purpose only.
      await consentTo(service, client, galleryId, ['tony'], ACCESS);
      await consentTo(service, client, galleryId, ['bush'], TAGGING);
      await service.enrol(client, { purpose: ACCESS, galleryId, subject: 'tony', images: [image(tony())] });
      await service.enrol(client, { purpose: TAGGING, galleryId, subject: 'bush', images: [image(bush())] });
    });
    after(async () => {
      await service.close();
      await store.drop();
    });

    test('each face gets its own box, quality and outcome; one audit entry counts the faces and outcomes, never a box, a template or a name', async () => {
      const frame = await service.identify(client, { purpose: ACCESS, galleryId, probe: image(faces.tonyWithOther()), faces: 'all' });
      assert.equal(frame.facesInImage, 2);
      assert.equal(frame.facesSearched, 2);
      assert.equal(frame.faces.length, 2);
      assert.notDeepEqual(frame.faces[0]!.box, frame.faces[1]!.box, 'two faces, two boxes');
      for (const f of frame.faces) assert.ok(f.box.width > 0 && ['low', 'medium', 'high'].includes(f.quality.level));
      // Tony is found in his face only; Bush consented to tagging, not to building access, so his face names no one.
      assert.deepEqual(frame.faces.map((f) => f.outcome).sort(), ['candidates', 'no_match']);
      assert.deepEqual(named(frame).sort(), ['-', 'tony']);
      const tonyFace = frame.faces.find((f) => f.outcome === 'candidates')!;
      assert.ok(tonyFace.box.x < frame.faces.find((f) => f.outcome === 'no_match')!.box.x, 'Tony is the left-hand face of the photograph');
      assert.equal(frame.excludedByPurpose, 1);
      assert.equal((frame as { review?: unknown }).review, undefined, 'no single-face fields in a frame answer');

      const entry = await lastAuditEntry(db, 'identify');
      assert.equal(entry.purpose, ACCESS);
      assert.equal(entry.inputHashes.length, 1);
      assert.equal(entry.result.faces, 'all');
      assert.equal(entry.result.frame.facesInImage, 2);
      assert.equal(entry.result.frame.facesSearched, 2);
      assert.deepEqual(entry.result.frame.byOutcome, { candidates: 1, no_match: 1 });
      assert.deepEqual(entry.result.frame.perFace.map((f: { outcome: string }) => f.outcome), frame.faces.map((f) => f.outcome));
      assert.equal(entry.result.candidates, 1);
      const stored = JSON.stringify(entry);
      assert.ok(!/tony|bush|"box"|"x":|vector|aligned/i.test(stored), `the entry holds counts only: ${stored}`);

      // For the purpose Bush consented to, his face is found and Tony's names no one.
      const tagging = await service.identify(client, { purpose: TAGGING, galleryId, probe: image(faces.tonyWithOther()), faces: 'all' });
      assert.deepEqual(named(tagging).sort(), ['-', 'bush']);
      assert.ok(!JSON.stringify(tagging).includes('tony'));
    });

    test('the accountability report counts every face searched, not only requests', async () => {
      const admin = await service.authenticate(adminSecret);
      const before = (await service.report.render(admin, 'md')).usage;
      await service.identify(client, { purpose: ACCESS, galleryId, probe: image(faces.tonyWithOther()), faces: 'all' });
      await service.identify(client, { purpose: ACCESS, galleryId, probe: image(faces.tonyWithOther()) });
      const { usage, text } = await service.report.render(admin, 'md');
      assert.equal(usage.identifications - before.identifications, 2, 'two requests');
      assert.equal(usage.facesSearched - before.facesSearched, 3, 'two faces of the frame and the one face of the single-face request');
      assert.match(text, new RegExp(`\\| faces searched by identification \\| ${usage.facesSearched} \\|`));
    });

    test('without faces "all" one face is searched, the best one, and the answer keeps its single-face shape', async () => {
      const one = await service.identify(client, { purpose: ACCESS, galleryId, probe: image(faces.tonyWithOther()) });
      assert.equal(one.face.facesInImage, 2);
      assert.equal(one.candidates.length + (one.outcome === 'no_match' ? 1 : 0), 1);
      assert.ok(one.notes.some((n) => /holds 2 faces; the best was used/.test(n)));
      assert.equal((one as { faces?: unknown }).faces, undefined);
      const entry = await lastAuditEntry(db, 'identify');
      assert.equal(entry.result.faces, undefined);
      assert.equal(entry.result.frame, undefined);
    });

    test('attack: more searches than a request may make. Past maxFacesPerIdentify faces are listed, not searched, and the answer and the log say so', async () => {
      const capped = (await openTestService(store.location, { maxFacesPerIdentify: 1 })).service;
      try {
        const caller = await capped.authenticate(clientSecret);
        const frame = await capped.identify(caller, { purpose: ACCESS, galleryId, probe: image(faces.tonyWithOther()), faces: 'all' });
        assert.equal(frame.facesInImage, 2);
        assert.equal(frame.facesSearched, 1);
        const skipped = frame.faces.filter((f) => f.outcome === 'not_searched');
        assert.equal(skipped.length, 1);
        assert.deepEqual(skipped[0]!.candidates, []);
        assert.ok(!('score' in skipped[0]!), 'a face not searched has no score');
        assert.equal(frame.faces[0]!.outcome === 'not_searched', false, 'the best face is the one searched');
        assert.ok(frame.notes.some((n) => /at most 1 faces are searched per request/.test(n)));
        const entry = await lastAuditEntry(db, 'identify');
        assert.equal(entry.result.frame.facesSearched, 1);
        assert.equal(entry.result.frame.byOutcome.not_searched, 1);
      } finally {
        await capped.close();
      }
      // The default cap holds for a crowd: a frame of 5 faces against a cap of 2 searches 2.
      const two = (await openTestService(store.location, { maxFacesPerIdentify: 2 })).service;
      try {
        const frame = await two.identify(await two.authenticate(clientSecret), { purpose: ACCESS, galleryId, probe: image(readFileSync(sampleImage(5))), faces: 'all' });
        assert.equal(frame.facesInImage, 5);
        assert.equal(frame.facesSearched, 2);
        assert.equal(frame.faces.filter((f) => f.outcome === 'not_searched').length, 3);
      } finally {
        await two.close();
      }
    });

    test('attack: a face below the required quality is searched anyway. It is listed as quality_too_low, with no candidate', async () => {
      // sample2: faces of high, medium and low quality; probes need medium.
      const frame = await service.identify(client, { purpose: ACCESS, galleryId, probe: image(readFileSync(sampleImage(2))), faces: 'all' });
      assert.equal(frame.facesInImage, 3);
      const weak = frame.faces.filter((f) => f.outcome === 'quality_too_low');
      assert.equal(weak.length, 1);
      assert.equal(weak[0]!.quality.level, 'low');
      assert.deepEqual(weak[0]!.candidates, []);
      assert.match(weak[0]!.summary, /low quality, below the medium required/);
      assert.equal(frame.facesSearched, 2);
      assert.equal((await lastAuditEntry(db, 'identify')).result.frame.byOutcome.quality_too_low, 1);
      // A frame with no face at all (the knee of sample 2) is refused as a single-face identify is.
      const knee = await sharp(sampleImage(2)).extract({ left: 900, top: 880, width: 420, height: 400 }).jpeg().toBuffer();
      await refused(service.identify(client, { purpose: ACCESS, galleryId, probe: image(knee), faces: 'all' }), 'no_face');
    });

    test('attack: ranked leads for every face of a frame, for a purpose that has none. Refused before any face is read', async () => {
      await refused(service.identify(client, { purpose: ACCESS, galleryId, probe: image(faces.tonyWithOther()), faces: 'all', candidateList: 'ranked_leads' }), 'policy_refused', /disclosure\/threshold-only/);
      assert.equal((await lastAuditEntry(db, 'identify', 'refused')).result.code, 'policy_refused');
    });

    test('attack: a one-to-one purpose, or a purpose the key lacks, gains 1:N through faces "all". Refused before any face is read, and logged', async () => {
      await refused(service.identify(client, { purpose: SIGN_IN, galleryId, probe: image(faces.tonyWithOther()), faces: 'all' }), 'purpose_mismatch', /use-case-capability/);
      assert.equal((await lastAuditEntry(db, 'identify', 'refused')).purpose, SIGN_IN);
      await refused(service.identify(client, { purpose: MISSING, galleryId, probe: image(faces.tonyWithOther()), faces: 'all' }), 'purpose_not_approved');
      // Under the default policy a police force is refused identification: for every face as for one.
      const police = await onboard(service, adminSecret, { name: 'county-police', sector: 'law_enforcement', jurisdictions: ['other'] }, ['investigative_leads', SIGN_IN]);
      const mugshots = await service.createGallery(police.caller, { name: 'mugshots' });
      await refused(service.identify(police.caller, { purpose: 'investigative_leads', galleryId: mugshots.id, probe: image(faces.tonyWithOther()), faces: 'all' }), 'purpose_not_approved', /access\/key-scope/);
      const logged = await lastAuditEntry(db, 'identify', 'refused');
      assert.equal(logged.organisationId, police.organisationId);
      assert.equal(logged.result.code, 'purpose_not_approved');
      // Verification takes no faces option: a 1:1 request cannot be widened either.
      const app = await buildApp(service);
      try {
        const r = await app.inject({
          method: 'POST', url: '/v1/verify', headers: { authorization: `Bearer ${clientSecret}`, 'content-type': 'application/json' },
          payload: JSON.stringify({ purpose: SIGN_IN, galleryId, subject: 'tony', image: faces.tonyWithOther().toString('base64'), faces: 'all' }),
        });
        assert.equal(r.statusCode, 400);
        assert.match(r.json().error.message, /faces/);
      } finally {
        await app.close();
      }
    });

    test('over HTTP: faces "all" is in the schema and every face reaches the client; a wrong value names the allowed ones', async () => {
      const app = await buildApp(service);
      try {
        const post = (body: Record<string, unknown>) => app.inject({
          method: 'POST', url: `/v1/galleries/${galleryId}/identify`, headers: { authorization: `Bearer ${clientSecret}`, 'content-type': 'application/json' },
          payload: JSON.stringify({ purpose: ACCESS, image: faces.tonyWithOther().toString('base64'), ...body }),
        });
        const r = await post({ faces: 'all' });
        assert.equal(r.statusCode, 200, r.body);
        const body = r.json();
        assert.equal(body.facesSearched, 2);
        assert.deepEqual(body.faces.map((f: { outcome: string }) => f.outcome).sort(), ['candidates', 'no_match']);
        for (const f of body.faces) assert.ok(f.box.width > 0 && f.quality.level && f.summary && f.review.state);
        assert.deepEqual(body.faces.flatMap((f: { candidates: { subject: string }[] }) => f.candidates.map((c) => c.subject)), ['tony']);
        const bad = await post({ faces: 'every' });
        assert.equal(bad.statusCode, 400);
        assert.match(bad.body, /one, all/);
        const spec = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
        assert.deepEqual(spec.paths['/v1/galleries/{galleryId}/identify'].post.requestBody.content['application/json'].schema.properties.faces.enum, ['one', 'all']);
      } finally {
        await app.close();
      }
    });

    describe('a consequential purpose: every face is reviewed', () => {
      let requester: Caller;
      let reviewer: Caller;
      let missing: string;
      const admin = () => service.authenticate(adminSecret);
      before(async () => {
        await service.access.setPolicy(await admin(), ['eu-ai-act']);
        const charity = await onboard(service, adminSecret, { name: 'charity', sector: 'nonprofit', jurisdictions: ['eu'] }, [MISSING]);
        await service.access.decideApplication(await admin(), { applicationId: charity.application.id, useCase: MISSING, decision: 'approve', reason: 'registered charity' });
        const make = async (roles: ('client' | 'reviewer')[], label: string) => {
          const personId = roles.includes('reviewer') ? (await registerReviewer(service, await admin(), charity.organisationId, label)).id : undefined;
          return service.authenticate((await service.access.createKey(await admin(), { organisationId: charity.organisationId, roles, label, useCases: [MISSING], ...(personId ? { personId } : {}) })).secret);
        };
        requester = await make(['client'], 'caseworker');
        reviewer = await make(['reviewer'], 'reviewer');
        missing = (await service.createGallery(requester, { name: 'missing' })).id;
        await consentTo(service, requester, missing, ['tony', 'bush'], MISSING);
        await service.enrol(requester, { purpose: MISSING, galleryId: missing, subject: 'tony', images: [image(tony())] });
        await service.enrol(requester, { purpose: MISSING, galleryId: missing, subject: 'bush', images: [image(bush())] });
      });
      after(async () => {
        await service.access.setPolicy(await admin(), []);
      });

      test('attack: a second face released on a score alone. Each face with candidates is its own pending case; no one is named before review', async () => {
        const frame = await service.identify(requester, { purpose: MISSING, galleryId: missing, probe: image(faces.tonyWithOther()), faces: 'all' });
        assert.deepEqual(frame.faces.map((f) => f.outcome), ['review_required', 'review_required']);
        for (const f of frame.faces) {
          assert.deepEqual(f.candidates, []);
          assert.equal(f.review.state, 'pending');
          assert.equal((f.review as { requiredReviewers: number }).requiredReviewers, 2, 'EU AI Act Art. 14(5): two reviewers, for each face');
        }
        assert.ok(!/tony|bush/.test(JSON.stringify(frame)), 'no candidate named in the answer');
        const cases = frame.faces.map((f) => (f.review as { case: string }).case);
        assert.equal(new Set(cases).size, 2, 'one case per face');
        const queue = await service.reviews.queue(reviewer);
        const items = cases.map((id) => queue.find((c) => c.id === id) as { candidates: { subject: string }[]; probeImage: string } | undefined);
        assert.ok(items.every(Boolean), 'both cases are in the reviewers\' queue');
        assert.deepEqual(items.map((i) => i!.candidates.map((c) => c.subject)).flat().sort(), ['bush', 'tony'], 'each face\'s case holds its own candidate');
        assert.notEqual(items[0]!.probeImage, items[1]!.probeImage, 'each case shows the reviewer its own face');
        for (const id of cases) assert.equal(((await service.reviews.get(requester, id)) as { outcome: unknown }).outcome, null, 'nothing released');
        const entry = await lastAuditEntry(db, 'identify');
        assert.equal(entry.result.released, false);
        assert.equal(entry.result.candidates, 0);
        assert.equal(entry.result.aboveThreshold, undefined, 'a search sent to review counts no one who cleared the threshold (sixth outside test, third run)');
        assert.deepEqual(entry.result.reviewCases, cases);
        assert.deepEqual(entry.result.frame.byOutcome, { review_required: 2 });
        assert.ok(entry.obligations.includes('require_human_review'));
      });
    });
  });
}
