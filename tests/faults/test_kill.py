"""(a) SIGKILL at random moments: no document lost or written twice, originals unchanged, novelty kept."""

from __future__ import annotations

import random
import signal
import time

import pytest

from .helpers import (check_enriched_once, count_enriched, fetch_all, load, novelty_problems, sample_docs, tail,
                      wait_for)

pytestmark = [pytest.mark.faults, pytest.mark.integration]

KILLS = 10
DOCS_PER_INDEX = 10_000


def test_repeated_sigkill_then_clean_pass_enriches_every_document_exactly_once(opensearch, enricher, fnames, proxy):
    first, second = fnames.index("logs-a"), fnames.index("logs-b")
    originals = {
        first: load(opensearch, first, sample_docs(DOCS_PER_INDEX, seed=1), shards=2),
        second: load(opensearch, second, sample_docs(DOCS_PER_INDEX, seed=2)),
    }
    total = sum(len(docs) for docs in originals.values())
    pattern = f"{fnames.prefix}-logs*"
    # Slow writes down a little so that each process is killed while it works, not after it is done.
    proxy.add("delay", path=r"/_bulk", seconds=0.1)
    config = enricher.config(source={"batch_size": 150})
    rng = random.Random(20)
    progress = [0]
    for kill in range(KILLS):
        # Kill once the process has written a random amount (not after a fixed time, which a loaded
        # machine would stretch), then a random moment later, so kills land anywhere in a batch.
        target = progress[-1] + rng.randint(300, 1800)
        process = enricher.start("run" if kill % 3 == 2 else "once", config=config)
        wait_for(lambda: count_enriched(opensearch, pattern) >= target or process.poll() is not None, 300, 0.05)
        time.sleep(rng.uniform(0.0, 0.3))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        progress.append(count_enriched(opensearch, pattern))
    assert progress[-1] < total, f"the kills should land mid-run (enriched after each kill: {progress})"
    assert all(b > a for a, b in zip(progress, progress[1:])), f"every run should make progress: {progress}"

    proxy.clear()
    final = enricher.once(config=config)
    assert final.returncode == 0, tail(final.stderr)

    for index, docs in originals.items():
        stored = fetch_all(opensearch, index)
        check_enriched_once(stored, docs)
    # Keyed by index and id: both indices have a d000012.
    stored_all = {f"{index}/{doc_id}": hit for index in (first, second)
                  for doc_id, hit in fetch_all(opensearch, index).items()}
    problems = novelty_problems(stored_all, opensearch, fnames.templates)
    assert not problems, f"{len(problems)} novelty problems after {KILLS} kills, e.g. {problems[:5]}"
