"""Bounded maps: the one place where "remember at most N things" is written.

Two kinds, for two costs:

- :class:`BoundedDict` forgets its *oldest* entry when full (first in, first out). It is a ``dict``, so a
  hot path reads it with ``dict.get`` at C speed; only inserts go through :meth:`BoundedDict.put`.
- :class:`LRUDict` forgets its *least recently used* entry. Every read moves the entry to the end, which
  costs more per read and keeps what is in use (sessions, per-template model answers).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedDict(dict[K, V]):
    """A dict of at most ``max_size`` entries; inserting beyond that drops the oldest (FIFO)."""

    def __init__(self, max_size: int) -> None:
        super().__init__()
        if max_size < 0:
            raise ValueError("max_size must be >= 0")
        self.max_size = max_size

    def put(self, key: K, value: V) -> V:
        """Remember ``value`` under ``key`` (unless the size is 0) and return it."""
        if len(self) >= self.max_size:  # (one test in the common case, not full: caches write on every miss)
            if self.max_size == 0:
                return value
            if key not in self:
                del self[next(iter(self))]
        self[key] = value
        return value


class LRUDict(Generic[K, V]):
    """At most ``max_size`` entries; inserting beyond that drops the least recently used one."""

    def __init__(self, max_size: int) -> None:
        if max_size < 0:
            raise ValueError("max_size must be >= 0")
        self.max_size = max_size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, default: V | None = None) -> V | None:
        if key not in self._entries:
            return default
        self._entries.move_to_end(key)
        return self._entries[key]

    def put(self, key: K, value: V) -> V:
        if self.max_size == 0:
            return value
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)
        return value

    def __getitem__(self, key: K) -> V:
        """Look at an entry without counting it as a use (``get`` counts)."""
        return self._entries[key]

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def items(self):  # noqa: ANN201 -- a view, oldest first
        return self._entries.items()
