"""What the command modules share: the ``--config`` option, settings and a checked client, and failing."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Optional

import typer

if TYPE_CHECKING:
    from opensearchpy import OpenSearch

    from enricher.config import Settings

ConfigOption = typer.Option(None, "--config", "-c", help="YAML config file (environment ENRICHER_* overrides it).",
                            exists=False, dir_okay=False)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: <message>`` on stderr; the exit to raise (``raise fail(...)``)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def output_to(path: Optional[Path]) -> Iterator[IO[str]]:
    """The file at ``path``, opened for writing, or standard output when there is none."""
    if path is None:
        yield sys.stdout
    else:
        with path.open("w", encoding="utf-8") as handle:
            yield handle


def set_torch_threads(threads: Optional[int]) -> None:
    """Torch's CPU threads (None or 0: torch's default)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def settings_or_exit(config: Optional[Path]) -> Settings:
    """The validated settings; exit 2 with one line per problem."""
    from enricher.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def client_or_exit(settings: Settings, wait_until: threading.Event | None = None) -> OpenSearch:
    """A checked client; exit 3 with one line if OpenSearch is unreachable or refuses the credentials.

    With ``wait_until`` (the service), an unreachable cluster is waited for instead, until it answers
    or the event is set (then exit 0).
    """
    from enricher.cluster.client import (ClusterAuthError, ClusterUnreachable, check_cluster, make_client,
                                         retry_policy, wait_for_cluster)
    from enricher.config import ConfigError

    try:
        first_contact = make_client(settings.opensearch)  # one try per attempt: the wait below paces them
        if wait_until is None:
            check_cluster(first_contact, settings.opensearch)
        elif wait_for_cluster(first_contact, settings.opensearch, wait_until) is None:
            raise typer.Exit(0)  # stopped by a signal while waiting
        return make_client(settings.opensearch, retry_policy(settings))
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except ClusterAuthError as exc:
        raise fail(str(exc), 3) from None
    except ClusterUnreachable as exc:
        typer.echo(f"{exc}\nIs it running? (scripts/opensearch.sh start)", err=True)
        raise typer.Exit(3) from None
