import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FaceEngine, PIPELINE_VERSION } from '../engine/engine.js';
import { ProbityError } from '../errors.js';
import type { Caller } from '../governance/api-keys.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { openDb } from '../gallery/db.js';
import { calibrateEngine } from '../matching/engine-calibration.js';
import { projectRoot, skipWithoutLfw } from '../testing/fixtures.js';
import { mobileFaceNetAsFile, tableFor } from '../testing/model-file-fixture.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService, testKey } from '../testing/service-fixture.js';
import { ProbityService } from './probity-service.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });
const dir = mkdtempSync(join(tmpdir(), 'probity-model-mismatch-'));

async function refusedWith(work: Promise<unknown>, code: string, pattern: RegExp) {
  await assert.rejects(work, (e: unknown) => e instanceof ProbityError && e.code === code && pattern.test(e.message));
}

/**
 * `work` is refused with model_mismatch and leaves exactly one audit entry, a refusal of `action`
 * naming the gallery, like every other refusal: an attempt on the wrong model leaves a trace.
 */
async function refusedAndLogged(service: ProbityService, work: Promise<unknown>, action: string, galleryId: string, pattern: RegExp) {
  const count = async () => Number((await service.db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM audit_log`))!.n);
  const before = await count();
  await refusedWith(work, 'model_mismatch', pattern);
  assert.equal(await count(), before + 1, 'one audit entry for the refusal');
  const last = await service.db.one<{ body: string }>(`SELECT body FROM audit_log ORDER BY seq DESC LIMIT 1`);
  const body = JSON.parse(last!.body) as { action: string; outcome: string; galleryId?: string; result: { code: string; reason: string } };
  assert.equal(body.action, action);
  assert.equal(body.outcome, 'refused');
  assert.equal(body.galleryId, galleryId);
  assert.equal(body.result.code, 'model_mismatch');
  assert.match(body.result.reason, pattern);
}

for (const backend of backends) {
  describe(`a gallery is used only with the model that enrolled it, on ${backend}`, { skip: skipWithoutLfw || backendSkip(backend) }, () => {
    const P = 'building_access';
    let store: Awaited<ReturnType<typeof freshStore>>;
    let first: ProbityService;
    let second: ProbityService;
    let client: Caller;
    let galleryId: string;
    before(async () => {
      store = await freshStore(backend);
      ({ service: first } = await openTestService(store.location));
      const adminSecret = (await first.access.bootstrapAdmin())!.secret;
      const org = await onboard(first, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P, 'sign_in_verification']);
      client = org.caller;
      galleryId = (await first.createGallery(client, { name: 'staff' })).id;
      await consentTo(first, client, galleryId, ['serena', 'colin'], P);
      await first.enrol(client, { purpose: P, galleryId, subject: 'serena', images: [image(faces.serena1())] });
      // The attack: the same store served by another model whose vectors have the same length (here
      // the very same network under another id, so any comparison would "work" and mean nothing).
      const engine = await FaceEngine.load({ modelFile: mobileFaceNetAsFile() });
      calibrateEngine(engine, tableFor({ id: engine.modelId, sha256: engine.modelSha256, inputSpecSha256: engine.inputSpecSha256! }, dir));
      second = await ProbityService.open({ db: await openDb(store.location), engine, cipher: TemplateCipher.fromKey(testKey) });
      client = await second.authenticate(org.secret);
    });
    after(async () => {
      await first.close();
      await second.close();
      await store.drop();
    });

    test('verify against a subject enrolled with another model is refused with model_mismatch, and the refusal audited', async () => {
      await refusedAndLogged(second, second.verify(client, { purpose: P, galleryId, subject: 'serena', probe: image(faces.serena2()) }), 'verify', galleryId, /made by model mobilefacenet-512 \(single templates\); this service runs model mobilefacenet-file/);
    });

    test('a search of that gallery is refused with model_mismatch, and the refusal audited', async () => {
      await refusedAndLogged(second, second.identify(client, { purpose: P, galleryId, probe: image(faces.serena2()) }), 'identify', galleryId, /cannot be compared/);
    });

    test('enrolling into it with the other model is refused and audited: a gallery never mixes models', async () => {
      await refusedAndLogged(second, second.enrol(client, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] }), 'enrol', galleryId, /enrol its subjects again/);
      const rows = await second.db.all<{ model: string }>(`SELECT DISTINCT model FROM templates`);
      assert.deepEqual(rows.map((r) => r.model), ['mobilefacenet-512/single']);
    });

    test('image-to-image verify works on the loaded model, by its own table', async () => {
      // Two supplied photographs: a capability sign-in grants (a live face against a document), not building access.
      const r = await second.verify(client, { purpose: 'sign_in_verification', probe: image(faces.serena2()), reference: image(faces.serena1()) });
      assert.equal(r.model, 'mobilefacenet-file');
      assert.equal(r.operatingPoint.calibration.model, 'mobilefacenet-file');
      assert.equal(r.match, true);
    });
  });
}

for (const backend of backends) {
  describe(`a gallery keeps to one template kind (single or flip-averaged), on ${backend}`, { skip: skipWithoutLfw || backendSkip(backend) }, () => {
    const P = 'building_access';
    let store: Awaited<ReturnType<typeof freshStore>>;
    let flipService: ProbityService;
    let singleService: ProbityService;
    let client: Caller;
    let galleryId: string;
    before(async () => {
      store = await freshStore(backend);
      // A store enrolled by a service run with flip-averaged templates (the default before single
      // templates), then served by today's default: the attack is a probe scored on the wrong table.
      flipService = await ProbityService.open({ db: await openDb(store.location), engine: await FaceEngine.load({ flipAverage: true }), cipher: TemplateCipher.fromKey(testKey) });
      const adminSecret = (await flipService.access.bootstrapAdmin())!.secret;
      const org = await onboard(flipService, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
      galleryId = (await flipService.createGallery(org.caller, { name: 'staff' })).id;
      await consentTo(flipService, org.caller, galleryId, ['serena', 'colin'], P);
      await flipService.enrol(org.caller, { purpose: P, galleryId, subject: 'serena', images: [image(faces.serena1())] });
      ({ service: singleService } = await openTestService(store.location));
      client = await singleService.authenticate(org.secret);
    });
    after(async () => {
      await flipService.close();
      await singleService.close();
      await store.drop();
    });

    test('flip-averaged templates record the bare model id, as every template before single templates did', async () => {
      const rows = await flipService.db.all<{ model: string }>(`SELECT DISTINCT model FROM templates`);
      assert.deepEqual(rows.map((r) => r.model), ['mobilefacenet-512']);
    });

    test('attack: single-template probes against a flip-averaged gallery. Verify and identify are refused, audited, and told to serve with --flip', async () => {
      await refusedAndLogged(singleService, singleService.verify(client, { purpose: P, galleryId, subject: 'serena', probe: image(faces.serena2()) }), 'verify', galleryId, /flip-averaged templates\); this service runs model mobilefacenet-512 \(single templates\).*serve with --flip/);
      await refusedAndLogged(singleService, singleService.identify(client, { purpose: P, galleryId, probe: image(faces.serena2()) }), 'identify', galleryId, /serve with --flip/);
    });

    test('attack: mixing kinds in one gallery. Enrolling a single template into it is refused; the flip-averaged service still serves it', async () => {
      await refusedAndLogged(singleService, singleService.enrol(client, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] }), 'enrol', galleryId, /enrol its subjects again/);
      const verify = () => flipService.verify(client, { purpose: P, galleryId, subject: 'serena', probe: image(faces.serena2()) });
      const flipTable = JSON.parse(readFileSync(join(projectRoot, 'calibration', 'mobilefacenet-512.json'), 'utf8')) as { pipelineVersion?: number };
      if (flipTable.pipelineVersion !== PIPELINE_VERSION) {
        // The flip-averaged table was not refitted for this pipeline (docs/evaluation.md): it is refused, never used.
        await assert.rejects(verify(), /measured on pipeline \d+, this engine is pipeline \d+/);
        return;
      }
      const r = await verify();
      assert.equal(r.match, true, 'served with the kind that enrolled it, the gallery works');
    });
  });
}
