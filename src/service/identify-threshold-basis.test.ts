/**
 * An identification answer says, in fields a client can act on, where its threshold came from
 * and whether the target FPIR holds for the gallery searched (issue 14): a client that reads only
 * `threshold` must not take a search the calibration cannot speak for as one it can.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Db } from '../gallery/db.js';
import type { Caller } from '../governance/api-keys.js';
import type { ProbityService } from './probity-service.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { lastAuditEntry } from '../testing/audit-entries.js';
import { suiteUnless } from '../testing/suite.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });
const ACCESS = 'building_access';

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `where an identification threshold comes from, on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let adminSecret: string;
    let client: Caller;
    let galleryId: string;

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location));
      adminSecret = (await service.access.bootstrapAdmin())!.secret;
      ({ caller: client } = await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [ACCESS]));
      galleryId = (await service.createGallery(client, { name: 'staff' })).id;
      await consentTo(service, client, galleryId, ['colin', 'serena'], ACCESS);
      await service.enrol(client, { purpose: ACCESS, galleryId, subject: 'colin', images: [image(faces.colin1())] });
      await service.enrol(client, { purpose: ACCESS, galleryId, subject: 'serena', images: [image(faces.serena1())] });
    });
    after(async () => {
      await service.close();
      await store.drop();
    });

    test('within the measured range the answer and its audit entry say "measured" and that the FPIR holds', async () => {
      const r = await service.identify(client, { purpose: ACCESS, galleryId, probe: image(faces.colin2()) });
      assert.equal(r.gallerySize, 2);
      assert.equal(r.thresholdBasis, 'measured');
      assert.equal(r.fpirPromised, true);
      const entry = await lastAuditEntry(db, 'identify');
      assert.equal(entry.result.thresholdBasis, 'measured');
      assert.equal(entry.result.fpirPromised, true);
    });

    test('below the measured range the threshold is the tail model\'s, and the answer says so', async () => {
      // Two templates at FPIR 1e-6 need a per-comparison FMR of 5e-7, below the table's 1e-6.
      const r = await service.identify(client, { purpose: ACCESS, galleryId, probe: image(faces.colin2()), fpir: 1e-6 });
      assert.equal(r.thresholdBasis, 'tail-model');
      assert.equal(r.fpirPromised, true);
      assert.ok(r.comparisonFmr < 1e-6);
      assert.ok(r.notes.some((n) => /extrapolated by the calibration's fitted impostor tail model/.test(n)), r.notes.join(' | '));
      assert.match(r.operatingPoint.meaning, /below what lfw's impostor pairs measure well \(point estimates down to 1e-5\): extrapolated by the impostor tail model fitted to the whole tail/, 'the rate is not presented as measured');
      // The basis, truthfully: the whole tail, the pairs set aside named as not impostors, relatives kept.
      assert.ok(r.notes.some((n) => /fitted to the whole tail .*people resampled.*identity pair\(s\) judged to be one person under two names were left out .*relatives kept/.test(n)), r.notes.join(' | '));
    });

    test('where nothing can promise the target the answer, its audit entry and the accountability report say so', async () => {
      const admin = await service.authenticate(adminSecret);
      const before = (await service.report.render(admin, 'md')).usage;
      // Per group no rate is extrapolated below the measured 1e-6, so equal protection at 5e-7 cannot be promised.
      const r = await service.identify(client, { purpose: ACCESS, galleryId, probe: image(faces.colin2()), fpir: 1e-6, operatingPoint: 'equal_protection' });
      assert.equal(r.operatingPoint.name, 'equal_protection');
      assert.equal(r.thresholdBasis, 'beyond-limit');
      assert.equal(r.fpirPromised, false);
      assert.match(r.operatingPoint.meaning, /^no false match rate can be promised/);
      const entry = await lastAuditEntry(db, 'identify');
      assert.equal(entry.result.fpirPromised, false);
      const { usage, text } = await service.report.render(admin, 'md');
      assert.equal(usage.searchesFpirNotPromised - before.searchesFpirNotPromised, 1, 'only the search that could not be promised is counted');
      assert.equal(usage.identifications - before.identifications, 1);
      assert.match(text, new RegExp(`\\| faces searched where the FPIR target could not be promised [^|]*\\| ${usage.searchesFpirNotPromised} \\|`));
      // The report states what 1:N thresholds rest on: the whole tail, with the pairs set aside named.
      assert.match(text, /## 1:N thresholds and what they rest on[\s\S]*model of the whole impostor tail[\s\S]*Set aside from the fit as not impostors/);
    });

    test('a frame searched where the target cannot be promised never says that it holds for each face, and the report counts each face', async () => {
      const admin = await service.authenticate(adminSecret);
      const before = (await service.report.render(admin, 'md')).usage;
      const r = await service.identify(client, { purpose: ACCESS, galleryId, probe: image(faces.tonyWithOther()), faces: 'all', fpir: 1e-6, operatingPoint: 'equal_protection' });
      assert.equal(r.facesSearched, 2);
      assert.equal(r.fpirPromised, false);
      assert.ok(!r.notes.some((n) => /holds for each face/.test(n)), r.notes.join(' | '));
      assert.ok(r.notes.some((n) => /each at a threshold that cannot promise the FPIR target/.test(n)), r.notes.join(' | '));
      assert.equal((await service.report.render(admin, 'md')).usage.searchesFpirNotPromised - before.searchesFpirNotPromised, 2, 'both faces were searched unpromised');
      const promised = await service.identify(client, { purpose: ACCESS, galleryId, probe: image(faces.tonyWithOther()), faces: 'all' });
      assert.ok(promised.notes.some((n) => /holds for each face's search/.test(n)), 'where it is promised, the frame note says so');
    });
  });
}
