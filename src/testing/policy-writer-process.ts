/**
 * A second service process for concurrency tests: opens the store named in argv[2] with the
 * installation key in PROBITY_TEST_KEY (hex), says "ready", and for each line on stdin sets every
 * policy in argv[4] (JSON: a list of pack lists) at once with the operator key argv[3], printing
 * one JSON line: the error message of each call, or null where it succeeded. Ends with stdin.
 */
import { createInterface } from 'node:readline';
import { openDb } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { ProbityService } from '../service/probity-service.js';
import { testEngine } from './service-fixture.js';

const [location, operatorSecret, choicesJson] = process.argv.slice(2);
const db = await openDb(location!);
const service = await ProbityService.open({ db, engine: await testEngine(), cipher: TemplateCipher.fromKey(Buffer.from(process.env.PROBITY_TEST_KEY!, 'hex')) });
const caller = await service.authenticate(operatorSecret!);
process.stdout.write('ready\n');
const choices = JSON.parse(choicesJson!) as string[][];
for await (const _go of createInterface({ input: process.stdin })) {
  const outcomes = await Promise.allSettled(choices.map((ids) => service.access.setPolicy(caller, ids)));
  process.stdout.write(`${JSON.stringify(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : null)))}\n`);
}
await service.close();
