/**
 * A request that does not fit its schema, told as every problem at once (Ajv runs with
 * allErrors), each named by its field the way a client would write it: `body.purpose is required;
 * body.fpir must be a number; body.operatingPoint must be one of: equal_protection, average`.
 */

/** The parts of an Ajv error that are read here. */
interface AjvError {
  keyword: string;
  instancePath?: string;
  params?: Record<string, unknown>;
  message?: string;
}

export interface SchemaProblem {
  /** Where, as `body.pairs[0].a`, `querystring.limit`, `params.galleryId`. */
  field: string;
  /** What is wrong, as a phrase after the field: `is required`, `must be a number`. */
  problem: string;
}

const ARTICLE: Record<string, string> = { integer: 'an integer', array: 'an array', object: 'an object' };

function fieldOf(context: string, instancePath: string | undefined, child?: unknown): string {
  let field = context;
  for (const part of (instancePath ?? '').split('/').slice(1)) {
    const p = part.replace(/~1/g, '/').replace(/~0/g, '~');
    field += /^\d+$/.test(p) ? `[${p}]` : `.${p}`;
  }
  return typeof child === 'string' ? `${field}.${child}` : field;
}

function problemOf(e: AjvError): SchemaProblem['problem'] {
  const p = e.params ?? {};
  switch (e.keyword) {
    case 'required': return 'is required';
    case 'additionalProperties': return 'is not a field of this request';
    case 'type': {
      const types = String(p.type).split(',');
      return `must be ${types.map((t) => ARTICLE[t] ?? `a ${t}`).join(' or ')}`;
    }
    case 'enum': return `must be one of: ${(p.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'format': return `must be ${p.format === 'uuid' ? 'a UUID' : p.format === 'date-time' ? 'an ISO 8601 date-time (2026-01-31T12:00:00Z)' : `a ${String(p.format)}`}`;
    default: return e.message ?? `fails ${e.keyword}`;
  }
}

/** Every problem, each once, in the order Ajv found them. */
export function schemaProblems(validation: readonly AjvError[], context: string): SchemaProblem[] {
  const seen = new Set<string>();
  const out: SchemaProblem[] = [];
  for (const e of validation) {
    // `if`/`anyOf` wrappers only repeat what their branches said.
    if (e.keyword === 'if' || e.keyword === 'anyOf' || e.keyword === 'oneOf') continue;
    const child = e.keyword === 'required' ? e.params?.missingProperty : e.keyword === 'additionalProperties' ? e.params?.additionalProperty : undefined;
    const problem = { field: fieldOf(context, e.instancePath, child), problem: problemOf(e) };
    const key = `${problem.field} ${problem.problem}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(problem);
    }
  }
  return out;
}

export function schemaMessage(problems: readonly SchemaProblem[]): string {
  return `the request does not fit its schema: ${problems.map((p) => `${p.field} ${p.problem}`).join('; ')}`;
}
