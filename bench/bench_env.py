"""What the Spark benchmarks share: the project's venv, checked before a run, and the folder a run works in."""

import os
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(ROOT, '.venv', 'bin')


def spark_work_folder(tool, keep):
    """Exits naming the fix when the venv has no spark-submit; else `keep` (created) or a new temporary folder."""
    if not os.access(os.path.join(VENV_BIN, 'spark-submit'), os.X_OK):
        raise SystemExit(f'{tool}: no .venv/bin/spark-submit; run scripts/setup-python.sh first')
    work = keep or tempfile.mkdtemp(prefix=f'emrflow-{tool}-')
    os.makedirs(work, exist_ok=True)
    return work
