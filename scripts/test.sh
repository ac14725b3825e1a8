#!/usr/bin/env bash
# The test command: set up .venv, start the local OpenSearch, run every test (unit and integration).
# Extra arguments go to pytest, e.g. scripts/test.sh -k sink -x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/opensearch.sh start
# The tests talk to the node just started (ENRICHER_OS_PORT picks another one than 9200).
export ENRICHER_TEST_OPENSEARCH="${ENRICHER_TEST_OPENSEARCH:-$(scripts/opensearch.sh url)}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/python -m pytest "$@"
