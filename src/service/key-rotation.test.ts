import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { rotateInstallationKey } from '../gallery/key-rotation.js';
import { KeyRing } from '../gallery/subject-keys.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import type { Caller } from '../governance/api-keys.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, testEngine } from '../testing/service-fixture.js';
import { ProbityService } from './probity-service.js';

const P = 'building_access';
const image = (bytes: Buffer) => ({ label: 'i', bytes });
const pictures = [faces.colin1, faces.serena1, faces.gloria1, faces.hugo1];

for (const backend of backends) {
  describe(`key rotation on ${backend} while enrolments and verifications run`, { skip: skipWithoutLfw || backendSkip(backend) }, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    const oldKey = TemplateCipher.fromKey(randomBytes(32));
    const newKey = TemplateCipher.fromKey(randomBytes(32));
    // What the service's key source holds: the rotation writes the new key before it starts (template.key.next).
    let source = [oldKey];
    let service: ProbityService;
    let client: Caller;
    let galleryId: string;
    const subjects = new Map<string, () => Buffer>();

    before(async () => {
      store = await freshStore(backend);
      service = await ProbityService.open({ db: await openDb(store.location), engine: await testEngine(), keys: new KeyRing([oldKey], () => source) });
      const secret = (await service.access.bootstrapAdmin())!.secret;
      client = (await onboard(service, secret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P])).caller;
      galleryId = (await service.createGallery(client, { name: 'staff', keepReferenceFaces: true })).id;
      await consentTo(service, client, galleryId, [...Array(12).keys()].map((i) => `p${i}`), P);
      for (let i = 0; i < 4; i++) {
        await service.enrol(client, { purpose: P, galleryId, subject: `p${i}`, images: [image(pictures[i]!())] });
        subjects.set(`p${i}`, pictures[i]!);
      }
    });
    after(async () => {
      await service.close();
      await store.drop();
    });

    const verifyAll = async (s: ProbityService, who: Map<string, () => Buffer>) => {
      for (const [subject, picture] of who) {
        const r = await s.verify(client, { purpose: P, galleryId, subject, probe: image(picture()) });
        assert.equal(r.match, true, `${subject} verifies`);
      }
    };

    test('no template is lost: every subject verifies before, during and after, under the new key alone', async () => {
      await verifyAll(service, subjects);
      source = [newKey, oldKey];
      // The rotation runs on its own connection, as `probity keys rotate` does from another process.
      const other = await openDb(store.location);
      const load = (async () => {
        for (let i = 4; i < 12; i++) {
          const picture = pictures[i % pictures.length]!;
          await service.enrol(client, { purpose: P, galleryId, subject: `p${i}`, images: [image(picture())] });
          subjects.set(`p${i}`, picture);
          await verifyAll(service, new Map([...subjects].slice(0, 2)));
        }
      })();
      // Let a few enrolments land first, so the rotation meets both old and in-flight ones.
      await new Promise((r) => setTimeout(r, 300));
      const rotated = await rotateInstallationKey(other, [oldKey], newKey);
      await other.close();
      await load;
      assert.ok(rotated.dataKeysRewrapped >= 4, `the keys enrolled before were rewrapped (${rotated.dataKeysRewrapped})`);
      assert.equal(subjects.size, 12);

      const kek = await service.db.all<{ kek_id: string }>(`SELECT DISTINCT kek_id FROM subject_keys`);
      assert.deepEqual(kek.map((k) => k.kek_id), [newKey.id], 'every data key, also those enrolled during the rotation, is wrapped under the new key');

      const fresh = await ProbityService.open({ db: await openDb(store.location), engine: await testEngine(), cipher: newKey });
      try {
        await verifyAll(fresh, subjects);
        const found = await fresh.identify(client, { purpose: P, galleryId, probe: image(faces.colin2()) });
        assert.ok(['p0', 'p4', 'p8'].includes(found.candidates[0]?.subject ?? ''), 'the index loads under the new key (colin is found)');
      } finally {
        await fresh.close();
      }
      const stale = await ProbityService.open({ db: await openDb(store.location), engine: await testEngine(), cipher: oldKey });
      try {
        await assert.rejects(stale.verify(client, { purpose: P, galleryId, subject: 'p0', probe: image(faces.colin1()) }), { code: 'key_unavailable' });
        await assert.rejects(stale.enrol(client, { purpose: P, galleryId, subject: 'p1', images: [image(faces.serena2())] }), { code: 'key_unavailable' }, 'nor can a process with the old key wrap anything new under it');
      } finally {
        await stale.close();
      }
    });
  });
}
