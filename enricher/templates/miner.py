"""Online template miner: mask, bucket, match by similarity, generalise; ids derived from the template text.

How a message is processed (``TemplateMiner.add``):

0. Shortcut (the common case): a message whose *skeleton* (its text with every digit written as 1, see
   :mod:`enricher.preprocess`) was seen before is masked the same as that earlier one, so it goes to the same
   template, in one dict lookup, while that template is live and unchanged; its values sit at the same offsets,
   read by one C call (offsets learnt on the second such message). No masking, no splitting.
1. The :class:`~enricher.preprocess.Preprocessor` masks variable-looking spans (numbers, IPs, hex, paths...) with
   ``<*>`` and the result is split on whitespace.
2. Exact hit: a masked message identical to a known template is resolved by one dict lookup.
3. Otherwise static token classes are applied (:func:`refine_token`): a generated identifier (3+ letter/digit
   switches as in ``qZ7K2WbR004311``, or 8+ letters and digits in one case) is one variable, masked whole with
   its wrapper kept (``(<*>)``, ``id=<*>``); a dotted run of values (``<*>.<*>``) is one value.
4. Candidates are the clusters with the same token count whose first token is the message's, plus those whose
   first token holds a variable (the *wildcard bucket*): a first token that varies (queue id, host, table) never
   splits an event. The most similar one, above ``similarity``, absorbs the message: its template keeps the
   tokens they share and generalises the others. A number glued to letters is part of one identifier, which
   becomes a variable as a whole (``name_A12`` + ``name_B7`` -> ``<*>``, not ``name_<*>``); two different
   words -> ``<*>``. Two *words* that differ beyond their digits (``HTTPS`` vs ``SOCKS5``, ``user=root`` vs
   ``user=guest``) are never joined this way, nor a word and other wording around a value (``TaskAttempt`` vs
   ``job_<*>``): they usually name different events. Such a position becomes a variable once ``min_siblings``
   templates differ there and nowhere else (``min_siblings_first`` for the first word, which more often names the
   event, or ``min_siblings - 1`` words that also start another event together: tables, hosts, queues); two
   positions together once ``min_siblings_pair`` templates differ only there and each takes
   ``min_siblings`` values (``from NEW to RUNNING`` ...). Numbered names (``web-A3``, ``tbird-admin1``) are values.
5. A message that fits no template of its length is compared with the templates once runs of value-like tokens
   are collapsed (:func:`collapse_runs`): ``peers a1 a2 a3`` and ``peers b4`` are one event whose template,
   ``peers <*>``, is *variable-length* (its ``<*>`` spans one or more tokens). Only when the constant words are
   the same at the same places (``merge_runs``).
6. A message with no similar cluster starts a new one, and only then is ``TemplateMatch.is_new`` True. A new or
   generalised template absorbs the older, more specific templates it covers.
7. Template ids are the blake2b hash of the template text (and of the ``namespace``, the log source of a
   :class:`~enricher.templates.PartitionedMiner`), so the same template gets the same id in every process,
   replica and restart. When a template is generalised (or two clusters merge), the old id is aliased to the new
   one; :meth:`TemplateMiner.canonical_id` follows the aliases, so ids already written to documents still resolve.
8. Memory is bounded by ``max_templates``: past the cap, the rarest, least recently seen templates are evicted.

No rule names a vocabulary: every rule looks at token shapes (letters, digits, separators, brackets) and at how
many distinct values a position takes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import string
import tempfile
from collections.abc import Callable, Collection, Iterable, Sequence
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

from enricher.cache_tags import Covering as _Covering
from enricher.caching import BoundedDict
from enricher.preprocess import Preprocessor
from enricher.records import TemplateMatch
from enricher.templates.config import MinerConfig

WILDCARD = "<*>"
STATE_FORMAT = "enricher.templates/1"

# A token split into comparable pieces: wildcards, letter runs, digit runs, single other characters.
_PIECES = re.compile(r"<\*>|[A-Za-z]+|\d+|.", re.DOTALL)
_REPEATED_WILDCARD = re.compile(r"(?:<\*>){2,}")
# Characters that end a "word" inside a token; a kept prefix/suffix must stop at one of them.
# A plain word, possibly wrapped in punctuation: "initialization.", "(TID", "CBS_E_INVALID".
# In key=value or key:value tokens only the value is judged (user=root vs user=guest are different words).
_WORDLIKE = re.compile(r"(?:[^\s=:]*[=:])?[^\w]*[A-Za-z][A-Za-z_\-]*(?:\.[A-Za-z][A-Za-z_\-]*)*[^\w]*\Z")
_HAS_DIGIT = re.compile(r"\d").search
# What makes a token part of a run of values (see _runnable): a wildcard, a digit or a path separator.
_RUNNABLE = re.compile(r"<\*>|[\d/\\]").search
# Two runnable tokens in a row, in tokens joined by single spaces (tokens hold no whitespace): see collapse_runs.
_RUN_OF_TWO = re.compile(r"(?:<\*>|[\d/\\])[^ ]* [^ ]*?(?:<\*>|[\d/\\])").search
_UNKNOWN = object()
_TOKEN_CACHE_SIZE = 100_000  # tokens remembered per per-token cache (word shapes, refined tokens)
_DELIMITERS = frozenset(":=,;()[]{}<>\"'|@#/\\")
_ID_RUN = re.compile(r"[A-Za-z0-9_\-]+")
# An identifier run (ASCII) with each letter written as "a" and each digit as "1": its letter/digit switches are the
# "a1" and "1a" in it (see _switches; two counts in C instead of a zero-width regex scan).
_LETTERS_DIGITS = bytes.maketrans(  # (bytes: a table lookup per character; str.translate looks up a dict)
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", b"a" * 52 + b"1" * 10
)
# A number glued to at most one letter is an identifier's counter (node-C3, name_A12, dn228), not wording.
_GLUED_COUNTER = re.compile(r"[A-Za-z]?\d+")
# A decimal or a version masked piecewise (<*>.<*>, <*>.<*>.<*>) is one value.
_DOTTED_VALUES = re.compile(r"<\*>(?:\.<\*>)+")
# One or two letters (B, KB, ms): a unit when it follows a value (see TemplateMiner._fit).
_UNIT = re.compile(r"[A-Za-z]{1,2}[,;:.)\]]?\Z").match
# The key of a key=value or key:value token.
_KEY = re.compile(r"[A-Za-z_][\w.\-]*[=:]")
# A name with a numbered part after a separator (web-A3, tbird-admin1, name_A12): a host, node or instance name.
_NUMBERED_NAME = re.compile(r"[A-Za-z][_\-][A-Za-z]*\d").search
# A token's wrapper, kept when its value is masked whole: brackets, quotes, a key= or key: prefix, trailing punctuation.
_WRAPPED = re.compile(r"([(\[{<\"']*(?:[A-Za-z][\w.\-]*[=:])?[(\[{<\"']*)(.*?)([)\]}>\"',;:.]*)\Z", re.DOTALL)


def template_id_of(template: str, namespace: str = "") -> str:
    """Stable id of a template text: 16 hex characters of its blake2b hash.

    ``namespace`` (a log source, see :class:`~enricher.templates.PartitionedMiner`) is hashed with the text, so the
    same text mined from two sources gets two ids; the empty namespace gives the plain text hash.
    """
    data = template.encode("utf-8") if not namespace else f"{namespace}\x1f{template}".encode()
    return hashlib.blake2b(data, digest_size=8).hexdigest()


# chr(blanked position) + the template text with that position blanked; see TemplateMiner._sibling_keys. One str
# rather than a tuple: a str caches its hash (the several lookups of a key hash it once) and, unlike a tuple, is no
# object for the garbage collector (templates have several keys each, and allocations are what trigger collections).
_SiblingKey = str
_FIRST = "\x00"  # the first character of the keys of position 0


def _by_id(cluster: _Cluster) -> str:
    return cluster.template_id


class _Cluster:
    __slots__ = ("tokens", "template", "template_id", "count", "last_seen", "version", "params_of", "sliceable", "sibling_keys",
                 "vlen", "collapsed", "namespace", "fixed_offsets", "wild", "steps")

    def __init__(self, tokens: tuple[str, ...], count: int = 0, last_seen: int = 0, vlen: bool = False,
                 namespace: str = "", collapsed: tuple[str, ...] | None = None) -> None:
        # vlen: a bare <*> of the template may stand for a run of several variable tokens (see collapse_runs).
        # collapsed: collapse_runs(tokens) when the caller has it already.
        self.vlen = vlen
        self.namespace = namespace
        self.retemplate(tokens, collapsed)
        self.count = count
        self.last_seen = last_seen

    def retemplate(self, tokens: tuple[str, ...], collapsed: tuple[str, ...] | None = None) -> None:
        if self.vlen:
            tokens = collapsed = collapse_runs(tokens)  # (collapse_runs of a collapsed form is itself)
        self.tokens = tokens
        self.template = text = " ".join(tokens)
        self.collapsed = collapse_runs(tokens, text) if collapsed is None else collapsed
        self.template_id = template_id_of(self.template, self.namespace)
        # Built on first use (see prepare): many templates are generalised before a second message reads them.
        self.params_of: Callable[[list[str]], list[str]] | None = None
        # A new object whenever the template changes or leaves (see _remove): what a remembered skeleton checks.
        self.version = object()
        self.sliceable = False
        self.fixed_offsets = False
        self.wild: list[int] = []  # positions of the tokens holding a wildcard (set by prepare)
        self.steps: list[_Step] = []  # how to read each of them (set by prepare, see _steps)
        self.sibling_keys: list[_SiblingKey] | None = None  # see TemplateMiner._sibling_keys

    def prepare(self) -> Callable[[list[str]], list[str]]:
        """Build (once per template) the reader of the template's values; returns it."""
        if self.vlen:
            read = run_extractor(self.tokens)
            self.params_of = lambda message_tokens: read(" ".join(message_tokens))
            self.sliceable = self.fixed_offsets = False
        else:
            tokens = self.tokens
            self.wild = wild = [i for i, t in enumerate(tokens) if WILDCARD in t]
            self.steps = _steps(tokens, wild)
            self.params_of = param_extractor(tokens, wild, self.steps)
            self.fixed_offsets = _fixed_offsets(tokens, wild)
            self.sliceable = self.fixed_offsets and not _all_bare(tokens, wild)
        return self.params_of


def _two_constants(tokens: tuple[str, ...]) -> bool:
    """Whether two of ``tokens`` or more are constants: neither masked nor holding a digit or a path separator."""
    found = 0
    for token in tokens:
        if token.isalpha() or _RUNNABLE(token) is None:  # (a word of letters without the regex: the commonest)
            found += 1
            if found == 2:
                return True
    return False


def _runnable(token: str) -> bool:
    """Whether a token can be part of a run of values: masked (holds <*>), holding a digit (a1, node7) or a path
    separator (the pieces of a path with spaces: ``/data/My Documents/x.txt``)."""
    if WILDCARD in token:
        return True
    return not token.isalpha() and _RUNNABLE(token) is not None  # (a word of letters without the regex)


def collapse_runs(tokens: tuple[str, ...], text: str | None = None) -> tuple[str, ...]:
    """``tokens`` with every run of two or more variable-like tokens written as one ``<*>``.

    Lists of values whose length varies (hosts ``a1 a2 a3``, ``<*> <*> <*>``) then give one key whatever their
    length. Used to find, and to write, templates that differ only in the length of such runs. ``text``: the
    tokens joined by spaces, when the caller has it.
    """
    # No run of two, the common case, is told by one regex search of the text (a token-by-token test is ~5x slower).
    if text is None:
        text = " ".join(tokens)
    if _RUN_OF_TWO(text) is None:
        return tokens
    out: list[str] = []
    flags = _runnable_flags(tokens, text)
    run = 0
    for token, runnable in zip(tokens, flags):
        if runnable:
            run += 1
            if run == 2:
                out[-1] = WILDCARD
            if run >= 2:
                continue
        else:
            run = 0
        out.append(token)
    return tuple(out)


# The characters that make a token runnable (see _runnable), written as \x01 by _runnable_flags.
_RUN_MARKS = bytes.maketrans(b"0123456789/\\", b"\x01" * 12)


def _runnable_flags(tokens: tuple[str, ...], text: str) -> list[bool]:
    """``_runnable`` of each of ``tokens``, joined by single spaces in ``text``. In an ASCII text, by one
    translation and a one-character search per token, ~10x cheaper than a regex search per token."""
    if text.isascii() and "\x01" not in text:  # (a str regex's \d also takes non-ASCII digits)
        # (decoded again: a str search for one character is ~8x cheaper than a bytes one)
        marked = text.encode().replace(b"<*>", b"\x01").translate(_RUN_MARKS).decode().split(" ")
        if len(marked) == len(tokens):  # (else a masked token holds a space: a placeholder configured with one)
            return ["\x01" in token for token in marked]
    return [_RUNNABLE(token) is not None for token in tokens]


def _bare_runs(tokens: tuple[str, ...]) -> bool:
    """Whether every run that :func:`collapse_runs` collapses in ``tokens`` is made of values without a key: a
    ``key=`` is wording (``rhost=<*>`` and ``rhost=<*> user=<*>`` are two events)."""
    run: list[str] = []
    for token in (*tokens, ""):
        if token and _RUNNABLE(token) is not None:
            run.append(token)
            continue
        if len(run) >= 2 and any(_KEY.match(t) is not None for t in run):
            return False
        run = []
    return True


@lru_cache(maxsize=4_096)
def _run_pattern(tokens: tuple[str, ...]) -> re.Pattern[str]:
    parts = []
    for token in tokens:
        if token == WILDCARD:
            parts.append(r"(\S+(?: \S+)*?)")
        else:
            parts.append(r"(\S*?)".join(re.escape(p) for p in token.split(WILDCARD)))
    return re.compile(" ".join(parts) + r"\Z", re.DOTALL)


def run_extractor(tokens: tuple[str, ...]) -> Callable[[str], list[str]]:
    """Values of a variable-length template (a bare ``<*>`` may span several tokens) from a space-joined message."""
    pattern = _run_pattern(tokens)

    def extract(text: str) -> list[str]:
        found = pattern.match(text)
        return list(found.groups()) if found is not None else []

    return extract


def _fixed_offsets(tokens: tuple[str, ...], positions: list[int]) -> bool:
    """Whether the template's values sit at the same offsets in every message with the same skeleton.

    True when no wildcard token holds a digit: tokens start at the same offsets in texts with the same skeleton,
    and where the constant text around a ``<*>`` fits depends only on the non-digit characters, which a skeleton
    keeps (see ``enricher.preprocess``). Constant tokens are never read, digits or not.
    """
    # (positions: of the tokens holding a wildcard; a loop, which compiled is a tenth of what map() call-backs cost)
    for i in positions:
        if _HAS_DIGIT(tokens[i]) is not None:
            return False
    return True


def _all_runnable(tokens: tuple[str, ...]) -> bool:
    """Whether every one of ``tokens`` can be part of a run of values (see _runnable): nothing constant is left."""
    for token in tokens:
        if not _runnable(token):
            return False
    return True


def _all_bare(tokens: tuple[str, ...], positions: Sequence[int]) -> bool:
    """Whether the tokens at ``positions`` are all a bare ``<*>``."""
    for i in positions:
        if tokens[i] != WILDCARD:
            return False
    return True


def _token_starts(tokens: list[str], message: str) -> list[int]:
    """Offset in ``message`` of each of its whitespace ``tokens``."""
    starts = []
    position = 0
    for token in tokens:  # as if one space lay between tokens, and none around them: the common case
        starts.append(position)
        position += len(token) + 1
    if position - 1 == len(message):
        return starts
    starts = []
    position = 0
    for token in tokens:
        position = message.find(token, position)  # only whitespace lies between tokens
        starts.append(position)
        position += len(token)
    return starts


def _no_params(message: str) -> list[str]:
    return []


# How to read the value(s) of one template token holding a wildcard: (position, constant prefix, constant suffix,
# and for a token with several wildcards the constant pieces around them, else None; see _value_spans).
_Step = tuple[int, str, str, "tuple[str, ...] | None"]


def _steps(tokens: tuple[str, ...], positions: Sequence[int]) -> list[_Step]:
    """The :data:`_Step` of each of ``positions`` (tokens holding a wildcard); a bare ``<*>`` has no prefix, suffix."""
    steps: list[_Step] = []
    for i in positions:
        token = tokens[i]
        if token == WILDCARD:
            steps.append((i, "", "", None))
        elif token.count(WILDCARD) == 1:
            prefix, suffix = token.split(WILDCARD)
            steps.append((i, prefix, suffix, None))
        else:
            steps.append((i, "", "", tuple(token.split(WILDCARD))))
    return steps


def _slice_reader(slices: list[slice]) -> Callable[[str], list[str]]:
    """A function reading the substrings at ``slices`` from a text (in C, through ``operator.itemgetter``)."""
    if not slices:
        return _no_params
    if len(slices) == 1:
        only = slices[0]
        return lambda text: [text[only]]
    pick = itemgetter(*slices)
    return lambda text: list(pick(text))


def param_extractor(tokens: tuple[str, ...], positions: list[int] | None = None,
                    steps: list[_Step] | None = None) -> Callable[[list[str]], list[str]]:
    """A function giving the values of the template's ``<*>`` from a message's whitespace tokens.

    Built once per template, so a match costs no regex: bare ``<*>`` tokens are picked by position
    (``operator.itemgetter``, in C), ``prefix<*>suffix`` tokens are sliced, tokens with several wildcards are split
    at their constant pieces (see _value_spans). Messages with another token count give ``[]``; a token that does
    not fit its pattern is returned whole. ``steps``: the :func:`_steps` of ``positions``, when the caller has them.
    """
    length = len(tokens)
    if positions is None:  # (those of the tokens holding a wildcard)
        positions = [i for i, t in enumerate(tokens) if WILDCARD in t]
    if not positions:
        return lambda message_tokens: []
    if _all_bare(tokens, positions):
        if len(positions) == 1:
            only = positions[0]
            return lambda message_tokens: [message_tokens[only]] if len(message_tokens) == length else []
        pick = itemgetter(*positions)
        return lambda message_tokens: list(pick(message_tokens)) if len(message_tokens) == length else []
    if steps is None:
        steps = _steps(tokens, positions)

    def extract(message_tokens: list[str]) -> list[str]:
        if len(message_tokens) != length:
            return []
        params: list[str] = []
        for i, prefix, suffix, pieces in steps:
            token = message_tokens[i]
            if pieces is None:
                # One wildcard: what lies between the constant prefix and suffix (as the lazy regex would take).
                if (prefix or suffix) and not (
                    len(token) >= len(prefix) + len(suffix) and token.startswith(prefix) and token.endswith(suffix)
                ):
                    params.append(token)
                else:
                    params.append(token[len(prefix) : len(token) - len(suffix)])
            else:
                spans = _value_spans(pieces, token)
                if spans is None:
                    params.append(token)
                else:
                    params.extend([token[a:b] for a, b in spans])
        return params

    return extract


def token_covers(pattern: str, token: str) -> bool:
    """Whether template token ``pattern`` matches ``token``, each ``<*>`` standing for any text, even none: whether
    _value_spans finds its values, without building them (this test runs on every message compared with a
    template)."""
    pieces = pattern.split(WILDCARD)
    if len(pieces) == 1:
        return token == pattern
    first, last = pieces[0], pieces[-1]
    end = len(token) - len(last)
    if end < len(first) or not token.startswith(first) or not token.endswith(last):
        return False
    start = len(first)
    for piece in pieces[1:-1]:  # each middle piece at its leftmost place after the one before
        found = token.find(piece, start, end)
        if found < 0:
            return False
        start = found + len(piece)
    return True


def _value_spans(pieces: Sequence[str], token: str) -> list[tuple[int, int]] | None:
    """Where in ``token`` the values of a template token lie, or None if it does not fit: ``pieces`` is the template
    token split at its ``<*>`` (the constant text around each value).

    The spans are the groups of the template token's lazy regex (``(.*?)`` for each ``<*>``, anchored at both ends),
    found without compiling one: a compile costs as much as thousands of these, and most template tokens are read
    a few times only. Each middle piece goes at its leftmost place after the one before, the last one at the end:
    where the regex's search, shortest group first, puts them, since a piece placed further left leaves the pieces
    after it every place they could take otherwise.
    """
    first, last = pieces[0], pieces[-1]
    end = len(token) - len(last)
    if end < len(first) or not token.startswith(first) or not token.endswith(last):
        return None
    spans = []
    start = len(first)
    for i in range(1, len(pieces) - 1):
        piece = pieces[i]
        found = token.find(piece, start, end)
        if found < 0:
            return None
        spans.append((start, found))
        start = found + len(piece)
    spans.append((start, end))
    return spans


def _anchor(tokens: tuple[str, ...]) -> str:
    """Bucket key: the first token, or a wildcard when it holds digits or a variable (``<*>:``, ``onExtend:<*>``).

    A first token that varies (a queue id, a host, a table name) must not split an event: a template whose first
    token holds a variable lives in the wildcard bucket, which every message of that length also searches.
    """
    if not tokens:
        return ""
    return _anchor_of_first(tokens[0])


@lru_cache(maxsize=65_536)
def _anchor_of_first(first: str) -> str:
    if WILDCARD in first or _HAS_DIGIT(first) is not None:
        return WILDCARD
    return first


def generalise_token(a: str, b: str) -> str:
    """The most specific token pattern covering both ``a`` and ``b`` (``a`` may already hold wildcards)."""
    if a == b:
        return a
    if a == WILDCARD or b == WILDCARD:
        return WILDCARD
    pa = _PIECES.findall(a)
    pb = _PIECES.findall(b)
    if len(pa) == len(pb):
        # Same shape, differing only in numbers: keep the shape (blk_12 + blk_7 -> blk_<*>), except that a number
        # glued to letters is part of one identifier, which is a variable as a whole (name_A12 + name_A7 -> <*>).
        out = list(pa)
        for k, (x, y) in enumerate(zip(pa, pb)):
            if x == y:
                continue
            if not ((x == WILDCARD or x.isdigit()) and (y == WILDCARD or y.isdigit())):
                break
            out[k] = WILDCARD
        else:
            return _mask_glued_identifiers(out, pa)
    # Otherwise keep a common prefix / suffix that ends / starts at a delimiter (user=bob + user=al -> user=<*>).
    n = min(len(pa), len(pb))
    i = 0
    while i < n and pa[i] == pb[i]:
        i += 1
    while i > 0 and pa[i - 1] not in _DELIMITERS:
        i -= 1
    j = 0
    while j < n - i and pa[-1 - j] == pb[-1 - j]:
        j += 1
    while j > 0 and pa[-j] not in _DELIMITERS:
        j -= 1
    if i == 0 and j == 0:
        return WILDCARD
    merged = "".join(pa[:i]) + WILDCARD + "".join(pa[len(pa) - j :])
    return _REPEATED_WILDCARD.sub(WILDCARD, merged)


def _mask_glued_identifiers(out: list[str], original: list[str]) -> str:
    """Join pieces, widening each new wildcard that touches a letter to its whole identifier run.

    ``out`` are the pieces of a token with some digit pieces replaced by wildcards, ``original`` the pieces before.
    An identifier run is a stretch of letters, digits, ``_`` and ``-`` (and wildcards): ``name_A<*>`` becomes
    ``<*>``, ``blk_<*>`` stays (no letter touches the number).
    """
    n = len(out)
    for k in range(n):
        if out[k] != WILDCARD or original[k] == WILDCARD:
            continue
        if (k > 0 and original[k - 1].isalpha()) or (k + 1 < n and original[k + 1].isalpha()):
            return mask_whole("".join(original))
    return _REPEATED_WILDCARD.sub(WILDCARD, "".join(out))


def mask_whole(token: str) -> str:
    """``token`` as one variable, keeping its wrapper: ``(name_A12),`` -> ``(<*>),``, ``id=x7`` -> ``id=<*>``."""
    found = _WRAPPED.match(token.replace(WILDCARD, "\x00"))  # so that the > of <*> is not taken for a bracket
    if found is None or not found.group(2):
        return WILDCARD
    return (found.group(1) + WILDCARD + found.group(3)).replace("\x00", WILDCARD)


def _is_unit(token: str) -> bool:
    """A word of one or two letters, trailing punctuation aside (B, KB, ms, s,): a unit when it follows a value."""
    return _UNIT(token) is not None


def _key_of(token: str) -> str | None:
    """The ``key=`` or ``key:`` a token starts with (``user=`` of ``user=root``), or None."""
    found = _KEY.match(token)
    return found.group() if found else None


def _switches(run: str) -> int:
    """Letter/digit switches inside ``run``, an identifier run (qZ7K2WbR004311 has 5, ssh2 has 1)."""
    shape = run.encode().translate(_LETTERS_DIGITS)  # (_ID_RUN's runs are ASCII)
    return shape.count(b"a1") + shape.count(b"1a")


def refine_token(token: str) -> str:
    """Static token classes the masker does not know: generated identifiers, masked whole (wrappers kept).

    An identifier run with 3+ letter/digit switches (qZ7K2WbR004311, a1b2c3d4, user_x9Y8z7), or of 8+ letters and
    digits in one case (1LZEZGEIWB, k3jd8sla), or of digits and 8+ letters that read as random (cWWuMOUcya90vLfD,
    see _random_case) is a generated value, never wording: words with a version or unit number switch once or twice
    and are short or CamelCase (ssh2, SOCKS5, x86_64, jk2_init, Win32Exception). (A name such as Slf4jLogger, whose
    letters hold a cluster without vowels, is taken for a value too.)
    """
    if token.isalnum() and token.isascii():  # one run (an id, a word and its number): no regex needed
        return WILDCARD if _is_generated(token) else token
    if _HAS_DIGIT(token) is None:
        return _DOTTED_VALUES.sub(WILDCARD, token) if "<*>.<*>" in token else token
    runs = _ID_RUN.findall(token)  # (most tokens hold no generated run: no call back per run from re.sub)
    for i, run in enumerate(runs):
        if _is_generated(run):
            return _mask_generated_runs(token, runs, i)
    return token


def _mask_generated_runs(token: str, runs: list[str], first: int) -> str:
    """``token`` with its generated ``runs`` (its _ID_RUN runs, in order) as ``<*>``; ``runs[first]`` is the first
    generated one (tested already)."""
    parts = []
    end = 0
    for i, run in enumerate(runs):
        start = token.find(run, end)  # (runs are maximal: the next one is the first place its text is found)
        generated = i == first or (i > first and _is_generated(run))
        parts.append(token[end:start] + WILDCARD if generated else token[end:start + len(run)])
        end = start + len(run)
    parts.append(token[end:])
    return "".join(parts)


def _is_generated(run: str) -> bool:
    if run.isdigit() or len(run) < 4 or run.isalpha():
        return False  # (letters alone are a word, even in a token that holds digits elsewhere: culemomo=ns9K)
    if _switches(run) >= 3:
        return True
    if len(run) < 8 or not run.isalnum():
        return False
    if run.isupper() or run.islower():
        return True
    # Both cases and a digit or two (cWWuMOUcya90vLfD): generated when its letters alone read as random (the run is
    # ASCII letters and digits here, so deleting the digits' bytes leaves the letters).
    return len(run) >= 9 and _random_case(run.encode().translate(None, b"0123456789").decode())


_VOWELS = frozenset("aeiouy")
_LOWER_RUN = re.compile(r"[a-z]+")
_CASES = bytes.maketrans(string.ascii_lowercase.encode() + string.ascii_uppercase.encode(), b"a" * 26 + b"A" * 26)


def _random_case(run: str) -> bool:
    """Whether ``run``, a run of letters, reads as random letters of both cases (JStWBdQs, RrlRJojJzz): 8 or more
    letters switching case 3+ times, with lower-case stretches too short or without vowels for words. Names written
    in CamelCase (mScreenOn, PhoneIntfMgr) can pass too, so this is a hint for context (see _best_cluster), not a
    token class."""
    if len(run) < 8 or not run.isalpha() or not run.isascii() or run.isupper() or run.islower():
        return False
    shape = run.encode().translate(_CASES)
    if shape.count(b"Aa") + shape.count(b"aA") < 3:
        return False
    lowers = _LOWER_RUN.findall(run)
    return sum(map(len, lowers)) < 2.5 * len(lowers) or any(len(x) >= 3 and _VOWELS.isdisjoint(x) for x in lowers)


def _mask_if_random(found: re.Match[str]) -> str:
    run = found.group()
    return WILDCARD if _random_case(run) else run


def _mixed_case(run: str) -> bool:
    """Whether ``run`` is 8+ letters in mixed case other than capitalised (wrZGaQwqakahSC, not Starting): an
    unknown word in lower case, or capitalised, may be the word of a new event (see TemplateMiner._unknown_as_values)."""
    return len(run) >= 8 and run.isalpha() and not run[1:].islower() and not run.isupper()


def _may_be_wording(token: str) -> bool:
    """Whether ``token`` may hold a run of 8+ letters in mixed case and no value: what _unknown_as_values looks at
    (most tokens are told by three C calls)."""
    return len(token) >= 8 and not token.islower() and not token.isupper() and WILDCARD not in token


def _mask_if_unknown(found: re.Match[str]) -> str:
    run = found.group()
    return WILDCARD if _mixed_case(run) or _random_case(run) else run


def write_json_atomically(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename: readers never see half."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class TemplateMiner:
    """Online, bounded, persistent template miner (see the module docstring for the algorithm)."""

    def __init__(self, config: MinerConfig | None = None, *, namespace: str = "",
                 preprocessor: Preprocessor | None = None) -> None:
        self.config = config or MinerConfig()
        self.namespace = namespace  # hashed into template ids (see template_id_of)
        # A preprocessor built for the same masking config may be shared (its caches are bounded, not per source).
        if preprocessor is not None and preprocessor.config != self.config.masking:
            raise ValueError("the shared preprocessor masks with another configuration")
        self._pre = preprocessor or Preprocessor(self.config.masking)
        self._clusters: dict[str, _Cluster] = {}  # template_id -> live cluster
        self._by_text: dict[str, _Cluster] = {}  # the same clusters by template text
        self._buckets: dict[tuple[int, str], list[_Cluster]] = {}  # fixed-length clusters by (length, anchor)
        self._by_runs: dict[int, list[_Cluster]] = {}  # all clusters by the length of their run-collapsed form
        self._ragged: dict[int, list[_Cluster]] = {}  # those that are variable-length or hold a run of values
        self._variable_length = 0  # how many live clusters are variable-length (vlen)
        self._by_length: dict[int, list[_Cluster]] = {}  # fixed-length clusters by length (any anchor)
        self._siblings: dict[_SiblingKey, str | set[str]] = {}  # template with one word blanked -> id(s)
        self._starts: dict[str, set[_SiblingKey]] = {}  # first word -> first-word sibling families it is in
        self._first_values: set[str] = set()  # first words found to be values (see _shared_firsts)
        # Tokens of live templates that _unknown_as_values may take for values (see _may_be_wording) -> how many
        # templates hold them: the sources' wording.
        self._wording: dict[str, int] = {}
        self._exact: dict[tuple[str, ...], _Cluster] = {}
        # The same by refined message (see _refine): masked messages that differ only in tokens refine_token makes
        # alike (KB2894856 / KB3000850) take the same way through _best_cluster and _absorb, which see only that.
        self._exact_refined: dict[tuple[str, ...], _Cluster] = {}
        # Text skeleton -> [cluster, its version then, reader of its values or None]: a message whose skeleton
        # was seen is masked the same, so it goes where ``_exact`` would send it, and its values sit at the same
        # offsets (see _fixed_offsets). When some tokens keep digits of their own (ssh2, see
        # Preprocessor.mask_with_skeleton), the skeleton maps to (reader of those tokens, {their values: entry}).
        # Valid while the template is live and unchanged; cleared with ``_exact``, which it mirrors (so not a
        # BoundedDict either, see _remember_exact).
        self._seen: dict[bytes, list[Any] | tuple[Callable[[list[str]], Any], dict[Any, list[Any]]]] = {}
        self._seen_size = 0
        self._aliases: dict[str, str] = {}
        self._new_aliases: dict[str, str] = {}  # aliases made since the last take_aliases (bounded as _aliases)
        self._wordlike: BoundedDict[str, str | None] = BoundedDict(_TOKEN_CACHE_SIZE)  # token -> _word_shape
        self._refined: BoundedDict[str, str] = BoundedDict(_TOKEN_CACHE_SIZE)  # token -> refine_token
        # Text skeleton -> (template id, reader of that template's values at fixed offsets), or only the template id
        # until a second message with that skeleton comes; see _params.
        self._readers: BoundedDict[bytes, str | tuple[str, Callable[[str], list[str]]]] = BoundedDict(
            max(self.config.exact_cache_size, 1)
        )
        self._clock = 0
        self._collapsed: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())  # last (tokens, collapse_runs(tokens))

    # ------------------------------------------------------------------ public API

    def add(self, message: str, *, at: int | None = None) -> TemplateMatch:
        """Learn from ``message`` and return its template (with the parameters taken from ``message``).

        ``at`` is the logical time of the message, which orders evictions; by default the miner counts its own
        messages (a :class:`~enricher.templates.PartitionedMiner` passes one clock shared by its miners).
        """
        cluster, params, is_new = self._add(message, at, True)
        return TemplateMatch(cluster.template_id, cluster.template, params, is_new)

    def learn(self, message: str, *, at: int | None = None) -> str:
        """:meth:`add` without reading the parameters: the id of ``message``'s template, for callers that need no
        values (training; drain3's ``add_log_message`` does the same). The miner learns exactly what add would."""
        return self._add(message, at, False)[0].template_id

    def _add(self, message: str, at: int | None, read_params: bool) -> tuple[_Cluster, list[str], bool]:
        """(the template of ``message``, learning from it; its parameters if ``read_params``, else []; is new)."""
        self._clock = clock = self._clock + 1 if at is None else at
        skeleton = self._pre.skeleton(message)
        if skeleton is not None:
            seen: Any = self._seen.get(skeleton)
            if seen is None:  # a new line, or one whose hex values (request ids) differ from the last ones
                alike = self._pre.hex_alike(skeleton)
                if alike is not skeleton:
                    skeleton = alike
                    seen = self._seen.get(skeleton)
            if seen is not None and type(seen) is not list:
                own_tokens, by_own = seen
                seen = by_own.get(own_tokens(message))  # (own tokens read at their offsets: no split)
            if seen is not None:
                # (typed: compiled, a cluster read from an untyped value would be reached through generic attribute
                # look-ups, here and in the rest of the function)
                known: _Cluster = seen[0]
                # Live, and not retemplated since: both give it a new version (see _remove).
                if known.version is seen[1]:
                    known.count += 1
                    known.last_seen = clock
                    if not read_params:
                        return known, [], False
                    read = seen[2] or self._learn_reader(seen, skeleton, message)
                    return known, read(message), False
        tokens, masked, own = self._pre.mask_with_skeleton(message, skeleton)
        cluster = self._exact.get(masked)
        is_new = False
        one_off = False  # whether an own token is a generated id: its skeleton's entry would never be met again
        if cluster is None or self._clusters.get(cluster.template_id) is not cluster:
            refined = self._refine(masked)
            if own:
                one_off = any(refined[i] != masked[i] for i in own)
            cluster = self._exact_refined.get(refined)
            if cluster is None or self._clusters.get(cluster.template_id) is not cluster:
                cluster, covers = self._best_cluster(refined)
                if cluster is None:
                    cluster, is_new = self._create(refined)
                elif not covers:  # (absorbing a message that a template covers as it is would leave it as it is)
                    self._absorb(cluster, refined)  # a generalised template is not a new event type
                cluster = self._resolve(cluster)
            self._remember_exact(masked, cluster, refined)
        cluster.count += 1
        cluster.last_seen = self._clock
        params = self._params(cluster, tokens, message, skeleton) if read_params else []
        if len(self._clusters) > self.config.max_templates:
            self._evict(spare=cluster.template_id)
        elif own is not None and self.config.exact_cache_size and not one_off:
            # (own is not None: there is a skeleton)
            self._remember_seen(skeleton, own, tokens, message, cluster)  # type: ignore[arg-type]
        return cluster, params, is_new

    def match(self, message: str) -> TemplateMatch | None:
        """The known template that covers ``message``, or None; learns nothing."""
        tokens, masked, skeleton = self._pre.mask_line(message)
        cluster = self._exact.get(masked)
        if cluster is None or self._clusters.get(cluster.template_id) is not cluster:
            cluster, _ = self._best_cluster(self._refine(masked), require_cover=True)
        if cluster is None:
            return None
        params = self._params(cluster, tokens, message, skeleton)
        return TemplateMatch(cluster.template_id, cluster.template, params, False)

    def canonical_id(self, template_id: str) -> str:
        """The current id of a template id issued earlier (follows the alias map; unknown ids map to themselves)."""
        current = template_id
        if current not in self._aliases:
            return current  # the common case: a live id
        hops = 0
        while hops < 64:  # aliases never form cycles; the bound is only a guard
            nxt = self._aliases.get(current)
            if nxt is None:
                break
            current = nxt
            hops += 1
        if hops > 1:
            self._aliases[template_id] = current  # path compression
        return current

    def take_aliases(self) -> dict[str, str]:
        """The ids aliased since the last call, each with its current id (and forget them).

        The service publishes them (alias records in the templates index) and re-keys the documents written
        with an old id, so that every document of one event type ends up with one id.
        """
        taken = {old: self.canonical_id(old) for old in self._new_aliases}
        self._new_aliases = {}
        return {old: new for old, new in taken.items() if old != new}

    def templates(self) -> list[tuple[str, str, int]]:
        """(template_id, template, count) of every live template, most frequent first."""
        rows = [(c.template_id, c.template, c.count) for c in self._clusters.values()]
        rows.sort(key=lambda row: (-row[2], row[1]))
        return rows

    def template_of(self, template_id: str) -> str | None:
        """The current template text for an id issued earlier, or None if unknown or evicted."""
        cluster = self._clusters.get(self.canonical_id(template_id))
        return cluster.template if cluster else None

    def extract_params(self, template: str, message: str) -> list[str]:
        """The values that the ``<*>`` of ``template`` stand for in ``message`` ([] if they do not line up)."""
        tokens = tuple(template.split(" ")) if template else ()
        words = message.split()
        if len(words) != len(tokens) and WILDCARD in tokens:
            return run_extractor(tokens)(" ".join(words))  # a template whose runs of variables vary in length
        return param_extractor(tokens)(words)

    def __len__(self) -> int:
        return len(self._clusters)

    # ------------------------------------------------------------------ persistence

    def to_state(self) -> dict[str, Any]:
        """JSON-serialisable state: config, templates with counts, and the alias map."""
        return {
            "format": STATE_FORMAT,
            "config": self.config.model_dump(mode="json"),
            "clock": self._clock,
            "namespace": self.namespace,
            "clusters": [
                {"template": c.template, "count": c.count, "last_seen": c.last_seen, **({"vlen": True} if c.vlen else {})}
                for c in self._clusters.values()
            ],
            "aliases": dict(self._aliases),
            "first_values": sorted(self._first_values),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: MinerConfig | None = None, *,
                   preprocessor: Preprocessor | None = None) -> TemplateMiner:
        """Rebuild a miner from :meth:`to_state` output (``config`` overrides the saved one)."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"not a template miner state (format {state.get('format')!r})")
        miner = cls(config or MinerConfig.model_validate(state["config"]), namespace=str(state.get("namespace", "")),
                    preprocessor=preprocessor)
        miner._clock = int(state.get("clock", 0))
        miner._aliases = {str(k): str(v) for k, v in state.get("aliases", {}).items()}
        miner._first_values = {str(word) for word in state.get("first_values", ())}
        for row in state["clusters"]:
            tokens = tuple(row["template"].split(" ")) if row["template"] else ()
            cluster = _Cluster(tokens, count=int(row["count"]), last_seen=int(row["last_seen"]),
                               vlen=bool(row.get("vlen", False)), namespace=miner.namespace)
            miner._insert(cluster)
        return miner

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state as JSON, atomically (a crash never leaves a half-written file)."""
        write_json_atomically(path, self.to_state())

    @classmethod
    def load(cls, path: str | os.PathLike[str], config: MinerConfig | None = None) -> TemplateMiner:
        """A miner restored from a file written by :meth:`save`."""
        with open(path, encoding="utf-8") as fh:
            return cls.from_state(json.load(fh), config)

    # ------------------------------------------------------------------ matching

    def _candidates(self, masked: tuple[str, ...]) -> Iterable[_Cluster]:
        n = len(masked)
        anchor = _anchor(masked)
        found = self._buckets.get((n, anchor), ())
        if anchor != WILDCARD:
            generic = self._buckets.get((n, WILDCARD))
            if generic:
                return chain(found, generic)  # (no concatenated copy)
        return found

    def _best_cluster(self, masked: tuple[str, ...], require_cover: bool = False) -> tuple[_Cluster | None, bool]:
        """(the most similar template, or None; whether it covers ``masked`` as it is, see _Covering)."""
        best: _Cluster | None = None
        best_key: tuple[float, int] = (-1.0, 0)
        for cluster in self._candidates(masked):
            fit = self._fit(cluster.tokens, masked, require_cover)
            if fit is not None and fit > best_key:
                best, best_key = cluster, fit
        if best is None or (best_key[0] < self.config.similarity and not self._one_value_apart(best.tokens, masked)):
            by_runs = self._best_by_runs(masked, require_cover)
            if by_runs is None and self._variable_length:
                # A value list may hold a generated word without digits (``e9fCR9 JStWBdQs cRdqL3``), which no token
                # class tells from wording for sure: taken for a value (see _unknown_as_values), it joins a list only
                # of a variable-length template that then covers the message as it is.
                as_values = self._unknown_as_values(masked)
                if as_values is not None:
                    covering = self._best_by_runs(as_values, True)
                    if covering is not None:
                        return covering, True
            return by_runs, False
        return best, type(best_key) is _Covering

    def _one_value_apart(self, template: tuple[str, ...], masked: tuple[str, ...]) -> bool:
        """Whether a two-token message differs from a two-token template only in a value with the same key, if any
        (``Stopping web_A12`` / ``Stopping web_B7``): half of two tokens is below any useful similarity, but the word
        they share is the event."""
        if len(masked) != 2 or len(template) != 2:
            return False
        i = 0 if template[1] == masked[1] else 1 if template[0] == masked[0] else -1
        if i < 0:
            return False
        a, b = template[i], masked[i]
        return (self._word_shape(a) is None and self._word_shape(b) is None and _key_of(a) == _key_of(b)
                and self._word_shape(template[1 - i]) is not None)

    def _unknown_as_values(self, masked: tuple[str, ...], held: int = 0) -> tuple[str, ...] | None:
        """``masked`` with the words that read as values written as ``<*>``, or None if it has none: runs of random
        letters (see _random_case), and words of 8+ letters in mixed case that no more than ``held`` live templates
        hold (wording repeats; 1 for a template's own tokens)."""
        wording = self._wording
        out = list(masked)
        changed = False
        for i, token in enumerate(masked):
            if not _may_be_wording(token):
                continue
            unknown = wording.get(token, 0) <= held
            if token.isalpha():
                new = WILDCARD if (unknown and _mixed_case(token)) or _random_case(token) else token
            else:  # a wrapped or keyed word: (tYiddkrnovDtZ), id=QxlEGZEE
                new = _ID_RUN.sub(_mask_if_unknown if unknown else _mask_if_random, token)
            if new != token:
                out[i] = new
                changed = True
        return tuple(out) if changed else None

    def _best_by_runs(self, masked: tuple[str, ...], require_cover: bool) -> _Cluster | None:
        """The most similar template once runs of variables are collapsed (see ``collapse_runs``), or None.

        Only tried when no template of the message's own length fits: it joins events whose value lists vary in
        length (one template per list length otherwise).
        """
        if not self.config.merge_runs:
            return None
        key = self._collapse(masked)
        # Without a run to collapse, only templates with runs are new candidates (the others were weighed).
        pool = self._by_runs.get(len(key), ()) if len(key) < len(masked) else self._ragged.get(len(key), ())
        if not pool or _all_runnable(key):
            return None  # nothing constant left to tell events apart
        best: _Cluster | None = None
        # Cheap filter first: _same_skeleton fails at once on a different first token unless both are runnable.
        first = key[0]
        first_runnable = _RUNNABLE(first) is not None
        for cluster in pool:
            head = cluster.collapsed[0]
            if head != first and not (first_runnable and _RUNNABLE(head) is not None):
                continue
            if self._same_skeleton(cluster.collapsed, key, require_cover) and (best is None or cluster.count > best.count):
                best = cluster
        return best

    def _collapse(self, masked: tuple[str, ...]) -> tuple[str, ...]:
        """``collapse_runs(masked)``, remembered for the last message: _best_by_runs, then _absorb_run or _create
        ask for it in turn."""
        memo = self._collapsed
        if memo[0] is masked:
            return memo[1]
        key = collapse_runs(masked)
        self._collapsed = (masked, key)
        return key

    def _same_skeleton(self, template: tuple[str, ...], key: tuple[str, ...], require_cover: bool) -> bool:
        """Whether two run-collapsed forms have the same constants at the same places (runs of values aside).

        Stricter than similarity: a run of values may hide a word that tells two events apart.
        """
        for t, m in zip(template, key):
            if t == m:
                continue
            if require_cover and not (WILDCARD in t and token_covers(t, m)):
                return False
            if not (_runnable(t) and _runnable(m)):
                return False
            if WILDCARD not in t and WILDCARD not in m:
                shape = self._word_shape(t)
                if shape is not None and shape != self._word_shape(m):
                    return False  # two numbered words that differ beyond their digits (ee0 vs alt0)
        return True

    def _fit(self, template: tuple[str, ...], masked: tuple[str, ...], require_cover: bool) -> tuple[float, int] | None:
        """(similarity, -wildcards) of a message to a template, or None when they must not be joined.

        Two different plain words at a position where the template has a constant are taken as two different
        events (Starting X vs Ending X): only sibling merging (enough distinct words) makes such a position a
        variable. Differences in tokens with digits, masks or punctuation are taken as variables. A template that
        covers the message as it is gets a :class:`_Covering` fit (absorbing the message would change nothing).
        """
        if not template:
            return (1.0, 0)
        equal = 0.0
        wildcards = 0
        kept = False  # whether a token without a wildcard is the same in both (what joining them would keep)
        covers = True  # every token so far equal to the template's, or matched by its wildcard token
        after_value = False  # whether the previous template token is a bare value
        for t, m in zip(template, masked):
            if after_value and t != m and _is_unit(t) and _is_unit(m):
                after_value = covers = False
                continue  # a unit after a value (93.0 B, 5.2 KB) belongs to the value, not to the wording
            after_value = t == WILDCARD
            if t == m:
                equal += 1
                if not kept and WILDCARD not in t:
                    kept = True
            elif WILDCARD in t:
                wildcards += 1
                if t == WILDCARD or token_covers(t, m):
                    # A value-like token in a variable slot agrees with it; a plain word only half: a template
                    # made mostly of <*> must not absorb any message of its length.
                    equal += 1.0 if WILDCARD in m or _HAS_DIGIT(m) is not None else 0.5
                elif require_cover or (WILDCARD not in m and self._word_shape(m) is not None):
                    return None  # a plain word where the template has other wording around a value (onExtend:<*>)
                else:
                    covers = False
            elif require_cover:
                return None
            else:
                covers = False
                shape = self._word_shape(t)
                if shape is not None:
                    other = self._word_shape(m)
                    if other is not None:
                        if other != shape:
                            return None
                    elif WILDCARD in m and m != WILDCARD and (_key_of(t) is None or _key_of(m) != _key_of(t)):
                        return None  # a word where the message has other wording around a value (job_<*>_<*>)
        fit = (equal / len(template), -wildcards)
        if covers:
            return _Covering(fit)
        # Joining them would leave values alone, which tell no event from another (<*> opened <*> and <*> closed <*>
        # of many values each would become one template of <*>, taking every message of its length).
        return fit if kept else None

    def _refine(self, masked: tuple[str, ...]) -> tuple[str, ...]:
        """``masked`` with the static token classes of :func:`refine_token` applied (cached per token)."""
        cache = self._refined  # (see Preprocessor.mask_with_skeleton on calling the cache's methods)
        # (a word of letters is its own refined form: no cache slot for it)
        return tuple([token if token.isalpha() else cache.get(token) or self._refine_token(token) for token in masked])

    def _refine_token(self, token: str) -> str:
        return self._refined.put(token, refine_token(token))

    def _word_shape(self, token: str) -> str | None:
        """``token`` without its digits if it is a word (``SOCKS5`` -> ``SOCKS``), else None.

        Two words with different shapes are different wording (HTTPS vs SOCKS5, ee0 vs alt0); two with the same
        shape differ only in a number (storage7 vs storage12), which is a variable.
        """
        known = self._wordlike.get(token, _UNKNOWN)
        if known is _UNKNOWN:
            if token.isalpha() and token.isascii():
                known = token  # letters only: what _WORDLIKE takes, without the regex (the commonest token)
            else:
                known = self._shape_of(token)
            self._wordlike.put(token, known)
        return known  # type: ignore[return-value]

    @staticmethod
    def _shape_of(token: str) -> str | None:
        """:meth:`_word_shape` of a token that is not made of ASCII letters only (uncached)."""
        digits = _HAS_DIGIT(token) is not None  # (the two patterns below need one)
        stripped = _GLUED_COUNTER.sub("", token) if digits else token
        # Quoted values are data, not wording: tag="AudioMix" vs tag="RILJ_ACK_WL". Names with a numbered
        # part after a separator are values too: web-A3, tbird-admin1, name_A12 (hosts, nodes, instances).
        wordlike = ('"' not in token and "'" not in token and _WORDLIKE.match(stripped) is not None
                    and not (digits and _NUMBERED_NAME(token) is not None))
        return stripped if wordlike else None

    def _params(self, cluster: _Cluster, tokens: list[str], message: str, skeleton: bytes | None) -> list[str]:
        """The values of the template's wildcards, read from the original message.

        Token by token in general; for templates whose values lie inside tokens (``blk_<*>``, ``/<*>:<*>``), the
        first message of each skeleton records where they are, and later messages with that skeleton are read
        at those offsets in one C call (see ``_fixed_offsets`` for why the offsets are the same).
        """
        params_of = cluster.params_of or cluster.prepare()
        if skeleton is None or not cluster.sliceable:
            return params_of(tokens)
        known = self._readers.get(skeleton)
        if known is not None and type(known) is not str and known[0] == cluster.template_id:
            return known[1](message)  # type: ignore[operator]
        if known == cluster.template_id:
            # Second message with this skeleton and template: worth learning the offsets.
            params = params_of(tokens)
            slices = self._slices(cluster.tokens, tokens, message, cluster.steps)
            if slices and [message[s] for s in slices] == params:  # never cache a reader that disagrees
                self._readers[skeleton] = (cluster.template_id, _slice_reader(slices))
            return params
        # First one: only noted (its template's id), as many skeletons are seen once.
        self._keep_reader(skeleton, cluster.template_id)
        return params_of(tokens)

    @staticmethod
    def _slices(template: tuple[str, ...], tokens: list[str], message: str,
                steps: list[_Step] | None = None) -> list[slice]:
        """Where in ``message`` the values of ``template`` are, as slices: where ``param_extractor(template)`` reads
        them, step by step (see _steps; the same tests, giving offsets), moved by the offsets of their tokens."""
        if len(tokens) != len(template):
            return []
        if steps is None:
            steps = _steps(template, [i for i, t in enumerate(template) if WILDCARD in t])
        starts = _token_starts(tokens, message)
        out: list[slice] = []
        for i, prefix, suffix, pieces in steps:
            token = tokens[i]
            start = starts[i]
            if pieces is None:
                if (prefix or suffix) and len(token) >= len(prefix) + len(suffix) and token.startswith(prefix) \
                        and token.endswith(suffix):
                    out.append(slice(start + len(prefix), start + len(token) - len(suffix)))
                else:
                    out.append(slice(start, start + len(token)))  # a bare <*>, or a token that does not fit
            else:
                spans = _value_spans(pieces, token)
                if spans is None:
                    out.append(slice(start, start + len(token)))
                else:
                    out.extend([slice(start + a, start + b) for a, b in spans])
        return out

    # ------------------------------------------------------------------ learning

    def _create(self, masked: tuple[str, ...]) -> tuple[_Cluster, bool]:
        """A cluster for a message no template covers; True when it is a new event type.

        When the new template is at once folded into a sibling family (it differs from known templates in one
        word only, and that position became or already was a variable), it is not a new event type.
        """
        memo = self._collapsed
        cluster = _Cluster(masked, namespace=self.namespace, collapsed=memo[1] if memo[0] is masked else None)
        existing = self._clusters.get(cluster.template_id)
        if existing is not None:
            return existing, False
        self._insert(cluster)
        self._merge_siblings(cluster)
        if self._clusters.get(cluster.template_id) is cluster and WILDCARD in cluster.template:
            self._fold_covered(cluster)
        return cluster, self._clusters.get(cluster.template_id) is cluster and cluster.tokens == masked

    def _absorb(self, cluster: _Cluster, masked: tuple[str, ...]) -> bool:
        """Generalise ``cluster`` to cover ``masked``; True if its template (and so its id) changed."""
        if cluster.vlen or len(cluster.tokens) != len(masked):
            return self._absorb_run(cluster, masked)
        merged = tuple([
            t if t == m or (WILDCARD in t and token_covers(t, m)) else generalise_token(t, m)
            for t, m in zip(cluster.tokens, masked)
        ])
        if merged and merged[0] != cluster.tokens[0]:
            merged = (WILDCARD,) + merged[1:]  # keep bucket keys consistent (see _anchor)
        if merged == cluster.tokens:
            return False
        self._retemplate(cluster, merged)
        return True

    def _absorb_run(self, cluster: _Cluster, masked: tuple[str, ...]) -> bool:
        """Generalise ``cluster`` to a variable-length template covering ``masked`` (their run-collapsed forms)."""
        key = self._collapse(masked)
        merged = tuple(
            t if t == m or (WILDCARD in t and token_covers(t, m)) else generalise_token(t, m)
            for t, m in zip(cluster.collapsed, key)
        )
        if cluster.vlen and merged == cluster.tokens:
            return False
        old_id = cluster.template_id
        self._remove(cluster)
        cluster.vlen = True
        cluster.retemplate(merged)
        self._alias(old_id, cluster.template_id)
        twin = self._clusters.get(cluster.template_id)
        if twin is not None:
            self._fold_twin(cluster, twin)
        else:
            self._insert(cluster)
            self._fold_covered(cluster)
        return True

    def _fold_twin(self, cluster: _Cluster, twin: _Cluster) -> None:
        """``cluster`` was generalised into the text of ``twin``: count it there (and widen twin to runs if needed)."""
        twin.count += cluster.count
        twin.last_seen = max(twin.last_seen, cluster.last_seen)
        if cluster.vlen and not twin.vlen:
            self._remove(twin)
            twin.vlen = True
            twin.retemplate(twin.tokens)
            self._insert(twin)

    def _resolve(self, cluster: _Cluster) -> _Cluster:
        """The live cluster that ``cluster`` became (it may have been folded into a twin or sibling)."""
        live = self._clusters.get(cluster.template_id)
        if live is cluster:
            return cluster
        return self._clusters[self.canonical_id(cluster.template_id)]

    def _retemplate(self, cluster: _Cluster, tokens: tuple[str, ...]) -> None:
        old_id = cluster.template_id
        self._remove(cluster)
        cluster.retemplate(tokens)
        self._alias(old_id, cluster.template_id)
        twin = self._clusters.get(cluster.template_id)
        if twin is not None:  # generalised into an existing template: fold into it
            self._fold_twin(cluster, twin)
            return
        self._insert(cluster)
        self._merge_siblings(cluster)
        if self._clusters.get(cluster.template_id) is cluster:
            self._fold_covered(cluster)
        if (self.config.merge_runs and not cluster.vlen and len(cluster.collapsed) < len(cluster.tokens)
                and self._clusters.get(cluster.template_id) is cluster):
            self._join_other_run_length(cluster)

    def _join_other_run_length(self, cluster: _Cluster) -> None:
        """Join ``cluster``, whose template has just gained a run of values, to the template of the same event with
        runs of another length, if there is one.

        A message takes the variable-length route only when no template of its own length fits (see _best_by_runs).
        A list holding a word that is a value only later (``e9fCR9 JStWBdQs cRdqL3``) gives one template per list
        length, each of which then fits its own lines; once the word is found to be a value, the run is whole.
        """
        key = cluster.collapsed
        if _all_runnable(key) or not _bare_runs(cluster.tokens):
            return  # nothing constant left to tell events apart, or keys in the run (uid=<*> euid=<*>)
        other: _Cluster | None = None
        for candidate in self._by_runs.get(len(key), ()):
            if (candidate is not cluster and (candidate.vlen or len(candidate.tokens) != len(cluster.tokens))
                    and (other is None or candidate.count > other.count)
                    and self._same_skeleton(candidate.collapsed, key, False) and _bare_runs(candidate.tokens)):
                other = candidate
        if other is None:
            return
        if not (other.vlen and self._same_skeleton(other.collapsed, key, True)):
            self._absorb_run(other, cluster.tokens)  # (folds the templates its runs now cover)
        target = self._resolve(other)
        if target is not cluster and self._clusters.get(cluster.template_id) is cluster:
            self._fold(cluster, target)

    def _fold_covered(self, general: _Cluster) -> None:
        """Fold into ``general`` the templates of its length that it now covers (made before it generalised).

        Otherwise a template seen first (``KOMXGJTEKD: removed``) keeps its own id while later messages of its
        event join the general one (``<*>: removed``).
        """
        if general.vlen:
            self._fold_covered_runs(general)
            return
        tokens = general.tokens
        # Cheap filter first: a covered template has the same token at the general one's first constant position.
        fixed = next((i for i, t in enumerate(tokens) if WILDCARD not in t), None)
        # When that is the first token, they are all in this template's bucket.
        pool = self._buckets.get((len(tokens), _anchor(tokens))) if fixed == 0 else self._by_length.get(len(tokens))
        for other in list(pool or ()):
            if other is general or (fixed is not None and other.tokens[fixed] != tokens[fixed]):
                continue
            if all(t == o or (WILDCARD in t and token_covers(t, o)) for t, o in zip(tokens, other.tokens)):
                self._fold(other, general)

    def _fold_covered_runs(self, general: _Cluster) -> None:
        """:meth:`_fold_covered` for a variable-length template: the templates, of any length, that its run-collapsed
        form covers as a message would have to be covered to join it (see _best_by_runs). The first messages of an
        event with value lists otherwise keep the templates they made, one per list length, before the event's
        template learnt to take runs."""
        key = general.collapsed
        # Also those it covers once their words that read as values are taken for values (see _unknown_as_values):
        # such a word breaks a run in two, so their collapsed forms may be longer than the key (by two per word).
        for length in range(len(key), len(key) + 5):
            for other in list(self._by_runs.get(length, ())):
                if other is general:
                    continue
                if length == len(key) and self._same_skeleton(key, other.collapsed, True):
                    self._fold(other, general)
                    continue
                as_values = self._unknown_as_values(other.tokens, held=1)
                if as_values is not None:
                    collapsed = collapse_runs(as_values)
                    if len(collapsed) == len(key) and self._same_skeleton(key, collapsed, True):
                        self._fold(other, general)

    def _merge_siblings(self, cluster: _Cluster) -> None:
        """Make a word position a variable once ``min_siblings`` templates differ only there.

        Also folds ``cluster`` into an existing template that already has a wildcard at such a position.
        """
        config = self.config
        for key in self._sibling_keys(cluster):
            position = ord(key[0])
            general = self._by_text.get(key[1:])
            if general is None and position == 0 and config.merge_runs:
                general = self._general_with_runs(key[1:])
            group: Any = self._siblings.get(key, ())
            size = 1 if type(group) is str else len(group)
            needed = config.min_siblings_first if position == 0 else config.min_siblings
            if general is None and size < needed and not (position == 0 and self._shared_firsts(key)):
                continue
            group = self._members(key)
            # In id order: sets iterate in a per-process order, and the merged text must not depend on it.
            members = sorted((self._clusters[tid] for tid in group if tid in self._clusters), key=_by_id)
            if general is not None:
                self._join(members, general, general.tokens)
            else:
                blanked = cluster.tokens[:position] + (WILDCARD,) + cluster.tokens[position + 1 :]
                self._join(members, None, self._generalised(members, blanked, (position,)))
            return
        if config.min_siblings_pair:
            self._merge_pair(cluster)

    def _general_with_runs(self, blanked: str) -> _Cluster | None:
        """The variable-length template that covers ``blanked`` (a template with its first word blanked) with its
        runs of values collapsed, or None: a first word that, blanked, leaves a known event with value lists is a
        value too (a queue id without digits), as it is when it leaves a known template as it is. Not further in:
        a word before a run of values there names the event as often (``opened <run>`` / ``closed <run>``), and so
        does a word inside one (``leza29 ninuvued 0x3f84``)."""
        if not self._variable_length or _RUN_OF_TWO(blanked) is None:
            return None
        key = collapse_runs(tuple(blanked.split(" ")))
        best: _Cluster | None = None
        for general in self._ragged.get(len(key), ()):  # (the variable-length templates are among these)
            if general.vlen and (best is None or general.count > best.count) and self._same_skeleton(
                general.collapsed, key, True
            ):
                best = general
        return best

    def _shared_firsts(self, key: _SiblingKey) -> bool:
        """Whether the first words of this family also start another family (another event) together.

        Table names, hosts or queues that start several events are values; the words that name events (boot,
        halt) come with one tail each. Needs ``min_siblings - 1`` shared words.
        """
        need = self.config.min_siblings - 1
        if len(self._members(key)) < need:
            return False  # (a family has no more first words than templates)
        words = self._first_words(key)
        if len(words) < need:
            return False
        if len(words & self._first_values) >= need:
            return True  # they were found to be values before (their other families are already merged)
        others: set[_SiblingKey] = set()
        for word in words:
            others.update(self._starts.get(word, ()))
        others.discard(key)
        if any(len(words & self._first_words(other)) >= need for other in others):
            if len(self._first_values) >= 10_000:
                self._first_values.clear()  # bounded; only a hint for later families
            self._first_values.update(words)
            return True
        return False

    def _first_words(self, key: _SiblingKey) -> set[str]:
        return {self._clusters[tid].tokens[0] for tid in self._members(key) if tid in self._clusters}

    def _members(self, key: _SiblingKey) -> Collection[str]:
        """Ids of the templates with this sibling key (one is kept as a bare id, see _insert)."""
        group: Any = self._siblings.get(key)
        if group is None:
            return ()
        return (group,) if type(group) is str else group

    def _generalised(self, members: list[_Cluster], tokens: tuple[str, ...], positions: tuple[int, ...]) -> tuple[str, ...]:
        """``tokens`` with each of ``positions`` the token pattern covering all ``members`` there."""
        out = list(tokens)
        for i in positions:
            token = members[0].tokens[i]
            for member in members[1:]:
                token = generalise_token(token, member.tokens[i])
            out[i] = token
        return tuple(out)

    def _join(self, members: list[_Cluster], target: _Cluster | None, tokens: tuple[str, ...]) -> None:
        """Fold ``members`` into ``target`` (default: the most frequent member), whose template becomes ``tokens``."""
        if target is None:
            target = max(members, key=lambda c: (c.count, c.template_id))
        for member in members:
            if member is not target:
                self._fold(member, target)
        if target.tokens != tokens:
            self._retemplate(target, tokens)

    def _merge_pair(self, cluster: _Cluster) -> None:
        """Make two word positions variables once ``min_siblings_pair`` templates differ only there.

        Found by comparing ``cluster`` with the templates of its length (only when a template is made, so no index
        is kept). The template needs three more plain words, so that what is left still tells events apart.
        """
        tokens = cluster.tokens
        # Not the first word: it more often names the event (X is deprecated, use Y), see min_siblings_first.
        words = {ord(key[0]) for key in self._sibling_keys(cluster) if key[0] != _FIRST}  # (the blanked positions)
        if len(words) < 5:
            return
        groups: dict[tuple[int, ...], list[_Cluster]] = {}
        # The templates of this length and first word are in its bucket (with others when that word is a value).
        for other in self._buckets.get((len(tokens), _anchor(tokens)), ()):
            if other is cluster or other.tokens[0] != tokens[0]:
                continue
            diff: list[int] = []
            for k, (a, b) in enumerate(zip(tokens, other.tokens)):
                if a != b:
                    diff.append(k)
                    if len(diff) > 2:
                        break
            if len(diff) == 2 and diff[0] in words and diff[1] in words:
                groups.setdefault(tuple(diff), []).append(other)
        for positions, members in groups.items():
            members.append(cluster)
            if len(members) < self.config.min_siblings_pair or not self._each_varies(members, positions):
                continue
            if all(WILDCARD not in m.tokens[i] and self._word_shape(m.tokens[i]) is not None
                   for m in members for i in positions):
                self._join(members, None, self._generalised(members, tokens, positions))
                return

    def _each_varies(self, members: list[_Cluster], positions: tuple[int, ...]) -> bool:
        """Whether each blanked word takes ``min_siblings`` values among ``members`` (a pair family).

        Two words that each take few values (LOOKING / LEADING / FOLLOWING) are states naming events; words
        that take many (the states of a long life cycle) are the values of one event.
        """
        return all(len({m.tokens[i] for m in members}) >= self.config.min_siblings for i in positions)

    def _fold(self, member: _Cluster, target: _Cluster) -> None:
        self._remove(member)
        self._alias(member.template_id, target.template_id)
        target.count += member.count
        target.last_seen = max(target.last_seen, member.last_seen)

    def _insert(self, cluster: _Cluster) -> None:
        self._clusters[cluster.template_id] = cluster
        self._by_text[cluster.template] = cluster
        self._aliases.pop(cluster.template_id, None)  # a live template is never an alias
        if not cluster.vlen:
            self._buckets.setdefault((len(cluster.tokens), _anchor(cluster.tokens)), []).append(cluster)
            self._by_length.setdefault(len(cluster.tokens), []).append(cluster)
        else:
            self._variable_length += 1
        self._by_runs.setdefault(len(cluster.collapsed), []).append(cluster)
        if cluster.vlen or len(cluster.collapsed) < len(cluster.tokens):
            self._ragged.setdefault(len(cluster.collapsed), []).append(cluster)
        wording = self._wording
        for token in cluster.tokens:
            if _may_be_wording(token):
                wording[token] = wording.get(token, 0) + 1
        siblings = self._siblings
        template_id = cluster.template_id
        for key in self._sibling_keys(cluster):
            group: Any = siblings.get(key)
            # Most keys have one template: its bare id (a str) rather than a set, which the collector tracks.
            if group is None:
                siblings[key] = template_id
            elif type(group) is str:
                if group != template_id:
                    siblings[key] = {group, template_id}
            else:
                group.add(template_id)
            if key[0] == _FIRST:
                self._starts.setdefault(cluster.tokens[0], set()).add(key)

    def _remove(self, cluster: _Cluster) -> None:
        # A template leaves only through here (folded, evicted, or retemplated and put back): its reader goes with
        # it, and its new version tells the skeleton shortcut of add that its entries are stale.
        cluster.params_of = None
        cluster.version = object()
        if self._clusters.get(cluster.template_id) is cluster:
            del self._clusters[cluster.template_id]
            self._variable_length -= cluster.vlen
            wording = self._wording
            for token in cluster.tokens:
                if _may_be_wording(token):
                    left = wording[token] - 1
                    if left:
                        wording[token] = left
                    else:
                        del wording[token]
        if self._by_text.get(cluster.template) is cluster:
            del self._by_text[cluster.template]
        self._unlist(self._buckets, (len(cluster.tokens), _anchor(cluster.tokens)), cluster)
        self._unlist(self._by_runs, len(cluster.collapsed), cluster)
        self._unlist(self._ragged, len(cluster.collapsed), cluster)
        self._unlist(self._by_length, len(cluster.tokens), cluster)
        for skey in self._sibling_keys(cluster):
            group = self._siblings.get(skey)
            if group is not None:
                if type(group) is str:
                    emptied = group == cluster.template_id
                else:
                    group.discard(cluster.template_id)  # type: ignore[union-attr]
                    emptied = not group
                if emptied:
                    del self._siblings[skey]
                    starts = self._starts.get(cluster.tokens[0])
                    if skey[0] == _FIRST and starts is not None:
                        starts.discard(skey)
                        if not starts:
                            del self._starts[cluster.tokens[0]]

    @staticmethod
    def _unlist(index: dict[Any, list[_Cluster]], key: Any, cluster: _Cluster) -> None:
        bucket = index.get(key)
        if bucket is not None and cluster in bucket:
            index[key] = [c for c in bucket if c is not cluster]
            if not index[key]:
                del index[key]

    def _sibling_keys(self, cluster: _Cluster) -> list[_SiblingKey]:
        """Keys under which templates differing in one word only meet: the template with that word blanked.

        ``min_siblings`` templates (``min_siblings_first`` for the first word, which more often names the event)
        make it a variable (see ``_merge_pair`` for two words). A template needs two tokens or more (one-word
        messages are all distinct events). Computed once per template (kept until retemplated).
        """
        keys = cluster.sibling_keys
        if keys is None:
            tokens = cluster.tokens
            keys = []
            # A word that is the template's only constant is not blanked: a template of values alone would take
            # every message of its length (each event named by one word among values: <*> opened <*>, <*> closed <*>).
            if len(tokens) >= 2 and _two_constants(tokens):
                text = cluster.template
                wordlike = self._wordlike
                start = 0
                for i, token in enumerate(tokens):
                    end = start + len(token)
                    # (letters only: a word, as _word_shape says, without its cache)
                    if (token.isalpha() and token.isascii()) or (
                        WILDCARD not in token
                        and (word := wordlike.get(token, _UNKNOWN)) is not None
                        and (word is not _UNKNOWN or self._word_shape(token) is not None)
                    ):
                        keys.append(f"{chr(i)}{text[:start]}{WILDCARD}{text[end:]}")
                    start = end + 1
            cluster.sibling_keys = keys
        return keys

    def _alias(self, old_id: str, new_id: str) -> None:
        if old_id == new_id or self.config.max_aliases == 0:
            return
        self._aliases[old_id] = new_id
        self._new_aliases[old_id] = new_id
        while len(self._aliases) > self.config.max_aliases:
            del self._aliases[next(iter(self._aliases))]
        if len(self._new_aliases) > self.config.max_aliases:  # nobody takes them (offline mining): keep the newest
            del self._new_aliases[next(iter(self._new_aliases))]

    def _remember_exact(self, masked: tuple[str, ...], cluster: _Cluster, refined: tuple[str, ...]) -> None:
        # Not a BoundedDict: it is emptied whole, with _seen, because a skeleton of _seen stands for a masked message
        # of _exact; dropping entries one by one (first in, first out) would let skeletons outlive their message.
        if self.config.exact_cache_size == 0:
            return
        if len(self._exact) >= self.config.exact_cache_size:
            self._exact.clear()  # cheap bounded reset; the cache refills with the hot messages at once
            self._exact_refined.clear()
            self._forget_seen()  # (a skeleton must not outlive the masked message it stands for)
        self._exact[masked] = cluster
        self._exact_refined[refined] = cluster

    def _remember_seen(self, skeleton: bytes, own: tuple[int, ...], tokens: list[str], message: str,
                       cluster: _Cluster) -> None:
        """Note that messages with ``skeleton`` (and these ``own`` tokens) go to ``cluster`` (their values are read
        on the next one).

        The own tokens are read from the text at their offsets, which the skeleton fixes (same length, whitespace
        at the same places): one C call instead of splitting every message.
        """
        if self._seen_size >= self.config.exact_cache_size:
            self._forget_seen()
        self._seen_size += 1
        entry = [cluster, cluster.version, None]
        if not own:
            self._seen[skeleton] = entry
            return
        known: Any = self._seen.get(skeleton)
        if known is None or type(known) is list:
            starts = _token_starts(tokens, message)
            own_slices = [slice(starts[i], starts[i] + len(tokens[i])) for i in own]
            known = self._seen[skeleton] = (itemgetter(*own_slices), {})
        known[1][known[0](message)] = entry

    def _forget_seen(self) -> None:
        self._seen.clear()
        self._seen_size = 0

    def _learn_reader(self, seen: list[Any], skeleton: bytes, message: str) -> Callable[[str], list[str]]:
        """The reader of the values of ``seen``'s template from messages with this skeleton (second one seen).

        At fixed offsets when the template allows it (one C call per message), checked against the token by token
        reading on this message, and shared with the other entries of the skeleton (see ``_params``); else token
        by token.
        """
        cluster: _Cluster = seen[0]
        params_of = cluster.params_of or cluster.prepare()  # (of this version of the template: seen[1] is checked)
        read: Callable[[str], list[str]] | None = None
        if cluster.fixed_offsets:
            known = self._readers.get(skeleton)
            if known is not None and type(known) is not str and known[0] == cluster.template_id:
                read = known[1]  # type: ignore[assignment]
            else:
                # _slices finds the values where params_of reads them (it mirrors param_extractor).
                read = _slice_reader(self._slices(cluster.tokens, message.split(), message, cluster.steps))
                self._keep_reader(skeleton, cluster.template_id, read)
        if read is None:
            read = lambda text: params_of(text.split())  # noqa: E731
        seen[2] = read
        return read

    def _keep_reader(self, skeleton: bytes, template_id: str, read: Callable[[str], list[str]] | None = None) -> None:
        """Note the reader of this skeleton's values for that template; without one, only the template's id (a str,
        not a tuple: most skeletons are seen once, and a tuple per skeleton is work for the garbage collector)."""
        self._readers.put(skeleton, template_id if read is None else (template_id, read))

    def _evict(self, spare: str) -> None:
        """Drop the rarest, least recently seen templates down to 90% of the cap (never ``spare``, the template
        just returned: its id is about to be written, it must resolve)."""
        keep = max(1, int(self.config.max_templates * 0.9))
        victims = sorted((c for c in self._clusters.values() if c.template_id != spare),
                         key=lambda c: (c.count, c.last_seen))
        self.evict([c.template_id for c in victims[: len(self._clusters) - keep]])

    def usage(self) -> list[tuple[int, int, str]]:
        """(count, last seen, template id) of every live template: what eviction weighs (rare and old go first)."""
        return [(c.count, c.last_seen, c.template_id) for c in self._clusters.values()]

    def evict(self, template_ids: list[str]) -> None:
        """Forget these live templates (their ids then resolve to nothing); unknown ids are ignored."""
        for template_id in template_ids:
            cluster = self._clusters.get(template_id)
            if cluster is not None:
                self._remove(cluster)
        live = self._clusters
        self._exact = {k: c for k, c in self._exact.items() if live.get(c.template_id) is c}
        self._exact_refined = {k: c for k, c in self._exact_refined.items() if live.get(c.template_id) is c}
        self._forget_seen()

    def knows(self, template_id: str) -> bool:
        """Whether ``template_id`` is a live template or an alias of this miner."""
        return template_id in self._clusters or template_id in self._aliases
