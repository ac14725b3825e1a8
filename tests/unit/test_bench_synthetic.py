"""bench/synthetic.py, the check of template mining on generated sources, on a tiny run (its tables, not speed)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
pytest.importorskip("drain3")

import synthetic  # noqa: E402


def test_several_seeds_print_a_table_each_and_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert synthetic.main(["--sources", "1", "--request-sources", "1", "--lines", "300", "--repeat", "1",
                           "--seed", "7", "8"]) == 0
    out = capsys.readouterr().out
    assert "seed 7\n" in out and "seed 8\n" in out
    summary = out.split("sources below drain3's GA\n", 1)[1].splitlines()
    rows = {line.split()[0]: line.split() for line in summary[:3]}
    assert set(rows) == {"7", "8", "mean"}
    for seed in ("7", "8"):
        assert 0.0 <= float(rows[seed][1]) <= 1.0 and 0.0 <= float(rows[seed][2]) <= 1.0
    assert float(rows["mean"][1]) == pytest.approx((float(rows["7"][1]) + float(rows["8"][1])) / 2, abs=0.001)


def test_every_timed_run_starts_from_cold_caches() -> None:
    # What a run leaves in the process (regexes compiled per template, Python's own regex cache) must not make the
    # next run faster than a first pass over a new source.
    import re

    import parsing

    from enricher.templates import miner

    miner._run_pattern(("blk_<*>", "to", "<*>x"))
    re.compile(r"only\s+once")
    assert miner._run_pattern.cache_info().currsize > 0 and len(re._cache) > 0  # type: ignore[attr-defined]
    parsing.cold_caches()
    assert miner._run_pattern.cache_info().currsize == 0 and len(re._cache) == 0  # type: ignore[attr-defined]


def test_the_parsing_benchmark_prints_its_table_on_a_sample(capsys: pytest.CaptureFixture[str]) -> None:
    # The README's `bench/parsing.py` on one shared sample, one round: a row with both miners' scores and ratios.
    import parsing

    if not (parsing.DEFAULT_DATA / "Apache").is_dir():
        pytest.skip("the shared Loghub samples are not here")
    assert parsing.main(["--only", "Apache", "--repeat", "1", "--no-loo"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("Apache"))
    fields = row.split()
    assert float(fields[1]) > 0.9 and float(fields[2]) > 0.9  # GA, ours and drain3's: Apache is easy for both
    assert all(field.endswith("x") for field in fields[-4:])
