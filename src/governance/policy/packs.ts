import { defaultPack } from './packs/default.js';
import { euAiActPack } from './packs/eu-ai-act.js';
import { usIlPack } from './packs/us-il.js';
import { usWaPack } from './packs/us-wa.js';
import type { PolicyPack } from './types.js';

export const POLICY_PACKS: readonly PolicyPack[] = [defaultPack, usWaPack, usIlPack, euAiActPack];

/** The active packs for a list of ids; `default` is always among them, as the baseline. */
export function packsFor(ids: readonly string[]): PolicyPack[] {
  const unknown = ids.filter((id) => !POLICY_PACKS.some((p) => p.id === id));
  if (unknown.length) throw new Error(`unknown policy pack(s) ${unknown.join(', ')}; there are ${POLICY_PACKS.map((p) => p.id).join(', ')}`);
  return POLICY_PACKS.filter((p) => p.id === 'default' || ids.includes(p.id));
}
