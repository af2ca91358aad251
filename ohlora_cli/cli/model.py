"""``ohlora model register | list``."""

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
from ohlora_cli.errors import UsageError

REGISTER_EXAMPLE = example("ohlora model register stylegan_gen_vector_find_v8.pth --name v8",
                           "ohlora model register cnn_ohlora_v3_gender_model_{0,1,2,3,4}.pt --kind cnn-gender "
                           "--name original")
app = typer.Typer(help="Register generator checkpoints and scoring CNNs; list the known ones.", no_args_is_help=True,
                  epilog=REGISTER_EXAMPLE)


@app.command(epilog=REGISTER_EXAMPLE)
def register(
    paths: Annotated[list[Path], typer.Argument(help="A generator file (GenForce, Oh-LoRA or ohlora), or CNN "
                                                     "files: one ohlora CNN file or the original's fold files.")],
    name: Annotated[str | None, typer.Option("--name", help="Name to refer to it by [default: file stem].")] = None,
    kind: Annotated[str, typer.Option("--kind", help="generator | cnn-gender | cnn-quality | cnn-age | cnn-glass "
                                                     "| cnn-property.")] = "generator",
    replace: Annotated[bool, typer.Option("--replace", help="CNNs: replace the set's model of this kind.")] = False,
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Store a generator or a scoring CNN in the catalog with its sha256 (files are read safely, never executed).

    The original's CNN files (bare state dicts, 256 px) are converted once into an ohlora CNN file in
    ``cnns/`` beside the catalog.
    """
    from ohlora_cli.catalog.registry import CNN_KINDS, register_generator
    from ohlora_cli.files import input_file
    from ohlora_cli.limits import NAME_PATTERN, NAME_RULE, check_name
    from ohlora_cli.models.checkpoints import describe, load_checkpoint

    if name is not None:
        check_name(name, "--name", "v8")
    elif not NAME_PATTERN.fullmatch(paths[0].stem):
        raise UsageError(f"the file name {paths[0].name!r} gives no usable name", f"Pass --name with {NAME_RULE}")
    if kind != "generator":
        if kind not in CNN_KINDS:
            raise UsageError(f"unknown --kind {kind!r}", "Use generator or one of: " + ", ".join(CNN_KINDS))
        from ohlora_cli.stages.label import register_cnn_files

        cat = open_catalog(catalog, quiet=quiet)
        row = register_cnn_files(cat, paths, name or paths[0].stem, kind, Path(catalog).resolve().parent / "cnns",
                                 replace=replace)
        say(f"registered {row.kind} of CNN set {row.name} ({row.folds} model(s), {row.resolution}px) "
            f"sha256 {row.sha256[:12]}")
        return
    if len(paths) != 1:
        raise UsageError(f"a generator is one file, got {len(paths)}", "Pass one checkpoint path")
    path = input_file(paths[0], f"checkpoint {paths[0]}", "Check the path of the file to register")
    ckpt = load_checkpoint(path)  # validate the file (load it, build its network) before touching the catalog
    ckpt.build_generator()
    cat = open_catalog(catalog, quiet=quiet)
    row = register_generator(cat, path, name or path.stem, checked=ckpt)
    say(f"registered {row.name} ({row.kind}, {describe(ckpt.g_config)}) sha256 {row.sha256[:12]}")


@app.command("list", epilog=example("ohlora model list"))
def list_(catalog: CatalogOpt = DEFAULT_CATALOG, quiet: QuietOpt = False) -> None:
    """Generators in the catalog and the ones embedded in ohlora."""
    from sqlalchemy import select

    from ohlora_cli.catalog.models import Generator
    from ohlora_cli.catalog.registry import default_generator_name, embedded_generators

    cat = open_catalog(catalog, quiet=quiet, readonly=True)
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
    from ohlora_cli.catalog.models import CnnModel
    from ohlora_cli.catalog.registry import EMBEDDED_CNN_SET, embedded_cnns

    with cat.read() as s:
        cnns = s.scalars(select(CnnModel).order_by(CnnModel.name, CnnModel.kind)).all()
    seen = {(r.name, r.kind) for r in cnns}
    for r in cnns:
        say(f"{r.name + '/' + r.kind:<24} cnn       {r.resolution}px width {r.width:g}, {r.folds} model(s)  {r.path}")
    for kind, asset in embedded_cnns().items():
        if (EMBEDDED_CNN_SET, kind) not in seen:
            say(f"{EMBEDDED_CNN_SET + '/' + kind:<24} embedded  {asset.description}")
