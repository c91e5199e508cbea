import { ProbityError } from '../errors.js';

export interface IdentityLabels {
  sex: string;
  race: string;
  age_group: string;
}

/** Read `identity,images,sex,race,age_group` rows. Unknown columns are ignored; missing values become "unknown". */
export function parseDemographics(text: string, label = 'demographics file'): Map<string, IdentityLabels> {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const col = (name: string) => header.indexOf(name);
  const id = col('identity');
  if (id < 0) throw new ProbityError('invalid_argument', `${label}: the first line must be a header with an "identity" column`);
  const map = new Map<string, IdentityLabels>();
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i]!.split(',').map((c) => c.trim());
    const get = (name: string) => {
      const c = col(name);
      return c >= 0 && cells[c] ? cells[c]! : 'unknown';
    };
    if (!cells[id]) throw new ProbityError('invalid_argument', `${label}: line ${i + 1} has no identity`);
    map.set(cells[id]!, { sex: get('sex'), race: get('race'), age_group: get('age_group') });
  }
  return map;
}

/** The groupings a fairness report looks at, each a function from labels to a group name. */
export const GROUPINGS: Record<string, (l: IdentityLabels) => string> = {
  race: (l) => l.race,
  sex: (l) => l.sex,
  'race x sex': (l) => `${l.race} ${l.sex}`,
  age: (l) => l.age_group,
};
