"""Evaluate the transformer log classifier against a TF-IDF + logistic-regression baseline.

Data: the ``Level`` column of the labelled Loghub-2k samples (Android, Apache, BGL, HDFS, Zookeeper) in
``../shared/data/loghub``, normalised to INFO/WARNING/ERROR/CRITICAL as that folder's README says.

Models, all trained and tested in this run: the transformer classifier as it ships (general seed corpus
mixed in, frozen bottom layers, see enricher/classify/training.py), TF-IDF + logistic regression on the same
training data *with* the same seed corpus (the fair comparison), and TF-IDF without it (the old baseline).

Reports, side by side:
  * in-domain macro-F1: each dataset's lines split 80/20 (stratified, seeded); one model trained on all
    training parts, tested on all test parts (four classes, every line counted);
  * cross-dataset macro-F1: leave one dataset out -- train on the four others (+ Spark/Windows, all INFO, +
    the seed corpus where the model uses it), test on the fifth. Per fold: macro-F1 over the classes
    present in that dataset or predicted; pooled: the five folds' predictions together, four classes
    (CRITICAL exists only in BGL, so only the seed corpus can teach it in the BGL fold);
  * classifier stage cost on a replayed, repetitive stream: messages/s and model calls with the template
    cache (keyed by template id, as the service does, or by normalised text) versus no cache.

Usage (from the project root):
    .venv/bin/python bench/classification.py [--data ../shared/data/loghub] [--epochs 4] [--threads 2]

The frozen encoder layers' outputs are computed once per distinct text and shared by every training run
of the benchmark (they do not change in training), so the whole run takes minutes, not hours.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from enricher.classify import (
    DEFAULT_LABELS,
    ClassifierConfig,
    ClassifierStage,
    LogClassifier,
    TrainingConfig,
    normalize_severity,
    normalize_text,
    resolve_inference_dtype,
    train_classifier,
)
from enricher.classify.seed_corpus import SEED_CORPUS_NAME, seed_corpus

LABELLED = ["Android", "Apache", "BGL", "HDFS", "Zookeeper"]
# Also labelled, but every line is INFO: used as extra training data (never as a test set), they teach that
# ordinary system chatter is INFO -- the prior that matters most on logs from an unseen system.
INFO_ONLY = ["Spark", "Windows"]
LAST_TRANSFORMER: dict[str, LogClassifier] = {}  # the latest trained transformer, reused for the cost table
ALL_DATASETS = LABELLED + ["HPC", "HealthApp", "Linux", "OpenSSH", "Proxifier", "Spark", "Windows"]


def read_structured(data_dir: Path, name: str) -> list[dict[str, str]]:
    path = data_dir / name / f"{name}_2k.log_structured.csv"
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return list(csv.DictReader(handle))


def load_labelled(data_dir: Path, names: list[str]) -> dict[str, tuple[list[str], list[str]]]:
    """dataset -> (messages, normalised levels)."""
    data = {}
    for name in names:
        rows = read_structured(data_dir, name)
        data[name] = ([r["Content"] for r in rows], [normalize_severity(r["Level"]) for r in rows])
    return data


def macro_f1(true: list[str], predicted: list[str], labels: list[str] | None = None) -> float:
    labels = labels or sorted(set(true) | set(predicted))
    return float(f1_score(true, predicted, labels=labels, average="macro", zero_division=0))


def per_class_f1(true: list[str], predicted: list[str]) -> dict[str, float]:
    scores = f1_score(true, predicted, labels=DEFAULT_LABELS, average=None, zero_division=0)
    return dict(zip(DEFAULT_LABELS, (float(s) for s in scores), strict=True))


class TfidfBaseline:
    """TF-IDF word 1-2 grams + class-balanced logistic regression, on the same normalised texts.

    With ``seed`` (texts, labels), the seed corpus is added to the training lines, each seed text weighted
    ``seed_weight`` times an average training line -- the same mixing the transformer uses.
    """

    def __init__(self, seed: tuple[list[str], list[str]] | None = None, seed_weight: float = 0.3) -> None:
        self.seed = seed
        self.seed_weight = seed_weight

    def fit(self, texts: list[str], labels: list[str]) -> "TfidfBaseline":
        counts = Counter(labels)
        # "balanced" class weights of the user's lines, then the seed corpus at seed_weight per text.
        weights = [len(labels) / (len(counts) * counts[y]) for y in labels]
        if self.seed:
            seed_counts = Counter(self.seed[1])
            texts = list(texts) + self.seed[0]
            labels = list(labels) + self.seed[1]
            weights += [self.seed_weight * len(self.seed[1]) / (len(seed_counts) * seed_counts[y]) for y in self.seed[1]]
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
        features = self.vectorizer.fit_transform([normalize_text(t) for t in texts])
        self.model = LogisticRegression(max_iter=3000, C=10.0)
        self.model.fit(features, labels, sample_weight=weights)
        return self

    def predict(self, texts: list[str]) -> list[str]:
        return list(self.model.predict(self.vectorizer.transform([normalize_text(t) for t in texts])))


class TransformerModel:
    """Our classifier, trained through the same function the CLI uses, in a temporary folder."""

    def __init__(self, training: TrainingConfig, workdir: Path, variable_text: str, state_cache: dict,
                 precision: str = "auto") -> None:
        self.training = training
        self.precision = precision
        self.variable_text = variable_text
        self.workdir = workdir
        self.state_cache = state_cache  # frozen-layer outputs, shared by every run (same encoder, same layers)
        self.seconds = 0.0

    def fit(self, texts: list[str], labels: list[str]) -> "TransformerModel":
        started = time.perf_counter()
        folder = Path(tempfile.mkdtemp(dir=self.workdir))
        config = ClassifierConfig(variable_text=self.variable_text)
        train_classifier(texts, labels, folder, model_config=config, training=self.training,
                         state_cache=self.state_cache, progress=False)
        # Load back from disk (float16 weights, manifest verified): what the service would run.
        self.classifier = LogClassifier.from_pretrained(folder, inference_dtype=self.precision)
        self.seconds = time.perf_counter() - started
        LAST_TRANSFORMER["model"] = self.classifier
        return self

    def predict(self, texts: list[str]) -> list[str]:
        return [c.label for c in self.classifier.predict(texts)]


def stratified_split(labels: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)
    test: list[int] = []
    for indices in by_label.values():
        rng.shuffle(indices)
        test.extend(indices[: round(fraction * len(indices))])
    test_set = set(test)
    return [i for i in range(len(labels)) if i not in test_set], sorted(test)


def in_domain(data, extra, make_models, seed: int) -> dict[str, dict]:
    train_x = [t for texts, _ in extra.values() for t in texts]
    train_y = [y for _, labels in extra.values() for y in labels]
    test_x, test_y, test_ds = [], [], []
    for name, (texts, labels) in data.items():
        train_idx, test_idx = stratified_split(labels, 0.2, seed)
        train_x += [texts[i] for i in train_idx]
        train_y += [labels[i] for i in train_idx]
        test_x += [texts[i] for i in test_idx]
        test_y += [labels[i] for i in test_idx]
        test_ds += [name] * len(test_idx)
    results = {}
    for model_name, model in make_models().items():
        predicted = model.fit(train_x, train_y).predict(test_x)
        per_dataset = {
            name: macro_f1([t for t, d in zip(test_y, test_ds) if d == name], [p for p, d in zip(predicted, test_ds) if d == name])
            for name in data
        }
        results[model_name] = {
            "macro_f1": macro_f1(test_y, predicted, DEFAULT_LABELS),
            "per_class": per_class_f1(test_y, predicted),
            "per_dataset": per_dataset,
        }
        print(f"  in-domain {model_name}: macro-F1 {results[model_name]['macro_f1']:.3f}", file=sys.stderr)
    return results


def cross_dataset(data, extra, make_models) -> dict[str, dict]:
    pooled_true: dict[str, list[str]] = defaultdict(list)
    pooled_pred: dict[str, list[str]] = defaultdict(list)
    per_fold: dict[str, dict[str, float]] = defaultdict(dict)
    for held_out in data:
        train_x = [t for name, (texts, _) in {**data, **extra}.items() if name != held_out for t in texts]
        train_y = [y for name, (_, labels) in {**data, **extra}.items() if name != held_out for y in labels]
        test_x, test_y = data[held_out]
        for model_name, model in make_models().items():
            predicted = model.fit(train_x, train_y).predict(test_x)
            pooled_true[model_name] += test_y
            pooled_pred[model_name] += predicted
            per_fold[model_name][held_out] = macro_f1(test_y, predicted)
            print(f"  held out {held_out:9s} {model_name}: macro-F1 {per_fold[model_name][held_out]:.3f}"
                  f" {dict(Counter(predicted))}", file=sys.stderr, flush=True)
    return {
        name: {
            "macro_f1": macro_f1(pooled_true[name], pooled_pred[name], DEFAULT_LABELS),
            "macro_f1_without_critical": macro_f1(
                [t for t in pooled_true[name]], [p for p in pooled_pred[name]], ["INFO", "WARNING", "ERROR"]
            ),
            "per_class": per_class_f1(pooled_true[name], pooled_pred[name]),
            "per_fold": per_fold[name],
        }
        for name in pooled_true
    }


def replay_stream(data_dir: Path, repeats: int, seed: int) -> tuple[list[str], list[str]]:
    """All 12 Loghub samples, interleaved in chunks and replayed: (messages, template ids)."""
    chunks = []
    for name in ALL_DATASETS:
        rows = read_structured(data_dir, name)
        for start in range(0, len(rows), 100):
            chunks.append([(r["Content"], f"{name}:{r['EventId']}") for r in rows[start : start + 100]])
    rng = random.Random(seed)
    stream = []
    for _ in range(repeats):
        rng.shuffle(chunks)
        stream += [pair for chunk in chunks for pair in chunk]
    return [m for m, _ in stream], [k for _, k in stream]


def precision_cost(classifier: LogClassifier, texts: list[str], call_size: int = 30) -> list[tuple]:
    """ms per text of the uncached model in float32 and bfloat16 (calls of ``call_size`` distinct texts, like
    the new templates of one batch), and how often the two agree on the label."""
    rows, labels = [], {}
    saved, memory = classifier.inference_dtype, classifier.label_memory
    classifier.label_memory = {}  # the network itself, on every text
    for dtype in ("float32", "bfloat16"):
        classifier.inference_dtype = dtype
        classifier.predict(texts[:call_size])  # warm-up
        started = time.perf_counter()
        labels[dtype] = [c.label for i in range(0, len(texts), call_size)
                         for c in classifier.predict(texts[i : i + call_size])]
        rows.append((dtype, len(texts), 1000 * (time.perf_counter() - started) / len(texts)))
    classifier.inference_dtype, classifier.label_memory = saved, memory
    agreement = sum(a == b for a, b in zip(labels["float32"], labels["bfloat16"])) / max(1, len(texts))
    return [(*row, agreement) for row in rows]


def stage_cost(classifier: LogClassifier, messages: list[str], keys: list[str], no_cache_sample: int) -> list[tuple]:
    rows = []
    sample = messages[:no_cache_sample]
    started = time.perf_counter()
    classifier.predict(sample)  # predict() still merges identical texts within a call
    elapsed = time.perf_counter() - started
    rows.append(("no cache (model on every message)", len(sample), len(set(map(normalize_text, sample))), len(sample) / elapsed))
    for label, use_keys in (("cache keyed by template id", True), ("cache keyed by normalised text", False)):
        stage = ClassifierStage(classifier, classifier.model_version)
        started = time.perf_counter()
        for start in range(0, len(messages), 500):  # the service's bulk batches
            stage.classify(messages[start : start + 500], keys[start : start + 500] if use_keys else None)
        elapsed = time.perf_counter() - started
        rows.append((label, len(messages), stage.stats.model_calls, len(messages) / elapsed))
    return rows


def export_jsonl(data_dir: Path, path: Path, names: list[str]) -> None:
    import json

    with path.open("w", encoding="utf-8") as handle:
        for name in names:
            for row in read_structured(data_dir, name):
                handle.write(json.dumps({"message": row["Content"], "level": row["Level"], "dataset": name}) + "\n")
    print(f"wrote {path} ({', '.join(names)})", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/loghub"))
    parser.add_argument("--epochs", type=int, default=TrainingConfig().epochs)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--seed-corpus-weight", type=float, default=TrainingConfig().seed_corpus_weight)
    parser.add_argument("--frozen-layers", type=int, default=TrainingConfig().frozen_layers)
    parser.add_argument("--transformer-without-seed", action="store_true",
                        help="also train the transformer without the seed corpus (slower)")
    parser.add_argument("--learning-rate", type=float, default=TrainingConfig().learning_rate)
    parser.add_argument("--class-weight-power", type=float, default=TrainingConfig().class_weight_power)
    parser.add_argument("--variable-text", default=ClassifierConfig().variable_text,
                        help="what a masked variable becomes in the transformer's input")
    parser.add_argument("--early-stopping", action=argparse.BooleanOptionalAction,
                        default=TrainingConfig().early_stopping,
                        help="keep the epoch with the best validation macro-F1 (else the last epoch)")
    parser.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default="auto",
                        help="transformer inference precision (the service's default: auto)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--info-only-training", action=argparse.BooleanOptionalAction, default=True,
                        help="also train on Spark and Windows (all INFO); they are never test sets")
    parser.add_argument("--repeats", type=int, default=5, help="times the 24k-line stream is replayed")
    parser.add_argument("--export-jsonl", type=Path, default=None,
                        help="write the labelled lines (message, level, dataset) as JSON Lines for "
                        "`enricher classifier train`, then exit")
    parser.add_argument("--skip", choices=["in-domain", "cross", "throughput"], action="append", default=[])
    args = parser.parse_args()
    if not (args.data / "HDFS").is_dir():
        sys.exit(f"{args.data}: Loghub samples not found (expected ../shared/data/loghub); nothing to evaluate")
    if args.export_jsonl:
        export_jsonl(args.data, args.export_jsonl, LABELLED + (INFO_ONLY if args.info_only_training else []))
        return
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    training = TrainingConfig(
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        class_weight_power=args.class_weight_power,
        seed_corpus_weight=args.seed_corpus_weight,
        frozen_layers=args.frozen_layers,
        early_stopping=args.early_stopping,
        seed=args.seed,
    )
    seed = seed_corpus(training.seed_corpus_per_class, training.seed)
    data = load_labelled(args.data, LABELLED)
    extra = load_labelled(args.data, INFO_ONLY) if args.info_only_training else {}
    print("lines per dataset and class:", file=sys.stderr)
    for name, (_, labels) in {**data, **extra}.items():
        print(f"  {name:9s} {dict(Counter(labels))}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)

        state_cache: dict = {}

        def make_models():
            models = {
                "tfidf+logreg (no seed corpus)": TfidfBaseline(),
                "tfidf+logreg + seed corpus": TfidfBaseline(seed, args.seed_corpus_weight),
                "transformer + seed corpus": TransformerModel(training, workdir, args.variable_text, state_cache,
                                                              args.precision),
            }
            if args.transformer_without_seed:
                models["transformer (no seed corpus)"] = TransformerModel(
                    training.model_copy(update={"seed_corpus": False}), workdir, args.variable_text, state_cache,
                    args.precision)
            return models

        started = time.perf_counter()
        results = {}
        if "in-domain" not in args.skip:
            results["in-domain"] = in_domain(data, extra, make_models, args.seed)
        if "cross" not in args.skip:
            results["cross-dataset"] = cross_dataset(data, extra, make_models)
        print(f"\n## Severity classification (Loghub Level, 4 classes), seed {args.seed}, {args.epochs} epochs, "
              f"frozen layers {args.frozen_layers}, class-weight power {args.class_weight_power}, seed corpus "
              f"{SEED_CORPUS_NAME} ({len(seed[0])} texts, weight {args.seed_corpus_weight}), extra INFO-only "
              f"training data: {', '.join(extra) or 'none'}; {torch.get_num_threads()} torch threads; "
              f"run time {time.perf_counter() - started:.0f} s\n")
        for setting, by_model in results.items():
            print(f"### {setting} macro-F1\n")
            columns = list(next(iter(by_model.values()))["per_fold" if setting == "cross-dataset" else "per_dataset"])
            print("| model | macro-F1 (4 classes) | " + " | ".join(f"F1 {c}" for c in DEFAULT_LABELS) + " | "
                  + " | ".join(f"{'held out ' if setting == 'cross-dataset' else ''}{c}" for c in columns) + " |")
            print("|---" * (2 + len(DEFAULT_LABELS) + len(columns)) + "|")
            for model_name, result in by_model.items():
                folds = result["per_fold" if setting == "cross-dataset" else "per_dataset"]
                print(f"| {model_name} | **{result['macro_f1']:.3f}** | "
                      + " | ".join(f"{result['per_class'][c]:.3f}" for c in DEFAULT_LABELS) + " | "
                      + " | ".join(f"{folds[c]:.3f}" for c in columns) + " |")
            if setting == "cross-dataset":
                print("\n(per held-out dataset: macro-F1 over the classes present in that dataset or predicted; "
                      "pooled 3-class INFO/WARNING/ERROR macro-F1: "
                      + ", ".join(f"{m} {r['macro_f1_without_critical']:.3f}" for m, r in by_model.items()) + ")")
            print()
        if "throughput" not in args.skip:
            # The in-domain transformer (trained on 80% of each dataset) stands in for the shipped model: the
            # cost measured here depends on the network and the cache, not on the weights.
            classifier = LAST_TRANSFORMER.get("model")
            if classifier is None:
                folder = workdir / "all"
                all_x = [t for texts, _ in {**data, **extra}.values() for t in texts]
                all_y = [y for _, labels in {**data, **extra}.values() for y in labels]
                train_classifier(all_x, all_y, folder, model_config=ClassifierConfig(variable_text=args.variable_text),
                                 training=training, state_cache=state_cache, progress=False)
                classifier = LogClassifier.from_pretrained(folder)
            messages, keys = replay_stream(args.data, args.repeats, args.seed)
            rows = stage_cost(classifier, messages, keys, no_cache_sample=2000)
            print(f"### Classifier stage cost ({torch.get_num_threads()} torch threads), replayed Loghub stream "
                  f"(12 datasets, {len(messages)} messages)\n")
            print("| mode | messages | model calls | messages/s | µs per message |")
            print("|---|---|---|---|---|")
            for label, count, calls, rate in rows:
                print(f"| {label} | {count} | {calls} | {rate:,.0f} | {1e6 / rate:,.1f} |")
            print()
            distinct = list(dict.fromkeys(normalize_text(m) for m in messages))
            print(f"### Model call cost by precision ({len(distinct)} distinct normalised texts of the stream, "
                  f"calls of 30 texts; `auto` picks {resolve_inference_dtype('auto')} on this CPU)\n")
            print("| precision | texts | ms per text | label agreement with float32 |")
            print("|---|---|---|---|")
            for dtype, count, ms, agreement in precision_cost(classifier, distinct):
                print(f"| {dtype} | {count} | {ms:.2f} | {'(reference)' if dtype == 'float32' else f'{agreement:.4f}'} |")
            print()


if __name__ == "__main__":
    main()
