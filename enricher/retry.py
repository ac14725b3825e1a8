"""The one retry policy for every request the enricher makes to OpenSearch.

The client itself only retries a request whose connection failed or timed out (opensearch-py's
transport, ``max_connection_retries``); every answer the cluster gives -- a 429 or 5xx for a whole
request, or for one item of a ``_bulk`` -- comes back here, and this policy alone decides how often and
how long to wait. Layering retries (client, ``streaming_bulk``, a loop around it) multiplies them: a
persistent 429 used to be sent ~49 times per document.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import TransportError

log = logging.getLogger(__name__)

# Answers that say "not now": the cluster is overloaded (429) or a node/shard is briefly unavailable.
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})

T = TypeVar("T")


def is_transient(error: BaseException) -> bool:
    """True for a failed request worth sending again: no connection, a timeout (a ConnectionError too), or a
    transient status."""
    return isinstance(error, OSConnectionError) or (
        isinstance(error, TransportError) and error.status_code in TRANSIENT_STATUSES)


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter: attempt n waits up to min(max, initial * 2**(n-1))."""

    max_retries: int = 6
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    jitter: bool = True

    def delays(self) -> Iterator[float]:
        """The waits before each retry, ``max_retries`` of them."""
        for attempt in range(1, self.max_retries + 1):
            ceiling = min(self.max_backoff_seconds, self.initial_backoff_seconds * 2 ** (attempt - 1))
            # Half fixed, half random: workers backing off together do not come back in lockstep.
            yield ceiling / 2 + random.uniform(0, ceiling / 2) if self.jitter else ceiling

    def call(self, request: Callable[[], T], *, what: str, sleep: Callable[[float], None] = time.sleep) -> T:
        """Run ``request``, sending it again after transient failures; the last failure is raised."""
        delays = self.delays()
        while True:
            try:
                return request()
            except Exception as error:
                delay = next(delays, None) if is_transient(error) else None
                if delay is None:
                    raise
                log.warning("%s failed, retrying in %.1f s: %s", what, delay, describe(error),
                            extra={"request": what, "retry_in_seconds": round(delay, 2)})
                sleep(delay)


def describe(error: BaseException) -> str:
    """A short, credential-free description of a client error for logs and reports."""
    if isinstance(error, TransportError) and not isinstance(error, OSConnectionError):
        info = error.args[2] if len(error.args) > 2 and isinstance(error.args[2], dict) else {}
        detail = info.get("error")
        if isinstance(detail, dict):
            detail = f"{detail.get('type', '')}: {detail.get('reason', '')}"
        return f"HTTP {error.status_code} {detail or (error.args[1] if len(error.args) > 1 else '')}"[:300]
    return type(error).__name__
