"""What a command that stores its result does with --store, --no-store and --commit: the store checked before any
work, the result appended after the command's own output exists. Here, not in cli_options: the store's module (and
the environment record it reads) is for the commands that store, not for `deployprof --help`."""
from __future__ import annotations

import click

from ..store import StoreOptions, check_before_work, record


def store_from(o: dict):
    options = StoreOptions(where=o.pop("store_where"), enabled=not o.pop("no_store"), commit=o.pop("commit"))
    check_before_work(options)
    return options


def store_result(result, options) -> None:
    """Append to the results store after the command's own output exists; failing to is a warning."""
    record(result, options, say=lambda line: click.echo(line, err=True))
