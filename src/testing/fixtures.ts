import { existsSync } from 'node:fs';
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
