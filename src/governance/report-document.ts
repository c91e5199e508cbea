/**
 * A small document model rendered to Markdown and to self-contained HTML, so that one report
 * has one source for both forms.
 */
export interface Section {
  title: string;
  paragraphs?: string[];
  table?: { head: string[]; rows: (string | number)[][] };
  bullets?: string[];
}

export interface ReportDocument {
  title: string;
  subtitle: string;
  sections: Section[];
}

const cell = (v: string | number) => String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function toMarkdown(doc: ReportDocument): string {
  const out = [`# ${doc.title}`, '', doc.subtitle, ''];
  for (const s of doc.sections) {
    out.push(`## ${s.title}`, '');
    for (const p of s.paragraphs ?? []) out.push(p, '');
    if (s.bullets?.length) out.push(...s.bullets.map((b) => `- ${b}`), '');
    if (s.table) {
      out.push(`| ${s.table.head.map(cell).join(' | ')} |`, `| ${s.table.head.map(() => '---').join(' | ')} |`);
      for (const r of s.table.rows) out.push(`| ${r.map(cell).join(' | ')} |`);
      out.push('');
    }
  }
  return out.join('\n');
}

const esc = (v: string | number) => String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function toHtml(doc: ReportDocument): string {
  const body = doc.sections.map((s) => [
    `<section><h2>${esc(s.title)}</h2>`,
    ...(s.paragraphs ?? []).map((p) => `<p>${esc(p)}</p>`),
    s.bullets?.length ? `<ul>${s.bullets.map((b) => `<li>${esc(b)}</li>`).join('')}</ul>` : '',
    s.table ? `<table><thead><tr>${s.table.head.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead><tbody>${s.table.rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>` : '',
    '</section>',
  ].join('\n')).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.title)}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eee}
</style></head><body>
<h1>${esc(doc.title)}</h1><p>${esc(doc.subtitle)}</p>
${body}
</body></html>
`;
}
