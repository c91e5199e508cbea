import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { backends, backendSkip, consentTo, faces, freshStore, onboard, openTestService } from '../testing/service-fixture.js';

const P = 'building_access';
const image = (bytes: Buffer) => ({ label: 'image', bytes });

for (const kind of backends) {
  describe(`the service's persisted index across restarts (${kind})`, { skip: backendSkip(kind) || skipWithoutLfw }, () => {
    it('is written at shutdown, loaded at start, and an erasure made while it was stale holds', async () => {
      const store = await freshStore(kind);
      const indexDir = mkdtempSync(join(tmpdir(), 'probity-indexdir-'));
      try {
        // hnswAbove 2: the three subjects are served by HNSW, as a large gallery is.
        let { service } = await openTestService(store.location, { hnswAbove: 2, indexDir });
        const admin = (await service.access.bootstrapAdmin())!.secret;
        const { secret, caller } = await onboard(service, admin, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
        const galleryId = (await service.createGallery(caller, { name: 'staff', retentionDays: 30 })).id;
        await consentTo(service, caller, galleryId, ['colin', 'serena', 'gloria'], P);
        for (const [subject, img] of [['colin', faces.colin1()], ['serena', faces.serena1()], ['gloria', faces.gloria1()]] as const) {
          await service.enrol(caller, { purpose: P, galleryId, subject, images: [image(img)] });
        }
        assert.equal(service.search.kindOf(galleryId), 'hnsw');
        await service.close();

        ({ service } = await openTestService(store.location, { hnswAbove: 2, indexDir }));
        await service.loadIndexes();
        assert.equal(service.search.loadedFrom(galleryId), 'snapshot');
        const c = await service.authenticate(secret);
        const found = await service.identify(c, { purpose: P, galleryId, probe: image(faces.colin2()) });
        assert.deepEqual(found.candidates.map((x) => x.subject), ['colin']);
        await service.close();

        // Erased by a process that keeps no index file: the file on disk still holds serena, but
        // the erasure destroyed the key it was sealed under, so it no longer opens.
        ({ service } = await openTestService(store.location, { hnswAbove: 2 }));
        await service.eraseSubject(await service.authenticate(secret), galleryId, 'serena');
        await service.close();

        ({ service } = await openTestService(store.location, { hnswAbove: 2, indexDir }));
        await service.loadIndexes();
        assert.equal(service.search.loadedFrom(galleryId), 'storage', 'rebuilt: the stale file\'s key went with the erasure');
        const after = await service.identify(await service.authenticate(secret), { purpose: P, galleryId, probe: image(faces.serena2()) });
        assert.equal(after.candidates.some((x) => x.subject === 'serena'), false);
        assert.equal(after.gallerySize, 2);
        await service.close();
      } finally {
        await store.drop();
        rmSync(indexDir, { recursive: true, force: true });
      }
    });
  });
}
