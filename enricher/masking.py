"""Masking settings: which maskers enricher.preprocess runs (pydantic models: kept out of the modules compiled with
mypyc, see enricher/native.py)."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, field_validator

DEFAULT_PLACEHOLDER = "<*>"
# The built-in maskers (enricher.preprocess.BUILTIN_PATTERNS), in the order they are tried.
BUILTIN_ORDER: tuple[str, ...] = ("timestamp", "url", "uuid", "mac", "ip", "path", "host", "hex", "date_word", "number")


class NamedRegex(BaseModel):
    """A user masker: every match of ``pattern`` is replaced by the placeholder."""

    name: str
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        re.compile(pattern)
        return pattern


class MaskingConfig(BaseModel):
    """Which maskers run. User regexes run first, then the built-in ones in a fixed order."""

    timestamps: bool = True
    urls: bool = True
    uuids: bool = True
    macs: bool = True
    ips: bool = True
    paths: bool = True
    hex_ids: bool = True
    hosts: bool = True  # DNS host names (www.example.com)
    numbers: bool = True
    date_words: bool = True  # standalone month / weekday abbreviations (Jun, Sat)
    extra: list[NamedRegex] = Field(default_factory=list)
    placeholder: str = DEFAULT_PLACEHOLDER
    # When True the placeholder names the masker (<IP>, <NUM>...): better input for classifiers.
    named_placeholders: bool = False

    def enabled_builtins(self) -> list[str]:
        flags = {"timestamp": self.timestamps, "url": self.urls, "uuid": self.uuids, "mac": self.macs, "ip": self.ips,
                 "path": self.paths, "host": self.hosts, "hex": self.hex_ids, "date_word": self.date_words,
                 "number": self.numbers}
        return [name for name in BUILTIN_ORDER if flags[name]]
