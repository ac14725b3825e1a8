"""Anomaly evaluation: sequence models and autoencoders vs a non-learning n-gram baseline, same run.

HDFS (../shared/data/hdfs-sessions): ``hdfs_train`` (normal) is split by line index with a fixed seed
into training sessions and held-back normal test sessions; ``hdfs_test_abnormal`` is the abnormal test
set. Models train (and calibrate their thresholds) on the training part only. Reported: FPR on the
held-back normals, recall on the abnormal file, and the precision/F1 extrapolated to DeepLog's full test
split (expected FP = FPR x 553,366, expected TP = recall x 16,838), plus scoring speed.

BGL (../shared/data/loghub/BGL, line labels): consecutive lines are cut into fixed windows (a window is
anomalous if any of its lines is); the autoencoders train on the normal windows of the first part (in
time order) and are scored on the windows of the rest.

Models are trained without a time budget unless ``--time-budget SECONDS`` is given, so the figures
measure the models, not how busy the machine was.

Usage: python bench/anomaly.py [--data ../shared/data] [--test-fraction 0.2] [--seed 42] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from enricher.anomaly import NgramBaseline, estimator_class
from enricher.anomaly.io import read_sessions

FULL_NORMAL, FULL_ABNORMAL = 553_366, 16_838


def split_by_line(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def extrapolate(fpr: float, recall: float) -> tuple[float, float]:
    fp, tp = fpr * FULL_NORMAL, recall * FULL_ABNORMAL
    fn = FULL_ABNORMAL - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    return precision, 2 * tp / (2 * tp + fp + fn)


def hdfs_row(name: str, model: object, fit: Callable[[], object], normal: list, abnormal: list) -> dict:
    started = time.perf_counter()
    fit()
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    flags_n = [bad for _, bad in model.score_sessions(normal)]  # type: ignore[attr-defined]
    flags_a = [bad for _, bad in model.score_sessions(abnormal)]  # type: ignore[attr-defined]
    score_seconds = time.perf_counter() - started
    fpr, recall = float(np.mean(flags_n)), float(np.mean(flags_a))
    precision, f1 = extrapolate(fpr, recall)
    return {
        "model": name, "fp": int(np.sum(flags_n)), "fpr": fpr, "recall": recall,
        "precision_x": precision, "f1_x": f1, "fit_s": fit_seconds,
        "sessions_per_s": (len(normal) + len(abnormal)) / max(score_seconds, 1e-9),
    }


def run_hdfs(
    data: Path, test_fraction: float, seed: int, hyper: dict, lstm_seeds: list[int], only: list[str]
) -> None:
    sessions = read_sessions(data / "hdfs-sessions" / "hdfs_train")
    abnormal = read_sessions(data / "hdfs-sessions" / "hdfs_test_abnormal")
    train_idx, test_idx = split_by_line(len(sessions), test_fraction, seed)
    train = [sessions[i] for i in train_idx]
    normal = [sessions[i] for i in test_idx]
    print(
        f"HDFS: {len(train)} training sessions, {len(normal)} held-back normal, {len(abnormal)} abnormal "
        f"(split of hdfs_train by line index, seed {seed}, test fraction {test_fraction}); "
        f"{len({' '.join(s) for s in train} & {' '.join(s) for s in normal})} distinct held-back sessions "
        f"also occur in training",
        flush=True,
    )
    rows = []
    baseline = NgramBaseline(2)
    rows.append(hdfs_row("n-gram baseline (unseen bigram)", baseline, lambda: baseline.fit(train), normal, abnormal))
    lstm = estimator_class("sequence-lstm")
    lstms = [(f"sequence LSTM (h=10, seed {s})", lstm(**{**hyper, "seed": s})) for s in lstm_seeds]
    for name, model in [
        *lstms,
        ("sequence Transformer", estimator_class("sequence-transformer")(**hyper)),
        ("autoencoder LSTM-AE", estimator_class("autoencoder-lstm")(**hyper)),
        ("autoencoder VAE (counts)", estimator_class("autoencoder-vae")(**hyper)),
    ]:
        if only and not any(part in name for part in only):
            continue
        rows.append(hdfs_row(name, model, lambda m=model: m.fit(train, progress=True), normal, abnormal))
        print(f"  done: {name}", file=sys.stderr, flush=True)
    print(f"\n{'model':34} {'FP':>4} {'FPR':>7} {'recall':>7} {'P(ext)':>7} {'F1(ext)':>8} {'fit s':>6} {'sess/s':>8}")
    for r in rows:
        print(
            f"{r['model']:34} {r['fp']:>4} {r['fpr']:>7.4f} {r['recall']:>7.4f} {r['precision_x']:>7.4f} "
            f"{r['f1_x']:>8.4f} {r['fit_s']:>6.1f} {r['sessions_per_s']:>8.0f}"
        )
    print("(FP/FPR on the held-back normals; P/F1 extrapolated to 553,366 normal + 16,838 abnormal sessions)")


def bgl_windows(data: Path, size: int) -> tuple[list[list[str]], list[list[str]], list[bool]]:
    with (data / "loghub" / "BGL" / "BGL_2k.log_structured.csv").open(newline="", encoding="utf-8") as f:
        lines = list(csv.DictReader(f))
    keys, texts, labels = [], [], []
    for start in range(0, len(lines) - size + 1, size):
        chunk = lines[start : start + size]
        keys.append([row["EventId"] for row in chunk])
        texts.append([row["Content"] for row in chunk])
        labels.append(any(row["Label"] != "-" for row in chunk))
    return keys, texts, labels


def run_bgl(data: Path, size: int, train_fraction: float, hyper: dict) -> None:
    keys, texts, labels = bgl_windows(data, size)
    cut = int(len(keys) * train_fraction)
    train = [i for i in range(cut) if not labels[i]]
    test = list(range(cut, len(keys)))
    truth = np.array([labels[i] for i in test])
    print(
        f"\nBGL: windows of {size} lines; train on the {len(train)} normal windows of the first "
        f"{train_fraction:.0%}; test on {len(test)} windows ({int(truth.sum())} anomalous)"
    )
    test_keys, test_texts = [keys[i] for i in test], [texts[i] for i in test]
    candidates: list[tuple[str, Callable[[], np.ndarray]]] = []
    baseline = NgramBaseline(2).fit([keys[i] for i in train])
    candidates.append(("n-gram baseline", lambda: np.array([b for _, b in baseline.score_sessions(test_keys)])))
    for name, kind in [("LSTM-AE (with text features)", "autoencoder-lstm"), ("VAE (counts)", "autoencoder-vae")]:
        det = estimator_class(kind)(**hyper).fit(
            [keys[i] for i in train], event_texts=[texts[i] for i in train]
        )
        candidates.append(
            (name, lambda d=det: np.array([b for _, b in d.score_sessions(test_keys, event_texts=test_texts)]))
        )
    print(f"{'model':30} {'precision':>9} {'recall':>7} {'flagged':>8}")
    for name, predict in candidates:
        flags = predict()
        tp = int((flags & truth).sum())
        precision = tp / flags.sum() if flags.sum() else 0.0
        recall = tp / truth.sum() if truth.sum() else 0.0
        print(f"{name:30} {precision:>9.3f} {recall:>7.3f} {int(flags.sum()):>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="few epochs: a smoke run, not the evaluation")
    parser.add_argument("--bgl-window", type=int, default=20)
    parser.add_argument("--only", default="", help="comma-separated name parts: run only these HDFS models (and the baseline)")
    parser.add_argument("--skip-bgl", action="store_true", help="HDFS only")
    parser.add_argument("--lstm-seeds", default="0,1,2", help="model seeds of the LSTM rows (comma-separated)")
    parser.add_argument("--time-budget", type=float, default=None, help="seconds per model fit (default: none)")
    args = parser.parse_args()
    if not (args.data / "hdfs-sessions" / "hdfs_train").is_file():
        sys.exit(f"no evaluation data under {args.data} (expected hdfs-sessions/hdfs_train)")
    torch.set_num_threads(args.threads)
    hyper = {"time_budget_seconds": args.time_budget, **({"epochs": 3} if args.quick else {})}
    only = [part for part in args.only.split(",") if part]
    run_hdfs(args.data, args.test_fraction, args.seed, hyper, [int(s) for s in args.lstm_seeds.split(",")], only)
    if not args.skip_bgl:
        run_bgl(args.data, args.bgl_window, 0.5, hyper)


if __name__ == "__main__":
    main()
