import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Caller } from '../governance/api-keys.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService } from '../testing/service-fixture.js';

const P = 'building_access';
import type { ProbityService } from './probity-service.js';
import { suiteUnless } from '../testing/suite.js';

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `two service processes on one ${backend} store`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let a: ProbityService;
    let b: ProbityService;
    let client: Caller;
    let galleryId: string;

    before(async () => {
      store = await freshStore(backend);
      a = (await openTestService(store.location)).service;
      b = (await openTestService(store.location)).service;
      const secret = (await a.access.bootstrapAdmin())!.secret;
      const { secret: key } = await onboard(a, secret, { name: 'acme', sector: 'employer', jurisdictions: ['other'] }, [P]);
      client = await b.authenticate(key);
      galleryId = (await a.createGallery(client, { name: 'g' })).id;
      await consentTo(a, client, galleryId, ['colin', 's0', 's1', 's2', 's3'], P);
    });
    after(async () => {
      await a.close();
      await b.close();
      await store.drop();
    });

    test('a subject enrolled on one is found by the very next search on the other, and erased from both', async () => {
      // Each builds its index before the other writes, so only the change log can tell it.
      await a.identify(client, { purpose: P, galleryId, probe: { label: 'p', bytes: faces.hugo1() } });
      await b.identify(client, { purpose: P, galleryId, probe: { label: 'p', bytes: faces.hugo1() } });
      await a.enrol(client, { purpose: P, galleryId, subject: 'colin', images: [{ label: 'i', bytes: faces.colin1() }] });
      const onB = await b.identify(client, { purpose: P, galleryId, probe: { label: 'p', bytes: faces.colin2() } });
      assert.equal(onB.candidates[0]?.subject, 'colin');
      assert.equal(onB.candidates[0]?.match, true);
      await b.eraseSubject(client, galleryId, 'colin');
      const onA = await a.identify(client, { purpose: P, galleryId, probe: { label: 'p', bytes: faces.colin2() } });
      assert.equal(onA.candidates.length, 0);
      assert.equal(onA.outcome, 'no_match');
    });

    test('concurrent enrolments from both keep every template and a consistent audit chain', async () => {
      const jobs = [faces.serena1(), faces.gloria1(), faces.hugo1(), faces.colin3()].map((bytes, i) =>
        (i % 2 ? a : b).enrol(client, { purpose: P, galleryId, subject: `s${i}`, images: [{ label: 'i', bytes }] }));
      await Promise.all(jobs);
      const listed = await a.listSubjects(client, galleryId, { limit: 10 });
      assert.deepEqual(listed.items.map((s) => s.subject), ['s0', 's1', 's2', 's3']);
      const rows = await a.db.all<{ seq: number }>(`SELECT seq FROM audit_log ORDER BY seq`);
      assert.deepEqual(rows.map((r) => Number(r.seq)), rows.map((_, i) => i + 1), 'audit sequence has no gaps or duplicates');
      const found = await b.identify(client, { purpose: P, galleryId, probe: { label: 'p', bytes: faces.serena2() } });
      assert.equal(found.candidates[0]?.subject, 's0');
    });
  });
}

suiteUnless(skipWithoutLfw, 'a gallery large enough for the approximate index', () => {
  test('identification through HNSW rescored from storage, and erasure from it', async () => {
    const store = await freshStore('sqlite');
    // Promote to HNSW above two templates, so that a small gallery exercises the large-gallery path.
    const { service } = await openTestService(store.location, { hnswAbove: 2 });
    try {
      const secret = (await service.access.bootstrapAdmin())!.secret;
      const { caller } = await onboard(service, secret, { name: 'big', sector: 'employer', jurisdictions: ['other'] }, [P]);
      const galleryId = (await service.createGallery(caller, { name: 'g' })).id;
      const people = { colin: faces.colin1(), serena: faces.serena1(), gloria: faces.gloria1(), hugo: faces.hugo1() };
      await consentTo(service, caller, galleryId, Object.keys(people), P);
      for (const [subject, bytes] of Object.entries(people)) await service.enrol(caller, { purpose: P, galleryId, subject, images: [{ label: 'i', bytes }] });
      const found = await service.identify(caller, { purpose: P, galleryId, probe: { label: 'p', bytes: faces.colin2() } });
      assert.equal(service.search.kindOf(galleryId), 'hnsw');
      assert.equal(found.candidates[0]?.subject, 'colin');
      const direct = await service.verify(caller, { purpose: P, galleryId, subject: 'colin', probe: { label: 'p', bytes: faces.colin2() } });
      assert.ok(Math.abs(found.candidates[0]!.score - direct.score) < 1e-6, 'rescored from storage: the exact score, as verify gives it');
      await service.eraseSubject(caller, galleryId, 'colin');
      const after = await service.identify(caller, { purpose: P, galleryId, probe: { label: 'p', bytes: faces.colin2() } });
      assert.ok(!after.candidates.some((c) => c.subject === 'colin'));
    } finally {
      await service.close();
      await store.drop();
    }
  });
});
