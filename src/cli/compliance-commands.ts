import { existsSync, readFileSync } from 'node:fs';
import { ProbityError } from '../errors.js';
import type { Db } from '../gallery/db.js';
import { ComplianceService } from '../service/compliance-service.js';
import { maintenance, operatorCaller } from '../service/maintenance.js';
import type { WitnessOptions } from '../governance/audit-checkpoint.js';

/**
 * `probity statements record|show` and `probity operational-test`: the organisation's own side of
 * the law, written from the command line by whoever holds the store (the operator), through the
 * Governor like every other write.
 */

function readJson(path: string, what: string): unknown {
  if (!existsSync(path)) throw new ProbityError('file_not_found', `no ${what} at ${path}`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ProbityError('invalid_argument', `${path} is not JSON: ${(e as Error).message}`);
  }
}

async function operator(db: Db, witness?: WitnessOptions) {
  const { gov } = maintenance(db, () => new Date(), undefined, witness);
  const org = await gov.operatorOrganisation();
  if (!org) throw new ProbityError('invalid_request', 'this store has no operator organisation yet: start the service once ("probity serve") so that it is created, then record its statements');
  return { gov, caller: await operatorCaller(db, gov), compliance: new ComplianceService(db, gov) };
}

export async function recordStatementsCommand(db: Db, file: string, out: (s: string) => void, witness?: WitnessOptions): Promise<void> {
  const { gov, compliance, caller } = await operator(db, witness);
  const v = await compliance.recordStatements(caller, readJson(file, 'statements file'));
  await gov.witness?.checkpointNow();
  out(`statements version ${v.version} recorded for organisation ${v.organisationId} (audit entry ${v.auditSeq})${v.nextUpdateDue ? `; next update due ${v.nextUpdateDue}` : '; not adopted yet (no adoptedAt)'}\n`);
  if (v.missing.length) {
    out(`still missing (${v.missing.length}):\n`);
    for (const m of v.missing) out(`  ${m.key}: ${m.title} (${m.citation})\n`);
  } else out('nothing missing\n');
}

export async function showStatementsCommand(db: Db, organisationId: string | undefined, out: (s: string) => void): Promise<void> {
  const { compliance, caller } = await operator(db);
  out(JSON.stringify(await compliance.history(caller, organisationId), null, 2) + '\n');
}

export async function operationalTestCommand(db: Db, values: { organisation?: string; 'use-case'?: string; results?: string; summary?: string }, out: (s: string) => void, witness?: WitnessOptions): Promise<void> {
  if (!values.organisation || !values['use-case'] || !values.results) throw new ProbityError('invalid_argument', 'operational-test needs --organisation ID --use-case USE_CASE --results FILE (the results.json of "probity evaluate" or the table of "probity calibrate" run on the deployment\'s own photographs)');
  if (!existsSync(values.results)) throw new ProbityError('file_not_found', `no results file at ${values.results}`);
  const bytes = readFileSync(values.results);
  const parsed = readJson(values.results, 'results file') as { dataset?: { name?: string; images?: number; identities?: number }; measuredOn?: unknown; generatedAt?: string };
  const summary = values.summary ?? `${parsed.dataset?.name ?? 'results'}: ${parsed.dataset?.images ?? '?'} images of ${parsed.dataset?.identities ?? '?'} people${parsed.generatedAt ? `, ${parsed.generatedAt}` : ''}`;
  const { gov, compliance, caller } = await operator(db, witness);
  const r = await compliance.recordOperationalTest(caller, { organisationId: values.organisation, useCase: values['use-case'], results: bytes, summary });
  await gov.witness?.checkpointNow();
  out(`operational test ${r.id} recorded against ${r.organisationId}'s approval for ${r.useCase} (results sha256 ${r.resultsSha256}, audit entry ${r.auditSeq})\n`);
}
