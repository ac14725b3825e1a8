"""Tuple subclasses that tag cache values of the masker and the miner (a module of their own: a module compiled with
mypyc cannot subclass tuple, see enricher/native.py)."""


class OwnLine(tuple):  # type: ignore[type-arg]
    """Line cache value of a text with positions to mask on their own: (masked skeleton tokens, those positions)."""

    __slots__ = ()


class Spans(tuple):  # type: ignore[type-arg]
    """Skeleton cache value of tokens masked on their own: the (start, end) spans to mask. Always truthy."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return True


class Covering(tuple):  # type: ignore[type-arg]
    """A fit (see TemplateMiner._fit) of a template that covers the message as it is: every token equal, or matched
    by the template's wildcard token there. Compares as the plain (similarity, -wildcards) tuple."""

    __slots__ = ()
