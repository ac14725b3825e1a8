"""The one retry policy, and the transport that applies it to every whole request."""

from __future__ import annotations

import pytest
from opensearchpy import Transport
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import NotFoundError, TransportError

from enricher.config import OpenSearchConfig
from enricher.cluster.client import make_client
from enricher.retry import RetryPolicy


def test_delays_grow_to_the_cap_and_there_are_max_retries_of_them():
    delays = list(RetryPolicy(5, 1.0, 4.0, jitter=False).delays())
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    jittered = list(RetryPolicy(5, 1.0, 4.0).delays())
    assert all(d / 2 <= j <= d for d, j in zip(delays, jittered))


def test_transient_failures_are_retried_and_others_raised_at_once():
    answers = [TransportError(429, "busy"), OSConnectionError("N/A", "reset", None), "ok"]
    calls, waits = [], []

    def request():
        calls.append(1)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert RetryPolicy(3, 0.1, 1.0).call(request, what="test", sleep=waits.append) == "ok"
    assert len(calls) == 3 and len(waits) == 2
    with pytest.raises(NotFoundError):
        RetryPolicy(3).call(lambda: (_ for _ in ()).throw(NotFoundError(404, "x", {})), what="t", sleep=waits.append)
    assert len(waits) == 2, "a 404 is an answer, not pushback"


def test_the_client_retries_every_whole_request_with_the_policy(monkeypatch):
    answers = [TransportError(429, "es_rejected_execution_exception"), TransportError(503, "unavailable"),
               {"acknowledged": True}]
    sent = []

    def base(self, method, url, *args, **kwargs):
        sent.append((method, url))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(Transport, "perform_request", base)
    client = make_client(OpenSearchConfig(hosts=["http://127.0.0.1:9"]), RetryPolicy(3, 0.001, 0.001))
    assert client.indices.refresh(index="logs") == {"acknowledged": True}
    assert sent == [("POST", "/logs/_refresh")] * 3
    plain = make_client(OpenSearchConfig(hosts=["http://127.0.0.1:9"]))
    answers[:] = [TransportError(429, "busy")]
    with pytest.raises(TransportError):
        plain.indices.refresh(index="logs")  # no policy: one try (first contact is paced by its own wait)
