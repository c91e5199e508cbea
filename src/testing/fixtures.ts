import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** LFW beside the project (`../shared/datasets/lfw`), or where PROBITY_LFW points. */
export const lfwDir = process.env.PROBITY_LFW ?? join(projectRoot, '..', 'shared', 'datasets', 'lfw');
export const haveLfw = existsSync(join(lfwDir, 'images'));
export const skipWithoutLfw = haveLfw ? false : `LFW not found at ${lfwDir} (set PROBITY_LFW)`;

export function lfwImage(identity: string, index: number): string {
  return join(lfwDir, 'images', identity, `${identity}_${String(index).padStart(4, '0')}.jpg`);
}

/** Group photographs (1920 px wide, several faces each) shipped in @vladmandic/face-api's demo folder. */
export function sampleImage(n: number): string {
  return join(projectRoot, 'node_modules', '@vladmandic', 'face-api', 'demo', `sample${n}.jpg`);
}

export const cliPath = join(projectRoot, 'bin', 'probity.js');

/** The printed-photo presentation-attack set beside the project (`../shared/datasets/nuaa-pad`), or where PROBITY_NUAA_PAD points. */
export const nuaaPadDir = process.env.PROBITY_NUAA_PAD ?? join(projectRoot, '..', 'shared', 'datasets', 'nuaa-pad');
export const haveNuaaPad = existsSync(join(nuaaPadDir, 'labels.csv'));
export const skipWithoutNuaaPad = haveNuaaPad ? false : `the NUAA presentation-attack set was not found at ${nuaaPadDir} (set PROBITY_NUAA_PAD)`;

/** A frame of the NUAA set: `kind` bona_fide or attack, subject "0001" to "0010", the n-th frame listed. */
export function nuaaFrame(kind: 'bona_fide' | 'attack', subject: string, n = 0): string {
  const rows = readFileSync(join(nuaaPadDir, 'labels.csv'), 'utf8').split('\n').filter((l) => l.startsWith(`${kind}/${subject}/`));
  const row = rows[n];
  if (!row) throw new Error(`no ${kind} frame ${n} of subject ${subject} in ${nuaaPadDir}`);
  return join(nuaaPadDir, row.split(',')[0]!);
}
