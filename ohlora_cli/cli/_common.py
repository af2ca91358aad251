"""Options every command shares, and the helpers commands use to talk to the user."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.shards import shard_catalogs

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

DEFAULT_CATALOG = Path("ohlora.db")


def open_catalog(path: Path, *, create: bool = True, quiet: bool = False):
    """Open (or create) the catalog for this command; the command's context closes it when it ends."""
    from ohlora_cli.catalog.db import open_catalog as _open

    existed = Path(path).exists()
    catalog = _open(path, create=create)
    get_current_context().call_on_close(catalog.close)
    if not existed:
        say_err(f"created catalog {path}", quiet)
    return catalog


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
