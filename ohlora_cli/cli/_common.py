"""Options every command shares, and the helpers commands use to talk to the user."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.shards import shard_catalogs
from ohlora_cli.threads import ENVVAR as THREADS_ENVVAR
from ohlora_cli.threads import apply_threads, parse_threads

try:  # typer >= 0.22 vendors click; older releases depend on it
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover
    from click import get_current_context

CatalogOpt = Annotated[Path, typer.Option("--catalog", envvar="OHLORA_CATALOG",
                                          help="Catalog file (SQLite); created if missing.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or logs on stderr.")]
ModelOpt = Annotated[str | None, typer.Option("--model", envvar="OHLORA_MODEL",
                                              help="Generator: catalog name, embedded name or checkpoint path "
                                                   "[default: the embedded generator].")]
DeviceOpt = Annotated[str, typer.Option("--device", envvar="OHLORA_DEVICE",
                                         help="auto | cpu | cuda | cuda:N (under torchrun: the GPU of LOCAL_RANK).")]
DTypeOpt = Annotated[str, typer.Option("--dtype", help="fp32 | bf16 | fp16 (autocast for synthesis; fp16 on CUDA "
                                                       "only).")]
ThreadsOpt = Annotated[str, typer.Option("--threads", envvar=THREADS_ENVVAR,
                                         help="CPU threads, 1..1024, or auto: the cores no other program is running "
                                              "on when the command starts (README, Threads).")]

DEFAULT_CATALOG = Path("ohlora.db")


def open_catalog(path: Path, *, create: bool = True, quiet: bool = False, readonly: bool = False,
                 write_on_demand: bool = False):
    """Open (or create) the catalog for this command; the command's context closes it when it ends.

    Commands that only read pass ``readonly`` (the file is left as it is, byte for byte); commands that
    usually only read pass ``write_on_demand`` (read-only until their first write; created if missing).
    """
    from ohlora_cli.catalog.db import open_catalog as _open

    existed = Path(path).exists()
    if write_on_demand and existed:
        readonly = True
    catalog = _open(path, create=create and not readonly, readonly=readonly, write_on_demand=write_on_demand)
    get_current_context().call_on_close(catalog.close)
    if not catalog.readonly:  # runs a killed process left `running` are closed as `interrupted`
        from ohlora_cli.catalog.queries import close_stale_runs

        close_stale_runs(catalog)
    if not existed:
        say_err(f"created catalog {path}", quiet)
    return catalog


def use_threads(value: str, *, reserve: int = 0, adapt: bool = True) -> int:
    """Check ``--threads`` / ``OHLORA_THREADS`` (a bad value is one line naming what the user set) and compute
    on that many threads from here on; call it first, before anything loads torch."""
    source = get_current_context().get_parameter_source("threads")
    from_env = source is not None and source.name == "ENVIRONMENT"
    if source is not None and source.name == "DEFAULT" and os.environ.get(THREADS_ENVVAR) == "":
        value, from_env = "", True  # click reads an empty variable as unset; OHLORA_BUSY_TIMEOUT='' is an error too
    return apply_threads(parse_threads(value, source=THREADS_ENVVAR if from_env else "--threads"), reserve=reserve,
                         adapt=adapt)


def say(line: str) -> None:
    """A result line on stdout."""
    typer.echo(line)


def say_err(line: str, quiet: bool = False) -> None:
    """A log line on stderr."""
    if not quiet:
        typer.echo(line, err=True)


def say_merge(m, catalog) -> None:
    """The summary of a merge into ``catalog``."""
    say(f"merged {len(m.shards)} shard catalogs into {catalog}: {m.images_new} new images "
        f"({m.images_present} already there), {m.scores_new} new scores ({m.scores_present} already there)"
        + (f"; normalisation fitted for {', '.join(m.references)}" if m.references else ""))


def say_shard(outcome, quiet: bool = False) -> None:
    """What one shard of a ``--shard`` / torchrun run did, and the merge rank 0 made."""
    r, part = outcome.result, outcome.shard
    if r is None:
        say(f"shard {part}: nothing to do")
    elif hasattr(r, "label_mode"):
        say(f"shard {part}: generated {r.new} images with {r.generator} in {r.seconds:.1f} s "
            f"({r.skipped} already there); shard catalog {outcome.catalog}")
    else:
        say(f"shard {part}: scored {r.images} images of {r.generator} in {r.seconds:.1f} s; "
            f"shard catalog {outcome.catalog}")
    if outcome.merged is not None:
        say_merge(outcome.merged, outcome.merged_into)
    elif not part.torchrun:
        main = outcome.catalog.with_name(outcome.catalog.name.replace(f".shard-{part.index}-of-{part.count}", ""))
        shards = " ".join(str(p) for p in shard_catalogs(main, part.count))
        say_err(f"when all {part.count} shards are done: ohlora catalog merge {shards} --catalog {main}", quiet)


def example(*lines: str) -> str:
    """The epilog every command ends its --help with."""
    return "Example: " + "  |  ".join(lines)
