"""Trend detection on per-bucket counts: each series against its own robust baseline.

A series is the count of one template (or one host/service, or its errors) per time bucket, over the
baseline stretch followed by the analysed window. A bucket is compared with the *comparable* baseline
buckets: the same hour of the week when the baseline spans two weeks, the same hour of the day when it
spans two days, else all of them. Expected = their median; spread = 1.4826 x MAD, never below the Poisson
spread sqrt(expected), so a past outage or spike in the baseline (outliers) moves neither. A bucket must
also beat the comparable buckets' own high (or low) quantile, so recurring bursts that the baseline holds
(a cron job every half hour) are not news.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from enricher.config import FindingsConfig

SPIKE, DROP, SILENCE, NEW_TEMPLATE_BURST, ERROR_RATE = "spike", "drop", "silence", "new_template_burst", "error_rate"
HIGH_QUANTILE, LOW_QUANTILE = 0.98, 0.02
HIGH_MARGIN = 1.5  # a spike beats the usual high by half again: the baseline's own bursts are not news


@dataclass(frozen=True)
class Grid:
    """The buckets of one run: ``baseline`` buckets then ``window`` buckets, starting at ``start``."""

    start: datetime
    bucket: timedelta
    baseline: int
    window: int

    @classmethod
    def covering(cls, start: datetime, end: datetime, baseline: timedelta, bucket: timedelta) -> Grid:
        """Buckets aligned on multiples of ``bucket`` since the epoch (as OpenSearch's date histogram)."""
        first = floor_time(start, bucket)
        window = max(1, int((floor_time(end, bucket) - first) / bucket))
        base_start = floor_time(first - baseline, bucket)
        return cls(start=base_start, bucket=bucket, baseline=int((first - base_start) / bucket), window=window)

    @property
    def size(self) -> int:
        return self.baseline + self.window

    @property
    def window_start(self) -> datetime:
        return self.time(self.baseline)

    @property
    def end(self) -> datetime:
        return self.time(self.size)

    def time(self, index: int) -> datetime:
        return self.start + index * self.bucket

    def index(self, when: datetime) -> int:
        return int((when - self.start) / self.bucket)

    def comparable_keys(self) -> np.ndarray:
        """Per bucket, which baseline buckets it compares with: hour of week, hour of day, or all (0)."""
        span = self.baseline * self.bucket
        times = [self.time(i) for i in range(self.size)]
        if span >= timedelta(days=14):
            return np.array([t.weekday() * 24 + t.hour for t in times])
        if span >= timedelta(days=2):
            return np.array([t.hour for t in times])
        return np.zeros(self.size, dtype=int)


def floor_time(when: datetime, bucket: timedelta) -> datetime:
    seconds = int(bucket.total_seconds())
    epoch = int(when.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=timezone.utc)


@dataclass
class Finding:
    """One trend finding: a run of buckets of one series that left its baseline the same way."""

    type: str
    subject: str  # template | source | errors (errors of a source, or of everything when source is None)
    onset: datetime
    end: datetime
    observed: float
    expected: float
    score: float  # the largest robust z-score of its buckets (ratio for new templates)
    template_id: str | None = None
    source: str | None = None  # "field=value"
    buckets: list[tuple[datetime, float, float]] = field(default_factory=list)  # (time, observed, expected)

    @property
    def key(self) -> str:
        return f"{self.subject}:{self.template_id or ''}:{self.source or ''}"


@dataclass
class Baseline:
    expected: np.ndarray  # per window bucket: the median of the comparable baseline buckets
    mean: np.ndarray  # their mean (what a silence misses: a template that comes in bursts has a median of 0)
    sigma: np.ndarray
    high: np.ndarray
    low: np.ndarray
    present: float  # share of baseline buckets with any count
    longest_gap: int  # longest run of empty baseline buckets
    total: float


def baseline_of(counts: np.ndarray, grid: Grid, keys: np.ndarray) -> Baseline:
    """Expected count, spread and usual range of every window bucket, from comparable baseline buckets."""
    history = counts[: grid.baseline]
    base_keys = keys[: grid.baseline]
    stats: dict[int, tuple[float, float, float, float, float]] = {}
    out = np.zeros((5, grid.window))
    for j, key in enumerate(keys[grid.baseline:]):
        if key not in stats:
            same = history[base_keys == key]
            if len(same) == 0:
                same = history
            median = float(np.median(same))
            mad = float(np.median(np.abs(same - median)))
            sigma = max(1.4826 * mad, np.sqrt(max(median, 1.0)))
            stats[key] = (median, sigma, float(np.quantile(same, HIGH_QUANTILE)), float(np.quantile(same, LOW_QUANTILE)),
                          float(np.mean(same)))
        out[:, j] = stats[key]
    return Baseline(expected=out[0], sigma=out[1], high=out[2], low=out[3], mean=out[4],
                    present=float(np.mean(history > 0)) if len(history) else 0.0,
                    longest_gap=max((last - first + 1 for first, last in _true_runs(history == 0)), default=0),
                    total=float(history.sum()))


def detect(counts: np.ndarray, grid: Grid, config: FindingsConfig, *, subject: str, template_id: str | None = None,
           source: str | None = None, keys: np.ndarray | None = None) -> list[Finding]:
    """Every spike, drop, silence and (for templates) new-template burst of one series in the window."""
    if grid.baseline < config.min_baseline_buckets:
        return []
    keys = grid.comparable_keys() if keys is None else keys
    base = baseline_of(counts, grid, keys)
    window = counts[grid.baseline:]
    made = dict(subject=subject, template_id=template_id, source=source)
    if base.total == 0 and subject == "template":
        return [_new_template(window, grid, made)] if window.sum() >= config.new_template_min_count else []
    if base.total == 0 and subject != "errors":  # a host/service seen for the first time: nothing to compare
        return []
    z = (window - base.expected) / base.sigma
    spike_type = ERROR_RATE if subject == "errors" else SPIKE
    spiking = (window >= np.maximum(config.min_count, config.spike_ratio * np.maximum(base.expected, 1.0))) \
        & (z >= config.z_threshold) & (window > HIGH_MARGIN * base.high)
    found = _runs(spiking, 1, spike_type, window, base, z, grid, made)
    if subject == "errors":
        return found
    if base.present >= config.regular_fraction:
        # Silent for more than twice its longest quiet spell in the baseline, while it usually brings enough
        # documents that their absence is no accident.
        need = max(config.silence_buckets, 2 * base.longest_gap + 1)
        found += _runs((base.mean >= config.min_expected) & (window == 0), need, SILENCE, window, base, z, grid,
                       made, expected=base.mean)
    regular = base.expected >= config.min_expected
    dropping = regular & (window > 0) & (window * config.drop_ratio <= base.expected) & (window < base.low) \
        & (-z >= config.z_threshold / 2)
    found += _runs(dropping, config.drop_buckets, DROP, window, base, z, grid, made)
    return found


def _new_template(window: np.ndarray, grid: Grid, made: dict) -> Finding:
    nonzero = np.flatnonzero(window)
    first, last = int(nonzero[0]), int(nonzero[-1])
    buckets = [(grid.time(grid.baseline + j), float(window[j]), 0.0) for j in range(first, last + 1)]
    return Finding(type=NEW_TEMPLATE_BURST, onset=grid.time(grid.baseline + first),
                   end=grid.time(grid.baseline + last + 1), observed=float(window.sum()), expected=0.0,
                   score=float(window.sum()), buckets=buckets, **made)


def _runs(flags: np.ndarray, min_length: int, kind: str, window: np.ndarray, base: Baseline, z: np.ndarray,
          grid: Grid, made: dict, expected: np.ndarray | None = None) -> list[Finding]:
    expected = base.expected if expected is None else expected
    found = []
    for first, last in _true_runs(flags):
        if last - first + 1 < min_length:
            continue
        span = slice(first, last + 1)
        buckets = [(grid.time(grid.baseline + j), float(window[j]), float(expected[j])) for j in range(first, last + 1)]
        found.append(Finding(
            type=kind, onset=grid.time(grid.baseline + first), end=grid.time(grid.baseline + last + 1),
            observed=float(window[span].sum()), expected=float(expected[span].sum()),
            score=_score(window[span], base, span, z), buckets=buckets, **made,
        ))
    return found


def _score(observed: np.ndarray, base: Baseline, span: slice, z: np.ndarray) -> float:
    """The larger of the run's strongest bucket z-score and the z-score of the run as a whole."""
    whole = abs(float(observed.sum() - base.expected[span].sum())) / float(np.sqrt(np.sum(base.sigma[span] ** 2)))
    return max(float(np.max(np.abs(z[span]))), whole)


def _true_runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of every run of True."""
    edges = np.diff(np.concatenate([[0], np.asarray(flags, dtype=np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist()))
