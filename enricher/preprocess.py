"""Text preprocessing shared by the template miner and the classifier.

* ``mask``: replaces variable-looking spans (timestamps, UUIDs, IPs, MACs, host names, hex ids, URLs, paths,
  numbers and any user regexes) with a placeholder. All patterns are compiled once, when the :class:`Preprocessor`
  is built, and applied as one alternation, which keeps the hot path in C. ``mask_tokens`` / ``mask_line`` (the
  miner's hot path) cache by *skeleton*: the text with every digit written as 1 (one ``bytes.translate``). No
  masker tells one digit from another, so a line seen before up to its digits is one dict lookup (and up to the
  letters of its UUIDs and hex ids too, see ``Preprocessor.hex_alike``), and a new line
  is masked token by token through a cache of token skeletons; on a miss one alternation of the maskers, guarded
  by a look-behind that skips the inside of words, finds the spans to mask.

(Tokenising, stop words and lemmas for people -- the key terms of an incident -- are in
:mod:`enricher.findings.keyterms`.)

Masking keeps the text *around* a variable: ``blk_-4372`` becomes ``blk_<*>`` and ``10.0.0.1:50010`` becomes
``<*>:<*>``, which is also how the Loghub ground truth writes such templates.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from functools import cached_property
from typing import Any, NamedTuple

from enricher.cache_tags import OwnLine as _OwnLine
from enricher.cache_tags import Spans as _Spans
from enricher.caching import BoundedDict
from enricher.masking import BUILTIN_ORDER, DEFAULT_PLACEHOLDER, MaskingConfig, NamedRegex  # noqa: F401

# Why each pattern looks the way it does:
# - every pattern is anchored on "not a letter or digit" boundaries rather than \b, because "_" and "-" glue
#   identifiers to numbers in logs (blk_-4372, node-246) and we want the number masked, the prefix kept;
# - numbers inside words (ssh2, SOCKS5, u0) are *not* masked here: whether they vary is for the miner to learn.
_NOT_ALNUM_BEFORE = r"(?<![A-Za-z0-9])"
_NOT_ALNUM_AFTER = r"(?![A-Za-z0-9])"

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
_MONTH_ABBR = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DAY_ABBR = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_DATE_WORD_INSIDE = re.compile(r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)").search
_TIME = r"\d{1,2}:\d{2}:\d{2}(?:[.,]\d{1,9})?"

_LABEL = r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)"  # one DNS label and its dot

BUILTIN_PATTERNS: dict[str, str] = {
    # ISO-8601 / syslog / ctime-like timestamps, and bare dates and times.
    "timestamp": (
        _NOT_ALNUM_BEFORE
        + r"(?:"
        + r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T ]" + _TIME + r"(?:Z|[+-]\d{2}:?\d{2})?)?"
        + r"|(?:" + _DAY + r",? )?" + _MONTH + r" +\d{1,2}(?:,? \d{4})? " + _TIME + r"(?: \d{4})?"
        + r"|\d{1,2}/\d{1,2}/\d{2,4}(?:[ :]" + _TIME + r")?"
        + r"|" + _TIME
        + r")"
        + _NOT_ALNUM_AFTER
    ),
    # Only what follows the scheme is masked (hdfs://<*>), as in Loghub templates.
    "url": r"(?<=[A-Za-z0-9+.\-]://)[^\s\"'<>\])}]+",
    "uuid": _NOT_ALNUM_BEFORE
    + r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    + _NOT_ALNUM_AFTER,
    "mac": _NOT_ALNUM_BEFORE + r"(?:[0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}" + _NOT_ALNUM_AFTER,
    "ip": _NOT_ALNUM_BEFORE + r"(?:\d{1,3}\.){3}\d{1,3}" + r"(?![A-Za-z0-9]|\.\d)",
    # Unix paths with at least two segments, and Windows drive paths.
    "path": r"(?<![\w:/.\-])(?:(?:/[\w.\-@+~%]+){2,}/?|[A-Za-z]:\\[^\s,;\"'<>|]*)",
    # 0x-prefixed hex, bare hex ids of 6+ digits that mix letters and digits (9f4ef63, de9231d), and bare hex of
    # 8+ digits (ffffffff): English words made only of a-f letters are shorter.
    "hex": _NOT_ALNUM_BEFORE
    + r"(?:0[xX][0-9a-fA-F]+|(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,}|[0-9a-fA-F]{8,})"
    + _NOT_ALNUM_AFTER,
    # Host names (www.google.com, proxy.cse.cuhk.edu.hk): DNS labels ending in a common top-level domain (country
    # codes that are also common abbreviations, such as id, in, it or is, are left out: mapred.task.id is a key). Reverse-DNS names (org.apache.x, com.android.x) are Java
    # packages and classes, which are wording, not data.
    "host": r"(?<![\w.\-@/])(?!(?:org|com|net|java|javax|android|sun|io|edu)\.)"
    + _LABEL + r"+(?:com|net|org|edu|gov|mil|int|info|biz|io|local|lan|internal|localdomain"
    + r"|cn|hk|uk|de|jp|fr|ru|br|au|ca|kr|tw|nl|es|se|ch|eu|pl|cz|sg|nz|za|mx|tr|ua|vn|asia)"
    + r"(?![\w.\-])",
    # Month and weekday names standing alone: parts of a timestamp split over several tokens.
    "date_word": _NOT_ALNUM_BEFORE + r"(?:" + _MONTH_ABBR + "|" + _DAY_ABBR + r")" + _NOT_ALNUM_AFTER,
    # Signed integers; a decimal becomes <*>.<*> (as in Loghub templates).
    "number": _NOT_ALNUM_BEFORE + r"[-+]?\d+" + _NOT_ALNUM_AFTER,
}

# No built-in masker starts a match right after a letter or digit (each pattern begins with a look-behind that rules
# it out), so their alternation is guarded by that one look-behind: inside a word the regex engine makes one test
# per character instead of one per masker. With it, one alternation of all maskers is faster on a token than
# picking the maskers that could match by string tests first.
_BUILTIN_GUARD = r"(?<![A-Za-z0-9])"


# The characters each built-in masker's match can start with (more is safe, fewer is not): where a match may start,
# only the maskers that can start with the character there are tried. The alternation groups them by that
# character (a look-ahead for the group's characters, then its maskers in their order), so the regex engine no
# longer enters every masker's pattern at every such place: a quarter less time on the tokens of Loghub samples.
_HEX_DIGITS = string.digits + "abcdefABCDEF"
_DATE_INITIALS = "ADFJMNOSTW"  # of the month and weekday names
_FIRST_CHARACTERS: dict[str, str] = {
    "timestamp": string.digits + _DATE_INITIALS,
    "url": "".join(c for c in map(chr, range(128)) if c not in " \t\n\r\f\v\"'<>])}"),
    "uuid": _HEX_DIGITS,
    "mac": _HEX_DIGITS,
    "ip": string.digits,
    "path": "/" + string.ascii_letters,
    "host": string.ascii_letters + string.digits,
    "hex": _HEX_DIGITS,
    "date_word": _DATE_INITIALS,
    "number": "+-" + string.digits,
}


def builtin_alternation(names: Sequence[str]) -> str:
    """One regex of the built-in maskers ``names``, tried in that order (the first that matches wins).

    Grouped by the ASCII character a match starts with (see _FIRST_CHARACTERS): at each place the group of that
    character holds every masker that could match there, in order, so the first to match is the same. At a
    non-ASCII character (a regex digit may be another script's) every masker is tried, as before.
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    for code in range(128):
        character = chr(code)
        group = tuple(name for name in names if character in _FIRST_CHARACTERS[name])
        if group:
            groups.setdefault(group, []).append(character)
    branches = [f"(?=[{''.join(map(re.escape, characters))}])(?:{_alternatives(group)})"
                for group, characters in groups.items()]
    branches.append(f"(?=[^\\x00-\\x7f])(?:{_alternatives(names)})")
    return _BUILTIN_GUARD + "(?:" + "|".join(branches) + ")"


def _alternatives(names: Sequence[str]) -> str:
    # (the guard is every pattern's own look-behind, or weaker than it: the patterns' copies of it go)
    return "|".join(f"(?:{BUILTIN_PATTERNS[name].removeprefix(_NOT_ALNUM_BEFORE)})" for name in names)


_HAS_DIGIT = re.compile(r"\d").search
# A token skeleton that is one hex value (0x..., 8+ hex digits, or 6+ mixing letters and digits) with at most one
# trailing punctuation mark: the "hex" masker takes the value whole, and no masker before it in BUILTIN_ORDER can
# match (they need a "-", ":", ".", "/" or "://" inside the value, which it has not). Checked here without the
# alternation; the skeleton's hex mark (see _HEX_MARK) stands for the 0 of "0x".
_HEX_VALUE = re.compile(
    r"(?:\x02[xX][0-9a-fA-F]+|[0-9a-fA-F]{8,}|(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{6,7})"
    r"([,;:.)\]}]?)\Z"
).match
_HEX_LETTERS_8 = re.compile(r"[a-fA-F]{8}").search
_DOT_LETTER = re.compile(r"\.[A-Za-z]").search


def _plain_word(word: str) -> bool:
    """Whether no built-in masker matches in ``word``, made of letters: no hex id (8+ letters a-f) nor month
    or weekday name in it."""
    return (len(word) < 8 or _HEX_LETTERS_8(word) is None) and (word.islower() or _DATE_WORD_INSIDE(word) is None)


def _quiet(token: str) -> bool:
    """Whether no built-in masker matches in ``token``, a token without digits (register:, calls., event(s)).

    Without a digit, only these can: a path or URL (two slashes, or a drive's ``:\\``), a host name (a dot then the
    letters of a domain), a MAC made of hex letters (five colons or dashes), a hex id or a UUID (8 hex letters in
    a row) and a month or day name (which starts with a capital).
    """
    return (
        token.count("/") < 2 and ":\\" not in token and _DOT_LETTER(token) is None
        and token.count(":") + token.count("-") < 5 and _HEX_LETTERS_8(token) is None
        and (token.islower() or _DATE_WORD_INSIDE(token) is None)
    )


# A token's skeleton: its ASCII bytes with every digit written as 1. No built-in pattern tells digits apart except
# "0x" (hex), so the 0 of "0x" / "0X" is kept apart. A token and its skeleton are masked at the same
# spans, so when the masked skeleton has no digit left it is the masked form of every token with that skeleton
# (blk_-1608..., blk_-7724... -> blk_<*>). The four ASCII separators that str.split() takes as whitespace become
# spaces, so bytes.split() cuts the same tokens.
_SKELETON = bytes.maketrans(b"0123456789\x1c\x1d\x1e\x1f", b"1111111111    ")


# Values whose letters differ from line to line: UUIDs, hex values of 8+ digits holding a letter (request, trace and
# span ids, hashes) and 0x values, each standing apart from letters and digits. Their letters would make every line a
# new skeleton, so :meth:`Preprocessor.hex_alike` writes each of their hex digits as "a". That changes no masking:
# the "uuid" and "hex" maskers take such a value whole whatever its digits, and a masker that starts earlier (a URL,
# a path, a host name) covers it whole too; none of them tells one hex digit from another (only the 0 of "0x", kept
# apart by _HEX_MARK, and no month name or top-level domain is a run of 8+ hex digits). A run of digits only is
# left alone: a sign before it belongs to the number masker, which a letter would turn off. So is a value that starts
# with digits a masker before it looks at (see _watch). Those values are found in the skeleton's shape,
# where each hex digit is written "a" (see Preprocessor._hex_values).
_AS_LETTERS = bytes.maketrans(b"0123456789abcdefABCDEF", b"a" * 22)
# The regex pass costs far more than a look-up, so it runs only on the lines _may_hold_hex_values picks out, told
# by translations and literal searches in C (a regex search for a letter next to a digit is 20x slower). A value it
# leaves alone costs a cache entry, never a wrong mask.
_HEX_CLASSES = bytes([  # a digit as 1, a hex letter as a, anything else as a space
    ord("1") if chr(c) in string.digits else ord("a") if chr(c) in "abcdefABCDEF" else ord(" ") for c in range(256)
])
# (Literal searches by regex: faster here than ``bytes in bytes``.)
_EIGHT_HEX_DIGITS = re.compile(b"a" * 8).search  # in a skeleton's shape, its hex digits written as "a"
_DIGIT_THEN_LETTER = re.compile(b"1a").search
_LETTER_THEN_DIGIT = re.compile(b"a1").search


def _may_hold_hex_values(skeleton: bytes, shape: bytes) -> bool:
    """Whether ``skeleton`` (of hex-alike ``shape``) has a mark of "0x", or a hex letter next to a digit and a run of
    8+ hex digits (ids, addresses, hashes, a UUID's groups): the lines worth the regex."""
    if _HEX_MARK_BYTE in skeleton:
        return True
    if _EIGHT_HEX_DIGITS(shape) is None:
        return False
    classes = skeleton.translate(_HEX_CLASSES)
    return _DIGIT_THEN_LETTER(classes) is not None or _LETTER_THEN_DIGIT(classes) is not None


def _watch(skeleton: bytes, start: int, plain_run: bool) -> int:
    """How a match before the value at ``start`` looks at the value's first digits, which letters in their place
    would change: 1, at a first digit (an IP's look-ahead for a "." and a digit: ``10.0.0.1.5deadbeef0``); 2, at a
    first group of 8 digits (a UUID's, which a time's fraction, ``12:30:01.12345678-...``, or a number's sign,
    ``-12345678-...`` but not ``req-12345678-...``, would take); 0, not at all. A plain run, which holds a letter,
    never ends a number or a fraction. The same for every skeleton equal to this one up to the value."""
    before = skeleton[start - 1] if start else 32
    digit_before = start > 1 and skeleton[start - 2] == 49  # (49: "1", every digit in a skeleton)
    if before == 46 and digit_before:  # "."
        return 1
    if plain_run:
        return 0
    if before == 44:  # ","
        return 2 if digit_before else 0
    if before in (43, 45):  # "+", "-"
        return 2 if start == 1 or not skeleton[start - 2:start - 1].isalnum() else 0
    return 0


def _digits_watched(skeleton: bytes, start: int, watch: int) -> bool:
    """Whether the value at ``start`` starts with the digits that ``watch`` (see _watch; not 0) says are looked at."""
    return skeleton[start] == 49 and (watch == 1 or skeleton[start:start + 8].isdigit())


class _HexValues(NamedTuple):
    """Where the hex values of a skeleton are (see Preprocessor.hex_alike): the skeleton, (start, end, whether a
    plain run of hex digits, which must hold a letter, how its first digits are watched) of each value, and its
    hex-alike form."""

    skeleton: bytes
    values: tuple[tuple[int, int, bool, int], ...]
    alike: bytes

    def fit(self, skeleton: bytes) -> bool:
        """Whether ``skeleton``, of the same shape, has these values: it is equal outside them, each plain run still
        holds a letter, and no watched value starts with the digits looked at (see Preprocessor.hex_alike)."""
        end = 0
        for start, stop, plain_run, watch in self.values:
            if skeleton[end:start] != self.skeleton[end:start] or (plain_run and skeleton[start:stop].isdigit()):
                return False
            if watch and _digits_watched(skeleton, start, watch):
                return False
            end = stop
        return skeleton[end:] == self.skeleton[end:]


# In a text holding "0x" or "0X", that 0 is first written as _HEX_MARK (and read back as 0 before masking), so the
# other 0s are still written as 1. A text holding the mark character itself is masked token by token instead.
_HEX_MARK = b"\x02"
_HEX_MARK_STR = _HEX_MARK.decode()
# (``int in bytes`` is one memchr; ``bytes in bytes`` first fails to read its argument as an int, and formats the
# TypeError it then drops: 1,800 instructions a test.)
_HEX_MARK_BYTE = _HEX_MARK[0]
_MARKED_0x, _MARKED_0X = _HEX_MARK + b"x", _HEX_MARK + b"X"
_NO_SPANS = _Spans(())  # the skeleton cache's value for tokens that keep their digits and have nothing to mask


_NAMED_PLACEHOLDERS = {
    "timestamp": "<TS>",
    "url": "<URL>",
    "uuid": "<UUID>",
    "mac": "<MAC>",
    "ip": "<IP>",
    "path": "<PATH>",
    "host": "<HOST>",
    "hex": "<HEX>",
    "date_word": "<TS>",
    "number": "<NUM>",
}

class Preprocessor:
    """Masks log messages; build once, call per message.

    Two ways to mask: :meth:`mask` rewrites a whole text (all maskers, including multi-word timestamps);
    :meth:`mask_tokens` masks each whitespace-separated token on its own, through a bounded cache, which is what
    the template miner uses on its hot path (tokens repeat a lot, so most are one dict lookup).
    """

    def __init__(self, config: MaskingConfig | None = None, *, token_cache_size: int = 100_000,
                 line_cache_size: int = 20_000) -> None:
        self.config = config or MaskingConfig()
        self._substitutions = self._compile(self.config)
        self._combined = self._compile_combined(self.config)
        # Per-token masking finds the spans of the built-in maskers (one guarded alternation, see _BUILTIN_GUARD)
        # and fills them. Only for built-in maskers with one shared placeholder; otherwise every token goes through
        # mask().
        self._gated = not self.config.extra and not self.config.named_placeholders
        names = self.config.enabled_builtins()
        self._builtins = re.compile(builtin_alternation(names)).finditer if names else None
        self._placeholder = self.config.placeholder
        self._digits_are_variables = self.config.numbers and not self.config.extra
        self._token_cache: BoundedDict[str, str] = BoundedDict(token_cache_size)
        # Masking does not depend on which digit a token holds (see ``_SKELETON``), so tokens that differ only in
        # their digits (blk_-1608..., blk_-7724...) share one cache entry keyed by their skeleton. Only when no
        # user regex could tell digits apart, and the placeholder holds no digit (used to spot kept digits).
        self._skeletons = self._gated and _HAS_DIGIT(self._placeholder) is None
        self._skeleton_cache: BoundedDict[bytes, str | _Spans] = BoundedDict(token_cache_size)
        # Whether the shortcut for hex values (see _HEX_VALUE) gives what the maskers give: masking by skeleton, and
        # the "hex" masker on (the maskers before it never match such a value, whichever of them are on).
        self._hex_ids = self._skeletons and "hex" in names
        # Hex values, written alike in skeletons (see _hex_values); UUIDs only when the "uuid" masker takes them. The
        # 0x values only in skeletons with a mark of "0x": without that alternative the pattern starts with a literal.
        runs = b"aaaaaaaa(?:" + (b"(?P<uuid>-aaaa-aaaa-aaaa-aaaaaaaaaaaa)|" if "uuid" in names else b"") + b"a*)"
        self._find_hex_values = re.compile(runs + b"(?![A-Za-z])").finditer
        self._find_marked_hex_values = re.compile(b"(?:(?P<mark>\x02[xX]a+)|" + runs + b")(?![A-Za-z])").finditer
        # A skeleton's shape (every hex digit as "a") -> the last skeleton of that shape whose hex values were found,
        # as what hex_alike needs to tell whether another skeleton of that shape has the same values: see there.
        self._hex_shapes: BoundedDict[bytes, _HexValues] = BoundedDict(line_cache_size)
        # Skeleton -> its hex-alike form, for skeletons that repeat with the same ids. Small: lines with new ids are
        # new skeletons every time, and would only churn a large one.
        self._hex_alike_skeletons: BoundedDict[bytes, bytes] = BoundedDict(min(line_cache_size, 4096))
        # Whole texts by skeleton -> masked tokens: most lines of a log repeat an earlier one up to its digits. A
        # line with positions to mask on their own (see mask_with_skeleton) maps to an _OwnLine; the others to their
        # masked tokens alone (a (tokens, positions) pair per line would be one more object for the collector).
        self._line_cache: BoundedDict[bytes, tuple[str | _Spans, ...]] = BoundedDict(line_cache_size)

    @staticmethod
    def _compile(config: MaskingConfig) -> list[tuple[re.Pattern[str], str]]:
        """One (pattern, replacement) per enabled masker, user regexes first."""

        def replacement(name: str) -> str:
            if config.named_placeholders:
                placeholder = _NAMED_PLACEHOLDERS.get(name, f"<{name.upper()}>")
            else:
                placeholder = config.placeholder
            return placeholder.replace("\\", "\\\\")

        compiled = [(re.compile(user.pattern), replacement(user.name)) for user in config.extra]
        for name in config.enabled_builtins():
            compiled.append((re.compile(BUILTIN_PATTERNS[name]), replacement(name)))
        return compiled

    @staticmethod
    def _compile_combined(config: MaskingConfig) -> re.Pattern[str] | None:
        """All maskers as one alternation (earlier ones win at the same position): one pass instead of many."""
        if config.named_placeholders:
            return None
        patterns = [f"(?:{user.pattern})" for user in config.extra]
        if config.enabled_builtins():
            patterns.append(builtin_alternation(config.enabled_builtins()))
        if not patterns:
            return None
        return re.compile("|".join(patterns))

    def mask(self, text: str) -> str:
        """``text`` with every variable-looking span replaced by the placeholder."""
        if self._combined is not None:
            return self._combined.sub(self._placeholder_repl, text)
        for pattern, replacement in self._substitutions:
            text = pattern.sub(replacement, text)
        return text

    @cached_property
    def _placeholder_repl(self) -> str:
        return self.config.placeholder.replace("\\", "\\\\")

    def mask_tokens(self, text: str) -> tuple[list[str], tuple[str, ...]]:
        """(whitespace tokens of ``text``, the same tokens masked one by one). Both have the same length."""
        tokens, masked, _ = self.mask_line(text)
        return tokens, masked

    def mask_line(self, text: str) -> tuple[list[str], tuple[str, ...], bytes | None]:
        """:meth:`mask_tokens` plus the skeleton of ``text`` (None when it has none: non-ASCII text, user regexes).

        Two texts with the same skeleton have the same length, whitespace and non-digit characters, and digits at
        the same places; their tokens are masked alike except at the positions whose masked form keeps digits. (A
        skeleton returned here may also have the hex values that maskers take whole written alike: see
        :meth:`hex_alike`.)
        """
        skeleton = self.skeleton(text)
        if skeleton is not None and skeleton not in self._line_cache:
            skeleton = self.hex_alike(skeleton)
        tokens, masked, _ = self.mask_with_skeleton(text, skeleton)
        return tokens, masked, skeleton

    def skeleton(self, text: str) -> bytes | None:
        """The skeleton of ``text`` (see :meth:`mask_line`), or None when masking does not go by skeletons."""
        if not (self._skeletons and text.isascii()) or _HEX_MARK_STR in text:
            return None
        # One C pass gives the skeleton of the text: a line seen before up to its digits is one lookup.
        line = text.encode()
        if ("x" in text or "X" in text) and ("0x" in text or "0X" in text):  # 1-char tests are fast
            # The 0 of a hex prefix is kept apart, as a mark that the translation leaves alone.
            line = line.replace(b"0x", _MARKED_0x).replace(b"0X", _MARKED_0X)
        return line.translate(_SKELETON)

    def hex_alike(self, skeleton: bytes) -> bytes:
        """``skeleton`` with its hex values written alike (see _hex_values): the key that texts differing only in
        the letters of such values share, and that masks like each of them. Callers try the plain skeleton first
        (most lines have no such value, and a learnt key is its own hex-alike form), this on a miss."""
        if not self._hex_ids:
            return skeleton
        alike = self._hex_alike_skeletons.get(skeleton)  # (a skeleton seen before: one look-up)
        if alike is not None:
            return alike
        # Lines of one event differ in their ids: a skeleton of the same shape as a known one, equal to it outside
        # its hex values, has hex digits where they are, which the search tells apart only by whether a plain run
        # holds a letter, and a watched value starts with digits (see _watch); when neither differs, the values, and
        # the hex-alike form, are the same.
        shape = skeleton.translate(_AS_LETTERS)
        known = self._hex_shapes.get(shape)
        if known is not None:
            if known.fit(skeleton):
                return self._hex_alike_skeletons.put(skeleton, known.alike)
        elif not _may_hold_hex_values(skeleton, shape):
            return skeleton
        return self._learn_hex_values(skeleton, shape)

    def _learn_hex_values(self, skeleton: bytes, shape: bytes) -> bytes:
        """The hex-alike form of ``skeleton``, found by the regex, remembered for its shape (see hex_alike)."""
        values = self._hex_values(skeleton, shape)
        alike = bytearray(skeleton)
        for start, end, _, _ in values:
            alike[start:end] = shape[start:end]  # (the shape: each hex digit as "a")
        if alike == skeleton:
            return skeleton
        known = _HexValues(skeleton, tuple(values), bytes(alike))
        return self._hex_alike_skeletons.put(skeleton, self._hex_shapes.put(shape, known).alike)

    def _hex_values(self, skeleton: bytes, shape: bytes) -> list[tuple[int, int, bool, int]]:
        """(start, end, whether a plain run, how its first digits are watched: see _watch) of each hex value of
        ``skeleton``: a UUID, a 0x value, or a plain run of 8+ hex digits holding a letter, each standing apart from
        letters and digits, less those whose first digits a masker before them looks at.

        Looked for in the skeleton's shape, where every hex digit is "a": the values start with a literal run of
        eight (or the mark of "0x"), which the regex engine finds by a fast scan instead of trying a pattern of hex
        classes at every byte (2-3x less time on lines of new ids). The shape keeps what tells a value apart (a
        letter or digit of the skeleton is a letter of the shape; dashes and the mark stay), except whether a plain
        run holds a hex letter, which the skeleton tells.
        """
        find = self._find_marked_hex_values if _HEX_MARK_BYTE in skeleton else self._find_hex_values
        values = []
        for found in find(shape):
            start, end = found.span()
            if start and shape[start - 1:start].isalpha():
                continue  # inside a word or an id; no value can start before this match's end either
            plain_run = found.lastindex is None  # neither a UUID nor a 0x value
            if plain_run and skeleton[start:end].isdigit():
                continue  # digits only: a number, not a hex value
            watch = _watch(skeleton, start, plain_run)
            if watch and _digits_watched(skeleton, start, watch):
                continue  # written alike, it would change what a masker before it matches
            values.append((start, end, plain_run, watch))
        return values

    def mask_with_skeleton(
        self, text: str, skeleton: bytes | None
    ) -> tuple[list[str], tuple[str, ...], tuple[int, ...] | None]:
        """(tokens, masked tokens, *own* positions) of ``text``, whose :meth:`skeleton` is ``skeleton``.

        Every text with this skeleton is masked the same except at its own positions (the tokens that keep digits:
        ``ssh2``), where the masked token depends on the token itself. None when there is no skeleton.
        """
        tokens = text.split()
        # (the caches' methods are called on the cache, not bound to a local first: compiled, a bound method is an
        # object built per call, ~3k instructions, and each call through it parses its arguments)
        cache = self._token_cache
        if skeleton is not None:
            shared: Any = self._line_cache.get(skeleton)  # masked tokens, or an _OwnLine of them and own positions
            own: tuple[int, ...]
            if shared is None:
                shared, own = self._learn_line(skeleton)
            elif type(shared) is _OwnLine:
                shared, own = shared
            else:
                own = ()
            if not own:
                return tokens, shared, own
            masked: list[Any] = list(shared)
            for i in own:
                token = tokens[i]
                masked[i] = cache.get(token) or self._mask_own(token, shared[i])
            return tokens, tuple(masked), own
        return tokens, tuple([cache.get(token) or self._mask_token(token) for token in tokens]), None

    def _learn_line(self, line: bytes) -> tuple[tuple[str | _Spans, ...], tuple[int, ...]]:
        """(masked skeleton tokens, positions of the tokens that must be masked on their own) of a text skeleton.

        A token whose masked skeleton keeps a digit (ssh2, jk2_init(), v6.<*>) keeps digits of its own, which its
        skeleton does not tell: its position is listed, and in place of its masked form stand the spans to mask,
        which are the same in every token with that skeleton.
        """
        cache = self._skeleton_cache
        shared = tuple([cache.get(k) or self._mask_skeleton(k) for k in line.split()])
        own = tuple([i for i, masked in enumerate(shared) if type(masked) is _Spans])
        self._line_cache.put(line, _OwnLine((shared, own)) if own else shared)
        return shared, own

    def _mask_skeleton(self, skeleton: bytes) -> str | _Spans:
        """The masked form shared by every token with this skeleton, or, if it keeps digits (see _SKELETON), the
        spans that are masked in each of them."""
        text = skeleton.decode()
        if skeleton.isalpha() and _plain_word(text):
            masked: str | _Spans = text  # a plain word (what _spans finds nothing in): the commonest miss
        elif (equals := skeleton.find(b"=")) > 0 and skeleton[:equals].isalpha() and _plain_word(text[:equals]):
            masked = self._after_key(text[:equals + 1], skeleton[equals + 1:])
        elif self._hex_ids and (found := _HEX_VALUE(text)) is not None:
            masked = self._placeholder + found.group(1)  # a hex value, the commonest new skeleton of a number
        elif skeleton.isalnum() and not skeleton.isalpha() and not skeleton.isdigit():
            # Letters and digits, both (an id, a size and its unit: the commonest new skeleton of lines with new
            # ids). Every built-in masker needs a separator inside a match (: - . / space) or takes the token
            # whole (a number, a hex value: not this one, see above; a month name: no digit): none matches here.
            masked = _NO_SPANS
        else:
            masked = self._mask_text(text)
        return self._skeleton_cache.put(skeleton, masked)

    def _after_key(self, key: str, value: bytes) -> str | _Spans:
        """:meth:`_mask_skeleton` of ``key`` + ``value``, a key (a plain word and "=") and its value: no masker
        matches in such a key; none crosses the "=" (the two that take a "=", a URL and a Windows path, start after
        a "://" or a letter and ":", which such a key has not); and what one looks back at before a value sees the
        "=" as it sees the start of a token. So the value is masked as a token of its own, from the cache: keys
        share their values' entries.
        """
        masked = self._skeleton_cache.get(value) or self._mask_skeleton(value) if value else ""
        if isinstance(masked, _Spans):
            return _Spans(tuple([(start + len(key), end + len(key)) for start, end in masked]))
        return key + masked

    def _mask_text(self, text: str) -> str | _Spans:
        """:meth:`_mask_skeleton` of the decoded skeleton ``text``."""
        if _HEX_MARK_STR in text:
            text = text.replace(_HEX_MARK_STR, "0")
        spans = self._spans(text)
        masked = self._fill(text, spans) if spans else text
        return _Spans(spans) if _HAS_DIGIT(masked) is not None else masked

    def _mask_own(self, token: str, spans: _Spans) -> str:
        if not len(spans):
            return token  # (not worth a cache slot: such tokens are mostly new ids)
        return self._remember(token, self._fill(token, spans))

    def _mask_token(self, token: str) -> str:
        if self._digits_are_variables and token.isdigit() and token.isascii():  # (str.isdigit also takes "²")
            return self._placeholder  # the commonest variable; not worth a cache slot
        return self._remember(token, self._mask_one(token))

    def _remember(self, token: str, masked: str) -> str:
        return self._token_cache.put(token, masked)

    def _mask_one(self, token: str) -> str:
        if self._gated:
            return self._fill(token, self._spans(token))
        return self.mask(token)

    def _spans(self, token: str) -> list[tuple[int, int]]:
        """(start, end) of the spans of ``token`` that the built-in maskers replace (only with ``_gated``)."""
        if token.isalpha():
            # A word: only a hex id (8+ letters a-f) or a month / weekday name can be masked in it.
            if _plain_word(token):
                return []
        elif self._digits_are_variables and token.isascii() and token.isdigit():
            return [(0, len(token))]  # a number, the commonest variable
        elif _HAS_DIGIT(token) is None and _quiet(token):
            return []
        spans = self._builtins
        return [] if spans is None else [found.span() for found in spans(token)]

    def _fill(self, token: str, spans: Sequence[tuple[int, int]]) -> str:
        """``token`` with each span replaced by the placeholder (what ``re.sub`` gives for the same matches)."""
        if not spans:
            return token
        parts = []
        end = 0
        for start, stop in spans:
            parts.append(token[end:start])
            parts.append(self._placeholder)
            end = stop
        parts.append(token[end:])
        return "".join(parts)
