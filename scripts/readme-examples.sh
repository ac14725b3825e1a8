#!/usr/bin/env bash
# Runs the README's shell examples that follow the quickstart ("Try it on real logs", then "Then look at
# the results", which ends by stopping the node) against the quickstart's node, so they cannot drift.
# The node follows scripts/opensearch.sh's variables; its URL replaces the README's default one.
set -euo pipefail
cd "$(dirname "$0")/.."
url="$(scripts/opensearch.sh url)"
export ENRICHER_OPENSEARCH__HOSTS="[\"$url\"]" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

block_after() {  # the first ```bash block after the line containing $1, with the node's URL put in
  .venv/bin/python - "$1" "$url" <<'PY'
import re, sys
marker, url = sys.argv[1], sys.argv[2]
text = open("README.md", encoding="utf-8").read()
rest = text[text.index(marker):]
block = re.search(r"```bash\n(.*?)```", rest, re.S).group(1)
print(block.replace("http://127.0.0.1:9200", url))
PY
}

run_block() {
  echo "== README: $1" >&2
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    echo "\$ $line" >&2
    bash -euo pipefail -c "$line" > /tmp/readme-example.out
    head -c 600 /tmp/readme-example.out; echo
  done < <(block_after "$1")
}

if [ -d ../shared/data/loghub ]; then
  run_block "Try it on real logs"
  enriched=$(curl -fsS "$url/logs-lines/_count?q=enrichment.status:ok" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["count"])')
  echo "logs-lines: $enriched documents enriched" >&2
  [ "$enriched" -gt 0 ]
else
  echo "== README: 'Try it on real logs' skipped: ../shared/data is absent" >&2
fi
run_block "Then look at the results"
