"""Tuple subclasses that tag cache values (kept in a module of their own: compiled modules cannot subclass tuple)."""


class _OwnLine(tuple):  # type: ignore[type-arg]
    """Line cache value of a text with positions to mask on their own: (masked skeleton tokens, those positions)."""

    __slots__ = ()


class _Spans(tuple):  # type: ignore[type-arg]
    """Skeleton cache value of tokens masked on their own: the (start, end) spans to mask. Always truthy."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return True


class _Covering(tuple):  # type: ignore[type-arg]
    """A fit of a template that covers the message as it is."""

    __slots__ = ()
