"""``enricher templates``: mine log templates from files."""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path
from typing import Optional

import typer

from enricher.cli.common import output_to

app = typer.Typer(help="Mine log templates (variables shown as <*>) with stable template ids.", no_args_is_help=True)


@app.command("mine")
def mine(
    input: Path = typer.Option(..., "--input", "-i", help="UTF-8 text file, one log message per line.", exists=True,
                               dir_okay=False, readable=True),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="JSON Lines file to write (default: standard output)."),
    state: Optional[Path] = typer.Option(None, "--state",
                                         help="Miner state JSON: loaded first if it exists, saved at the end."),
    online: bool = typer.Option(False, "--online/--final",
                                help="--final (default) reports each line's template as it is after the whole file "
                                     "was mined; --online reports it as it was when the line arrived."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on standard error."),
    partition: Optional[str] = typer.Option(None, "--partition",
                                            help="Log source the lines come from: mined apart from other sources "
                                                 "kept in the same --state file (ids differ per source)."),
) -> None:
    """Mine templates from the --input file; write one JSON object per input line, in order.

    Each object has template_id, template (variables as <*>), params (the values of the <*> in that line), is_new.
    """
    from tqdm import tqdm

    from enricher.templates import MinerConfig, PartitionedMiner, TemplateMiner

    kind: type[TemplateMiner] | type[PartitionedMiner] = TemplateMiner if partition is None else PartitionedMiner
    miner = kind.load(state) if state is not None and state.exists() else kind(MinerConfig())
    feed = miner.add if partition is None else partial(miner.add, partition=partition)
    with input.open(encoding="utf-8", errors="replace", newline="") as fh:
        lines = [line.rstrip("\r\n") for line in fh]
    matches = [feed(line) for line in tqdm(lines, desc="mining", unit="line", disable=not progress, file=sys.stderr)]
    with output_to(output) as out:
        for line, match in zip(lines, matches):
            if not online:
                template_id = miner.canonical_id(match.template_id)
                template = miner.template_of(template_id)
                if template is not None and template_id != match.template_id:
                    match.template_id = template_id
                    match.template = template
                    match.params = miner.extract_params(template, line)
            record = {"template_id": match.template_id, "template": match.template, "params": match.params,
                      "is_new": match.is_new}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    if state is not None:
        miner.save(state)
    typer.echo(f"{len(lines)} lines, {len(miner)} templates", err=True)
