#!/usr/bin/env bash
# The package as a user installs it: `npm pack`, then into an empty project, install the tarball
# (with onnxruntime-node's download of GPU libraries switched off: ONNXRUNTIME_NODE_INSTALL=skip)
# and run `probity compare` there, then import the library and the typed client (probity/client).
# LFW is the LFW images folder (default ../shared/datasets/lfw/images).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LFW=${LFW:-$(cd .. && pwd)/shared/datasets/lfw/images}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# dist/ is what the package ships: built here unless a build is already in place.
[ -f dist/cli/main.js ] && [ -f dist/client/index.js ] || npm run build
npm pack --ignore-scripts --pack-destination "$WORK" --silent >/dev/null
TARBALL=$(ls "$WORK"/probity-*.tgz)
echo "pack-smoke: $(basename "$TARBALL"), $(du -k "$TARBALL" | cut -f1) KB"
mkdir "$WORK/app" && cd "$WORK/app"
npm init -y >/dev/null
ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund "$TARBALL"
# The engine on two files, in a project that has nothing but the package.
npx probity compare "$LFW/Colin_Powell/Colin_Powell_0001.jpg" "$LFW/Colin_Powell/Colin_Powell_0002.jpg" --json >compare.json
node -e "const r = require('./compare.json'); if (r.match !== true) { console.error(r); process.exit(1); } console.log('pack-smoke: probity compare: match, score ' + r.score)"
# The library and the typed client, as a program imports them.
cat >check.mjs <<'JS'
import { FaceEngine } from 'probity';
import { probityClient } from 'probity/client';
if (typeof FaceEngine.load !== 'function') throw new Error('probity exports no FaceEngine');
const client = probityClient('http://127.0.0.1:9', 'prb_example');
for (const m of ['GET', 'POST', 'PUT', 'DELETE']) if (typeof client[m] !== 'function') throw new Error(`probity/client has no ${m}`);
console.log('pack-smoke: probity and probity/client import');
JS
node check.mjs
cd "$ROOT"
