# Sourced by scripts/run and scripts/test: make .venv with the hub installed (idempotent, quiet).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Major Incident Hub needs Python 3.11 or newer (found: $("$PY" --version 2>&1))." >&2
  exit 1
fi
EXTRAS="${1:-}"
STAMP=".venv/.installed${EXTRAS}"
if [ ! -x .venv/bin/python ]; then
  echo "» creating .venv"
  "$PY" -m venv .venv
fi
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  echo "» installing dependencies into .venv (first run takes a minute)"
  .venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -m pip install --quiet --config-settings editable_mode=compat -e ".${EXTRAS}" 2>&1 | grep -v "is ignored" || true
  .venv/bin/python -c "import hub, flask, huey, sqlalchemy" || { echo "install failed" >&2; exit 1; }
  touch "$STAMP"
fi
