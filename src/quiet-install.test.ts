/**
 * `npm install` and `npm ci` warn (EBADENGINE) for every locked package whose `engines.node`
 * excludes the Node that installs it: a user on the Node 20 the project supports saw three such
 * warnings. The lock file is what they install, so it is checked here on the Node running the tests.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from './testing/fixtures.js';

// semver is npm's own range logic (installed with fastify); untyped here.
const semver = createRequire(import.meta.url)('semver') as { satisfies(version: string, range: string): boolean };

interface LockedPackage { version?: string; engines?: { node?: string }; os?: string[]; cpu?: string[] }

/** npm's reading of an os/cpu list: names to allow, or "!name" to exclude. */
const allows = (list: string[] | undefined, value: string) =>
  !list || (list.some((v) => !v.startsWith('!')) ? list.includes(value) : !list.includes(`!${value}`));

test('every package the lock file installs here accepts this Node: installs print no engine warning', () => {
  const lock = JSON.parse(readFileSync(join(projectRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockedPackage> };
  const refused = Object.entries(lock.packages)
    .filter(([path, p]) => path !== '' && p.engines?.node && allows(p.os, process.platform) && allows(p.cpu, process.arch))
    .filter(([, p]) => !semver.satisfies(process.version, p.engines!.node!))
    .map(([path, p]) => `${path.replace(/^.*node_modules\//, '')}@${p.version} wants node ${p.engines!.node}`);
  assert.deepEqual(refused, [], `on ${process.version}`);
});

test("onnxruntime-node's install script (a CUDA download) stays denied, the two native addons' allowed", () => {
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
  assert.deepEqual(pkg.allowScripts, { 'better-sqlite3': true, usearch: true, 'onnxruntime-node': false });
});
