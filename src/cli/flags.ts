import { parseArgs } from 'node:util';
import { UsageError } from './main.js';

/** String options and a fixed number of positionals, as the other commands parse them. */
export function flags(args: string[], options: Record<string, { type: 'string' }>, positionals: number): { values: Record<string, string | undefined>; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message.split('\n')[0]! : String(e));
  }
  if (parsed.positionals.length !== positionals) throw new UsageError(`expected ${positionals} argument(s), got ${parsed.positionals.length}`);
  return { values: parsed.values as Record<string, string | undefined>, positionals: parsed.positionals };
}
