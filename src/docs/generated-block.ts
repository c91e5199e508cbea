/**
 * Parts of the documentation generated from the code (the settings table, the use-case catalogue,
 * the API reference) sit between `<!-- generated: NAME -->` and `<!-- /generated: NAME -->`. A
 * test compares each with what the code generates today, and with PROBITY_WRITE_DOCS=1 rewrites
 * it, so a change to the code is one command away from the page.
 */
import { readFileSync, writeFileSync } from 'node:fs';

export interface BlockCheck { file: string; name: string; found: string | undefined; expected: string }

function markers(name: string): [string, string] {
  return [`<!-- generated: ${name} -->\n`, `<!-- /generated: ${name} -->`];
}

/** The block's current text in the file (undefined when the markers are missing), after rewriting it if asked. */
export function generatedBlock(file: string, name: string, expected: string, write = process.env.PROBITY_WRITE_DOCS === '1'): BlockCheck {
  const [open, close] = markers(name);
  let text = readFileSync(file, 'utf8');
  const start = text.indexOf(open);
  const end = text.indexOf(close, start);
  if (start < 0 || end < 0) return { file, name, found: undefined, expected };
  const body = expected.endsWith('\n') ? expected : expected + '\n';
  if (write) {
    text = text.slice(0, start + open.length) + body + text.slice(end);
    writeFileSync(file, text);
  }
  return { file, name, found: text.slice(start + open.length, text.indexOf(close, start)), expected: body };
}
