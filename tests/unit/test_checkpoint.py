"""The checkpoint: a low-water mark that never passes a pending document or the present."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from enricher.cluster.state import Checkpoint, PassProgress

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)


def test_the_checkpoint_follows_written_batches():
    checkpoint = Checkpoint()
    progress = PassProgress(checkpoint, started_at=T0 + 60 * MIN)
    progress.batch_done(T0 + MIN, [])
    progress.batch_done(T0 + 2 * MIN, [])
    assert checkpoint.last_timestamp == T0 + 2 * MIN


def test_a_failed_write_holds_the_checkpoint_and_the_next_pass_starts_at_it():
    checkpoint = Checkpoint()
    progress = PassProgress(checkpoint, started_at=T0 + 60 * MIN)
    progress.batch_done(T0 + MIN, [T0 + 30 * 1 * timedelta(seconds=1)])  # one document of it stayed pending
    progress.batch_done(T0 + 50 * MIN, [])
    progress.finish(swept_from_retry_point=True)
    assert checkpoint.last_timestamp == T0 + timedelta(seconds=30)
    assert checkpoint.retry_from == T0 + timedelta(seconds=30)
    since = checkpoint.since(late_arrival=timedelta(0), lookback_start=None)
    assert since <= T0 + timedelta(seconds=30)


def test_retry_point_is_kept_when_the_pass_stopped_before_reaching_it_and_cleared_once_written():
    checkpoint = Checkpoint(last_timestamp=T0, retry_from=T0 - 90 * MIN)
    PassProgress(checkpoint, started_at=T0 + MIN).finish(swept_from_retry_point=False)
    assert checkpoint.retry_from == T0 - 90 * MIN
    assert checkpoint.since(late_arrival=MIN, lookback_start=None) == T0 - 90 * MIN
    progress = PassProgress(checkpoint, started_at=T0 + MIN)
    progress.batch_done(T0 + MIN, [])
    progress.finish(swept_from_retry_point=True)
    assert checkpoint.retry_from is None
    assert checkpoint.since(late_arrival=MIN, lookback_start=None) == T0


def test_a_document_dated_in_the_future_does_not_move_the_checkpoint_past_the_present():
    checkpoint = Checkpoint()
    now = T0
    PassProgress(checkpoint, started_at=now).batch_done(datetime(2999, 1, 1, tzinfo=timezone.utc), [])
    assert checkpoint.last_timestamp == now


def test_the_checkpoint_never_moves_back_and_lookback_bounds_the_window():
    checkpoint = Checkpoint(last_timestamp=T0)
    PassProgress(checkpoint, started_at=T0 + MIN).batch_done(T0 - 10 * MIN, [])
    assert checkpoint.last_timestamp == T0
    assert checkpoint.since(late_arrival=60 * MIN, lookback_start=T0 - 5 * MIN) == T0 - 5 * MIN


def test_catchup_is_due_on_its_interval():
    checkpoint = Checkpoint(last_timestamp=T0)
    assert checkpoint.catchup_due(T0, timedelta(minutes=10))
    checkpoint.last_catchup = T0
    assert not checkpoint.catchup_due(T0 + 9 * MIN, timedelta(minutes=10))
    assert checkpoint.catchup_due(T0 + 10 * MIN, timedelta(minutes=10))
    assert not Checkpoint().catchup_due(T0, timedelta(minutes=10)), "a first pass sweeps the lookback anyway"
