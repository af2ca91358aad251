"""``ohlora identity import | list``: named latent codes (e.g. the original's 19 selected faces)."""

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
)

app = typer.Typer(help="Named identities (z ‖ label codes) that synth can use.", no_args_is_help=True,
                  epilog=example("ohlora identity import ohlora_z_vectors.csv --groups ohlora_w_group_names.csv"))


@app.command("import", epilog=example("ohlora identity import ohlora_z_vectors.csv "
                                      "--groups ohlora_w_group_names.csv --prefix seed-v8"))
def import_(
    z_csv: Annotated[Path, typer.Argument(help="CSV, one z ‖ label code per row (header optional).")],
    groups: Annotated[Path | None, typer.Option("--groups", help="CSV with case, group_name per row.")] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Names become PREFIX-CASE.")] = "seed-v8",
    z_dim: Annotated[int, typer.Option("--z-dim", help="Width of z; the rest of a row is the label.")] = 512,
    label_size: Annotated[int, typer.Option("--label-size", help="Label width.")] = 7,
    replace: Annotated[bool, typer.Option("--replace", help="Replace identities with the same names.")] = False,
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Import latent codes (the original's ohlora_z_vectors.csv: 519 = z512 ‖ label7) as identities."""
    from ohlora_cli.limits import check_int, check_name
    from ohlora_cli.stages.artifacts import import_identities

    check_name(prefix, "--prefix", "seed-v8")
    check_int(z_dim, "--z-dim", lo=1, hi=4096, example="512")
    check_int(label_size, "--label-size", lo=0, hi=4096, example="7")
    names, unchanged = import_identities(open_catalog(catalog, quiet=quiet), z_csv, groups_csv=groups, prefix=prefix,
                              z_dim=z_dim, label_size=label_size, replace=replace)
    if unchanged:
        say(f"the catalog already holds these {len(names)} identities ({names[0]} .. {names[-1]}): nothing to do")
    else:
        say(f"imported {len(names)} identities: {names[0]} .. {names[-1]}")


@app.command("list", epilog=example("ohlora identity list"))
def list_(catalog: CatalogOpt = DEFAULT_CATALOG, quiet: QuietOpt = False) -> None:
    """Identities with their size and group."""
    from sqlalchemy import select

    from ohlora_cli.catalog.models import Identity

    with open_catalog(catalog, quiet=quiet, readonly=True).read() as s:
        for ident in s.scalars(select(Identity).order_by(Identity.id)):
            say(f"{ident.name:<20} z{ident.z_dim}+{ident.label_size}  group {ident.group_name or '-'}")
