import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProbityError } from '../errors.js';
import type { Caller } from '../governance/api-keys.js';
import { DEFAULT_ENGINE_CONFIG } from '../engine/engine.js';
import { calibrationFile, loadCalibration, thresholdFor } from '../matching/calibration.js';
import { equalProtectionThreshold } from '../matching/operating-point.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import type { ProbityService } from './probity-service.js';
import { suiteUnless } from '../testing/suite.js';
import { refused as refusedWith } from '../testing/refusals.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `operating points on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let adminSecret: string;
    // The service runs the default engine, so it answers from the default template kind's table.
    const table = loadCalibration('mobilefacenet-512', DEFAULT_ENGINE_CONFIG.flipAverage);
    before(async () => {
      store = await freshStore(backend);
      ({ service } = await openTestService(store.location));
      adminSecret = (await service.access.bootstrapAdmin())!.secret;
    });
    after(async () => {
      await service.close();
      await store.drop();
    });
    const admin = () => service.authenticate(adminSecret);

    test('the shipped table records what it was measured on, and the equal-protection threshold is the stricter', () => {
      assert.equal(table.source?.dataset, 'lfw');
      assert.ok(table.source!.impostorPairs > 0 && table.source!.pipeline.version === table.pipelineVersion);
      assert.ok(equalProtectionThreshold(table, 1e-4) > thresholdFor(table, 1e-4));
    });

    describe('a purpose that is not consequential', () => {
      const P = 'building_access';
      let client: Caller;
      let galleryId: string;
      before(async () => {
        client = (await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P])).caller;
        galleryId = (await service.createGallery(client, { name: 'staff' })).id;
        await consentTo(service, client, galleryId, ['serena'], P);
        await service.enrol(client, { purpose: P, galleryId, subject: 'serena', images: [image(faces.serena1())] });
      });

      test('verify reports the operator default, what its FMR means and the calibration it came from', async () => {
        const r = await service.verify(client, { purpose: P, galleryId, subject: 'serena', probe: image(faces.serena2()) });
        assert.equal(r.operatingPoint.name, 'average');
        assert.match(r.operatingPoint.meaning, /^1e-4 averaged over lfw's impostor pairs, not for each group/);
        assert.equal(r.operatingPoint.calibration.table, calibrationFile('mobilefacenet-512', DEFAULT_ENGINE_CONFIG.flipAverage));
        assert.match(r.operatingPoint.calibration.measuredOn, /^lfw: 13233 images/);
        assert.equal(r.threshold, Math.round(thresholdFor(table, 1e-4) * 1e6) / 1e6);
      });

      test('a request may ask for equal protection: a stricter threshold, promised for every group', async () => {
        const r = await service.verify(client, { purpose: P, galleryId, subject: 'serena', probe: image(faces.serena2()), operatingPoint: 'equal_protection' });
        assert.equal(r.operatingPoint.name, 'equal_protection');
        assert.match(r.operatingPoint.meaning, /^at most 1e-4 for every measured group \(race, sex/);
        assert.equal(r.threshold, equalProtectionThreshold(table, 1e-4));
        // The score's FMR is read off the same per-group table: a match is "at most" the target for every group.
        if (r.match) assert.ok(r.scoreFmr.bound === 'at-most' && r.scoreFmr.fmr <= 1e-4, JSON.stringify(r.scoreFmr));
        else assert.ok(r.scoreFmr.bound === 'at-least' || r.scoreFmr.fmr > 1e-4, JSON.stringify(r.scoreFmr));
        const audit = await service.db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"verify"%' ORDER BY seq DESC LIMIT 1`);
        assert.match(audit[0]!.body, /"operatingPoint":"equal_protection"/, 'the audit entry records the operating point');
      });
    });

    describe('a consequential purpose', () => {
      const P = 'missing_person_search';
      let requester: Caller;
      let galleryId: string;
      before(async () => {
        const charity = await onboard(service, adminSecret, { name: 'charity', sector: 'nonprofit', jurisdictions: ['other'] }, [P]);
        await service.access.decideApplication(await admin(), { applicationId: charity.application.id, useCase: P, decision: 'approve', reason: 'registered charity' });
        requester = await service.authenticate((await service.access.createKey(await admin(), { organisationId: charity.organisationId, roles: ['client'], label: 'caseworker', useCases: [P] })).secret);
        galleryId = (await service.createGallery(requester, { name: 'missing' })).id;
        await consentTo(service, requester, galleryId, ['missing-1'], P);
        await service.enrol(requester, { purpose: P, galleryId, subject: 'missing-1', images: [image(faces.colin1())] });
      });

      test('gets equal protection by default, and says why', async () => {
        const r = await service.identify(requester, { purpose: P, galleryId, probe: image(faces.colin2()) });
        assert.equal(r.operatingPoint.name, 'equal_protection');
        assert.match(r.operatingPoint.reason!, /consequential purpose \("missing_person_search"\)/);
        assert.match(r.operatingPoint.meaning, /for every measured group/);
        // A one-template gallery needs the loosest measured target: its equal-protection threshold.
        assert.equal(r.threshold, Math.round(equalProtectionThreshold(table, 1e-3) * 1e6) / 1e6);
      });
    });

    describe('under us-wa (RCW 43.386)', () => {
      const P = 'building_access';
      let agency: Caller;
      let galleryId: string;
      before(async () => {
        await service.access.setPolicy(await admin(), ['us-wa']);
        agency = (await onboard(service, adminSecret, { name: 'state office', sector: 'public_sector', jurisdictions: ['us-wa'] }, [P])).caller;
        galleryId = (await service.createGallery(agency, { name: 'staff' })).id;
        await consentTo(service, agency, galleryId, ['serena'], P);
        await service.enrol(agency, { purpose: P, galleryId, subject: 'serena', images: [image(faces.serena1())] });
      });
      after(async () => {
        await service.access.setPolicy(await admin(), []);
      });

      test('asking for the average operating point is refused, citing the law, and the refusal logged', async () => {
        const e = await refusedWith(service.verify(agency, { purpose: P, galleryId, subject: 'serena', probe: image(faces.serena2()), operatingPoint: 'average' }), 'policy_refused');
        assert.match(e.message, /RCW 43\.386/);
        const audit = await service.db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"outcome":"refused"%' ORDER BY seq DESC LIMIT 1`);
        assert.match(audit[0]!.body, /"action":"verify"/);
      });

      test('without asking, it is equal protection, required by the pack', async () => {
        const r = await service.verify(agency, { purpose: P, galleryId, subject: 'serena', probe: image(faces.serena2()) });
        assert.equal(r.operatingPoint.name, 'equal_protection');
        assert.match(r.operatingPoint.reason!, /^required by us-wa\/43\.386-subpopulations/);
      });
    });
  });
}
