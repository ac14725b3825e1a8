#!/usr/bin/env bash
# The test command: set up .venv, start the local OpenSearch, run every test (unit and integration).
# Extra arguments go to pytest, e.g. scripts/test.sh -k sink -x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/opensearch.sh start
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m pytest "$@"
