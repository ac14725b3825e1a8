"""Fixtures of the fault suite: a fault proxy in front of the local OpenSearch, unique names, the CLI runner."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

from .helpers import UPSTREAM, Enricher, Names
from .proxy import FaultProxy


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    with FaultProxy(UPSTREAM, seed=11) as running:
        yield running


@pytest.fixture
def fnames(opensearch: OpenSearch) -> Iterator[Names]:
    """Unique names for one test; its indices and index templates are deleted afterwards."""
    suffix = uuid.uuid4().hex[:8]
    names = Names(suffix=suffix, prefix=f"flt-{suffix}")
    yield names
    pattern = f"*{suffix}*"
    opensearch.indices.put_settings(index=pattern, body={"index.blocks.write": False},
                                    params={"ignore_unavailable": "true", "allow_no_indices": "true"})
    opensearch.indices.delete(index=pattern, params={"ignore_unavailable": "true", "expand_wildcards": "all"})
    templates = opensearch.indices.get_index_template(params={"ignore": 404}).get("index_templates", [])
    for template in templates:
        patterns = template["index_template"].get("index_patterns", [])
        if suffix in template["name"] or any(suffix in p for p in patterns):
            opensearch.indices.delete_index_template(name=template["name"], params={"ignore": 404})


@pytest.fixture
def enricher(fnames: Names, proxy: FaultProxy, tmp_path: Path) -> Iterator[Enricher]:
    (tmp_path / "emptyregistry").mkdir()
    runner = Enricher(workdir=tmp_path, names=fnames, host=proxy.url, patterns=[fnames.pattern])
    yield runner
    runner.stop_all()
