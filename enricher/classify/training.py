"""Fine-tuning a LogClassifier: dedupe, class-balance, train, evaluate, save and seal.

Log data is very repetitive (a 2,000-line sample often holds a few dozen distinct texts once variables are
masked) and very imbalanced (mostly INFO). So training runs on *distinct normalised texts*, each weighted by
``1 + log(count)`` (frequent texts count more, but cannot drown out rare ones) times a class-balancing weight.

Training is "linear probe, then fine-tune" (LP-FT, Kumar et al., ICLR 2022): fine-tuning that starts from a
head fitted on the frozen embeddings distorts the pretrained features less, which keeps what the encoder knows
about words like "error", "failed", "denied" or "timeout" -- the knowledge that carries over to systems the
classifier never saw.
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

from enricher.classify.model import DEFAULT_LABELS, KIND, ClassifierConfig, LogClassifier, mean_pool
from enricher.classify.normalize import NORMALIZER_NAME, normalizer_for
from enricher.registry import Manifest, write_manifest

if TYPE_CHECKING:
    import torch


class TrainingConfig(BaseModel):
    """How to fine-tune; recorded in the manifest."""

    linear_probe_steps: int = Field(300, ge=0, description="full-batch steps fitting the head alone first")
    linear_probe_learning_rate: float = Field(1e-2, gt=0)
    epochs: int = Field(4, ge=0, description="fine-tuning epochs of the unfrozen layers after the linear probe")
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(1e-4, gt=0, description="learning rate of the unfrozen encoder layers")
    head_learning_rate: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_fraction: float = Field(0.1, ge=0, lt=1)
    label_smoothing: float = Field(0.05, ge=0, lt=1)
    class_weight_power: float = Field(
        0.5, ge=0, le=1,
        description="1 gives every class the same total weight; 0 none; in between tempers the balancing so "
        "rare classes are not over-predicted on unfamiliar logs",
    )
    max_class_weight: float = Field(20.0, ge=1, description="cap, so a class of 3 texts cannot dominate")
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="share of distinct texts held out")
    frozen_layers: int = Field(
        -1, ge=-1,
        description="encoder layers (from the bottom, with the embeddings) kept frozen; their outputs are computed "
        "once per distinct text and cached, so an epoch costs only the top layers. -1: all but the top layer",
    )
    seed_corpus: bool = Field(True, description="mix the general seed corpus (enricher.classify.seed_corpus) in")
    seed_corpus_per_class: int = Field(1000, ge=0, description="seed corpus messages per severity")
    seed_corpus_weight: float = Field(
        0.3, ge=0,
        description="loss weight of one seed-corpus text relative to an average text of the user's data, so the "
        "user's own labels dominate on their own logs while the corpus teaches general severity",
    )
    early_stopping: bool = Field(True, description="keep the epoch with the best validation macro-F1")
    seed: int = 0


@dataclass(slots=True)
class Examples:
    """Distinct normalised texts with their label and how many input lines they stand for."""

    texts: list[str]
    labels: list[str]
    counts: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> "Examples":
        return Examples(
            [self.texts[i] for i in indices], [self.labels[i] for i in indices], [self.counts[i] for i in indices]
        )


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
    held: set[int] = set()
    for indices in by_label.values():
        if len(indices) >= 3:
            rng.shuffle(indices)
            held.update(indices[: max(1, round(fraction * len(indices)))])
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


class FrozenTrunk:
    """The frozen bottom of the encoder, run once per distinct text; the trainable top runs per step.

    With ``frozen_layers = k`` the embeddings and the first ``k`` layers never change during training, so their
    output per text is cached and an epoch costs only the top layers: minutes on a CPU for the seed corpus plus
    the user's data, and a mostly frozen encoder cannot overfit a few hundred texts of one log source. Encoders
    without the BERT layout (``embeddings`` + ``encoder.layer``) fall back to ``k = 0``: plain fine-tuning.
    """

    def __init__(
        self, classifier: LogClassifier, frozen_layers: int, cache: dict[str, "torch.Tensor"] | None = None
    ) -> None:
        encoder = classifier.network.encoder
        layers = getattr(getattr(encoder, "encoder", None), "layer", None)
        self.bert_layout = (layers is not None and hasattr(encoder, "embeddings")
                            and hasattr(encoder, "_create_attention_masks"))
        total = len(layers) if self.bert_layout else 0
        self.frozen = 0 if not self.bert_layout else (total - 1 if frozen_layers < 0 else min(frozen_layers, total))
        self.classifier = classifier
        # Shared between runs only when they start from the same encoder with the same frozen_layers.
        self._cache: dict[str, "torch.Tensor"] = {} if cache is None else cache

    def trainable_parameters(self) -> list["torch.nn.Parameter"]:
        network = self.classifier.network
        if not self.bert_layout:
            return list(network.encoder.parameters())
        return [p for layer in network.encoder.encoder.layer[self.frozen :] for p in layer.parameters()]

    def freeze(self) -> None:
        """Turn off gradients of the frozen part (embeddings and bottom layers)."""
        if not self.bert_layout:
            return
        trainable = {id(p) for p in self.trainable_parameters()}
        for parameter in self.classifier.network.encoder.parameters():
            parameter.requires_grad_(id(parameter) in trainable)

    def _mask(self, hidden: "torch.Tensor", attention_mask: "torch.Tensor") -> Any:
        encoder = self.classifier.network.encoder
        return encoder._create_attention_masks(attention_mask, None, hidden, None, None)[0]

    def precompute(self, texts: Sequence[str], batch_size: int = 64) -> None:
        """Cache the frozen part's output (unpadded, one tensor per text) for every new text."""
        import torch

        if not self.bert_layout:
            return
        todo = sorted({t for t in texts if t not in self._cache}, key=len)
        encoder = self.classifier.network.encoder
        encoder.eval()
        with torch.no_grad():  # not inference_mode: the cached tensors feed training steps
            for start in range(0, len(todo), batch_size):
                chunk = todo[start : start + batch_size]
                batch = self.classifier.encode(chunk)
                hidden = encoder.embeddings(input_ids=batch["input_ids"])
                mask = self._mask(hidden, batch["attention_mask"])
                for layer in encoder.encoder.layer[: self.frozen]:
                    hidden = layer(hidden, mask)
                lengths = batch["attention_mask"].sum(dim=1).tolist()
                for text, row, length in zip(chunk, hidden, lengths, strict=True):
                    self._cache[text] = row[: int(length)].clone()

    def logits(self, texts: Sequence[str]) -> "torch.Tensor":
        """The network's logits; from cached frozen states when the layout allows it."""
        import torch
        from torch.nn.utils.rnn import pad_sequence

        network = self.classifier.network
        if not self.bert_layout:
            return network(**self.classifier.encode(list(texts)))
        self.precompute(texts)
        states = [self._cache[t] for t in texts]
        hidden = pad_sequence(states, batch_first=True)
        attention_mask = pad_sequence([torch.ones(len(s), dtype=torch.long) for s in states], batch_first=True)
        mask = self._mask(hidden, attention_mask)
        for layer in network.encoder.encoder.layer[self.frozen :]:
            hidden = layer(hidden, mask)
        return network.head(network.dropout(mean_pool(hidden, attention_mask)))

    def pooled(self, texts: Sequence[str], batch_size: int = 128) -> "torch.Tensor":
        """Mean-pooled encoder outputs (no dropout, no gradients): the linear probe's features."""
        import torch

        network = self.classifier.network
        network.eval()
        head, network.head = network.head, torch.nn.Identity()
        try:
            with torch.inference_mode():
                rows = [self.logits(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        finally:
            network.head = head
        return torch.cat(rows) if rows else torch.zeros(0, head.in_features)

    def predict_labels(self, texts: Sequence[str], batch_size: int = 128) -> list[str]:
        import torch

        self.classifier.network.eval()
        labels = self.classifier.labels
        with torch.inference_mode():
            return [
                labels[int(i)]
                for start in range(0, len(texts), batch_size)
                for i in self.logits(texts[start : start + batch_size]).argmax(dim=1)
            ]


def linear_probe(
    trunk: FrozenTrunk,
    examples: Examples,
    targets: "torch.Tensor",
    weights: "torch.Tensor",
    config: TrainingConfig,
) -> float:
    """Fit the head alone on frozen embeddings (full batch); returns the final loss."""
    import torch

    if config.linear_probe_steps == 0:
        return float("nan")
    features = trunk.pooled(examples.texts).clone()
    head = trunk.classifier.network.head
    optimizer = torch.optim.Adam(head.parameters(), lr=config.linear_probe_learning_rate)
    loss_function = torch.nn.CrossEntropyLoss(reduction="none", label_smoothing=config.label_smoothing)
    for _ in range(config.linear_probe_steps):
        loss = (loss_function(head(features), targets) * weights).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss.item())


def _mixed_training_set(
    examples: Examples, seed_examples: Examples | None, labels: Sequence[str], config: TrainingConfig
) -> tuple[Examples, list[float]]:
    """The user's examples plus the seed corpus, with weights: class-balanced within each, mean 1 for the
    user's examples and ``seed_corpus_weight`` for each seed-corpus example."""
    weights = example_weights(examples, labels, config.max_class_weight, config.class_weight_power)
    mean = sum(weights) / len(weights) if weights else 1.0
    weights = [w / mean for w in weights]
    if not seed_examples or config.seed_corpus_weight == 0:  # None or empty (Examples has a length)
        return examples, weights
    seed_weights = example_weights(seed_examples, labels, config.max_class_weight, 1.0)
    seed_mean = sum(seed_weights) / len(seed_weights)
    seed_weights = [config.seed_corpus_weight * w / seed_mean for w in seed_weights]
    combined = Examples(examples.texts + seed_examples.texts, examples.labels + seed_examples.labels,
                        examples.counts + seed_examples.counts)
    return combined, weights + seed_weights


def fit(
    classifier: LogClassifier,
    examples: Examples,
    config: TrainingConfig,
    *,
    validation: Examples | None = None,
    seed_examples: Examples | None = None,
    state_cache: dict[str, "torch.Tensor"] | None = None,
    progress: bool = True,
) -> list[float]:
    """Train ``classifier`` in place on ``examples`` (plus ``seed_examples``); returns each epoch's mean loss.

    Linear probe of the head first, then the unfrozen top layers and the head together. With a
    ``validation`` set and ``early_stopping``, the weights of the epoch with the best validation macro-F1
    (line-weighted) are kept. ``state_cache`` (text -> frozen-layer output) may be shared by runs that start
    from the same pretrained encoder with the same ``frozen_layers`` (the benchmark's folds do).
    """
    import torch
    from tqdm import tqdm

    unknown = sorted(set(examples.labels) - set(classifier.labels))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classifier's labels {classifier.labels}")
    torch.manual_seed(config.seed)
    training_set, weight_list = _mixed_training_set(examples, seed_examples, classifier.labels, config)
    index_of = {label: i for i, label in enumerate(classifier.labels)}
    targets = torch.tensor([index_of[label] for label in training_set.labels])
    weights = torch.tensor(weight_list, dtype=torch.float32)
    trunk = FrozenTrunk(classifier, config.frozen_layers, state_cache)
    trunk.freeze()
    if progress:
        print(f"caching frozen-layer outputs of {len(training_set)} training texts", file=sys.stderr)
    trunk.precompute(training_set.texts + (validation.texts if validation else []))
    probe_loss = linear_probe(trunk, training_set, targets, weights, config)
    if progress and config.linear_probe_steps:
        print(f"linear probe: head fitted on frozen embeddings, loss {probe_loss:.4f}", file=sys.stderr)
    network = classifier.network
    optimizer = torch.optim.AdamW(
        [
            {"params": trunk.trainable_parameters(), "lr": config.learning_rate},
            {"params": network.head.parameters(), "lr": config.head_learning_rate},
        ],
        weight_decay=config.weight_decay,
    )
    total_steps = max(1, math.ceil(len(training_set) / config.batch_size) * config.epochs)
    warmup = max(1, int(config.warmup_fraction * total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / (total_steps - warmup + 1)))
    )
    loss_function = torch.nn.CrossEntropyLoss(reduction="none", label_smoothing=config.label_smoothing)
    generator = torch.Generator().manual_seed(config.seed)
    watch = validation is not None and len(validation) > 0 and config.early_stopping
    best_score = evaluate(trunk, validation)["macro_f1"] if watch else -1.0
    best_state = {k: v.detach().clone() for k, v in network.state_dict().items()} if watch else None
    epoch_losses: list[float] = []
    bar = tqdm(total=total_steps, desc="training classifier", unit="batch", disable=not progress)
    for epoch in range(config.epochs):
        network.train()
        order = torch.randperm(len(training_set), generator=generator).tolist()
        running = 0.0
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            logits = trunk.logits([training_set.texts[i] for i in rows])
            loss = (loss_function(logits, targets[rows]) * weights[rows]).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            running += loss.item() * len(rows)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4f}", refresh=False)
        epoch_losses.append(running / max(1, len(training_set)))
        if watch:
            score = evaluate(trunk, validation)["macro_f1"]
            if score > best_score:
                best_score, best_state = score, {k: v.detach().clone() for k, v in network.state_dict().items()}
    bar.close()
    if best_state is not None:
        network.load_state_dict(best_state)
    network.requires_grad_(True)
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


def evaluate(trunk: FrozenTrunk, examples: Examples) -> dict[str, Any]:
    """Metrics of the trunk's classifier on weighted examples (each counted as the lines it stands for).

    The trunk holds the training's cache of frozen-layer outputs, so only the top layers run.
    """
    metrics = classification_metrics(examples.labels, trunk.predict_labels(examples.texts), examples.counts)
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
    state_cache: dict[str, "torch.Tensor"] | None = None,
    progress: bool = True,
) -> tuple[LogClassifier, Manifest]:
    """Train a classifier on labelled texts (plus the seed corpus), save it to ``output_dir``, seal it.

    The seed corpus is mixed in only when ``training.seed_corpus`` is on and the label set holds the four
    severities (a custom label set trains on the user's data alone).
    """
    from enricher.classify.seed_corpus import SEED_CORPUS_NAME, seed_corpus, seed_corpus_sha256

    training = training or TrainingConfig()
    model_config = model_config or ClassifierConfig(labels=infer_labels(labels))
    examples = build_examples(texts, labels, model_config.normalizer)
    train_part, validation_part = split_examples(examples, training.validation_fraction, training.seed)
    seed_part = None
    if training.seed_corpus and training.seed_corpus_per_class and set(DEFAULT_LABELS) <= set(model_config.labels):
        seed_part = build_examples(*seed_corpus(training.seed_corpus_per_class, training.seed), model_config.normalizer)
    classifier = LogClassifier.from_encoder(encoder_dir, model_config)
    state_cache = {} if state_cache is None else state_cache
    losses = fit(classifier, train_part, training, validation=validation_part, seed_examples=seed_part,
                 state_cache=state_cache, progress=progress)
    trunk = FrozenTrunk(classifier, training.frozen_layers, state_cache)
    metrics: dict[str, Any] = {"train_loss_per_epoch": [round(x, 4) for x in losses]}
    if len(validation_part):
        # The network alone, on texts it never saw: what it does on templates outside the label memory.
        metrics["validation"] = evaluate(trunk, validation_part)
        metrics["macro_f1"] = metrics["validation"]["macro_f1"]
    metrics["training_set"] = evaluate(trunk, train_part)
    # Remember every labelled text of the user's (training and validation), never the seed corpus.
    classifier.remember(examples.texts, examples.labels, examples.counts)
    if classifier.label_memory:
        metrics["label_memory_texts"] = len(classifier.label_memory)
    metrics.setdefault("macro_f1", metrics["training_set"]["macro_f1"])
    if seed_part is not None:
        seed_metrics = evaluate(trunk, seed_part)
        metrics["seed_corpus"] = {k: seed_metrics[k] for k in ("accuracy", "macro_f1")}
    classifier.save_pretrained(output_dir)
    summary = {
        "lines": len(texts),
        "distinct_texts": len(examples),
        "train_distinct_texts": len(train_part),
        "validation_distinct_texts": len(validation_part),
        "label_counts": dict(sorted(Counter(labels).items())),
        "seed_corpus": (
            {"name": SEED_CORPUS_NAME, "sha256": seed_corpus_sha256(), "distinct_texts": len(seed_part),
             "weight": training.seed_corpus_weight}
            if seed_part is not None else None
        ),
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
    seen = set(labels)
    if seen <= set(DEFAULT_LABELS):
        return list(DEFAULT_LABELS)
    if len(seen) < 2:
        raise ValueError(f"need at least two labels to train a classifier, found {sorted(seen)}")
    return sorted(seen)
