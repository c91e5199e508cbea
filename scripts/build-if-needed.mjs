#!/usr/bin/env node
// `npm start` builds only what is out of date: the TypeScript build and the console are made again
// when a source file (src/, web/, the tsconfig files, package.json) is newer than what was built
// from it, and not otherwise, so a start after the first is seconds, not a full build.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The newest modification time under a path (a file, or every file in a folder). */
function newest(path) {
  if (!existsSync(path)) return 0;
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

const sources = ['src', 'web', 'tsconfig.json', join('web', 'tsconfig.json'), join('web', 'vite.config.mjs'), 'package.json'].map((p) => newest(join(root, p)));
const outputs = [join('dist', 'cli', 'main.js'), join('dist', 'console', 'index.html')].map((p) => join(root, p));
const built = outputs.every(existsSync) ? Math.min(...outputs.map((p) => statSync(p).mtimeMs)) : 0;

if (built >= Math.max(...sources)) {
  console.error('probity: dist/ is up to date; not rebuilding (npm run build forces it)');
} else {
  console.error(built ? 'probity: sources changed since the last build; building' : 'probity: no build yet; building');
  const npm = process.env.npm_execpath?.endsWith('.js') ? [process.execPath, process.env.npm_execpath] : ['npm'];
  execFileSync(npm[0], [...npm.slice(1), 'run', 'build'], { cwd: root, stdio: 'inherit' });
}
