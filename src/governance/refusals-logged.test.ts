/**
 * Second red team, finding 13: "refusals are logged too". Reaching for another organisation's
 * gallery through the non-biometric routes (read it, list or read its subjects, delete it), and
 * asking for a review outcome to be sent into the operator's network, were refused but left no
 * trace. Each attempt here must leave a refused entry naming the caller's organisation.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Db } from '../gallery/db.js';
import type { ProbityService } from '../service/probity-service.js';
import { lastAuditEntry } from '../testing/audit-entries.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { refused } from '../testing/refusals.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import type { Caller } from './api-keys.js';

const ACCESS = 'building_access';

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `refusals leave a trace on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let intruder: Caller;
    let owner: Caller;
    let theirs: string;

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location));
      const adminSecret = (await service.access.bootstrapAdmin())!.secret;
      ({ caller: intruder } = await onboard(service, adminSecret, { name: 'intruder', sector: 'nonprofit', jurisdictions: ['other'] }, [ACCESS]));
      ({ caller: owner } = await onboard(service, adminSecret, { name: 'owner', sector: 'employer', jurisdictions: ['other'] }, [ACCESS]));
      theirs = (await service.createGallery(owner, { name: 'staff' })).id;
      await consentTo(service, owner, theirs, ['colin'], ACCESS);
      await service.enrol(owner, { purpose: ACCESS, galleryId: theirs, subject: 'colin', images: [{ label: 'image', bytes: faces.colin1() }] });
    });
    after(async () => {
      await service.close();
      await store.drop();
    });

    const attempts: [string, () => Promise<unknown>][] = [
      ['read_gallery', () => service.getGallery(intruder, theirs)],
      ['list_subjects', () => service.listSubjects(intruder, theirs, { limit: 10 })],
      ['read_subject', () => service.getSubject(intruder, theirs, 'colin')],
      ['delete_gallery', () => service.deleteGallery(intruder, theirs)],
      ['erase_subject', () => service.eraseSubject(intruder, theirs, 'colin')],
      ['subject_access', () => service.people.subjectAccessReport(intruder, theirs, 'colin')],
      ['subject_access', () => service.people.listConsents(intruder, theirs, 'colin')],
      ['record_consent', () => service.people.recordConsent(intruder, { galleryId: theirs, subject: 'colin', noticeVersion: 'v1', purposes: [ACCESS], method: 'written', givenAt: new Date().toISOString() })],
    ];
    for (const [action, attempt] of attempts) {
      test(`another organisation's gallery: ${action} is refused and logged`, async () => {
        // Answered as a missing gallery (issue 22, finding 8); the log still records the attempt.
        const e = await refused(attempt(), 'not_found');
        assert.equal(e.message, `no gallery ${theirs}`);
        const entry = await lastAuditEntry(db, action, 'refused');
        assert.ok(entry, `no refused ${action} entry`);
        assert.equal(entry.organisationId, intruder.organisationId);
        assert.equal(entry.keyId, intruder.keyId);
        assert.equal(entry.result.code, 'not_found');
        assert.match(String(entry.result.reason), /belongs to another organisation/);
      });
    }

    test('the gallery is untouched by the attempts', async () => {
      assert.equal((await service.getGallery(owner, theirs)).subjects, 1);
      assert.equal((await service.people.listConsents(owner, theirs, 'colin')).length, 1);
    });

    test('a review outcome asked to be sent into the operator\'s network is refused and logged', async () => {
      const mine = (await service.createGallery(intruder, { name: 'search' })).id;
      await service.webhooks.rotateSecret(intruder);
      const e = await refused(service.identify(intruder, { purpose: ACCESS, galleryId: mine, probe: { label: 'image', bytes: faces.colin2() }, callbackUrl: 'https://169.254.169.254/latest' }), 'callback_url_refused');
      assert.match(e.message, /link-local|linkLocal|not a public/i);
      const entry = await lastAuditEntry(db, 'identify', 'refused');
      assert.equal(entry.result.code, 'callback_url_refused');
      assert.equal(entry.purpose, ACCESS);
      assert.equal(entry.organisationId, intruder.organisationId);
    });
  });
}
