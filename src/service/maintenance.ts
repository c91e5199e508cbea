import type { Db } from '../gallery/db.js';
import type { ErasureLedger } from '../gallery/erasure-ledger.js';
import { ProbityError } from '../errors.js';
import type { Caller } from '../governance/api-keys.js';
import { AuditWitness, type WitnessOptions } from '../governance/audit-checkpoint.js';
import { Governor } from './governor.js';
import { PeopleService } from './people-service.js';

/**
 * The operator's own work on a store, without the face engine or the template key: purges on
 * the retention schedule, reports. Indexes in running services catch up through the change log.
 * With `witness` (the service's signing key and witness file) a purge signs its checkpoint as the
 * service's does.
 */
export function maintenance(db: Db, now: () => Date = () => new Date(), ledger?: ErasureLedger, witness?: WitnessOptions) {
  // A checkpoint says when it was signed: the clock, whatever instant the purge is judged at.
  const gov = new Governor(db, now, witness ? new AuditWitness(db, witness) : undefined);
  const people = new PeopleService(
    db, gov,
    async () => { throw new ProbityError('invalid_request', 'maintenance does not act on behalf of a client'); },
    async () => undefined,
    () => undefined,
    ledger,
  );
  return { gov, people };
}

/** The operator acting from the command line, with direct access to the store. */
export async function operatorCaller(db: Db, gov: Governor): Promise<Caller> {
  const org = await db.one<{ value: string }>(`SELECT value FROM meta WHERE key = 'operator_organisation'`);
  // Whoever holds the store holds the installation; before the first start there is no operator organisation to name.
  if (!org) gov.assumeOperatorOrganisation('command-line');
  return { keyId: 'command-line', organisationId: org?.value ?? 'command-line', roles: ['operator', 'installation_auditor'], useCases: [] };
}
