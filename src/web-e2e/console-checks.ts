/**
 * What every console page is held to in the browser tests: no axe violations, no horizontal
 * overflow at a laptop's window and at a narrow one, and its actions reachable with Tab alone.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Page } from 'playwright-core';

const axeSource = (createRequire(import.meta.url)('axe-core') as { source: string }).source;

/** The widths a page must fit: 1280x800 and 800 wide. */
export const WINDOWS = [{ width: 1280, height: 800 }, { width: 800, height: 800 }] as const;

export async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const r = await (window as unknown as { axe: { run(o: object): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe.run({ resultTypes: ['violations'] });
    return r.violations.map((v) => `${v.id} (${v.impact}, ${v.nodes.length}: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')})`);
  });
}

/** How far the page reaches past the window's right edge, in CSS pixels (0 when it fits). */
export async function horizontalOverflow(page: Page): Promise<{ overflow: number; widest: string }> {
  return page.evaluate(() => {
    const root = document.documentElement;
    let widest = '';
    let right = root.clientWidth;
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect().right;
      if (r > right + 0.5) { right = r; widest = `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className ? `.${String(el.className).split(' ').join('.')}` : ''}`; }
    }
    return { overflow: Math.max(root.scrollWidth, document.body.scrollWidth) - root.clientWidth, widest };
  });
}

/** Screenshots at both widths, axe clean at both, and no horizontal scroll at either. */
export async function checkPage(page: Page, shots: string, name: string): Promise<void> {
  for (const size of WINDOWS) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(shots, `${name}${size.width === 1280 ? '' : `-${size.width}`}.png`), fullPage: true });
    const { overflow, widest } = await horizontalOverflow(page);
    assert.ok(overflow <= 0, `${name} at ${size.width}px: scrollWidth exceeds clientWidth by ${overflow}px (widest: ${widest})`);
    assert.deepEqual(await axeViolations(page), [], `${name} at ${size.width}px: accessibility violations`);
  }
  await page.setViewportSize(WINDOWS[0]);
}

/**
 * Presses Tab until the focused element is the control named `name` (its accessible text, value
 * or label), and fails if it is never reached: the control is in the keyboard's tab order.
 */
export async function tabTo(page: Page, name: string | RegExp, limit = 200): Promise<void> {
  const wanted = typeof name === 'string' ? { source: `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, flags: '' } : { source: name.source, flags: name.flags };
  for (let i = 0; i <= limit; i++) {
    // The control may have the focus already (the page moved it there); otherwise, Tab on.
    if (i > 0) await page.keyboard.press('Tab');
    const hit = await page.evaluate(({ source, flags }) => {
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return false;
      const labelled = el.id ? document.querySelector(`label[for="${el.id}"]`)?.textContent ?? '' : '';
      const names = [el.getAttribute('aria-label') ?? '', el.textContent?.trim() ?? '', labelled.trim()];
      return names.some((n) => new RegExp(source, flags).test(n));
    }, wanted);
    if (hit) return;
  }
  assert.fail(`"${String(name)}" is not reachable with Tab (${limit} presses)`);
}

/** Reaches a control with Tab and operates it with Enter, as a keyboard-only user would. */
export async function tabAndEnter(page: Page, name: string | RegExp): Promise<void> {
  await tabTo(page, name);
  await page.keyboard.press('Enter');
}
