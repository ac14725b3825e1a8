"""(b) The cluster goes away: a running service rides out the outage, a starting one waits for the cluster."""

from __future__ import annotations

import time

import pytest

from .helpers import tail, check_enriched_once, count_enriched, fetch_all, load, sample_docs, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]

OUTAGE_SECONDS = 20


def test_running_service_survives_an_outage_and_catches_up(opensearch, enricher, fnames, proxy):
    index = fnames.index("logs-a")
    before = load(opensearch, index, sample_docs(1500, seed=1, hours_ago=0.5))
    service = enricher.start("run", schedule={"interval_seconds": 2})
    assert wait_for(lambda: count_enriched(opensearch, index) == len(before) or service.poll() is not None, 120), \
        "the service did not enrich the first documents"
    assert service.poll() is None, tail(service.stderr())

    proxy.down(OUTAGE_SECONDS)
    during = load(opensearch, index, sample_docs(1500, seed=2, hours_ago=0.05), prefix="late", create=False)
    time.sleep(OUTAGE_SECONDS)  # the outage window itself (the proxy comes back by itself)
    assert proxy.down_hits > 0, "the service should have tried to reach the cluster during the outage"
    assert service.poll() is None, f"the service exited during the outage (code {service.returncode})"

    everything = {**before, **during}
    caught_up = wait_for(lambda: count_enriched(opensearch, index) == len(everything) or service.poll() is not None,
                         120)
    alive = service.poll() is None
    service.stop()
    stderr = service.stderr()
    assert alive, f"the service exited after the outage (code {service.returncode}): {tail(stderr)}"
    assert caught_up, f"not every document was enriched after the outage: {tail(stderr)}"
    assert service.returncode == 0, f"SIGTERM should stop the service cleanly: {tail(stderr)}"
    check_enriched_once(fetch_all(opensearch, index), everything)


def test_service_started_while_the_cluster_is_down_waits_for_it(opensearch, enricher, fnames, proxy):
    index = fnames.index("logs-a")
    docs = load(opensearch, index, sample_docs(1000, seed=3, hours_ago=0.5))
    proxy.down(10)
    service = enricher.start("run", schedule={"interval_seconds": 2})
    finished = wait_for(lambda: count_enriched(opensearch, index) == len(docs) or service.poll() is not None, 120)
    exited = service.poll()
    service.stop()
    stderr = service.stderr()
    assert proxy.down_hits > 0, "the service should have found the cluster down at start"
    assert exited is None, \
        f"the service gave up instead of waiting for the cluster (exit code {exited}): {tail(stderr)}"
    assert finished, f"the documents were not enriched once the cluster came back: {tail(stderr)}"
    check_enriched_once(fetch_all(opensearch, index), docs)
