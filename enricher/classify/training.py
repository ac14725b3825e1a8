"""Fine-tuning a LogClassifier: dedupe, class-balance, train, evaluate, save and seal.

Log data is very repetitive (a 2,000-line sample often holds a few dozen distinct texts once variables are
masked) and very imbalanced (mostly INFO). So training runs on *distinct normalised texts*, each weighted by
``1 + log(count)`` -- frequent texts count more, but cannot drown out rare ones -- times a class weight that
gives every class the same total weight.

Training is "linear probe, then fine-tune" (LP-FT, Kumar et al., ICLR 2022): the head is first fitted on
the frozen encoder's embeddings, then the whole network is fine-tuned for a few epochs with a small
learning rate. Starting the fine-tuning from a sensible head distorts the pretrained features less, which
keeps what the encoder knows about words like "error", "failed", "denied" or "timeout" -- the knowledge
that carries over to systems the classifier never saw.
"""

from __future__ import annotations

import math
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from enricher.classify.model import KIND, ClassifierConfig, LogClassifier
from enricher.classify.normalize import NORMALIZER_NAME, normalizer_for
from enricher.registry import Manifest, write_manifest

if TYPE_CHECKING:
    import torch

# Level spellings seen in real logs (Loghub's README), mapped to the four default severities.
SEVERITY_ALIASES = {
    "I": "INFO", "D": "INFO", "V": "INFO", "INFO": "INFO", "NOTICE": "INFO", "DEBUG": "INFO",
    "TRACE": "INFO", "VERBOSE": "INFO",
    "W": "WARNING", "WARN": "WARNING", "WARNING": "WARNING",
    "E": "ERROR", "ERROR": "ERROR", "ERR": "ERROR", "SEVERE": "ERROR",
    "F": "CRITICAL", "FATAL": "CRITICAL", "CRITICAL": "CRITICAL", "CRIT": "CRITICAL",
    "ALERT": "CRITICAL", "EMERG": "CRITICAL", "EMERGENCY": "CRITICAL",
}  # fmt: skip


def normalize_severity(level: str) -> str:
    """Map a level spelling (I, WARN, error, SEVERE, FATAL...) to INFO/WARNING/ERROR/CRITICAL.

    Unknown spellings are returned unchanged (stripped), so custom label sets pass through.
    """
    return SEVERITY_ALIASES.get(level.strip().upper(), level.strip())


class TrainingConfig(BaseModel):
    """How to fine-tune; recorded in the manifest."""

    linear_probe_steps: int = Field(300, ge=0, description="full-batch steps fitting the head alone first")
    linear_probe_learning_rate: float = Field(1e-2, gt=0)
    epochs: int = Field(3, ge=0, description="end-to-end fine-tuning epochs after the linear probe")
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(3e-5, gt=0, description="encoder learning rate")
    head_learning_rate: float = Field(3e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_fraction: float = Field(0.1, ge=0, lt=1)
    label_smoothing: float = Field(0.05, ge=0, lt=1)
    class_weight_power: float = Field(
        0.5,
        ge=0,
        le=1,
        description="1 gives every class the same total weight; 0 none; in between tempers the balancing so "
        "rare classes are not over-predicted on unfamiliar logs",
    )
    max_class_weight: float = Field(20.0, ge=1, description="cap, so a class of 3 texts cannot dominate")
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="share of distinct texts held out")
    seed: int = 0


@dataclass(slots=True)
class Examples:
    """Distinct normalised texts with their label and how many input lines they stand for."""

    texts: list[str]
    labels: list[str]
    counts: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Iterable[int]) -> "Examples":
        indices = list(indices)
        return Examples(
            [self.texts[i] for i in indices], [self.labels[i] for i in indices], [self.counts[i] for i in indices]
        )

    def lines(self) -> int:
        return sum(self.counts)


def build_examples(texts: Sequence[str], labels: Sequence[str], normalizer: str = NORMALIZER_NAME) -> Examples:
    """Collapse identical (normalised text, label) pairs into one weighted example."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    normalize = normalizer_for(normalizer)
    counts = Counter((normalize(text), label) for text, label in zip(texts, labels, strict=True))
    pairs = sorted(counts)  # deterministic order
    return Examples([t for t, _ in pairs], [label for _, label in pairs], [counts[p] for p in pairs])


def split_examples(examples: Examples, fraction: float, seed: int = 0) -> tuple[Examples, Examples]:
    """Hold out ``fraction`` of the distinct texts of each label (labels with < 3 texts stay in training)."""
    if fraction <= 0:
        return examples, Examples([], [], [])
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(examples.labels):
        by_label[label].append(index)
    rng = random.Random(seed)
    held_out: list[int] = []
    for indices in by_label.values():
        if len(indices) < 3:
            continue
        rng.shuffle(indices)
        held_out.extend(indices[: max(1, round(fraction * len(indices)))])
    held = set(held_out)
    kept = [i for i in range(len(examples)) if i not in held]
    return examples.subset(kept), examples.subset(sorted(held))


def example_weights(
    examples: Examples, labels: Sequence[str], max_class_weight: float, power: float = 1.0
) -> list[float]:
    """Per-example loss weight: sublinear in its count, times a class-balancing weight."""
    base = [1.0 + math.log(count) for count in examples.counts]
    per_class: dict[str, float] = defaultdict(float)
    for weight, label in zip(base, examples.labels, strict=True):
        per_class[label] += weight
    present = [label for label in labels if per_class[label] > 0]
    total = sum(per_class.values())
    class_weight = {
        label: min(max_class_weight, (total / (len(present) * per_class[label])) ** power) for label in present
    }
    return [weight * class_weight[label] for weight, label in zip(base, examples.labels, strict=True)]


def _pooled_embeddings(classifier: LogClassifier, texts: Sequence[str], batch_size: int = 64) -> "torch.Tensor":
    """Mean-pooled encoder outputs, computed once, with the encoder frozen (no dropout)."""
    import torch

    network = classifier.network
    network.eval()
    rows = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = classifier.encode(texts[start : start + batch_size])
            states = network.encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            rows.append((states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0))
    return torch.cat(rows)


def linear_probe(
    classifier: LogClassifier,
    examples: Examples,
    targets: "torch.Tensor",
    weights: "torch.Tensor",
    config: TrainingConfig,
) -> float:
    """Fit the head alone on frozen embeddings (full batch); returns the final loss."""
    import torch

    if config.linear_probe_steps == 0:
        return float("nan")
    features = _pooled_embeddings(classifier, examples.texts).clone()
    head = classifier.network.head
    optimizer = torch.optim.Adam(head.parameters(), lr=config.linear_probe_learning_rate)
    loss_function = torch.nn.CrossEntropyLoss(reduction="none", label_smoothing=config.label_smoothing)
    loss = torch.tensor(float("nan"))
    for _ in range(config.linear_probe_steps):
        loss = (loss_function(head(features), targets) * weights).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss.item())


def fit(
    classifier: LogClassifier, examples: Examples, config: TrainingConfig, *, progress: bool = True
) -> list[float]:
    """Fine-tune ``classifier`` in place on ``examples``; returns the mean loss of each epoch."""
    import torch
    from tqdm import tqdm

    unknown = sorted(set(examples.labels) - set(classifier.labels))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classifier's labels {classifier.labels}")
    torch.manual_seed(config.seed)
    index_of = {label: i for i, label in enumerate(classifier.labels)}
    targets = torch.tensor([index_of[label] for label in examples.labels])
    weights = torch.tensor(example_weights(examples, classifier.labels, config.max_class_weight, config.class_weight_power))
    weights = weights / weights.mean()
    probe_loss = linear_probe(classifier, examples, targets, weights, config)
    if progress and config.linear_probe_steps:
        print(f"linear probe: head fitted on frozen embeddings, loss {probe_loss:.4f}", file=sys.stderr)
    network = classifier.network
    optimizer = torch.optim.AdamW(
        [
            {"params": network.encoder.parameters(), "lr": config.learning_rate},
            {"params": network.head.parameters(), "lr": config.head_learning_rate},
        ],
        weight_decay=config.weight_decay,
    )
    steps_per_epoch = math.ceil(len(examples) / config.batch_size)
    total_steps = max(1, steps_per_epoch * config.epochs)
    warmup = max(1, int(config.warmup_fraction * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / (total_steps - warmup + 1)))
    )
    loss_function = torch.nn.CrossEntropyLoss(reduction="none", label_smoothing=config.label_smoothing)
    generator = torch.Generator().manual_seed(config.seed)
    epoch_losses: list[float] = []
    bar = tqdm(total=total_steps, desc="training classifier", unit="batch", disable=not progress)
    for epoch in range(config.epochs):
        network.train()
        order = torch.randperm(len(examples), generator=generator).tolist()
        running = 0.0
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            logits = network(**classifier.encode([examples.texts[i] for i in rows]))
            loss = (loss_function(logits, targets[rows]) * weights[rows]).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            running += loss.item() * len(rows)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4f}")
        epoch_losses.append(running / max(1, len(examples)))
    bar.close()
    network.eval()
    return epoch_losses


def classification_metrics(
    true: Sequence[str], predicted: Sequence[str], weights: Sequence[int] | None = None
) -> dict[str, Any]:
    """Accuracy, macro-F1 (over labels present in truth or prediction) and per-label F1/support."""
    weights = list(weights) if weights is not None else [1] * len(true)
    labels = sorted(set(true) | set(predicted))
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for t, p, w in zip(true, predicted, weights, strict=True):
        if t == p:
            tp[t] += w
        else:
            fp[p] += w
            fn[t] += w
    per_label: dict[str, dict[str, float]] = {}
    for label in labels:
        precision = tp[label] / (tp[label] + fp[label]) if tp[label] + fp[label] else 0.0
        recall = tp[label] / (tp[label] + fn[label]) if tp[label] + fn[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"f1": round(f1, 4), "support": tp[label] + fn[label]}
    total = sum(weights)
    return {
        "accuracy": round(sum(tp.values()) / total, 4) if total else 0.0,
        "macro_f1": round(sum(v["f1"] for v in per_label.values()) / len(labels), 4) if labels else 0.0,
        "per_label": per_label,
        "lines": total,
    }


def evaluate(classifier: LogClassifier, examples: Examples, batch_size: int = 64) -> dict[str, Any]:
    """Metrics of ``classifier`` on weighted examples (each counted as the lines it stands for)."""
    predicted = [c.label for c in classifier.predict(examples.texts, batch_size=batch_size)]
    metrics = classification_metrics(examples.labels, predicted, examples.counts)
    metrics["distinct_texts"] = len(examples)
    return metrics


def train_classifier(
    texts: Sequence[str],
    labels: Sequence[str],
    output_dir: str | Path,
    *,
    encoder_dir: str | Path | None = None,
    model_config: ClassifierConfig | None = None,
    training: TrainingConfig | None = None,
    data_summary: dict[str, Any] | None = None,
    progress: bool = True,
) -> tuple[LogClassifier, Manifest]:
    """Fine-tune a classifier on labelled texts, save it to ``output_dir`` and seal it with a manifest."""
    training = training or TrainingConfig()
    model_config = model_config or ClassifierConfig(labels=infer_labels(labels))
    examples = build_examples(texts, labels, model_config.normalizer)
    train_part, validation_part = split_examples(examples, training.validation_fraction, training.seed)
    classifier = LogClassifier.from_encoder(encoder_dir, model_config)
    losses = fit(classifier, train_part, training, progress=progress)
    metrics: dict[str, Any] = {"train_loss_per_epoch": [round(x, 4) for x in losses]}
    if len(validation_part):
        metrics["validation"] = evaluate(classifier, validation_part)
        metrics["macro_f1"] = metrics["validation"]["macro_f1"]
    metrics["training_set"] = evaluate(classifier, train_part)
    metrics.setdefault("macro_f1", metrics["training_set"]["macro_f1"])
    classifier.save_pretrained(output_dir)
    summary = {
        "lines": len(texts),
        "distinct_texts": len(examples),
        "train_distinct_texts": len(train_part),
        "validation_distinct_texts": len(validation_part),
        "label_counts": dict(sorted(Counter(labels).items())),
        **(data_summary or {}),
    }
    manifest = write_manifest(
        output_dir,
        kind=KIND,
        training_data=summary,
        metrics=metrics,
        config={"model": model_config.model_dump(), "training": training.model_dump()},
    )
    classifier.manifest = manifest
    return classifier, manifest


def infer_labels(labels: Iterable[str]) -> list[str]:
    """The default severities when the data's labels are among them, else the data's labels, sorted."""
    from enricher.classify.model import DEFAULT_LABELS

    seen = set(labels)
    if seen <= set(DEFAULT_LABELS):
        return list(DEFAULT_LABELS)
    if len(seen) < 2:
        raise ValueError(f"need at least two labels to train a classifier, found {sorted(seen)}")
    return sorted(seen)
