"""``ohlora model register | list``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.cli._common import DEFAULT_CATALOG, CatalogOpt, QuietOpt, example, open_catalog, say

app = typer.Typer(help="Register generator checkpoints and list the known ones.", no_args_is_help=True,
                  epilog=example("ohlora model register stylegan_gen_vector_find_v8.pth --name v8"))


@app.command(epilog=example("ohlora model register stylegan_gen_vector_find_v8.pth --name v8"))
def register(
    path: Annotated[Path, typer.Argument(help="GenForce, Oh-LoRA or ohlora generator file.")],
    name: Annotated[str | None, typer.Option("--name", help="Name to refer to it by [default: file stem].")] = None,
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Store a generator in the catalog with its sha256 and architecture (read safely, never executed)."""
    from ohlora_cli.models.checkpoints import describe, load_checkpoint
    from ohlora_cli.models.registry import register_generator

    cfg = load_checkpoint(path).g_config  # validate the file before touching the catalog
    cat = open_catalog(catalog, quiet=quiet)
    row = register_generator(cat, path, name or path.stem)
    say(f"registered {row.name} ({row.kind}, {describe(cfg)}) sha256 {row.sha256[:12]}")


@app.command("list", epilog=example("ohlora model list"))
def list_(catalog: CatalogOpt = DEFAULT_CATALOG, quiet: QuietOpt = False) -> None:
    """Generators in the catalog and the ones embedded in ohlora."""
    from sqlalchemy import select

    from ohlora_cli.catalog.models import Generator
    from ohlora_cli.models.registry import default_generator_name, embedded_generators

    cat = open_catalog(catalog, quiet=quiet)
    with cat.read() as s:
        rows = s.scalars(select(Generator).order_by(Generator.id)).all()
    names = {r.name for r in rows}
    for r in rows:
        label = f"+{r.label_size}" if r.label_size else ""
        say(f"{r.name:<24} {r.kind:<9} {r.resolution}px z{r.z_dim}{label} w{r.w_dim}  {r.path}")
    default = default_generator_name()
    for name, asset in embedded_generators().items():
        if name not in names:
            say(f"{name:<24} embedded  {asset.description}{' (default)' if name == default else ''}")
