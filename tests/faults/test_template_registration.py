"""(d) Template registration under pushback: a refused ``create`` into the templates index must not abort the pass."""

from __future__ import annotations

import pytest

from .helpers import tail, check_enriched_once, fetch_all, load, novelty_problems, sample_docs

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_refused_template_creates_do_not_abort_the_pass(opensearch, enricher, fnames, proxy):
    index = fnames.index("logs-a")
    docs = load(opensearch, index, sample_docs(3000, seed=7))
    refused = [proxy.add("reject_items", ops=("create",), index="enricher-templates*", status=503, share=0.3),
               proxy.add("reject_items", ops=("create",), index="enricher-templates*", status=429, share=0.3)]

    result = enricher.once()

    assert sum(rule.hits for rule in refused) > 0, "template creates should have been refused"
    assert result.returncode == 0, f"the pass was aborted by a refused template create: {tail(result.stderr)}"
    assert result.report["enriched"] == len(docs), result.report
    stored = fetch_all(opensearch, index)
    check_enriched_once(stored, docs)
    problems = novelty_problems(stored, opensearch, fnames.templates)
    assert not problems, f"{len(problems)} novelty problems, e.g. {problems[:5]}"


def test_templates_used_by_documents_are_known_in_the_templates_index(opensearch, enricher, fnames, proxy):
    """No fault at all: every template id written on a document is recorded in the templates index, so that
    ``status`` (known templates) and novelty queries agree with the documents (today a template that
    generalises gets a new id that is never recorded)."""
    index = fnames.index("logs-a")
    docs = load(opensearch, index, sample_docs(3000, seed=8))

    result = enricher.once()

    assert result.returncode == 0, tail(result.stderr)
    stored = fetch_all(opensearch, index)
    check_enriched_once(stored, docs)
    problems = novelty_problems(stored, opensearch, fnames.templates, include_unknown=True)
    assert not problems, f"{len(problems)} template problems, e.g. {problems[:5]}"
