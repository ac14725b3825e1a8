"""The transformer log classifier, on a tiny random BERT so the tests take seconds, not minutes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from typer.testing import CliRunner  # noqa: E402

from enricher.classify import (  # noqa: E402
    ClassifierConfig,
    ClassifierStage,
    LogClassifier,
    TrainingConfig,
    build_examples,
    classification_metrics,
    normalize_severity,
    normalize_text,
    train_classifier,
)
from enricher.records import Classification  # noqa: E402
from enricher.registry import ModelIntegrityError, read_manifest  # noqa: E402

WORDS = (
    "connection failed error timeout refused denied exception fatal panic kernel disk full user logged in "
    "started stopped received block size from to request served ok session opened closed warning retry slow "
    "deprecated memory low"
).split()
FAST = TrainingConfig(
    epochs=25, batch_size=8, learning_rate=1e-3, head_learning_rate=1e-2, linear_probe_steps=200,
    validation_fraction=0.0, label_smoothing=0.0, seed_corpus=False, frozen_layers=0,
)


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer, 32-wide random BERT with a word-level vocabulary, saved like a Hugging Face folder."""
    folder = tmp_path_factory.mktemp("tiny-encoder")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<", ">", "*", "_", ".", ":", "/", "="] + WORDS
    tokenizer = transformers.BertTokenizerFast(vocab={word: i for i, word in enumerate(vocab)}, do_lower_case=True)
    assert "[UNK]" not in tokenizer.tokenize("connection <*> failed error")
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    transformers.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _dataset() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for i in range(40):
        texts += [f"user {i} logged in from 10.0.0.{i}", f"received block blk_{i} size {i * 7}",
                  f"connection {i} failed error refused", f"disk full fatal kernel panic {i}",
                  f"memory low warning retry {i}"]
        labels += ["INFO", "INFO", "ERROR", "CRITICAL", "WARNING"]
    return texts, labels


@pytest.fixture(scope="module")
def trained(tiny_encoder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[LogClassifier, Path]:
    folder = tmp_path_factory.mktemp("clf") / "model"
    texts, labels = _dataset()
    classifier, _ = train_classifier(texts, labels, folder, encoder_dir=tiny_encoder, training=FAST, progress=False)
    return classifier, folder


def test_normalization_makes_messages_and_templates_alike() -> None:
    assert normalize_text("Received block blk_-1608999687919862906 of size 91178 from /10.250.10.6") == \
        normalize_text("Received block blk_<*> of size <*> from /<*>")
    assert normalize_text("jk2_init() Found child 6725 in scoreboard slot 10") == \
        "jk2_init() Found child <*> in scoreboard slot <*>"
    assert normalize_text("Deleting block blk_1 file /mnt/hadoop/dfs/data/current/subdir34/blk_1") == \
        "Deleting block <*> file <*>"
    for text in ["a=1, b=0x1f3a path /x/y/z12", "Connection broken for id 188978561024, my id = 1"]:
        assert normalize_text(normalize_text(text)) == normalize_text(text)  # idempotent: safe as a cache key
    assert "error" in normalize_text("data TLB error interrupt")


def test_severity_spellings_map_to_four_classes() -> None:
    assert [normalize_severity(x) for x in ["I", "D", "V", "notice", "W", "WARN", "error", "SEVERE", "FATAL"]] == \
        ["INFO", "INFO", "INFO", "INFO", "WARNING", "WARNING", "ERROR", "ERROR", "CRITICAL"]
    assert normalize_severity("custom") == "custom"


def test_examples_are_deduplicated_with_counts() -> None:
    examples = build_examples(["a 1", "a 2", "b", "a 3"], ["X", "X", "Y", "Z"])
    assert sorted(zip(examples.texts, examples.labels, examples.counts)) == \
        [("a <*>", "X", 2), ("a <*>", "Z", 1), ("b", "Y", 1)]


def test_metrics_macro_f1() -> None:
    metrics = classification_metrics(["A", "A", "B", "B"], ["A", "B", "B", "B"])
    assert metrics["accuracy"] == 0.75
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2, abs=1e-3)


def test_trained_model_separates_classes_and_survives_save_load(trained: tuple[LogClassifier, Path]) -> None:
    classifier, folder = trained
    probes = ["user 99 logged in from 10.1.1.1", "connection 77 failed error refused",
              "disk full fatal kernel panic 5", "memory low warning retry 3"]
    in_memory = classifier.predict(probes)
    assert [c.label for c in in_memory] == ["INFO", "ERROR", "CRITICAL", "WARNING"]
    loaded = LogClassifier.from_pretrained(folder)
    from_disk = loaded.predict(probes)
    assert [c.label for c in from_disk] == [c.label for c in in_memory]
    for a, b in zip(in_memory, from_disk):  # float16 storage changes confidences only slightly
        assert 0.0 <= b.confidence <= 1.0 and abs(a.confidence - b.confidence) < 0.02
    assert loaded.model_version == "model" and loaded.labels == ["INFO", "WARNING", "ERROR", "CRITICAL"]
    manifest = read_manifest(folder)
    assert manifest.kind == "classifier" and "macro_f1" in manifest.metrics
    assert manifest.training_data["lines"] == 200 and manifest.training_data["label_counts"]["INFO"] == 80
    assert set(manifest.files) >= {"model.safetensors", "config.json", "classifier_config.json"}
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in manifest.files)
    from safetensors import safe_open

    with safe_open(folder / "model.safetensors", "pt") as weights:
        assert weights.get_tensor("head.weight").dtype == torch.float16


def test_bfloat16_inference_agrees_with_float32(trained: tuple[LogClassifier, Path]) -> None:
    from enricher.classify import resolve_inference_dtype

    _, folder = trained
    probes = ["user 99 logged in from 10.1.1.1", "connection 77 failed error refused",
              "disk full fatal kernel panic 5", "memory low warning retry 3"]
    full = LogClassifier.from_pretrained(folder, inference_dtype="float32")
    half = LogClassifier.from_pretrained(folder, inference_dtype="bfloat16")
    assert (full.inference_dtype, half.inference_dtype) == ("float32", "bfloat16")
    for a, b in zip(full.predict(probes), half.predict(probes)):
        assert a.label == b.label and abs(a.confidence - b.confidence) < 0.05
    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert resolve_inference_dtype("auto") == ("bfloat16" if native else "float32")
    assert (resolve_inference_dtype("float32"), resolve_inference_dtype("bfloat16")) == ("float32", "bfloat16")
    with pytest.raises(ValueError, match="auto, float32 or bfloat16"):
        resolve_inference_dtype("int8")


def test_predict_keeps_order_and_handles_empty(trained: tuple[LogClassifier, Path]) -> None:
    classifier, _ = trained
    assert classifier.predict([]) == []
    texts = ["memory low warning retry 1", "user 1 logged in", "memory low warning retry 2"]
    result = classifier.predict(texts, batch_size=1)
    assert len(result) == 3 and result[0] == result[2]


@pytest.mark.parametrize("tamper", ["alter_weights", "add_file", "remove_file", "wrong_kind"])
def test_tampered_folders_are_refused(trained: tuple[LogClassifier, Path], tmp_path: Path, tamper: str) -> None:
    import shutil

    _, folder = trained
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    if tamper == "alter_weights":
        data = bytearray((copy / "model.safetensors").read_bytes())
        data[-1] ^= 0xFF
        (copy / "model.safetensors").write_bytes(bytes(data))
    elif tamper == "add_file":
        (copy / "extra.bin").write_bytes(b"not pickle, but refused all the same")
    elif tamper == "remove_file":
        (copy / "classifier_config.json").unlink()
    else:
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["kind"] = "sequence-lstm"
        (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError):
        LogClassifier.from_pretrained(copy)


def test_any_label_set(tiny_encoder: Path, tmp_path: Path) -> None:
    texts = [f"session {i} opened" for i in range(10)] + [f"request {i} served slow" for i in range(10)]
    labels = ["audit"] * 10 + ["perf"] * 10
    classifier, manifest = train_classifier(texts, labels, tmp_path / "m", encoder_dir=tiny_encoder,
                                            training=FAST, progress=False)
    assert classifier.labels == ["audit", "perf"]
    assert {c.label for c in LogClassifier.from_pretrained(tmp_path / "m").predict(texts)} <= {"audit", "perf"}


def test_unknown_labels_are_rejected(tiny_encoder: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not among"):
        train_classifier(["a", "b"], ["INFO", "OTHER"], tmp_path / "m", encoder_dir=tiny_encoder,
                         model_config=ClassifierConfig(labels=["INFO", "WARNING"]), training=FAST, progress=False)


class CountingClassifier:
    """Stands in for LogClassifier: labels by length, counts the texts it is asked to run."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def normalize(self, text: str) -> str:
        return normalize_text(text)

    def predict(self, texts: list[str], batch_size: int = 64) -> list[Classification]:
        self.calls.append(list(texts))
        return [Classification("ERROR" if "error" in t else "INFO", 0.9) for t in texts]


def test_stage_runs_model_once_per_distinct_key() -> None:
    model = CountingClassifier()
    stage = ClassifierStage(model, "v7")  # type: ignore[arg-type]
    texts = ["disk error 1", "user 1 in", "disk error 2", "user 2 in", "disk error 3"]
    first = stage.classify(texts)
    assert [c.label for c in first] == ["ERROR", "INFO", "ERROR", "INFO", "ERROR"]
    assert sum(len(c) for c in model.calls) == 2  # two distinct normalised texts
    stage.classify(["disk error 99", "user 5 in"])
    assert sum(len(c) for c in model.calls) == 2  # all cached
    stage.classify(["anything", "else"], cache_keys=["t1", "t1"])
    assert model.calls[-1] == ["anything"]  # keyed by template id: one call for the key
    assert stage.stats.model_calls == 3 and stage.model_version == "v7"
    first[0].label = "mutated"
    assert stage.classify(["disk error 1"])[0].label == "ERROR"  # callers get copies


def test_stage_cache_is_lru_and_bounded() -> None:
    model = CountingClassifier()
    stage = ClassifierStage(model, "v1", cache_size=2)  # type: ignore[arg-type]
    stage.classify(["a"], ["k1"])
    stage.classify(["b"], ["k2"])
    stage.classify(["a"], ["k1"])  # k1 is now most recent
    stage.classify(["c"], ["k3"])  # evicts k2
    stage.classify(["a"], ["k1"])
    assert stage.stats.model_calls == 3
    stage.classify(["b"], ["k2"])
    assert stage.stats.model_calls == 4
    with pytest.raises(ValueError):
        stage.classify(["a", "b"], ["only one key"])


def test_cli_train_predict_evaluate(tiny_encoder: Path, tmp_path: Path) -> None:
    from enricher.cli.main import app

    texts, labels = _dataset()
    train_file = tmp_path / "train.jsonl"
    train_file.write_text("".join(json.dumps({"msg": {"text": t}, "level": lv}) + "\n"
                                  for t, lv in zip(texts, ["I" if x == "INFO" else x for x in labels])))
    model_dir = tmp_path / "model"
    runner = CliRunner()
    result = runner.invoke(app, ["classifier", "train", "--input", str(train_file), "--text-field", "msg.text",
                                 "--label-field", "level", "--model-dir", str(model_dir), "--encoder",
                                 str(tiny_encoder), "--epochs", "25", "--learning-rate", "1e-3",
                                 "--validation-fraction", "0", "--no-seed-corpus", "--frozen-layers", "0",
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    assert read_manifest(model_dir).training_data["label_counts"]["INFO"] == 80  # "I" mapped to INFO
    predict_file = tmp_path / "new.jsonl"
    predict_file.write_text(json.dumps({"msg": {"text": "connection 5 failed error refused"}}) + "\n\n"
                            + json.dumps({"msg": {"text": "user 3 logged in"}}) + "\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["classifier", "predict", "--model-dir", str(model_dir), "--input", str(predict_file),
                                 "--text-field", "msg.text", "--output", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [set(r) for r in rows] == [{"label", "confidence"}] * 2
    assert [r["label"] for r in rows] == ["ERROR", "INFO"]
    result = runner.invoke(app, ["classifier", "evaluate", "--model-dir", str(model_dir), "--input",
                                 str(train_file), "--text-field", "msg.text", "--label-field", "level"])
    assert result.exit_code == 0 and json.loads(result.output)["accuracy"] > 0.9
    result = runner.invoke(app, ["classifier", "train", "--input", str(train_file), "--text-field", "msg.text",
                                 "--label-field", "level", "--model-dir", str(model_dir)])
    assert result.exit_code == 2 and "not empty" in result.output


def test_cli_refuses_tampered_model(trained: tuple[LogClassifier, Path], tmp_path: Path) -> None:
    import shutil

    from enricher.cli.main import app

    _, folder = trained
    registry = tmp_path / "models"
    shutil.copytree(folder, registry / "classifier" / "v1")
    (registry / "classifier" / "PROMOTED").write_text("v1\n")
    (registry / "classifier" / "v1" / "config.json").write_text("{}")
    source = tmp_path / "in.jsonl"
    source.write_text('{"m": "x"}\n')
    result = CliRunner().invoke(app, ["classifier", "predict", "--registry", str(registry), "--input", str(source),
                                      "--text-field", "m"])
    assert result.exit_code == 1 and "config.json does not match" in result.output


def test_variables_are_dropped_from_model_input(trained: tuple[LogClassifier, Path]) -> None:
    classifier, _ = trained
    ids = classifier.encode(["user <*> logged in"])["input_ids"][0].tolist()
    assert "*" not in classifier.tokenizer.convert_ids_to_tokens(ids)


def test_seed_corpus_is_deterministic_balanced_and_distinct() -> None:
    from enricher.classify.seed_corpus import generate_seed_corpus, load_seed_corpus, seed_corpus

    corpus = generate_seed_corpus(per_class=150, seed=3)
    assert corpus == generate_seed_corpus(per_class=150, seed=3)
    assert corpus != generate_seed_corpus(per_class=150, seed=4)
    by_label = {label: [m for m in corpus if m.label == label] for label in ("INFO", "WARNING", "ERROR", "CRITICAL")}
    assert all(len(messages) == 150 for messages in by_label.values())
    domains = {m.domain for m in load_seed_corpus()}
    assert all({m.domain for m in messages} == domains for messages in by_label.values())
    normalised = [(normalize_text(m.text), m.label) for m in corpus]
    assert len(set(normalised)) == len(normalised)
    texts, labels = seed_corpus(per_class=10)
    assert len(texts) == len(labels) == 40 and "{" not in "".join(texts)  # every slot filled


def test_normalization_folds_paths_repeats_prefixed_ids_and_stray_asterisks() -> None:
    assert normalize_text("BLOCK* ask 10.2.3.4:50010 to delete blk_1 blk_2 blk_-3") == "BLOCK ask <*> to delete <*>"
    assert normalize_text("Accepted socket connection from /10.10.34.11:54545") == "Accepted socket connection from <*>"
    assert normalize_text("Found block rdd_42_3 locally") == "Found block <*> locally"
    assert normalize_text("******* GOODBYE /10.1.2.3:4444 ********") == "GOODBYE <*>"
    assert normalize_text("mod_jk2 child init, jk2_init() ok") == "mod_jk2 child init, jk2_init() ok"  # names stay
    from enricher.classify.normalize import normalizer_for

    # Old models keep the normaliser they were trained with.
    assert normalizer_for("mask-variables-v2")("ask 1.2.3.4:5 to delete blk_1 blk_2") == "ask <*> to delete blk_<*>"
    assert normalizer_for("mask-variables-v1")("from /10.1.1.1") == "from /<*>"


def test_cached_frozen_trunk_matches_full_forward(trained: tuple[LogClassifier, Path]) -> None:
    from enricher.classify.training import FrozenTrunk

    classifier, _ = trained
    texts = ["user <*> logged in from", "connection failed error refused", "disk full fatal kernel panic"]
    classifier.network.eval()
    with torch.inference_mode():
        full = classifier.network(**classifier.encode(texts))
    for frozen in (0, 1):
        trunk = FrozenTrunk(classifier, frozen)
        with torch.inference_mode():
            cached = trunk.logits(texts)
        assert torch.allclose(full, cached, atol=1e-4)


def test_seed_corpus_is_mixed_in_with_lower_weight(tiny_encoder: Path, tmp_path: Path) -> None:
    texts, labels = _dataset()
    training = FAST.model_copy(update={"seed_corpus": True, "seed_corpus_per_class": 5, "epochs": 2,
                                       "frozen_layers": 1, "validation_fraction": 0.2})
    _, manifest = train_classifier(texts, labels, tmp_path / "m", encoder_dir=tiny_encoder, training=training,
                                   progress=False)
    assert manifest.training_data["seed_corpus"]["distinct_texts"] == 20
    from enricher.classify.seed_corpus import seed_corpus_sha256

    assert manifest.training_data["seed_corpus"]["sha256"] == seed_corpus_sha256()
    assert set(manifest.metrics["seed_corpus"]) == {"accuracy", "macro_f1"}
    from enricher.classify.training import Examples, _mixed_training_set

    user = Examples(["a", "b"], ["INFO", "ERROR"], [1, 1])
    seed = Examples(["c", "d", "e", "f"], ["INFO", "WARNING", "ERROR", "CRITICAL"], [1, 1, 1, 1])
    combined, weights = _mixed_training_set(user, seed, ["INFO", "WARNING", "ERROR", "CRITICAL"], training)
    assert combined.texts == ["a", "b", "c", "d", "e", "f"]
    assert weights[:2] == [1.0, 1.0] and weights[2:] == [pytest.approx(training.seed_corpus_weight)] * 4


def test_label_memory_answers_seen_texts_and_is_saved(trained: tuple[LogClassifier, Path]) -> None:
    classifier, folder = trained
    # Trained with the default label memory: every distinct training text is remembered with its label.
    assert classifier.label_memory["connection <*> failed error refused"] == [0, 0, 40, 0]
    loaded = LogClassifier.from_pretrained(folder)
    assert loaded.label_memory == classifier.label_memory
    loaded.label_memory["something never trained on"] = [0, 3, 1, 0]  # a mixed label: shares become confidence
    result = loaded.predict(["something never trained on", "connection 1 failed error refused"])
    assert (result[0].label, result[0].confidence) == ("WARNING", 0.75)
    assert (result[1].label, result[1].confidence) == ("ERROR", 1.0)
