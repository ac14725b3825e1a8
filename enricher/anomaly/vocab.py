"""Template-id vocabulary shared by the anomaly models.

Event keys (template ids) are strings; the vocabulary maps them to contiguous integers after four
reserved ids. ``UNK`` stands for any template never seen in training (always an anomaly), ``BOS`` and
``EOS`` mark where a session starts and ends, so "the session stopped here" is itself a prediction the
sequence models can get wrong (HDFS blocks that are cut short are a common anomaly).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>")


class Vocab:
    def __init__(self, keys: Sequence[str]) -> None:
        self.keys: list[str] = list(keys)
        self._index = {key: i + len(SPECIAL_TOKENS) for i, key in enumerate(self.keys)}

    @classmethod
    def build(cls, sessions: Iterable[Sequence[str]]) -> "Vocab":
        # First-seen order before sorting: keys that sort alike ("1", "01") keep a deterministic order.
        return cls(sorted(dict.fromkeys(key for session in sessions for key in session), key=_natural_key))

    def __len__(self) -> int:
        return len(self.keys) + len(SPECIAL_TOKENS)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def id(self, key: str) -> int:
        return self._index.get(key, UNK)

    def ids(self, session: Sequence[str]) -> list[int]:
        return [self._index.get(key, UNK) for key in session]

    def tokens(self, session: Sequence[str], with_end: bool) -> list[int]:
        """``<bos>``, the session's ids and (``with_end``) ``<eos>``."""
        return [BOS, *self.ids(session), *([EOS] if with_end else [])]

    def key(self, token: int) -> str:
        if token < len(SPECIAL_TOKENS):
            return SPECIAL_TOKENS[token]
        return self.keys[token - len(SPECIAL_TOKENS)]


def _natural_key(key: str) -> tuple[int, int | str]:
    """Sort numeric keys numerically ("2" before "10"), the rest after them as text."""
    return (0, int(key)) if key.isdigit() else (1, key)
