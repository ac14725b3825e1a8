"""(i) Session keys: empty or placeholder values must not merge unrelated documents into one session."""

from __future__ import annotations

import pytest

from .helpers import NAMESPACE, fetch_all, load, sample_docs, tail

pytestmark = [pytest.mark.faults, pytest.mark.integration]

PLACEHOLDERS = ("", "-")


def test_empty_and_placeholder_session_values_are_not_sessions(opensearch, enricher, fnames, proxy):
    index = fnames.index("logs-a")
    docs = sample_docs(300, seed=41)
    for n, doc in enumerate(docs):
        if n % 3:
            doc["trace_id"] = PLACEHOLDERS[n % 2]
    originals = load(opensearch, index, docs)

    result = enricher.once()

    assert result.returncode == 0, tail(result.stderr)
    stored = fetch_all(opensearch, index)
    placeholder_ids = [k for k, doc in originals.items() if doc.get("trace_id") in PLACEHOLDERS]
    assert len(placeholder_ids) == 200
    merged = [k for k in placeholder_ids if stored[k]["_source"][NAMESPACE].get("session") in PLACEHOLDERS]
    assert not merged, f"{len(merged)} documents share the session key '' or '-', e.g. {merged[:5]}"
