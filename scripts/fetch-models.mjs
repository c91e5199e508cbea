#!/usr/bin/env node
// Brings the model files Probity runs on out of the npm packages that ship them, and checks
// each one by SHA-256. Only the model files are taken: the faceplugin package declares jest,
// babel and webpack as runtime dependencies, which a face recognition service has no use for.
// Idempotent: files already present with the right digest are left alone.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(root, 'models', 'manifest.json'), 'utf8'));
const modelsDir = process.env.PROBITY_MODEL_DIR ?? join(root, 'models');

const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

let failures = 0;
// Files shipped inside the package itself: nothing to fetch, but a damaged copy is said so now,
// not when the engine refuses it at load.
for (const f of manifest.shipped ?? []) {
  const p = join(root, f.path);
  if (!existsSync(p) || sha256(p) !== f.sha256) {
    console.error(`probity: ${f.path} is missing or has the wrong SHA-256 (expected ${f.sha256}); reinstall the package`);
    failures++;
  }
}
for (const pkg of manifest.packages) {
  const targetDir = join(modelsDir, `${pkg.name}-${pkg.version}`);
  const missing = pkg.files.filter((f) => {
    const p = join(targetDir, f.target);
    return !existsSync(p) || sha256(p) !== f.sha256;
  });
  if (missing.length === 0) continue;

  const work = mkdtempSync(join(tmpdir(), 'probity-models-'));
  try {
    const npm = process.env.npm_execpath && process.env.npm_execpath.endsWith('.js')
      ? [process.execPath, process.env.npm_execpath]
      : ['npm'];
    execFileSync(npm[0], [...npm.slice(1), 'pack', `${pkg.name}@${pkg.version}`, '--pack-destination', work, '--silent'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack ${pkg.name}@${pkg.version} produced no tarball`);
    execFileSync('tar', ['-xzf', join(work, tarball), '-C', work, ...missing.map((f) => `package/${f.source}`)]);
    mkdirSync(targetDir, { recursive: true });
    for (const f of missing) {
      const extracted = join(work, 'package', f.source);
      const digest = sha256(extracted);
      if (digest !== f.sha256) {
        console.error(`probity: ${pkg.name}@${pkg.version}/${f.source} has SHA-256 ${digest}, expected ${f.sha256}; refusing to use it`);
        failures++;
        continue;
      }
      renameSync(extracted, join(targetDir, f.target));
      console.log(`probity: model ${f.target} from ${pkg.name}@${pkg.version} verified`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
process.exit(failures === 0 ? 0 : 1);
