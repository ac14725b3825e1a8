"""Training and calibration helpers shared by the detectors.

Normal log sessions repeat a lot (HDFS: 3,884 training sessions, 736 distinct), so every detector
trains and scores on the *distinct* rows (context windows, count vectors) with their multiplicities as
loss weights. That gives the same gradient as the full data at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def split_calibration(n_sessions: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the sessions to train on and of the held-out normal sessions for the threshold."""
    order = np.random.default_rng(seed).permutation(n_sessions)
    n_calibration = int(round(n_sessions * fraction)) if n_sessions >= 10 else 0
    return np.sort(order[n_calibration:]), np.sort(order[:n_calibration])


def fold_assignment(n_sessions: int, folds: int, seed: int) -> np.ndarray:
    """The calibration fold (0 .. folds-1) of every session, balanced and shuffled."""
    return np.random.default_rng(seed).permutation(n_sessions) % folds


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows, the index of each input row's distinct row, and how often each occurs."""
    if len(rows) == 0:
        return rows, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    distinct, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    return distinct, inverse.reshape(-1), counts


def train_weighted(
    model: torch.nn.Module,
    tensors: Sequence[torch.Tensor],
    weights: torch.Tensor,
    row_loss: Callable[..., torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    progress: bool,
    description: str,
    min_steps: int = 0,
) -> list[float]:
    """Minimise the weighted mean of ``row_loss(*batch)`` with Adam; return the loss of every epoch.

    Training runs over *distinct* rows, so small or repetitive data has very few batches per epoch:
    ``min_steps`` adds epochs until at least that many optimizer steps are taken.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    n_rows = len(weights)
    steps_per_epoch = max(1, -(-n_rows // batch_size))
    epochs = max(epochs, -(-min_steps // steps_per_epoch))
    history: list[float] = []
    model.train()
    bar = tqdm(range(epochs), desc=description, disable=not progress, unit="epoch", leave=True)
    for _ in bar:
        order = torch.randperm(n_rows, generator=generator)
        total, total_weight = 0.0, 0.0
        for start in range(0, n_rows, batch_size):
            index = order[start : start + batch_size]
            batch_weight = weights[index]
            loss = (row_loss(*(t[index] for t in tensors)) * batch_weight).sum() / batch_weight.sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * float(batch_weight.sum())
            total_weight += float(batch_weight.sum())
        history.append(total / max(total_weight, 1e-12))
        bar.set_postfix(loss=f"{history[-1]:.4f}")
    model.eval()
    return history


def quantile_threshold(scores: Sequence[float], quantile: float, margin: float) -> float:
    """The ``quantile`` of the held-out normal scores, times ``margin`` (>= 1 widens the normal band)."""
    if len(scores) == 0:
        raise ValueError("no held-out normal sessions to calibrate the threshold on")
    return float(np.quantile(np.asarray(scores, dtype=np.float64), quantile)) * margin


def save_weights(model: torch.nn.Module, folder: Path, name: str = WEIGHTS_FILE) -> None:
    state = {key: tensor.detach().contiguous() for key, tensor in model.state_dict().items()}
    save_file(state, str(folder / name))


def load_weights(model: torch.nn.Module, folder: Path, name: str = WEIGHTS_FILE) -> None:
    model.load_state_dict(load_file(str(folder / name)))
    model.eval()
