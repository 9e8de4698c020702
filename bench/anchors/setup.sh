#!/usr/bin/env bash
# Creates bench/.venv-anchors: an isolated venv with the tools nbflow is compared against
# (Metaflow 2.19 local runtime, papermill, numpy, ipykernel; xxhash for the physical limit of
# hashing, as nbflow uses it). Idempotent: a venv that already imports all of them is left alone.
set -euo pipefail
# pip on this machine warns about absent local mirrors on every package; keep the output readable.
quiet() { "$@" 2> >(grep -v "is neither a file nor a directory" >&2); }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(dirname "$here")/.venv-anchors"
py="${PYTHON:-python3}"

if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import metaflow, papermill, numpy, ipykernel, xxhash, pandas, sklearn" 2>/dev/null; then
  echo "anchors venv ready: $venv ($("$venv/bin/python" -c 'import metaflow; print("metaflow", metaflow.__version__)'))"
  exit 0
fi

[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true

# Metaflow 2.19.x is what ANCHORS.md was measured with; fall back to the newest 2.x that installs.
if ! quiet "$venv/bin/python" -m pip install -q --disable-pip-version-check "metaflow==2.19.*"; then
  echo "metaflow 2.19.* not installable; falling back to the newest 2.x" >&2
  quiet "$venv/bin/python" -m pip install -q --disable-pip-version-check "metaflow>=2,<3"
fi
quiet "$venv/bin/python" -m pip install -q --disable-pip-version-check papermill numpy ipykernel xxhash pandas scikit-learn

"$venv/bin/python" -c "import metaflow, papermill, numpy, ipykernel, xxhash; print('anchors venv ready:', '$venv', 'metaflow', metaflow.__version__, 'papermill', papermill.__version__, 'numpy', numpy.__version__)"
