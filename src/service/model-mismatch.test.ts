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
import { SCHEMA_VERSION } from '../gallery/schema.js';
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

    test('a flip-averaged gallery from before templates recorded their pipeline is told to re-enrol, not to serve with --flip (no flag serves it)', async () => {
      await singleService.db.run(`UPDATE templates SET pipeline = NULL`);
      const unknown = /made by model mobilefacenet-512 \(flip-averaged templates\) on an earlier pipeline than this one.*re-enrol: create a new gallery/;
      await refusedAndLogged(singleService, singleService.identify(client, { purpose: P, galleryId, probe: image(faces.serena2()) }), 'identify', galleryId, unknown);
      await refusedAndLogged(flipService, flipService.identify(client, { purpose: P, galleryId, probe: image(faces.serena2()) }), 'identify', galleryId, /on an earlier pipeline than this one/);
    });
  });
}

for (const backend of backends) {
  describe(`a gallery keeps to the pipeline that enrolled it, on ${backend}`, { skip: skipWithoutLfw || backendSkip(backend) }, () => {
    const P = 'building_access';
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let client: Caller;
    let orgSecret: string;
    let galleryId: string;
    const reopen = async () => {
      ({ service } = await openTestService(store.location));
      client = await service.authenticate(orgSecret);
    };
    before(async () => {
      store = await freshStore(backend);
      ({ service } = await openTestService(store.location));
      const adminSecret = (await service.access.bootstrapAdmin())!.secret;
      const org = await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
      orgSecret = org.secret;
      client = org.caller;
      galleryId = (await service.createGallery(client, { name: 'staff' })).id;
      await consentTo(service, client, galleryId, ['serena', 'colin'], P);
      await service.enrol(client, { purpose: P, galleryId, subject: 'serena', images: [image(faces.serena1())] });
    });
    after(async () => {
      await service.close();
      await store.drop();
    });

    test('each template records the pipeline that made it, and the gallery is searched while they agree', async () => {
      const rows = await service.db.all<{ pipeline: number }>(`SELECT pipeline FROM templates`);
      assert.deepEqual(rows.map((r) => Number(r.pipeline)), [PIPELINE_VERSION]);
      const r = await service.identify(client, { purpose: P, galleryId, probe: image(faces.serena2()) });
      assert.equal(r.candidates[0]?.subject, 'serena');
    });

    test('attack: the gallery enrolled on an older pipeline is searched, verified against and enrolled into. Each is refused, audited, and told how to re-enrol', async () => {
      // What a store enrolled by an earlier release that recorded its pipeline holds.
      await service.db.run(`UPDATE templates SET pipeline = $1`, [PIPELINE_VERSION - 1]);
      const made = new RegExp(`made on pipeline ${PIPELINE_VERSION - 1}; this service runs pipeline ${PIPELINE_VERSION}.*re-enrol: create a new gallery.*probity import --gallery NEW`);
      await refusedAndLogged(service, service.identify(client, { purpose: P, galleryId, probe: image(faces.serena2()) }), 'identify', galleryId, made);
      await refusedAndLogged(service, service.verify(client, { purpose: P, galleryId, subject: 'serena', probe: image(faces.serena2()) }), 'verify', galleryId, made);
      await refusedAndLogged(service, service.enrol(client, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] }), 'enrol', galleryId, made);
      assert.equal(Number((await service.db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM templates`))!.n), 1, 'nothing enrolled beside the old templates');
    });

    test('attack: a store from before templates recorded their pipeline (schema 1) is opened by this release and searched. Migrated, its templates are of an unknown pipeline, and refused the same way', async () => {
      await service.close();
      // Schema 1 as an earlier release left it: no pipeline column, schema_version 1.
      const raw = await openDb(store.location);
      await raw.run(`ALTER TABLE templates DROP COLUMN pipeline`);
      await raw.run(`UPDATE meta SET value = '1' WHERE key = 'schema_version'`);
      await raw.close();
      await reopen();
      assert.equal((await service.db.one<{ value: string }>(`SELECT value FROM meta WHERE key = 'schema_version'`))!.value, String(SCHEMA_VERSION), 'the store is brought to this schema at start');
      const rows = await service.db.all<{ pipeline: number | null }>(`SELECT pipeline FROM templates`);
      assert.deepEqual(rows.map((r) => r.pipeline), [null], 'the old rows keep no pipeline: it cannot be known');
      const unknown = new RegExp(`made on an earlier pipeline than this one \\(stored before templates recorded their pipeline\\); this service runs pipeline ${PIPELINE_VERSION}.*re-enrol: create a new gallery`);
      await refusedAndLogged(service, service.identify(client, { purpose: P, galleryId, probe: image(faces.serena2()) }), 'identify', galleryId, unknown);
      await refusedAndLogged(service, service.verify(client, { purpose: P, galleryId, subject: 'serena', probe: image(faces.serena2()) }), 'verify', galleryId, unknown);
      await refusedAndLogged(service, service.enrol(client, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] }), 'enrol', galleryId, unknown);
    });

    test('the way out the refusal names works: a new gallery, consents recorded there, the subject enrolled again, then searched', async () => {
      const fresh = (await service.createGallery(client, { name: 'staff, re-enrolled' })).id;
      await consentTo(service, client, fresh, ['serena'], P);
      await service.enrol(client, { purpose: P, galleryId: fresh, subject: 'serena', images: [image(faces.serena1())] });
      const r = await service.identify(client, { purpose: P, galleryId: fresh, probe: image(faces.serena2()) });
      assert.equal(r.candidates[0]?.subject, 'serena');
    });
  });
}
