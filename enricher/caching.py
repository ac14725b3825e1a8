"""Bounded maps: the one place where "remember at most N things" is written.

- :class:`BoundedDict` forgets its *oldest* entry when full (first in, first out). A hot path reads it with
  ``dict.get`` at C speed; only inserts go through :meth:`BoundedDict.put`.
- :class:`LRUDict` forgets its *least recently used* entry: every ``get`` moves the entry to the end, which
  costs more per read and keeps what is in use (sessions, per-template model answers).
"""

from __future__ import annotations

from typing import TypeVar

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


class LRUDict(BoundedDict[K, V]):
    """A :class:`BoundedDict` in order of use: ``get`` and ``put`` move an entry to the end, so the entry
    dropped when full is the least recently used. ``in`` and ``items()`` (oldest first) do not count as a use."""

    def get(self, key: K, default: V | None = None) -> V | None:
        if key not in self:
            return default
        value = self.pop(key)
        self[key] = value  # re-inserted last: the most recently used
        return value

    def put(self, key: K, value: V) -> V:
        self.pop(key, None)
        return super().put(key, value)
