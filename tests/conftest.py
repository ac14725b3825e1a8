"""Shared fixtures: the real local OpenSearch for integration tests, and the public data folder."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("ENRICHER_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
OPENSEARCH_URL = os.environ.get("ENRICHER_TEST_OPENSEARCH", "http://127.0.0.1:9200")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "loghub").is_dir():
        pytest.skip(f"public data not found at {SHARED_DATA} (set ENRICHER_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def opensearch():
    """A client for the real local OpenSearch started by scripts/opensearch.sh (tests fail without it)."""
    from opensearchpy import OpenSearch
    from opensearchpy.exceptions import ConnectionError as OSConnectionError

    client = OpenSearch(hosts=[OPENSEARCH_URL], timeout=60)
    try:
        client.cluster.health(params={"wait_for_status": "yellow"})
    except OSConnectionError as exc:
        pytest.fail(f"OpenSearch is not reachable at {OPENSEARCH_URL}; run scripts/opensearch.sh start ({exc})")
    return client


@pytest.fixture
def names(opensearch):
    """Unique index names for one test, deleted afterwards."""
    suffix = uuid.uuid4().hex[:8]
    made = {"logs": f"logs-test-{suffix}", "pattern": f"logs-test-{suffix}*",
            "state": f"enricher-state-test-{suffix}", "templates": f"enricher-templates-test-{suffix}",
            "findings": f"enricher-findings-test-{suffix}",
            "namespace": "enrichment"}
    yield made
    from opensearchpy import NotFoundError

    from enricher.cluster.mappings import index_template_name

    opensearch.indices.delete(index=f"*{suffix}*", params={"ignore_unavailable": "true", "expand_wildcards": "all"})
    try:  # only tests that opt in to mappings.index_template make one
        opensearch.indices.delete_index_template(name=index_template_name(made["namespace"], [made["pattern"]]))
    except NotFoundError:
        pass


@pytest.fixture
def make_settings(names, tmp_path):
    """Settings pointing at this test's indices, with an empty model registry unless given one."""
    from enricher.config import Settings

    def build(**overrides):
        values = {
            "opensearch": {"hosts": [OPENSEARCH_URL]},
            "state_index": names["state"],
            "templates_index": names["templates"],
            "source": {"index_patterns": [names["pattern"]], "batch_size": 100, "lookback": None},
            "sink": {"refresh": False},
            "models": {"registry": str(tmp_path / "registry")},
            "findings": {"index": names["findings"]},
            "log_format": "text",
        }
        for section, value in overrides.items():
            if isinstance(value, dict) and isinstance(values.get(section), dict):
                values[section] = {**values[section], **value}
            else:
                values[section] = value
        return Settings(**values)

    return build
