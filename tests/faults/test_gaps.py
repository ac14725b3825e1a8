"""(g) Silent gaps: documents the enricher would skip for good without saying so."""

from __future__ import annotations

import pytest

from .helpers import NAMESPACE, check_enriched_once, count_enriched, fetch_all, load, sample_docs, tail

pytestmark = [pytest.mark.faults, pytest.mark.integration]

SHORT_LATE_ARRIVAL = {"source": {"late_arrival": 1}}  # seconds


def test_write_blocked_index_is_enriched_after_the_block_lifts(opensearch, enricher, fnames, proxy):
    blocked, normal = fnames.index("logs-blocked"), fnames.index("logs-normal")
    old = load(opensearch, blocked, sample_docs(500, seed=20, hours_ago=3))
    newer = load(opensearch, normal, sample_docs(500, seed=21, hours_ago=1))
    config = enricher.config(**SHORT_LATE_ARRIVAL)
    installed = enricher.cli("mappings", "install", config=config)
    assert installed.returncode == 0, installed.stderr
    opensearch.indices.put_settings(index=blocked, body={"index.blocks.write": True})

    during = enricher.once(config=config)

    assert during.returncode == 0, tail(during.stderr)
    report = during.report
    assert count_enriched(opensearch, normal) == len(newer)
    problems = []  # both checks below are reported together
    if report["write_failures"] != len(old) or report["documents"] + report["already_enriched"] > len(old) + len(newer):
        problems.append(f"the pass re-read the {len(old)} refused documents in every sweep: {report}")

    opensearch.indices.put_settings(index=blocked, body={"index.blocks.write": False})
    after = [enricher.once(config=config) for _ in range(2)]
    assert all(result.returncode == 0 for result in after), [tail(r.stderr) for r in after]
    if count_enriched(opensearch, blocked) != len(old):
        problems.append(f"{len(old) - count_enriched(opensearch, blocked)} documents refused while the index was "
                        "blocked were skipped for good once the checkpoint passed them")
    assert not problems, "\n".join(problems)
    check_enriched_once(fetch_all(opensearch, blocked), old)


def test_one_far_future_document_does_not_stop_enrichment(opensearch, enricher, fnames, proxy):
    index = fnames.index("logs-a")
    docs = load(opensearch, index, sample_docs(300, seed=22))
    docs.update(load(opensearch, index, [{"@timestamp": "2999-01-01T00:00:00Z", "message": "clock went wrong"}],
                     prefix="future", create=False))
    first = enricher.once()
    assert first.returncode == 0, tail(first.stderr)

    later = load(opensearch, index, sample_docs(300, seed=23, hours_ago=0.05), prefix="later", create=False)
    second = enricher.once()

    assert second.returncode == 0, tail(second.stderr)
    assert count_enriched(opensearch, index) == len(docs) + len(later), \
        "documents indexed after one dated 2999 must still be enriched"
    check_enriched_once(fetch_all(opensearch, index), {**docs, **later})


def _late_arrivals(opensearch, enricher, fnames):
    index = fnames.index("logs-a")
    on_time = load(opensearch, index, sample_docs(500, seed=24, hours_ago=1))
    config = enricher.config(**SHORT_LATE_ARRIVAL)
    first = enricher.once(config=config)
    assert first.returncode == 0, tail(first.stderr)
    late = load(opensearch, index, sample_docs(300, seed=25, hours_ago=3), prefix="late", create=False)
    return index, config, on_time, late


def test_documents_arriving_behind_the_checkpoint_are_enriched(opensearch, enricher, fnames, proxy):
    index, config, on_time, late = _late_arrivals(opensearch, enricher, fnames)
    results = [enricher.once(config=config) for _ in range(2)]
    assert all(result.returncode == 0 for result in results), [tail(r.stderr) for r in results]
    assert count_enriched(opensearch, index) == len(on_time) + len(late), \
        "documents indexed later than late_arrival behind the checkpoint are never enriched"
    check_enriched_once(fetch_all(opensearch, index), {**on_time, **late})


def test_status_reports_documents_pending_behind_the_checkpoint(opensearch, enricher, fnames, proxy):
    _, config, _, late = _late_arrivals(opensearch, enricher, fnames)
    status = enricher.status(config=config)
    assert status.get("pending_behind_checkpoint") == len(late), \
        f"status should count the {len(late)} late documents as pending behind the checkpoint: {status}"
    assert status["pending_documents"] >= len(late), status


def _outputs(*results) -> str:
    return "\n".join(part for r in results for part in (r.stdout, r.stderr))


@pytest.mark.parametrize("time_type", ["text", "long"])
def test_index_with_a_non_date_timestamp_is_reported_and_others_enriched(opensearch, enricher, fnames, proxy,
                                                                         time_type):
    good, bad = fnames.index("logs-good"), fnames.index(f"logs-bad{time_type}")
    docs = load(opensearch, good, sample_docs(300, seed=26))
    bad_docs = sample_docs(100, seed=27)
    if time_type == "long":
        from datetime import datetime

        for doc in bad_docs:
            doc["@timestamp"] = int(datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00")).timestamp() * 1000)
    bad_mapping = {"properties": {"@timestamp": {"type": time_type}, "message": {"type": "text"}}}
    bad_originals = load(opensearch, bad, bad_docs, mappings=bad_mapping)

    first = enricher.once()
    later = load(opensearch, good, sample_docs(300, seed=28, hours_ago=0.05), prefix="later", create=False)
    second = enricher.once()
    status = enricher.cli("status", "--json")

    assert count_enriched(opensearch, good) == len(docs) + len(later), \
        f"an index with a {time_type} @timestamp stopped the others: {tail(_outputs(first, second))}"
    check_enriched_once(fetch_all(opensearch, good), {**docs, **later})
    bad_enriched = count_enriched(opensearch, bad) == len(bad_originals)
    assert bad_enriched or bad in _outputs(first, second, status), \
        f"index {bad} ({time_type} @timestamp) was neither enriched nor reported"


def test_index_with_a_legacy_namespace_field_is_reported_and_others_enriched(opensearch, enricher, fnames, proxy):
    good, legacy = fnames.index("logs-good"), fnames.index("logs-legacy")
    docs = load(opensearch, good, sample_docs(300, seed=29))
    legacy_docs = [{**doc, NAMESPACE: "v0-done"} for doc in sample_docs(100, seed=30)]
    legacy_mapping = {"properties": {"@timestamp": {"type": "date"}, "message": {"type": "text"},
                                     NAMESPACE: {"type": "keyword"}}}
    load(opensearch, legacy, legacy_docs, mappings=legacy_mapping)

    first = enricher.once()
    later = load(opensearch, good, sample_docs(300, seed=31, hours_ago=0.05), prefix="later", create=False)
    second = enricher.once()

    assert count_enriched(opensearch, good) == len(docs) + len(later), \
        f"an index whose {NAMESPACE} field is a keyword stopped the others: {tail(_outputs(first, second))}"
    check_enriched_once(fetch_all(opensearch, good), {**docs, **later})
    assert legacy in _outputs(first, second), f"index {legacy} with a conflicting {NAMESPACE} field was not reported"
