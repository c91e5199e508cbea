/**
 * The relative links of a Markdown file, and whether each resolves: the file or folder exists,
 * and a `#anchor` names a heading of the target as GitHub slugs it. Links inside code (fenced
 * blocks and inline spans) are text, not links, and are left out.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** GitHub's heading anchor: lower case, punctuation other than `-` and `_` dropped, spaces to `-`. */
export function slug(heading: string): string {
  return heading.trim().toLowerCase()
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-');
}

function withoutBlocks(text: string): string {
  return text.replace(/^(```|~~~)[\s\S]*?^\1/gm, '');
}

function withoutCode(text: string): string {
  return withoutBlocks(text).replace(/`[^`\n]*`/g, '');
}

/** Every anchor a file's headings give (a repeated heading gets -1, -2, ...). */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of withoutBlocks(text).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of text.matchAll(/<a (?:name|id)="([^"]+)"/g)) out.add(m[1]!);
  return out;
}

export interface BrokenLink { file: string; target: string; why: string }

/** The relative links in `file` that do not resolve, each with why. */
export function brokenLinks(file: string, root: string): BrokenLink[] {
  const text = readFileSync(file, 'utf8');
  const broken: BrokenLink[] = [];
  const targets = [...withoutCode(text).matchAll(/\]\(([^)\s]+)(?: "[^"]*")?\)/g)].map((m) => m[1]!)
    .concat([...withoutCode(text).matchAll(/^\[[^\]]+\]: *(\S+)/gm)].map((m) => m[1]!));
  for (const target of targets) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: ...
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const resolved = path ? join(dirname(file), decodeURIComponent(path)) : file;
    const name = relative(root, file);
    if (!existsSync(resolved)) {
      broken.push({ file: name, target, why: `${relative(root, resolved)} does not exist` });
      continue;
    }
    if (relative(root, resolved).startsWith('..')) {
      broken.push({ file: name, target, why: 'points outside the repository' });
      continue;
    }
    if (anchor === undefined) continue;
    if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) {
      broken.push({ file: name, target, why: 'an anchor into something that is not a Markdown file' });
      continue;
    }
    if (!anchors(readFileSync(resolved, 'utf8')).has(anchor)) broken.push({ file: name, target, why: `no heading gives #${anchor}` });
  }
  return broken;
}
