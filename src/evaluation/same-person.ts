import type { SuspectedDuplicates } from './duplicates.js';

/**
 * LFW identity pairs that are one person under two names (another spelling, another order, a
 * married name, a nickname, a birth name), each with why. Their cross pairs are genuine, not
 * impostor pairs: left among the impostors, a few of them decide the tail's extreme and with it
 * every large gallery's threshold. The score rule of `suspectedDuplicates` finds those whose best
 * cross pair reaches the median genuine score; this list names the others it misses, and those it
 * finds today, so that a new detector, whose scores differ, still sets them aside. Relatives
 * (twins, siblings, parents) are not listed: they are different people, and stay impostors.
 */
export const LFW_SAME_PERSON: readonly { names: readonly [string, string]; reason: string }[] = [
  { names: ['Doc_Rivers', 'Glenn_Rivers'], reason: 'Glenn "Doc" Rivers, the basketball coach: a nickname' },
  { names: ['Ruano_Pascual', 'Virgina_Ruano_Pascal'], reason: 'Virginia Ruano Pascual, the tennis player: two partial spellings' },
  { names: ['Nan_Wang', 'Wang_Nan'], reason: 'Wang Nan, the table-tennis player: the name in two orders' },
  { names: ['John_Gruden', 'Jon_Gruden'], reason: 'Jon Gruden, the American-football coach: a misspelling' },
  { names: ['Bill_Pryor', 'William_Pryor_Jr'], reason: 'William H. Pryor Jr., Alabama\'s attorney general: a short form' },
  { names: ['Mireya_Elisa_Moscoso_Rodriguez', 'Mireya_Moscoso'], reason: 'Mireya Moscoso, president of Panama: the full name' },
  { names: ['Talisa_Bratt', 'Talisa_Soto'], reason: 'Talisa Soto, the actress: her married name' },
  { names: ['Cristina_Fernandez', 'Cristina_Kirchner'], reason: 'Cristina Fernandez de Kirchner: two parts of one name' },
  { names: ['Odai_Hussein', 'Uday_Hussein'], reason: 'Uday Hussein: two transliterations' },
  { names: ['Felipe_De_Borbon', 'Prince_Felipe'], reason: 'Felipe de Borbon, then prince of Asturias: name and title' },
  { names: ['Hasan_Wirayuda', 'Hassan_Wirajuda'], reason: 'Hassan Wirajuda, Indonesia\'s foreign minister: two spellings' },
  { names: ['Chyung_Dai-chul', 'Dai_Chul_Chyung'], reason: 'Chyung Dai-chul, the Korean politician: the name in two orders' },
  { names: ['Noer_Moeis', 'Noer_Muis'], reason: 'Noer Muis: two spellings' },
  { names: ['Choi_Sung-hong', 'Sung_Hong_Choi'], reason: 'Choi Sung-hong, Korea\'s foreign minister: the name in two orders' },
  { names: ['Wang_Yingfan', 'Yingfan_Wang'], reason: 'Wang Yingfan, the Chinese diplomat: the name in two orders' },
  { names: ['Joseph_Blatter', 'Sepp_Blatter'], reason: 'Joseph "Sepp" Blatter: a nickname' },
  { names: ['Bison_Dele', 'Brian_Williams'], reason: 'Bison Dele, the basketball player, born Brian Williams: LFW\'s one Brian_Williams photograph is of him' },
];

/**
 * The score rule's suspected duplicates, with the listed same-person pairs of the same half added
 * (a pair in both keeps its score). `reasons` says, for each pair, why it is set aside.
 */
export function withKnownSamePerson(d: SuspectedDuplicates, identities: string[], side: number[], list = LFW_SAME_PERSON): SuspectedDuplicates & { reasons: Map<string, string> } {
  const index = new Map(identities.map((name, id) => [name, id]));
  const key = (a: number, b: number) => (a < b ? `${a}:${b}` : `${b}:${a}`);
  const reasons = new Map<string, string>();
  const pairs = [...d.pairs];
  for (const p of d.pairs) reasons.set(key(p.a, p.b), `best cross pair ${p.bestScore.toFixed(4)}, at or above the median genuine score (${d.threshold.toFixed(4)}): one person under two names, or a mislabelled photograph`);
  const added = new Set<string>();
  for (const { names, reason } of list) {
    const a = index.get(names[0]), b = index.get(names[1]);
    if (a === undefined || b === undefined || side[a] !== side[b]) continue;
    const k = key(a, b);
    reasons.set(k, reasons.has(k) ? `${reason}; ${reasons.get(k)}` : `${reason} (listed in src/evaluation/same-person.ts)`);
    if (!d.isDuplicate(a, b)) { added.add(k); pairs.push({ a: Math.min(a, b), b: Math.max(a, b), bestScore: NaN }); }
  }
  return {
    threshold: d.threshold, pairs, reasons,
    isDuplicate: (a, b) => d.isDuplicate(a, b) || (added.size > 0 && added.has(key(a, b))),
  };
}
