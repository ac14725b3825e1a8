#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the project with its test and benchmark extras.
# Safe to re-run: pip skips what is installed, and its cache serves the large PyTorch wheel.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-}"
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python_bin="$candidate"; break
    fi
  done
fi
[ -n "$python_bin" ] || { echo "Python 3.11 is needed (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $python_bin" >&2
  "$python_bin" -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "[setup] installing dependencies (PyTorch is large: the first install takes a few minutes)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# The miner's hot path compiled with mypyc (scripts/build-native.py), again whenever its sources change. Optional:
# when it cannot be built, the same code runs as pure Python, slower.
if ! .venv/bin/python -c 'from enricher import native; raise SystemExit(not native.fresh())'; then
  echo "[setup] compiling the miner's hot path (mypyc: about 30 s)" >&2
  .venv/bin/python scripts/build-native.py >.venv/build-native.log 2>&1 \
    || echo "[setup] compiling failed (.venv/build-native.log): the miner runs as pure Python" >&2
fi

# Headless Chromium renders `enricher report` pages in the tests (skipped where it is absent). Debian's
# package, installed only as root on a machine with apt and only once.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[setup] installing chromium (apt-get) for the report test" >&2
  (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "[setup] chromium could not be installed; the report's browser test will be skipped" >&2
fi
