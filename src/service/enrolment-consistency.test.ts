/**
 * One subject, one person (fourth outside test of issue 22, low/medium finding): a photograph in
 * which someone else's face is much larger than the consenting subject's was enrolled under the
 * subject's consent, because the person-in-the-photograph rule takes the dominant face and nothing
 * compared it with the subject. Now every photograph added to a subject must match the subject's
 * templates (and a new subject's photographs each other) at the verification threshold of the
 * purpose's operating point; a mismatch is refused, naming the photograph, and logged. A changed
 * appearance is re-enrolled with `replaceTemplates`, audited. On SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Db } from '../gallery/db.js';
import type { Caller } from '../governance/api-keys.js';
import { buildApp } from '../server/app.js';
import { readFileSync } from 'node:fs';
import { lfwImage, skipWithoutLfw } from '../testing/fixtures.js';
import { withBackgroundFace } from '../testing/group-photos.js';
import { refused } from '../testing/refusals.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import type { ProbityService } from './probity-service.js';

const P = 'building_access';
const image = (bytes: Buffer, label = 'image') => ({ label, bytes });

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `one subject, one person on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let client: Caller;
    let secret: string;
    let gallery: string;
    const templatesOf = async (ref: string) => Number((await db.one<{ n: number }>(
      `SELECT COUNT(*) AS n FROM templates t JOIN subjects s ON s.id = t.subject_id WHERE s.gallery_id = $1 AND s.ref = $2`, [gallery, ref],
    ))!.n);
    const refusals = async () => (await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"enrol"%' AND body LIKE '%"outcome":"refused"%' AND body LIKE '%enrol/same-person%'`)).map((r) => JSON.parse(r.body));

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location));
      const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      const shop = await onboard(service, operatorSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
      client = shop.caller;
      secret = shop.secret;
      gallery = (await service.createGallery(client, { name: 'staff' })).id;
      await consentTo(service, client, gallery, ['colin', 'pat', 'sam'], P);
      await service.enrol(client, { purpose: P, galleryId: gallery, subject: 'colin', images: [image(faces.colin1())] });
    });
    after(async () => {
      await service.close();
      await store.drop();
    });

    test("attack: a much larger face of someone else, with the consenting subject small behind, is added to the subject's templates. Refused, naming the photograph; logged; nothing stored", async () => {
      // Serena fills the frame; Colin, who consented, is a small face in the corner: the rule takes Serena.
      const composite = await withBackgroundFace(faces.serena1(), faces.colin2(), 0.3);
      const e = await refused(service.enrol(client, { purpose: P, galleryId: gallery, subject: 'colin', images: [image(faces.colin3(), 'colin3.jpg'), image(composite, 'party.jpg')] }), 'subject_mismatch', /enrol\/same-person/);
      assert.match(e.message, /photograph 2 \(party\.jpg\)/);
      assert.doesNotMatch(e.message, /score/, 'a refusal names the photograph, never a score (sixth outside test)');
      assert.match(e.message, /the 1 template\(s\) "colin" holds/);
      assert.match(e.message, /replaceTemplates/);
      assert.equal(await templatesOf('colin'), 1, 'neither photograph was enrolled: all or nothing');
      const logged = await refusals();
      assert.equal(logged.length, 1);
      assert.equal(logged[0].subject, 'colin');
      assert.equal(logged[0].result.code, 'subject_mismatch');
      assert.equal(logged[0].inputHashes.length, 2, 'both photographs are named by their hashes');
      // Serena does not verify as Colin: nothing of hers went in.
      const v = await service.verify(client, { purpose: P, galleryId: gallery, subject: 'colin', probe: image(faces.serena2()) });
      assert.equal(v.match, false);
    });

    test('attack: a new subject enrolled from photographs of two people in one request. Refused, naming the odd one out', async () => {
      const e = await refused(service.enrol(client, { purpose: P, galleryId: gallery, subject: 'pat', images: [image(faces.colin2(), 'image[0]'), image(faces.colin3(), 'image[1]'), image(faces.serena1(), 'image[2]')] }), 'subject_mismatch');
      assert.match(e.message, /photograph 3 \(image\[2\]\)/);
      assert.match(e.message, /the other photographs of this request/);
      assert.doesNotMatch(e.message, /photograph [12] /);
      assert.equal(await db.one(`SELECT id FROM subjects WHERE gallery_id = $1 AND ref = 'pat'`, [gallery]), undefined, 'no subject was made');
    });

    test('with skipUnusable (probity import), the photograph of someone else is listed as refused and the others enrolled; the audit entry names it', async () => {
      const composite = await withBackgroundFace(faces.serena1(), faces.colin2(), 0.3);
      const r = await service.enrol(client, { purpose: P, galleryId: gallery, subject: 'colin', images: [image(composite, 'party.jpg'), image(faces.colin2(), 'colin2.jpg')], skipUnusable: true });
      const body = r.body as { templates: unknown[]; refused: { label: string; code: string; message: string }[]; auditSeq: number };
      assert.equal(body.templates.length, 1);
      assert.deepEqual(body.refused.map((x) => [x.label, x.code]), [['party.jpg', 'subject_mismatch']]);
      assert.match(body.refused[0]!.message, /It was left out/);
      assert.equal(await templatesOf('colin'), 2);
      const entry = JSON.parse((await db.one<{ body: string }>(`SELECT body FROM audit_log WHERE seq = $1`, [body.auditSeq]))!.body);
      assert.deepEqual(entry.result.imagesMismatched, [0]);
    });

    test('over HTTP: 422 subject_mismatch in the one error shape', async () => {
      const app = await buildApp(service, { logger: false });
      try {
        const res = await app.inject({
          method: 'POST', url: `/v1/galleries/${gallery}/subjects/colin/templates`, headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
          payload: JSON.stringify({ purpose: P, image: faces.gloria1().toString('base64') }),
        });
        assert.equal(res.statusCode, 422, res.body);
        const err = res.json().error;
        assert.equal(err.code, 'subject_mismatch');
        assert.match(err.message, /photograph 1 \(image\[0\]\)/);
        assert.equal(err.rule, 'enrol/same-person');
      } finally {
        await app.close();
      }
    });

    test("replaceTemplates puts new photographs of the same person in place of the old, audited; consent still required", async () => {
      await service.enrol(client, { purpose: P, galleryId: gallery, subject: 'sam', images: [image(faces.colin1())] });
      const r = await service.enrol(client, { purpose: P, galleryId: gallery, subject: 'sam', images: [image(faces.colin2())], replaceTemplates: true });
      const body = r.body as { templatesReplaced: number; auditSeq: number };
      assert.equal(body.templatesReplaced, 1);
      assert.equal(await templatesOf('sam'), 1);
      const entry = JSON.parse((await db.one<{ body: string }>(`SELECT body FROM audit_log WHERE seq = $1`, [body.auditSeq]))!.body);
      assert.equal(entry.result.templatesReplaced, 1);
      assert.equal(entry.outcome, 'ok');
      const v = await service.verify(client, { purpose: P, galleryId: gallery, subject: 'sam', probe: image(faces.colin3()) });
      assert.equal(v.match, true, 'the replacement is of the same person');
    });

    test('attack (fifth outside test): replaceTemplates puts someone else\'s face under the subject\'s consent; refused (subject_mismatch), logged, nothing replaced', async () => {
      // Any face in place of sam's: an unrelated person does not match the templates held.
      const e = await refused(service.enrol(client, { purpose: P, galleryId: gallery, subject: 'sam', images: [image(faces.gloria1())], replaceTemplates: true }), 'subject_mismatch');
      assert.match(e.message, /does not match .* at the verification threshold .*erase the subject \(which ends their consent\) and enrol them afresh under a new consent/);
      assert.equal(await templatesOf('sam'), 1, 'nothing was replaced');
      const logged = JSON.parse((await db.one<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"enrol"%' AND body LIKE '%"outcome":"refused"%' ORDER BY seq DESC LIMIT 1`))!.body);
      assert.deepEqual([logged.result.code, logged.rules?.[0] ?? logged.result.rule], ['subject_mismatch', 'enrol/same-person']);
      const v = await service.verify(client, { purpose: P, galleryId: gallery, subject: 'sam', probe: image(faces.gloria1()) });
      assert.equal(v.match, false, 'the other person does not verify as sam');
      // Replacing still needs the person's consent: after the subject is erased it ends, and replacing is refused.
      await service.eraseSubject(client, gallery, 'sam');
      await refused(service.enrol(client, { purpose: P, galleryId: gallery, subject: 'sam', images: [image(faces.hugo1())], replaceTemplates: true }), 'consent_required');
      // And the photographs of one replacement must still be of one person.
      await refused(service.enrol(client, { purpose: P, galleryId: gallery, subject: 'colin', images: [image(faces.colin1()), image(faces.serena1())], replaceTemplates: true }), 'subject_mismatch');
      assert.equal(await templatesOf('colin'), 2, "colin's templates are untouched by the refused replacement");
    });

    test('attack (sixth outside test): verify at FMR 1e-2 finds an unrelated look-alike, and replaceTemplates puts them under the subject\'s consent; refused at the verification threshold', async () => {
      await consentTo(service, client, gallery, ['lee'], P);
      await service.enrol(client, { purpose: P, galleryId: gallery, subject: 'lee', images: [image(faces.colin1())] });
      const lookAlike = readFileSync(lfwImage('Asa_Hutchinson', 1));
      const loose = await service.verify(client, { purpose: P, galleryId: gallery, subject: 'lee', probe: image(lookAlike), fmr: 0.01 });
      assert.equal(loose.match, true, 'the attack\'s premise: at FMR 1e-2 another person passes as lee');
      const e = await refused(service.enrol(client, { purpose: P, galleryId: gallery, subject: 'lee', images: [image(lookAlike, 'asa.jpg')], replaceTemplates: true }), 'subject_mismatch');
      assert.match(e.message, /photograph 1 \(asa\.jpg\)/);
      assert.doesNotMatch(e.message, /score/);
      const v = await service.verify(client, { purpose: P, galleryId: gallery, subject: 'lee', probe: image(faces.colin2()) });
      assert.equal(v.match, true, 'lee is still lee: nothing was replaced');
    });
  });
}
