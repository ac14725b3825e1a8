#!/usr/bin/env bash
# The quickstart: a local OpenSearch, generated sample logs, models trained on their history,
# one enrichment pass, and a readable summary. Needs nothing but this repository.
#
# The node's port and folder follow scripts/opensearch.sh (ENRICHER_OS_PORT, ENRICHER_OS_TRANSPORT_PORT,
# ENRICHER_OS_BASE), and the enricher is pointed at that port.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/opensearch.sh start
url="$(scripts/opensearch.sh url)"
# config/quickstart.yaml names the default port; the environment overrides it (see the README).
export ENRICHER_OPENSEARCH__HOSTS="[\"$url\"]"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
config=config/quickstart.yaml
enricher=.venv/bin/enricher

mkdir -p .enricher/models
rm -rf .enricher/models/classifier
cp -r models/classifier .enricher/models/   # the shipped default classifier (a fresh copy)
echo "== loading sample logs" >&2
$enricher samples load --config $config
echo "== training the anomaly models on the sample history (6 h to 1 h ago)" >&2
# Fewer calibration folds than the default 5: the quickstart trains in minutes.
$enricher train --config $config --from now-6h --to now-1h --promote
echo "== one enrichment pass" >&2
$enricher once --config $config
echo >&2
echo "Inspect the enriched documents:  curl -s '$url/logs-sample/_search?q=enrichment.anomaly.is_anomaly:true&size=3&pretty'" >&2
echo "Status:                          ENRICHER_OPENSEARCH__HOSTS='$ENRICHER_OPENSEARCH__HOSTS' $enricher status --config $config" >&2
node_env=""
for var in ENRICHER_OS_BASE ENRICHER_OS_PORT; do
  [ -n "${!var:-}" ] && node_env+="$var=${!var} "
done
echo "Stop OpenSearch:                 ${node_env}scripts/opensearch.sh stop" >&2
