"""``ohlora catalog init | upgrade | status | check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.cli._common import (
    DEFAULT_CATALOG,
    CatalogOpt,
    QuietOpt,
    example,
    open_catalog,
    say,
    say_merge,
)

app = typer.Typer(help="Create, upgrade, inspect and verify the catalog.", no_args_is_help=True,
                  epilog=example("ohlora catalog status", "ohlora catalog upgrade --catalog old.db"))


@app.command(epilog=example("ohlora catalog init --catalog faces.db"))
def init(catalog: CatalogOpt = DEFAULT_CATALOG, quiet: QuietOpt = False) -> None:
    """Create a new catalog at the newest schema (no-op if it is already there)."""
    from ohlora_cli.catalog.db import schema_revision

    cat = open_catalog(catalog, quiet=quiet)
    say(f"catalog {catalog} at schema revision {schema_revision(cat.engine)}")


@app.command(epilog=example("ohlora catalog upgrade --catalog old.db"))
def upgrade(catalog: CatalogOpt = DEFAULT_CATALOG, quiet: QuietOpt = False) -> None:
    """Apply the migrations an older catalog lacks."""
    from ohlora_cli.catalog.db import upgrade_catalog

    before, after = upgrade_catalog(catalog)
    if before == after:
        say(f"catalog {catalog} is already at schema revision {after}")
    else:
        say(f"upgraded catalog {catalog} from schema revision {before or 'empty'} to {after}")


@app.command(epilog=example("ohlora catalog status"))
def status(catalog: CatalogOpt = DEFAULT_CATALOG, quiet: QuietOpt = False) -> None:
    """Row counts per table, images per generator, runs per stage and status."""
    from sqlalchemy import func, select

    from ohlora_cli.catalog.models import Generator, Image, Run
    from ohlora_cli.catalog.queries import run_is_gone, table_counts

    cat = open_catalog(catalog, readonly=True)
    say(f"catalog {catalog}")
    for name, count in table_counts(cat).items():
        say(f"  {name:<17} {count:>9}")
    with cat.read() as s:
        per_gen = s.execute(select(Generator.name, Image.label_mode, func.count(Image.id))
                            .join(Image, Image.generator_id == Generator.id)
                            .group_by(Generator.name, Image.label_mode)).all()
        runs: dict[tuple[str, str], int] = {}
        for run in s.scalars(select(Run).order_by(Run.id)):  # a running row whose process is gone: interrupted
            state = "interrupted" if run.status == "running" and run_is_gone(run) else run.status
            runs[run.stage, state] = runs.get((run.stage, state), 0) + 1
    for gen, mode, count in per_gen:
        say(f"  images of {gen} (labels {mode}): {count}")
    for (stage, state), count in sorted(runs.items()):
        say(f"  runs {stage}/{state}: {count}")


@app.command(epilog=example("ohlora catalog merge ohlora.shard-0-of-2.db ohlora.shard-1-of-2.db"))
def merge(
    shards: Annotated[list[Path], typer.Argument(help="Shard catalogs written by `--shard K/N` (or torchrun) runs.")],
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Bring shard catalogs into the main one; rows already there are kept, so merging again adds nothing."""
    from ohlora_cli.sharded import merge_into

    say_merge(merge_into(catalog, shards), catalog)


@app.command(epilog=example("ohlora catalog check || echo damaged"))
def check(catalog: CatalogOpt = DEFAULT_CATALOG, quiet: QuietOpt = False) -> None:
    """Verify integrity, foreign keys and vector lengths; exit 1 on any problem."""
    from ohlora_cli.catalog.check import check_catalog, run_warnings

    cat = open_catalog(catalog, readonly=True)
    problems = check_catalog(cat)
    for line in run_warnings(cat) + problems:
        say(line)
    if problems:
        typer.echo(f"Error: catalog {catalog} has {len(problems)} problem(s). See the lines above", err=True)
        raise typer.Exit(1)
    say(f"catalog {catalog}: ok")
