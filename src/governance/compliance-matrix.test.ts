/**
 * The compliance matrix (docs/compliance/, one page per law) is tied to the code: every provision
 * of RCW 43.386, BIPA or the EU AI Act that a rule cites (a policy pack's rule, or any rule the
 * service refuses with) has a row on its law's page, and every test a row names exists, in that
 * file, under that name. Each check is shown to fail on a planted gap.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../testing/fixtures.js';
import { POLICY_PACKS } from './policy/packs.js';

type Law = 'rcw' | 'bipa' | 'eu';
const PAGES: Record<Law, string> = { rcw: 'docs/compliance/rcw-43-386.md', bipa: 'docs/compliance/bipa.md', eu: 'docs/compliance/eu-ai-act.md' };

interface Row { citation: string; tests: { file: string; name: string }[]; testCell: string }

/** The rows of a page's matrix table: its citation cell and the tests its last cell names. */
export function matrixRows(markdown: string): Row[] {
  const rows: Row[] = [];
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| citation') || line.startsWith('| ---')) continue;
    const cells = line.split(' | ').map((c) => c.replace(/^\| ?| ?\|$/g, '').trim());
    const testCell = cells[cells.length - 1]!;
    const tests = [...testCell.matchAll(/`(src\/[^`]+\.test\.ts)`\s*"([^"]+)"/g)].map((m) => ({ file: m[1]!, name: m[2]! }));
    rows.push({ citation: cells[0]!, tests, testCell });
  }
  return rows;
}

/** Expands "5(1)(f)-(g)" to 5(1)(f) and 5(1)(g), "5(2)-(3)" to 5(2) and 5(3). */
function expandRange(ref: string): string[] {
  const m = /^(.*)\(([a-z]+|\d+)\)-\(([a-z]+|\d+)\)$/.exec(ref);
  if (!m) return [ref];
  const [, base, from, to] = m;
  if (/^\d+$/.test(from!)) {
    const out = [];
    for (let i = Number(from); i <= Number(to); i++) out.push(`${base}(${i})`);
    return out;
  }
  if (from!.length === 1 && to!.length === 1) {
    const out = [];
    for (let c = from!.charCodeAt(0); c <= to!.charCodeAt(0); c++) out.push(`${base}(${String.fromCharCode(c)})`);
    return out;
  }
  return [`${base}(${from})`, `${base}(${to})`];
}

/** The provisions of the three laws a citation names, each with its law. */
export function citedProvisions(citation: string): { law: Law; provision: string }[] {
  const out: { law: Law; provision: string }[] = [];
  for (const m of citation.matchAll(/RCW 43\.386(?:\.(\d{3})((?:\(\w+\))*))?/g)) out.push({ law: 'rcw', provision: `RCW 43.386${m[1] ? `.${m[1]}${m[2] ?? ''}` : ''}` });
  for (const m of citation.matchAll(/740 ILCS 14\/(\d+)((?:\([a-z0-9]+\))*)/g)) out.push({ law: 'bipa', provision: `740 ILCS 14/${m[1]}${m[2] ?? ''}` });
  for (const m of citation.matchAll(/EU AI Act Art\. ([^;]+)/g)) {
    // "5(1)(h), 5(2)-(3)" and "14(5)": each part a provision of the Act; prose after one ends the list.
    for (const part of m[1]!.split(/,| and /)) {
      const ref = /^\s*(\d+(?:\(\w+\))*(?:-\(\w+\))?)/.exec(part)?.[1];
      if (ref) for (const r of expandRange(ref)) out.push({ law: 'eu', provision: `Art. ${r}` });
    }
  }
  return out;
}

/** Whether a row of the law's page covers the provision: the row is the provision, or a part of it, or the provision is a part of the row. */
export function covered(rows: readonly Row[], provision: string): boolean {
  return rows.some((r) => {
    const c = r.citation.replace(/^EU AI Act /, '');
    const cells = expandCell(c);
    return cells.some((x) => x === provision || x.startsWith(`${provision}(`) || x.startsWith(`${provision}.`) || provision.startsWith(`${x}(`));
  });
}

/** A row citing "RCW 43.386.020(2)(c)(i)-(ii)" covers both (i) and (ii). */
function expandCell(c: string): string[] {
  return expandRange(c.trim());
}

/** Every `citation:` written in the service's source (not its tests): the packs' rules and every rule the service refuses with. */
function sourceCitations(): { where: string; citation: string }[] {
  const out: { where: string; citation: string }[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !p.includes(`${join('src', 'testing')}`)) {
        for (const m of readFileSync(p, 'utf8').matchAll(/citation:\s*(['"`])((?:(?!\1).)*)\1/g)) out.push({ where: relative(projectRoot, p), citation: m[2]! });
      }
    }
  };
  walk(join(projectRoot, 'src'));
  return out;
}

/** The missing rows and the rows naming a test that does not exist, for the pages as given. */
export function matrixGaps(pages: Record<Law, string>, citations: { where: string; citation: string }[]): string[] {
  const rows = Object.fromEntries(Object.entries(pages).map(([law, md]) => [law, matrixRows(md)])) as Record<Law, Row[]>;
  const gaps: string[] = [];
  for (const { where, citation } of citations) {
    for (const { law, provision } of citedProvisions(citation)) {
      if (!covered(rows[law], provision)) gaps.push(`${where} cites ${provision}, which has no row in ${PAGES[law]}`);
    }
  }
  for (const [law, rs] of Object.entries(rows) as [Law, Row[]][]) {
    for (const r of rs) {
      if (r.tests.length === 0 && !/^none\b/.test(r.testCell)) gaps.push(`${PAGES[law]}: the row for ${r.citation} names no test and does not say "none: why"`);
      for (const t of r.tests) {
        const file = join(projectRoot, t.file);
        if (!existsSync(file)) {
          gaps.push(`${PAGES[law]}: the row for ${r.citation} names ${t.file}, which does not exist`);
          continue;
        }
        // The test's title as written in its source, escapes undone.
        const source = readFileSync(file, 'utf8').replace(/\\(['"`])/g, '$1');
        if (!source.includes(`'${t.name}'`) && !source.includes(`"${t.name}"`) && !source.includes(`\`${t.name}\``)) gaps.push(`${PAGES[law]}: the row for ${r.citation} names test "${t.name}", which is not in ${t.file}`);
      }
    }
  }
  return gaps;
}

const pages = () => Object.fromEntries(Object.entries(PAGES).map(([law, p]) => [law, readFileSync(join(projectRoot, p), 'utf8')])) as Record<Law, string>;

test('every provision a policy rule cites has a row in its law\'s compliance page, and every test a row names exists', () => {
  for (const p of Object.values(PAGES)) assert.ok(existsSync(join(projectRoot, p)), `${p} exists`);
  const citations = sourceCitations();
  // The source scan finds the law packs' rules written as literals: a scan that found none would pass vacuously.
  for (const id of ['us-wa', 'us-il', 'eu-ai-act']) {
    for (const r of POLICY_PACKS.find((p) => p.id === id)!.rules) assert.ok(citations.some((c) => c.citation === r.citation), `the scan finds ${r.id}`);
  }
  for (const [law, md] of Object.entries(pages())) assert.ok(matrixRows(md).filter((r) => r.tests.length > 0).length >= 5, `${law}: the page's table is read, rows and tests`);
  assert.deepEqual(matrixGaps(pages(), citations), []);
  // And the packs' rules, as loaded (a citation built at run time is checked too).
  assert.deepEqual(matrixGaps(pages(), POLICY_PACKS.flatMap((p) => p.rules.map((r) => ({ where: r.id, citation: r.citation })))), []);
});

test('the check fails on a planted gap: a cited provision with no row, a row naming a missing file or test, a row naming nothing', () => {
  const real = pages();
  const planted = [
    { where: 'us-wa/planted', citation: 'RCW 43.386.085(1)' },
    { where: 'us-il/planted', citation: '740 ILCS 14/25' },
    { where: 'eu/planted', citation: 'EU AI Act Art. 5(1)(e), 50(3)' },
  ];
  const gaps = matrixGaps(real, planted);
  assert.ok(gaps.some((g) => g.includes('RCW 43.386.085(1)')));
  assert.ok(gaps.some((g) => g.includes('740 ILCS 14/25')));
  assert.ok(gaps.some((g) => g.includes('Art. 5(1)(e)')));
  assert.ok(gaps.some((g) => g.includes('Art. 50(3)')));
  const broken = { ...real, bipa: `${real.bipa}\n| 740 ILCS 14/15(a) | x | software | x | \`src/nowhere.test.ts\` "a test" |\n| 740 ILCS 14/15(b) | x | software | x | \`src/service/compliance.test.ts\` "a test nobody wrote" |\n| 740 ILCS 14/15(c) | x | software | x | later |\n` };
  const brokenGaps = matrixGaps(broken, []);
  assert.ok(brokenGaps.some((g) => g.includes('src/nowhere.test.ts, which does not exist')));
  assert.ok(brokenGaps.some((g) => g.includes('"a test nobody wrote", which is not in src/service/compliance.test.ts')));
  assert.ok(brokenGaps.some((g) => g.includes('names no test and does not say "none: why"')));
  // Ranges and lists are read provision by provision.
  assert.deepEqual(citedProvisions('EU AI Act Art. 5(1)(h), 5(2)-(3)').map((p) => p.provision), ['Art. 5(1)(h)', 'Art. 5(2)', 'Art. 5(3)']);
  assert.deepEqual(citedProvisions('Microsoft (2022); EU AI Act Art. 5(1)(f)-(g)').map((p) => p.provision), ['Art. 5(1)(f)', 'Art. 5(1)(g)']);
  assert.deepEqual(citedProvisions('RCW 43.386.020 (the report) and RCW 43.386.050 (tests)').map((p) => p.provision), ['RCW 43.386.020', 'RCW 43.386.050']);
});
