#!/usr/bin/env bash
# Creates ./venv (the virtualenv Pulumi.yaml names) and installs requirements.txt into it.
# Idempotent: skips pip when requirements.txt has not changed since the last install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python="${PYTHON:-python3}"
if [[ ! -x venv/bin/python ]]; then
    echo "[setup-python] creating venv with $("$python" --version)" >&2
    "$python" -m venv venv
fi
stamp="venv/.requirements.sha256"
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "[setup-python] installing requirements.txt" >&2
    venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt >&2
    echo "$want" > "$stamp"
fi
# The program's bytecode, as pip writes it for installed packages: where Python is told not to write
# it (PYTHONDONTWRITEBYTECODE), every pulumi up would otherwise compile the package again (~0.1 s).
venv/bin/python -m compileall -q oam >/dev/null
