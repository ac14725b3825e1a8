"""Training and calibration helpers shared by the detectors.

Normal log sessions repeat a lot (HDFS: 3,884 training sessions, 736 distinct), so every detector
trains and scores on the *distinct* rows (context windows, count vectors) with their multiplicities as
loss weights. That gives the same gradient as the full data at a fraction of the cost.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm


def split_calibration(n_sessions: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the sessions to train on and of the held-out normal sessions for the threshold."""
    order = np.random.default_rng(seed).permutation(n_sessions)
    n_calibration = int(round(n_sessions * fraction)) if n_sessions >= 10 else 0
    return np.sort(order[n_calibration:]), np.sort(order[:n_calibration])


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows, the index of each input row's distinct row, and how often each occurs."""
    if len(rows) == 0:
        return rows, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    distinct, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    return distinct, inverse.reshape(-1), counts


class TimeBudget:
    """Wall-clock budget of a whole fit (every calibration fold, the final model, calibration scoring).

    Each network training asks for its :meth:`deadline`: an equal share of the time still left among
    the trainings still to run, so a slow early training leaves less to the later ones instead of
    starving the last. ``seconds=None``: no budget, epochs alone decide.
    """

    def __init__(self, seconds: float | None, trainings: int) -> None:
        self.seconds = seconds
        self.trainings_left = max(1, trainings)
        self.started = time.monotonic()
        self.cut_short = 0  # trainings that stopped before their epochs ran out

    def deadline(self) -> float | None:
        if self.seconds is None:
            return None
        now = time.monotonic()
        share = max(0.0, self.started + self.seconds - now) / self.trainings_left
        self.trainings_left = max(1, self.trainings_left - 1)
        return now + share


def train_weighted(
    model: torch.nn.Module, tensors: Sequence[torch.Tensor], weights: torch.Tensor,
    row_loss: Callable[..., torch.Tensor], *, epochs: int, batch_size: int, learning_rate: float, seed: int,
    progress: bool, description: str, min_batches: int = 1, budget: TimeBudget | None = None,
) -> list[float]:
    """Minimise the weighted mean of ``row_loss(*batch)`` with Adam; return the loss of every epoch.

    Training runs over *distinct* rows, so small or repetitive data has very few batches per epoch: the
    batch shrinks until an epoch has ``min_batches`` optimizer steps (the work per epoch stays the same;
    adding epochs instead made small-data training take unpredictably long). With a ``budget``, training
    stops once the next epoch would end past this training's share of it, or mid-epoch when the share is
    spent (after at least one optimizer step).
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    n_rows = len(weights)
    batch_size = max(1, min(batch_size, -(-n_rows // max(1, min_batches))))
    deadline = budget.deadline() if budget is not None else None
    history: list[float] = []
    model.train()
    bar = tqdm(range(epochs), desc=description, disable=not progress, unit="epoch", leave=True, file=sys.stderr)
    for epoch in bar:
        started = time.monotonic()
        loss, complete = _epoch(model, tensors, weights, row_loss, optimizer, batch_size, generator, deadline)
        history.append(loss)
        # (refresh=False: drawn at tqdm's interval, or a log file gets a line per epoch)
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        next_end = 2 * time.monotonic() - started  # if the next epoch takes as long as this one
        if deadline is not None and (not complete or (epoch + 1 < epochs and next_end > deadline)):
            assert budget is not None
            budget.cut_short += 1
            bar.set_postfix(loss=f"{loss:.4f}", stopped="time budget", refresh=False)
            break
    bar.close()
    model.eval()
    return history


def _epoch(
    model: torch.nn.Module, tensors: Sequence[torch.Tensor], weights: torch.Tensor,
    row_loss: Callable[..., torch.Tensor], optimizer: torch.optim.Optimizer, batch_size: int,
    generator: torch.Generator, deadline: float | None,
) -> tuple[float, bool]:
    """One pass over the rows in a random order: the weighted mean loss, and whether it went through
    every row (it stops after the step that passes ``deadline``)."""
    n_rows = len(weights)
    order = torch.randperm(n_rows, generator=generator)
    total, total_weight = 0.0, 0.0
    for start in range(0, n_rows, batch_size):
        if deadline is not None and start > 0 and time.monotonic() > deadline:
            return total / max(total_weight, 1e-12), False
        index = order[start : start + batch_size]
        batch_weight = weights[index]
        loss = (row_loss(*(t[index] for t in tensors)) * batch_weight).sum() / batch_weight.sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * float(batch_weight.sum())
        total_weight += float(batch_weight.sum())
    return total / max(total_weight, 1e-12), True

