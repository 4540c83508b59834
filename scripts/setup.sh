#!/usr/bin/env bash
# `npm start` and `npm test` run this first. It makes, on first use, what `npm install`'s scripts make when they
# did not run (npm install --ignore-scripts, or ignore-scripts=true in an .npmrc): the Node 22 binary of the
# `node` package, whose install script fetches it (a plain `node` on PATH may be too old for
# aws-local-stepfunctions), and .venv (scripts/setup-python.sh). When both are in place it returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x node_modules/.bin/node ]]; then
  echo "setup: node_modules/.bin/node is missing (installed without scripts?): npm rebuild of the packages package.json's allowScripts lists" >&2
  # --ignore-scripts=false: an .npmrc that turned scripts off would make the rebuild a no-op.
  npm rebuild --ignore-scripts=false node esbuild @swc/core classic-level
fi
exec bash scripts/setup-python.sh
