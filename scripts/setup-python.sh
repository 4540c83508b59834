#!/usr/bin/env bash
# Creates or updates .venv with the project's Python tools (pyspark for the Spark step, pytest, cfn-lint,
# checkov, parliament, policy_sentry, the AWS CLI v1). `npm install` / `npm ci` run it (package.json's
# postinstall), and `npm start` / `npm test` run it first, so a clone installed with --ignore-scripts gets its
# venv on first use instead of simulating steps. When .venv already matches requirements-dev.txt (a checksum
# kept in .venv) it returns at once, so calling it before every start costs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "setup-python: $*" >&2; }

python=${PYTHON:-python3}
stamp=.venv/.requirements-dev.cksum
log=.venv/setup-python.log
wanted="$(cksum < requirements-dev.txt)"

if ! command -v java >/dev/null 2>&1; then
  say "no java on PATH: Spark needs Java 17 (e.g. apt-get install openjdk-17-jre-headless); without it the Spark steps fail"
fi

if [[ -x .venv/bin/python && -f $stamp && "$(cat "$stamp")" == "$wanted" ]] && .venv/bin/python -c '' 2>/dev/null; then
  exit 0
fi

if ! command -v "$python" >/dev/null 2>&1 || ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)'; then
  say "Python 3.9+ is needed ($python is $("$python" --version 2>/dev/null || echo 'not found'); set PYTHON=/path/to/python3 to use another)"
  say "(the npm packages alone, without the local runtime's Spark and linters: npm install --ignore-scripts)"
  exit 1
fi
if [[ ! -e .venv ]]; then
  say "creating .venv with $("$python" --version 2>&1)"
  if ! "$python" -m venv .venv; then
    say "could not create .venv (on Debian or Ubuntu: apt-get install python3-venv)"
    exit 1
  fi
elif ! .venv/bin/python -c '' 2>/dev/null; then
  say ".venv exists but its python does not run (moved, or made by a removed Python): delete .venv and run this again"
  exit 1
fi

# pip's own output goes to the log; the terminal gets one line per requirement, per large download and per phase.
say "installing requirements-dev.txt into .venv (a few minutes the first time: pyspark alone is over 300 MB); full log: $log"
progress='
  /^Collecting / && (!/\(from/ || /\(from -r /) { sub(/ \(from.*/, ""); print "setup-python:   " $0; fflush(); next }
  /^Collecting / { dependencies += 1; if (dependencies % 25 == 0) { print "setup-python:   ... " dependencies " dependencies collected"; fflush() } next }
  /^ *(Downloading|Using cached) .*\([0-9.]+ MB\)/ { size = $0; sub(/.*\(/, "", size); if (size + 0 >= 20) { sub(/^ */, ""); print "setup-python:     " $0; fflush() } next }
  /^Building wheels? for/ || /^Installing collected packages/ { line = $0; if (length(line) > 100) line = substr(line, 1, 97) "..."; print "setup-python: " line; fflush(); next }
  /^Successfully installed/ { print "setup-python: installed " (NF - 2) " packages"; fflush(); next }
  /^(ERROR|WARNING: (Retrying|The script))/ { print "setup-python: " $0; fflush() }
'
if ! .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off -r requirements-dev.txt 2>&1 | tee "$log" | awk "$progress" >&2; then
  say "pip failed; the last lines of $log:"
  tail -n 15 "$log" >&2
  exit 1
fi
if ! .venv/bin/python -c 'import pyspark; print("setup-python: pyspark", pyspark.__version__, "in .venv")' >&2 2>/dev/null; then
  say "pip succeeded but pyspark does not import: see $log"
  exit 1
fi
echo "$wanted" > "$stamp"
