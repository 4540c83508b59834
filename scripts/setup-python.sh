#!/usr/bin/env bash
# Creates .venv with the project's Python tools (pyspark for the Spark step, pytest, cfn-lint, checkov).
# Idempotent: re-running only installs what changed in requirements-dev.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)'; then
  echo "setup-python: Python 3.9+ is needed ($python is $("$python" --version 2>&1))" >&2
  exit 1
fi
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
if ! command -v java >/dev/null 2>&1; then
  echo "setup-python: no java on PATH; Spark needs Java 17 (the local runtime will simulate steps without it)" >&2
fi
.venv/bin/python -c 'import pyspark; print("setup-python: pyspark", pyspark.__version__, "in .venv")'
