"""Text normalisation shared by training and prediction.

The service classifies template texts (variables shown as ``<*>``) when a template exists and raw messages
otherwise, so the model must see both in one form. Masking every token that carries a variable value
(numbers, hex, IPs, paths with numbers, ids) makes a raw message look like its template, keeps the
vocabulary the model sees small, and stops it from learning dataset-specific ids instead of the words that
carry severity (error, failed, exception, denied, timeout ...).
"""

from __future__ import annotations

import re
from collections.abc import Callable

NORMALIZER_NAME = "mask-variables-v3"
NORMALIZER_V2 = "mask-variables-v2"
NORMALIZER_V1 = "mask-variables-v1"
VARIABLE = "<*>"

_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
_HEX_RUN = re.compile(r"^(?:0x)?[0-9a-fA-F]{8,}$")
# Variables next to each other ("<*>:<*>", "<*>.<*>.<*>.<*>", "<*>-<*>") are one value to the reader.
_ADJACENT_VARIABLES = re.compile(r"<\*>(?:[\s.:\-/_,]*<\*>)+")
# File paths with two or more levels ("/user/root/rand/part-00001") are values, whatever their words.
_PATH = re.compile(r"(?<![\w/])/?(?:[\w.\-]|<\*>)+(?:/(?:[\w.\-]|<\*>)*){2,}")
_NEGATIVE_VARIABLE = re.compile(r"(?<![A-Za-z0-9])-<\*>")
_SPACES = re.compile(r"\s+")
# v2: a variable glued to a leading slash or hash ("/<*>", "#<*>") is still just a variable, and a token
# repeated back to back ("blk_<*> blk_<*> blk_<*>", a list of ids) reads the same as one occurrence.
_PREFIXED_VARIABLE = re.compile(r"(?<![\w/])[/#@]<\*>")
_REPEATED_TOKEN = re.compile(r"(?<!\S)(\S+)(?:\s+\1(?!\S))+")
# v3: an id with a word prefix ("blk_<*>", "job_<*>_<*>", "rdd_<*>") is a value too: the prefix names a
# kind of id of one system, and a model that sees it learns that system's label mix instead of the words.
# ... and asterisks outside a variable ("BLOCK*", "******* GOODBYE") are decoration, not words.
_STRAY_ASTERISKS = re.compile(r"(?<!<)\*+(?!>)")
_PREFIXED_ID = re.compile(r"(?<![\w<])[A-Za-z][A-Za-z0-9]*_<\*>(?:_<\*>|_[A-Za-z]+\d*)*")


def _is_variable(run: str) -> bool:
    """Is this run of letters and digits a value (number, id, hex, address part) rather than a word?"""
    digits = sum(char.isdigit() for char in run)
    if digits == 0:
        return False
    return run[0].isdigit() or 2 * digits >= len(run) or bool(_HEX_RUN.match(run))


def normalize_text_v1(text: str) -> str:
    """Mask variable values so that a raw message and its template read the same.

    Works on runs of letters and digits, so "jk2_init()" and "mod_jk2" keep their names while
    "blk_-1608999687919862906", "10.251.71.16:50010" and "0x1f3a" become ``<*>``.
    """
    masked = _PATH.sub(VARIABLE, text)
    masked = _ALNUM_RUN.sub(lambda m: VARIABLE if _is_variable(m.group()) else m.group(), masked)
    masked = _NEGATIVE_VARIABLE.sub(VARIABLE, masked)
    masked = _ADJACENT_VARIABLES.sub(VARIABLE, masked)
    return _SPACES.sub(" ", masked).strip()


def normalize_text_v2(text: str) -> str:
    """Mask variable values (v1), then fold "/<*>" into "<*>" and collapse back-to-back repeated tokens."""
    masked = _PREFIXED_VARIABLE.sub(VARIABLE, normalize_text_v1(text))
    masked = _REPEATED_TOKEN.sub(r"\1", masked)
    return _ADJACENT_VARIABLES.sub(VARIABLE, masked)


def normalize_text(text: str) -> str:
    """v2, then ids with a word prefix ("blk_<*>") become plain variables and stray asterisks go.

    Idempotent, so a normalised text is a safe cache key.
    """
    masked = _PREFIXED_ID.sub(VARIABLE, normalize_text_v2(text))
    masked = _SPACES.sub(" ", _STRAY_ASTERISKS.sub("", masked)).strip()
    masked = _REPEATED_TOKEN.sub(r"\1", masked)
    return _ADJACENT_VARIABLES.sub(VARIABLE, masked)


def normalizer_for(name: str | None) -> Callable[[str], str]:
    """The normaliser a saved model was trained with (``None``/"none": identity)."""
    if not name or name == "none":
        return lambda text: text
    known = {NORMALIZER_NAME: normalize_text, NORMALIZER_V2: normalize_text_v2, NORMALIZER_V1: normalize_text_v1}
    if name not in known:
        raise ValueError(f"unknown text normaliser {name!r}; this version knows {', '.join(map(repr, known))}")
    return known[name]
