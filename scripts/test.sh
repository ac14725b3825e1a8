#!/usr/bin/env bash
# The test command: set up .venv, start the local OpenSearch, run every test (unit, integration and the
# fault-injection suite in tests/faults).
#   scripts/test.sh                 everything
#   scripts/test.sh --unit          unit tests only (no OpenSearch needed; seconds)
#   scripts/test.sh -m "not faults" everything but the fault suite
# Extra arguments go to pytest, e.g. scripts/test.sh -k sink -x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if [ "${1:-}" = "--unit" ]; then
  shift
  exec .venv/bin/python -m pytest -m "not integration and not faults" tests/unit "$@"
fi
scripts/opensearch.sh start
# The tests talk to the node just started (ENRICHER_OS_PORT picks another one than 9200).
export ENRICHER_TEST_OPENSEARCH="${ENRICHER_TEST_OPENSEARCH:-$(scripts/opensearch.sh url)}"
.venv/bin/python -m pytest "$@"
