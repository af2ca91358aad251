"""``ohlora vectorfind``: directions in w space — import, export (finding them: the vectorfind stage)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.cli._common import (
    DEFAULT_CATALOG,
    CatalogOpt,
    ModelOpt,
    QuietOpt,
    ThreadsOpt,
    example,
    open_catalog,
    say,
    use_threads,
)
from ohlora_cli.progress import LazyProgress

app = typer.Typer(epilog=example("ohlora vectorfind --groups 16", "ohlora vectorfind --method conditional",
                                 "ohlora vectorfind import-seed", "ohlora vectorfind export seed-v8 --out dirs/"))


@app.callback(invoke_without_command=True)
def find(
    ctx: typer.Context,
    model: ModelOpt = None,
    groups: Annotated[int, typer.Option("--groups", help="Number of groups, 2^k for k group-by properties.")] = 16,
    group_by: Annotated[str | None, typer.Option("--group-by", help="Comma list [default: hair_color, hair_length, "
                                                                    "background_mean, hairstyle (first k)].")] = None,
    properties: Annotated[str, typer.Option("--properties", help="Comma list of properties to find.")] = "eyes,mouth,pose",
    ratio: Annotated[float, typer.Option("--ratio", help="Top / bottom fraction per group (the original: 0.2).")] = 0.2,
    method: Annotated[str, typer.Option("--method", help="svm (the original) | global | conditional | regression.")] = "svm",
    cutoffs: Annotated[str, typer.Option("--cutoffs", help="medians (of the catalog's scores) or a CSV like the "
                                                           "original's property_scores_mean_and_median.csv.")] = "medians",
    name: Annotated[str | None, typer.Option("--name", help="Direction set name [default: METHOD-MODEL].")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the class shuffles and the SVM.")] = 2025,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a set with the same name.")] = False,
    threads: ThreadsOpt = "auto",
    scorer: Annotated[str | None, typer.Option("--scorer", help="Scorer id whose scores to use when several have "
                                                                "them (e.g. property-cnn/synthetic).")] = None,
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Find directions in w that change eyes, mouth and pose, per group, from the catalog's w and scores.

    Without a subcommand it runs the search; the subcommands import, export and list direction sets.
    A positive direction increases its property.
    """
    if ctx.invoked_subcommand is not None:
        return
    use_threads(threads)
    from ohlora_cli.stages import vectorfind as stage

    split = lambda text: tuple(p.strip() for p in text.split(",") if p.strip())  # noqa: E731
    cfg = stage.VectorfindConfig(model=model, groups=groups, group_by=split(group_by) if group_by else None,
                                 properties=split(properties), ratio=ratio, method=method, cutoffs=cutoffs,
                                 name=name, seed=seed, replace=replace, scorer=scorer)
    with LazyProgress("vectorfind", quiet=quiet, unit="direction") as bar:
        r = stage.run(open_catalog(catalog, quiet=quiet), cfg, on_start=bar.start, advance=bar.advance)
    sizes = sorted(r.groups.values())
    if r.existing:
        say(f"direction set {r.name} already holds these {len(r.groups) * len(cfg.properties)} directions "
            f"({r.method}, the same options and {r.samples} samples); nothing to do")
        return
    say(f"found {len(r.groups) * len(cfg.properties)} directions ({r.method}) for {r.generator} from {r.samples} "
        f"samples in {len(r.groups)} groups (sizes {sizes[0]}–{sizes[-1]}) in {r.seconds:.1f} s; set {r.name}")
    if any(math.isfinite(v) for v in r.accuracy.values()):
        say("mean validation accuracy: " + ", ".join(f"{p} {a:.3f}" for p, a in r.accuracy.items()))

ReplaceOpt = Annotated[bool, typer.Option("--replace", help="Replace a set with the same name.")]


@app.command("import-seed", epilog=example("ohlora vectorfind import-seed artifacts/v8_vectors --name seed-v8"))
def import_seed(
    folder: Annotated[Path | None, typer.Argument(help="Folder with {eyes,mouth,pose}_change_w_vector_{group}.csv "
                                                       "[default: the copy bundled with ohlora].")] = None,
    name: Annotated[str, typer.Option("--name", help="Name of the direction set.")] = "seed-v8",
    replace: ReplaceOpt = False,
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Import the original project's direction CSVs (signs flipped so + increases the property)."""
    from ohlora_cli.limits import check_name
    from ohlora_cli.stages.artifacts import import_seed_directions

    check_name(name, "--name", "seed-v8")
    r = import_seed_directions(open_catalog(catalog, quiet=quiet), folder, name=name, replace=replace)
    say(f"imported {r.count} directions as set {r.name}: properties {', '.join(r.properties)}; "
        f"{len(r.groups)} groups; signs flipped so + increases the property")


@app.command("import-npy", epilog=example("ohlora vectorfind import-npy eyes.npy mouth.npy --name ifg --model v8"))
def import_npy(
    files: Annotated[list[Path], typer.Argument(help="PROPERTY[_GROUP].npy files, shape (1, D).")],
    name: Annotated[str, typer.Option("--name", help="Name of the direction set.")],
    model: ModelOpt = None,
    replace: ReplaceOpt = False,
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Import InterFaceGAN-style .npy directions (normalised to unit length) for a generator."""
    from ohlora_cli.catalog.registry import resolve_generator
    from ohlora_cli.limits import check_name
    from ohlora_cli.stages.artifacts import import_npy_directions, read_npy_directions

    check_name(name, "--name", "ifg")
    found = read_npy_directions(files)  # every file checked before the catalog is touched
    cat = open_catalog(catalog, quiet=quiet)
    gen = resolve_generator(cat, model)
    r = import_npy_directions(cat, files, name=name, generator_id=gen.id, replace=replace, found=found)
    say(f"imported {r.count} directions as set {r.name} for {gen.name}: {', '.join(r.properties)}")


@app.command("export", epilog=example("ohlora vectorfind export seed-v8 --out dirs/ --format csv"))
def export(
    set_name: Annotated[str, typer.Argument(help="Direction set name.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    fmt: Annotated[str, typer.Option("--format", help="npy (InterFaceGAN, + increases) | csv (the original's "
                                                      "layout and sign).")] = "npy",
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Write every direction of a set as .npy (1, D) float32 or the original's CSV layout."""
    from ohlora_cli.stages.artifacts import export_directions

    paths = export_directions(open_catalog(catalog, quiet=quiet, readonly=True), set_name, out, fmt)
    say(f"wrote {len(paths)} {fmt} files to {out}")


@app.command("list", epilog=example("ohlora vectorfind list"))
def list_(catalog: CatalogOpt = DEFAULT_CATALOG, quiet: QuietOpt = False) -> None:
    """Direction sets with their method, generator, properties and groups."""
    from sqlalchemy import func, select

    from ohlora_cli.catalog.models import Direction, DirectionSet, Generator

    cat = open_catalog(catalog, quiet=quiet, readonly=True)
    with cat.read() as s:
        rows = s.execute(select(DirectionSet.name, DirectionSet.method, Generator.name,
                                func.count(Direction.id), func.count(func.distinct(Direction.group_name)))
                         .outerjoin(Generator, Generator.id == DirectionSet.generator_id)
                         .outerjoin(Direction, Direction.set_id == DirectionSet.id)
                         .group_by(DirectionSet.id)).all()
    for name, method, gen, count, groups in rows:
        say(f"{name:<20} {method:<10} generator {gen or 'any'}  {count} directions, {groups} groups")
