"""A general, severity-labelled seed corpus of log messages, shipped as a data file.

Why: each labelled log source has its own conventions, and a model trained on a few hundred of its texts
learns those instead of the words that carry severity everywhere ("failed", "refused", "retrying", "out of
memory"...). The corpus is written from general software knowledge across ten domains (network, storage, auth,
web servers, databases, JVM/app runtimes, kernels/hardware, schedulers, cloud/containers, mobile apps), *not*
derived from any evaluation data set; training mixes it in, weighted below the user's own data.

Conventions (the severity a typical operator would assign):
  * INFO     -- normal operation: started, stopped on request, connected, received, completed, listening.
  * WARNING  -- degraded but working: retrying, slow, deprecated, high usage, falling back, near a limit.
  * ERROR    -- one operation failed: failed, exception, refused, denied, cannot, invalid, HTTP 5xx.
  * CRITICAL -- the process, node or data is at risk: fatal, panic, out of memory, corruption, lost quorum.

The corpus is data (``data/<name>.jsonl``: text, label, domain; 1,000 messages per severity, distinct after
normalisation), so its name means one file: its sha256 is recorded in every classifier manifest trained
with it, and a changed corpus takes a new name.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources

SEED_CORPUS_NAME = "general-severity-seed-v1"
SEVERITIES = ("INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class SeedMessage:
    text: str
    label: str
    domain: str


@cache
def _corpus_bytes(name: str = SEED_CORPUS_NAME) -> bytes:
    return resources.files("enricher.classify").joinpath("data", f"{name}.jsonl").read_bytes()


def seed_corpus_sha256(name: str = SEED_CORPUS_NAME) -> str:
    return hashlib.sha256(_corpus_bytes(name)).hexdigest()


@cache
def load_seed_corpus(name: str = SEED_CORPUS_NAME) -> tuple[SeedMessage, ...]:
    """Every message of the named corpus, in the file's order."""
    lines = _corpus_bytes(name).decode("utf-8").splitlines()
    return tuple(SeedMessage(**json.loads(line)) for line in lines if line.strip())


def generate_seed_corpus(per_class: int = 1000, seed: int = 0) -> list[SeedMessage]:
    """``per_class`` messages per severity (all of them when it asks for as many or more), deterministic
    for ``seed``, in the file's order."""
    corpus = load_seed_corpus()
    chosen: set[int] = set()
    for label in SEVERITIES:
        positions = [i for i, message in enumerate(corpus) if message.label == label]
        if per_class < len(positions):
            positions = random.Random(f"{seed}:{label}").sample(positions, per_class)
        chosen.update(positions)
    return [corpus[i] for i in sorted(chosen)]


def seed_corpus(per_class: int = 1000, seed: int = 0) -> tuple[list[str], list[str]]:
    """The seed corpus as parallel lists (texts, labels), ready for training."""
    messages = generate_seed_corpus(per_class, seed)
    return [m.text for m in messages], [m.label for m in messages]
