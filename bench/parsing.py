"""Log parsing benchmark: this project's template miner against drain3 (default configuration), same run.

For every dataset in ``../shared/data/loghub/`` the ``Content`` column is fed in order to each miner, one line at
a time. Printed side by side per dataset:

* GA, grouping accuracy (Loghub's evaluation): a line is correct when its predicted group holds exactly the
  lines of its true ``EventId`` group;
* PA, parsing accuracy: a line is correct when its predicted template equals ``EventTemplate`` (whitespace runs
  collapsed on both sides; ``<*>`` for variables);
* lines/s: wall-clock throughput of feeding the lines, each miner doing the same work: learning and returning
  each line's template id (ours: ``TemplateMiner.learn``; drain3: ``add_log_message``), the median of ``--repeat``
  runs, each from a fresh miner, built before the clock starts, and cold caches (see ``cold_caches``). The runs
  take turns on the same input, and which one goes first alternates from round to round;
* speed: the median over rounds of the pair's wall-clock ratio (ours / drain3 throughput, both runs of a pair
  measured back to back), and ``cpu``: the same ratio from CPU time (``time.process_time``), which other processes
  on a shared machine disturb less than wall time. Above 1.00x ours is faster;
* ``cpu+p``: the CPU ratio with both miners also reading each line's parameters (ours: ``add``, as the service
  does; drain3: ``extract_parameters`` after ``add_log_message``, its documented way to get them);
* ``add/d3``: ours reading the parameters against drain3 not reading them (more work on our side; what the
  ``cpu`` column measured before ``learn`` existed).

Both miners are scored on their *final* templates: each line is mapped to the cluster it joined, and the cluster
to its template after all lines were seen (for our miner through ``canonical_id``, i.e. the alias map).
One configuration for all datasets: ``MinerConfig()`` defaults and ``drain3.TemplateMiner()`` defaults.

Then a leave-one-out table: for each dataset, the candidate configuration (a small grid over the thresholds and
rule switches of ``MinerConfig``, see ``CANDIDATES``) with the best mean GA on the *other* datasets is scored on
the held-out one, i.e. the default one would have chosen without looking at it.

Run: ``python bench/parsing.py [--data ../shared/data/loghub] [--repeat 5] [--datasets A B] [--no-loo]``.
Needs ``pip install drain3`` (0.9.11 measured). About a minute on two cores. Our miner runs as compiled by
``scripts/build-native.py`` when that build is fresh, else from source; the last lines say which
(``ENRICHER_NATIVE=0`` forces the source).
"""

from __future__ import annotations

import argparse
import csv
import logging
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from enricher import native  # noqa: E402
from enricher.templates import MinerConfig, TemplateMiner  # noqa: E402
from enricher.templates import miner as miner_module  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "loghub"
_SPACES = re.compile(r"\s+")


def load_dataset(folder: Path) -> tuple[list[str], list[str], list[str]]:
    """Content, EventId and EventTemplate columns of ``folder/NAME_2k.log_structured.csv``."""
    path = folder / f"{folder.name}_2k.log_structured.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["Content"] for r in rows], [r["EventId"] for r in rows], [r["EventTemplate"] for r in rows]


def grouping_accuracy(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """Loghub's GA: share of lines whose predicted group equals their true group as a set of lines."""
    true_sizes = Counter(truth)
    members: dict[str, list[int]] = defaultdict(list)
    for i, group in enumerate(predicted):
        members[group].append(i)
    correct = 0
    for lines in members.values():
        labels = {truth[i] for i in lines}
        if len(labels) == 1 and true_sizes[next(iter(labels))] == len(lines):
            correct += len(lines)
    return correct / len(truth)


def parsing_accuracy(truth_templates: Sequence[str], predicted_templates: Sequence[str]) -> float:
    def norm(t: str) -> str:
        return _SPACES.sub(" ", t).strip()

    hits = sum(norm(t) == norm(p) for t, p in zip(truth_templates, predicted_templates))
    return hits / len(truth_templates)


Feed = Callable[[Sequence[str]], tuple[list[str], list[str]]]
"""A fresh miner, ready to be fed the lines: it gives (final group of each line, its final template)."""


def ours(config: MinerConfig | None = None) -> Feed:
    """Our miner doing what drain3's ``add_log_message`` does: learn each line, give its template id."""
    miner = TemplateMiner(config or MinerConfig())
    return lambda lines: _final_groups(miner, [miner.learn(line) for line in lines])


def ours_with_params() -> Feed:
    """Our miner as the service uses it: each line's template id, template and parameters (``add``)."""
    miner = TemplateMiner(MinerConfig())
    return lambda lines: _final_groups(miner, [miner.add(line).template_id for line in lines])


def run_ours(lines: Sequence[str], config: MinerConfig | None = None) -> tuple[list[str], list[str]]:
    """(final group of each line, its final template) from a fresh miner of ours fed ``lines`` (for scoring)."""
    return ours(config)(lines)


def _final_groups(miner: TemplateMiner, ids: list[str]) -> tuple[list[str], list[str]]:
    """(final id of each line, its final template) of a miner that was fed the lines."""
    final = [miner.canonical_id(i) for i in ids]
    templates = {tid: template for tid, template, _ in miner.templates()}
    return final, [templates.get(i, "") for i in final]


def drain3() -> Feed:
    """drain3 in its default configuration: each line's cluster id (``add_log_message``)."""
    from drain3 import TemplateMiner as Drain3Miner

    miner = Drain3Miner()
    return lambda lines: _drain3_groups(miner, [miner.add_log_message(line)["cluster_id"] for line in lines])


def drain3_with_params() -> Feed:
    """drain3 doing what ours does per line: learn, then read the line's parameters from its template
    (``extract_parameters``, drain3's documented way to get them)."""
    from drain3 import TemplateMiner as Drain3Miner

    miner = Drain3Miner()

    def feed(lines: Sequence[str]) -> tuple[list[str], list[str]]:
        ids = []
        for line in lines:
            result = miner.add_log_message(line)
            miner.extract_parameters(result["template_mined"], line)
            ids.append(result["cluster_id"])
        return _drain3_groups(miner, ids)

    return feed


def _drain3_groups(miner: object, ids: list[int]) -> tuple[list[str], list[str]]:
    """(cluster id of each line, its final template) of a drain3 miner that was fed the lines."""
    templates = {c.cluster_id: c.get_template() for c in miner.drain.clusters}  # type: ignore[attr-defined]
    return [str(i) for i in ids], [templates.get(i, "") for i in ids]


MINERS: dict[str, Callable[[], Feed]] = {
    "ours": ours, "drain3": drain3, "ours+params": ours_with_params, "drain3+params": drain3_with_params,
}


@dataclass
class Timing:
    """Wall-clock and CPU seconds of every run of one miner on one dataset, in round order."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def cold_caches() -> None:
    """Forget what an earlier run left in the process: the regexes compiled per template (kept by the miner
    module's memoised functions) and Python's own cache of compiled regexes, for both miners. Without this, every
    run after the first found the regexes of its templates compiled, which a first pass over a new source does
    not (the benchmark read Android 34% faster than such a pass, when the miner still compiled them)."""
    re.purge()
    for memoised in vars(miner_module).values():
        if callable(getattr(memoised, "cache_clear", None)):
            memoised.cache_clear()


def measure(
    miners: dict[str, Callable[[], Feed]], lines: Sequence[str], repeat: int
) -> tuple[dict[str, tuple[list[str], list[str]]], dict[str, Timing]]:
    """(last result of each miner, its timings): every run starts from cold caches (see ``cold_caches``) and a
    fresh miner, built before the clock starts (the service builds its miners once; what is timed is feeding the
    lines). The miners take turns on the same input.

    Taking turns (ours, drain3, then drain3, ours...) rather than all runs of one miner and then the other's keeps
    load from other processes on a shared machine, and whatever the previous run left in the CPU caches, from
    favouring either miner.
    """
    timings = {name: Timing() for name in miners}
    results: dict[str, tuple[list[str], list[str]]] = {}
    order = list(miners)
    for name in order:  # untimed: imports, and the first use of the interpreter's code paths
        miners[name]()(lines)
    for round_ in range(repeat):
        for name in order if round_ % 2 == 0 else order[::-1]:
            cold_caches()
            feed = miners[name]()
            wall, cpu = time.perf_counter(), time.process_time()
            results[name] = feed(lines)
            timings[name].cpu.append(time.process_time() - cpu)
            timings[name].wall.append(time.perf_counter() - wall)
    return results, timings


def paired_ratio(slow: list[float], fast: list[float]) -> float:
    """Median over rounds of ``slow / fast`` (seconds of the same round): > 1 when ``fast`` is faster."""
    return statistics.median(s / f for s, f in zip(slow, fast))


# Candidate defaults for the leave-one-out table: a small grid around the shipped ``MinerConfig()``. For each
# held-out dataset the candidate with the best mean GA on the *other* datasets is picked, then scored on it.
# The grid spans the similarity threshold, the sibling counts that make a word a variable (elsewhere / first word)
# and whether templates differing only in the length of a run of values are joined.
CANDIDATES: dict[str, dict[str, object]] = {
    f"sim={sim:.1f},sib={sib},first={first},pair={pair}{',runs' if runs else ''}": {
        "similarity": sim, "min_siblings": sib, "min_siblings_first": first, "min_siblings_pair": pair,
        "merge_runs": runs,
    }
    for sim in (0.5, 0.7)
    for sib in (3, 4, 6)
    for first in (4, 8)
    for pair in (0, 4)
    for runs in (False, True)
} | {"default (sim=0.6,sib=4,first=8,pair=4,runs)": {}}


def score_config(config: MinerConfig, data: dict[str, tuple[list[str], list[str], list[str]]]) -> dict[str, tuple[float, float]]:
    """{dataset: (GA, PA)} of a fresh miner with ``config`` on each dataset."""
    scores = {}
    for name, (lines, event_ids, event_templates) in data.items():
        ids, templates = run_ours(lines, config)
        scores[name] = (grouping_accuracy(event_ids, ids), parsing_accuracy(event_templates, templates))
    return scores


def leave_one_out(data: dict[str, tuple[list[str], list[str], list[str]]], drain_ga: dict[str, float]) -> None:
    """Print, per dataset, the GA/PA of the candidate chosen on the other datasets only."""
    grid = {name: score_config(MinerConfig(**kwargs), data) for name, kwargs in CANDIDATES.items()}
    names = list(data)
    header = f"{'held out':<11} {'chosen on the others':<44} {'GA':>6} {'PA':>6} {'GA drain3':>9} {'GA default':>10}"
    print("\nLeave-one-out: the candidate with the best mean GA on the other datasets, scored on the held-out one")
    print(f"{len(CANDIDATES)} candidates: similarity 0.5/0.7 x min_siblings 3/4/6 x min_siblings_first 4/8 x "
          "min_siblings_pair 0/4 x merge_runs off/on, and the shipped defaults")
    print(header)
    print("-" * len(header))
    default_scores = score_config(MinerConfig(), data)
    ga, pa, d3 = [], [], []
    for held in names:
        others = [n for n in names if n != held] or names

        def mean_ga(candidate: str) -> float:
            return sum(grid[candidate][n][0] for n in others) / len(others)

        chosen = max(CANDIDATES, key=lambda c: (mean_ga(c), c == default_name()))
        g, p = grid[chosen][held]
        ga.append(g)
        pa.append(p)
        d3.append(drain_ga[held])
        print(f"{held:<11} {chosen:<44} {g:>6.3f} {p:>6.3f} {drain_ga[held]:>9.3f} {default_scores[held][0]:>10.3f}")
    print("-" * len(header))
    mean_default = sum(default_scores[n][0] for n in names) / len(names)
    print(f"{'mean':<11} {'':<44} {sum(ga) / len(ga):>6.3f} {sum(pa) / len(pa):>6.3f} {sum(d3) / len(d3):>9.3f} {mean_default:>10.3f}")
    below = [n for n, g, d in zip(names, ga, d3) if g < d]
    print(f"held-out datasets below drain3's GA: {', '.join(below) if below else 'none'}")


def default_name() -> str:
    """The candidate equal to the shipped defaults (preferred on ties), or ''."""
    default = MinerConfig()
    for name, kwargs in CANDIDATES.items():
        if MinerConfig(**kwargs) == default:
            return name
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of Loghub-2k datasets")
    parser.add_argument("--repeat", type=int, default=5, help="timing rounds per dataset (medians reported)")
    parser.add_argument("--datasets", "--only", nargs="*", default=None, help="dataset names to run (default: all)")
    parser.add_argument("--no-loo", action="store_true", help="skip the leave-one-out table")
    args = parser.parse_args(argv)
    logging.getLogger("drain3").setLevel(logging.ERROR)  # not its "no drain3.ini, using defaults" warning
    if not args.data.is_dir():
        print(f"no Loghub data at {args.data}; nothing to benchmark", file=sys.stderr)
        return 2
    folders = sorted(p for p in args.data.iterdir() if (p / f"{p.name}_2k.log_structured.csv").is_file())
    if args.datasets:
        folders = [f for f in folders if f.name in args.datasets]
    if not folders:
        return 2

    header = (f"{'dataset':<11} {'GA ours':>8} {'GA drain3':>9} {'PA ours':>8} {'PA drain3':>9} {'lines/s ours':>13}"
              f" {'lines/s drain3':>15} {'speed':>7} {'cpu':>7} {'cpu+p':>7} {'add/d3':>7}")
    print(header)
    print("-" * len(header))
    totals: dict[str, list[float]] = defaultdict(list)
    total_lines = 0
    total_time = {"ours": 0.0, "drain3": 0.0}
    data = {}
    drain_ga = {}
    slower: list[str] = []
    slower_params: list[str] = []
    differing: list[str] = []
    for folder in folders:
        lines, event_ids, event_templates = load_dataset(folder)
        data[folder.name] = (lines, event_ids, event_templates)
        results, timings = measure(MINERS, lines, args.repeat
        )
        if results["ours+params"] != results["ours"]:
            print(f"{folder.name}: learn and add gave different templates", file=sys.stderr)
            differing.append(folder.name)
        ours_ids, ours_tpl = results["ours"]
        d3_ids, d3_tpl = results["drain3"]
        ours, d3 = timings["ours"], timings["drain3"]
        row = {
            "ga_ours": grouping_accuracy(event_ids, ours_ids),
            "ga_d3": grouping_accuracy(event_ids, d3_ids),
            "pa_ours": parsing_accuracy(event_templates, ours_tpl),
            "pa_d3": parsing_accuracy(event_templates, d3_tpl),
        }
        drain_ga[folder.name] = row["ga_d3"]
        for key, value in row.items():
            totals[key].append(value)
        speed, cpu = paired_ratio(d3.wall, ours.wall), paired_ratio(d3.cpu, ours.cpu)
        cpu_params = paired_ratio(timings["drain3+params"].cpu, timings["ours+params"].cpu)
        cpu_add = paired_ratio(d3.cpu, timings["ours+params"].cpu)
        totals["speed"].append(speed)
        totals["cpu"].append(cpu)
        totals["cpu_params"].append(cpu_params)
        totals["cpu_add"].append(cpu_add)
        if min(speed, cpu) < 1:
            slower.append(folder.name)
        if cpu_params < 1:
            slower_params.append(folder.name)
        total_lines += len(lines)
        total_time["ours"] += statistics.median(ours.wall)
        total_time["drain3"] += statistics.median(d3.wall)
        print(
            f"{folder.name:<11} {row['ga_ours']:>8.3f} {row['ga_d3']:>9.3f} {row['pa_ours']:>8.3f} {row['pa_d3']:>9.3f}"
            f" {len(lines) / statistics.median(ours.wall):>13,.0f} {len(lines) / statistics.median(d3.wall):>15,.0f}"
            f" {speed:>6.2f}x {cpu:>6.2f}x {cpu_params:>6.2f}x {cpu_add:>6.2f}x"
        )
    mean = {k: sum(v) / len(v) for k, v in totals.items()}
    ours_all = total_lines / total_time["ours"]
    d3_all = total_lines / total_time["drain3"]
    print("-" * len(header))
    print(
        f"{'mean':<11} {mean['ga_ours']:>8.3f} {mean['ga_d3']:>9.3f} {mean['pa_ours']:>8.3f} {mean['pa_d3']:>9.3f}"
        f" {ours_all:>13,.0f} {d3_all:>15,.0f} {ours_all / d3_all:>6.2f}x {statistics.geometric_mean(totals['cpu']):>6.2f}x"
        f" {statistics.geometric_mean(totals['cpu_params']):>6.2f}x {statistics.geometric_mean(totals['cpu_add']):>6.2f}x"
    )
    print(f"\n{len(folders)} datasets, {total_lines} lines, {args.repeat} rounds. lines/s: median round; speed / cpu: median"
          " over rounds of the pair's wall / CPU time ratio (drain3 / ours, > 1: ours faster).")
    print("Mean row: lines/s = all lines / summed median times; cpu, cpu+p, add/d3 = geometric means of the rows.")
    if differing:
        print(f"learn and add gave different templates on: {', '.join(differing)}")
    print(f"Our miner ran {native.build_name()} (ENRICHER_NATIVE=0: from source; see enricher/native.py).")
    print(f"datasets where ours is slower (speed or cpu < 1): {', '.join(slower) if slower else 'none'}")
    print(f"... than drain3 with parameters (cpu+p < 1): {', '.join(slower_params) if slower_params else 'none'}")
    if not args.no_loo and len(folders) > 1:
        leave_one_out(data, drain_ga)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
