/**
 * Red-team finding 4: a genuine erasure receipt with its top-level fields edited (subject,
 * gallery, count, time...) must not be "proven": `probity audit prove` checks every claim the
 * receipt shows against the proven audit entry, refuses one the entry does not carry, and says
 * what the entry records.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { ProbityService } from '../service/probity-service.js';
import { cliPath, skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, testEngine, testKey } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import { AuditSigningKey } from './audit-signing-key.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });

/** Another value of the same kind, so only the value is wrong. */
function edited(v: unknown): unknown {
  if (typeof v === 'number') return v + 6;
  if (typeof v === 'string') return /^\d{4}-\d\d-\d\dT/.test(v) ? new Date(Date.parse(v) - 86_400_000).toISOString() : `${v}-other`;
  return 'other';
}

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `receipts are proven only for what their entry records, on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let dir: string;
    let publicKeyFile: string;
    const key = AuditSigningKey.parse(randomBytes(32).toString('hex'), 'test seed');
    const receipts: Record<string, Record<string, unknown>> = {};
    let galleryId: string;

    const prove = (receipt: unknown, name: string) => {
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(receipt));
      return spawnSync(process.execPath, [cliPath, 'audit', 'prove', '--receipt', file, '--public-key', publicKeyFile], { encoding: 'utf8' });
    };

    before(async () => {
      store = await freshStore(backend);
      dir = mkdtempSync(join(tmpdir(), 'probity-receipt-'));
      publicKeyFile = join(dir, 'audit-signing.pub');
      writeFileSync(publicKeyFile, key.publicKeyPem());
      service = await ProbityService.open({
        db: await openDb(store.location), engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey),
        witness: { key, file: join(dir, 'audit-witness.jsonl'), everyEntries: 10, everySeconds: 3600, report: (m) => assert.fail(`witness reported: ${m}`) },
      });
      const adminSecret = (await service.access.bootstrapAdmin())!.secret;
      const P = 'building_access';
      const { caller: client } = await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
      galleryId = (await service.createGallery(client, { name: 'staff', retentionDays: 30 })).id;
      const [, serenaConsent] = await consentTo(service, client, galleryId, ['colin', 'serena'], P);
      await service.enrol(client, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1()), image(faces.colin2())] });
      await service.enrol(client, { purpose: P, galleryId, subject: 'serena', images: [image(faces.serena1())] });
      receipts.erase_subject = await service.eraseSubject(client, galleryId, 'colin');
      receipts.withdraw_consent = await service.people.withdrawConsent(client, { galleryId, subject: 'serena', consentId: serenaConsent! });
    });
    after(async () => {
      await service?.close();
      await store.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('a genuine receipt proves, and the command says what it proves: action, subject, gallery, count, time', () => {
      const erased = prove(receipts.erase_subject, 'genuine-erasure');
      assert.equal(erased.status, 0, erased.stdout + erased.stderr);
      const e = receipts.erase_subject!;
      assert.match(erased.stdout, /receipt proven: audit entry \d+ \(erase_subject\)/);
      assert.ok(erased.stdout.includes(`what it proves: erase_subject, of subject "colin", in gallery ${galleryId}, 2 template(s) erased, at ${String(e.erasedAt)}`), erased.stdout);
      const withdrawn = prove(receipts.withdraw_consent, 'genuine-withdrawal');
      assert.equal(withdrawn.status, 0, withdrawn.stdout + withdrawn.stderr);
      const w = receipts.withdraw_consent!;
      assert.ok(withdrawn.stdout.includes(`what it proves: withdraw_consent, of subject "serena", in gallery ${galleryId}, consent ${String(w.consent)} withdrawn, 1 template(s) erased, at ${String(w.withdrawnAt)}`), withdrawn.stdout);
    });

    test('each top-level field of a genuine receipt edited: refused, naming the field', () => {
      for (const [action, receipt] of Object.entries(receipts)) {
        const fields = Object.keys(receipt).filter((f) => f !== 'auditProof');
        assert.ok(fields.includes('subject') && fields.includes('gallery') && fields.includes('templatesErased') && fields.includes('receipt'), fields.join());
        for (const field of fields) {
          const out = prove({ ...receipt, [field]: edited(receipt[field]) }, `${action}-${field}`);
          assert.equal(out.status, 1, `${action} with "${field}" edited was proven: ${out.stdout}`);
          assert.match(out.stdout, new RegExp(`receipt NOT proven: the receipt's "${field}" says .* but audit entry \\d+ records`), out.stdout);
        }
      }
    });

    test('a claim the entry does not carry is refused, in a receipt or beside a bare proof', () => {
      const added = prove({ ...receipts.erase_subject, consentVerifiedBy: 'the DPO' }, 'added');
      assert.equal(added.status, 1, added.stdout);
      assert.match(added.stdout, /receipt NOT proven: the receipt's "consentVerifiedBy" is not something audit entry \d+ records/);
      // The withdrawal's entry records no erasedAt: borrowing the field is refused too.
      const borrowed = prove({ ...receipts.withdraw_consent, erasedAt: receipts.withdraw_consent!.withdrawnAt }, 'borrowed');
      assert.equal(borrowed.status, 1, borrowed.stdout);
      assert.match(borrowed.stdout, /receipt NOT proven: the receipt's "erasedAt" .* is not recorded in audit entry \d+/);
      const bare = receipts.erase_subject!.auditProof as Record<string, unknown>;
      assert.equal(prove(bare, 'bare').status, 0, 'a bare proof, as GET /v1/audit/proof gives it, proves its entry');
      const dressed = prove({ ...bare, subject: 'someone_else' }, 'bare-dressed');
      assert.equal(dressed.status, 1, dressed.stdout);
      assert.match(dressed.stdout, /receipt NOT proven: the receipt's "subject" says "someone_else", but audit entry \d+ records "colin"/);
    });

    test('a field slipped inside the proof, a wrong key id, or a "__proto__" claim is refused, not proven or crashed on', () => {
      const genuine = receipts.erase_subject!;
      const proof = genuine.auditProof as { entry: Record<string, unknown>; checkpoint: Record<string, unknown> };
      const cases: [string, unknown, RegExp][] = [
        ['proof-subject', { ...genuine, auditProof: { ...proof, subject: 'bob' } }, /the proof's "subject" is not part of an audit proof/],
        ['entry-subject', { ...genuine, auditProof: { ...proof, entry: { ...proof.entry, subject: 'bob' } } }, /the proof's "entry\.subject" is not part of an audit proof/],
        ['checkpoint-key', { ...genuine, auditProof: { ...proof, checkpoint: { ...proof.checkpoint, keyId: 'deadbeef' } } }, /names signing key deadbeef, but it is checked with key/],
      ];
      for (const [name, receipt, why] of cases) {
        const out = prove(receipt, name);
        assert.equal(out.status, 1, `${name} was proven: ${out.stdout}`);
        assert.match(out.stdout, why);
      }
      const file = join(dir, 'proto.json');
      writeFileSync(file, JSON.stringify(genuine).replace(/^\{/, '{"__proto__":{"subject":"bob"},'));
      const proto = spawnSync(process.execPath, [cliPath, 'audit', 'prove', '--receipt', file, '--public-key', publicKeyFile], { encoding: 'utf8' });
      assert.equal(proto.status, 1, proto.stdout + proto.stderr);
      assert.match(proto.stdout, /receipt NOT proven: the receipt's "__proto__" is not something audit entry \d+ records/);
    });
  });
}
