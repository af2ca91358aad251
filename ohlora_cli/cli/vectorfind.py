"""``ohlora vectorfind``: directions in w space — import, export (finding them: the vectorfind stage)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.cli._common import (
    DEFAULT_CATALOG,
    CatalogOpt,
    DeviceOpt,
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
                                 "ohlora vectorfind import-seed", "ohlora vectorfind calibrate svm-synthetic-base",
                                 "ohlora vectorfind export seed-v8 --out dirs/"))


@app.callback(invoke_without_command=True)
def find(
    ctx: typer.Context,
    model: ModelOpt = None,
    groups: Annotated[int, typer.Option("--groups", help="Number of groups, 2^k for k group-by properties.")] = 16,
    group_by: Annotated[str | None, typer.Option("--group-by", help="Comma list [default: hair_color, hair_length, "
                                                                    "background_mean, hairstyle (first k)].")] = None,
    properties: Annotated[str, typer.Option("--properties", help="Comma list of properties to find.")] = "eyes,mouth,pose",
    ratio: Annotated[float, typer.Option("--ratio", help="Top / bottom fraction per group (the original: 0.2).")] = 0.2,
    method: Annotated[str, typer.Option("--method", help="svm (the original) | global | conditional | regression | "
                                                         "projected (each direction projected off the other "
                                                         "properties' directions).")] = "svm",
    off_target: Annotated[str | None, typer.Option("--off-target", help="projected: comma list of properties kept "
                                                                        "still [default: hair_color, hair_length, "
                                                                        "background_mean, hairstyle].")] = None,
    layers: Annotated[str | None, typer.Option("--layers", help="all (edits move every W+ layer) | auto (per "
                                                                "property, the W+ blocks where it responds and the "
                                                                "others do not, by re-scoring) [default: auto for "
                                                                "projected, all otherwise].")] = None,
    cutoffs: Annotated[str, typer.Option("--cutoffs", help="medians (of the catalog's scores) or a CSV like the "
                                                           "original's property_scores_mean_and_median.csv.")] = "medians",
    name: Annotated[str | None, typer.Option("--name", help="Direction set name [default: METHOD-MODEL].")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the class shuffles and the SVM.")] = 2025,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a set with the same name.")] = False,
    threads: ThreadsOpt = "auto",
    scorer: Annotated[str | None, typer.Option("--scorer", help="Scorer id whose scores to use when several have "
                                                                "them (e.g. property-cnn/synthetic).")] = None,
    calibrate: Annotated[bool, typer.Option("--calibrate/--no-calibrate", help="Measure how many population standard "
                                                                               "deviations one unit of each direction "
                                                                               "moves its property (for synth --units "
                                                                               "sigma).")] = True,
    device: DeviceOpt = "auto",
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
                                 name=name, seed=seed, replace=replace, scorer=scorer, calibrate=calibrate,
                                 device=device, off_target=split(off_target) if off_target is not None else None,
                                 layers=layers)
    with LazyProgress("vectorfind", quiet=quiet, unit="direction") as bar, \
            LazyProgress("calibrate", quiet=quiet, unit="img") as cbar:
        r = stage.run(open_catalog(catalog, quiet=quiet), cfg, on_start=bar.start, advance=bar.advance,
                      calibration_progress=(cbar.start, cbar.advance))
    sizes = sorted(r.groups.values())
    if r.existing:
        say(f"direction set {r.name} already holds these {len(r.groups) * len(cfg.properties)} directions "
            f"({r.method}, the same options and {r.samples} samples); nothing to do"
            if r.calibration is None or not r.calibration.calibrated else
            f"direction set {r.name} already holds these {len(r.groups) * len(cfg.properties)} directions "
            f"({r.method}, the same options and {r.samples} samples)")
        _say_calibration(r.calibration)
        return
    say(f"found {len(r.groups) * len(cfg.properties)} directions ({r.method}) for {r.generator} from {r.samples} "
        f"samples in {len(r.groups)} groups (sizes {sizes[0]}–{sizes[-1]}) in {r.seconds:.1f} s; set {r.name}")
    if any(math.isfinite(v) for v in r.accuracy.values()):
        say("mean validation accuracy: " + ", ".join(f"{p} {a:.3f}" for p, a in r.accuracy.items()))
    _say_calibration(r.calibration)


def _say_calibration(c) -> None:
    """The calibration's line (nothing when none ran or all was there)."""
    if c is None or not c.calibrated:
        return
    groups = f" (mean over {c.groups} groups)" if c.groups > 1 else ""
    say(f"calibrated {c.calibrated} directions on {c.images} images in {c.seconds:.1f} s: one unit moves "
        + ", ".join(f"{p} {v:.2f}σ" for p, v in c.sigma_per_unit.items()) + groups)


@app.command("calibrate", epilog=example("ohlora vectorfind calibrate svm-synthetic-base",
                                         "ohlora vectorfind calibrate seed-v8 --model v8"))
def calibrate_(
    set_name: Annotated[str, typer.Argument(help="Direction set name.")],
    model: ModelOpt = None,
    scorer: Annotated[str | None, typer.Option("--scorer", help="Scorer id to measure with [default: the set's, "
                                                                "else parser-synthetic/fixed].")] = None,
    images: Annotated[int, typer.Option("--images", help="Base images per group.")] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the draw of base images.")] = 2025,
    replace: Annotated[bool, typer.Option("--replace", help="Recalibrate directions that hold a calibration.")] = False,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = "auto",
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Measure, per direction, how many population standard deviations one unit moves its property.

    A few samples of each group are rendered along the direction at the property's calibration scales
    and measured; the slope goes into the direction's metrics (``synth --units sigma`` uses it).  A rerun
    calibrates only what is missing.
    """
    use_threads(threads)
    from ohlora_cli.stages import vectorfind as stage

    cfg = stage.CalibrateConfig(name=set_name, model=model, scorer=scorer, images=images, seed=seed, replace=replace,
                                device=device)
    with LazyProgress("calibrate", quiet=quiet, unit="img") as bar:
        c = stage.calibrate(open_catalog(catalog, quiet=quiet), cfg, on_start=bar.start, advance=bar.advance)
    if not c.calibrated:
        say(f"direction set {c.name}: all {c.kept} directions are calibrated already; nothing to do "
            "(--replace recalibrates)")
        return
    _say_calibration(c)

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
    if r.unchanged:
        say(f"set {r.name} already holds these {r.count} directions: nothing to do")
    else:
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
    if r.unchanged:
        say(f"set {r.name} already holds these {r.count} directions: nothing to do")
    else:
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
    """Direction sets with their method, generator, properties, groups and calibration."""
    from sqlalchemy import case, func, select

    from ohlora_cli.catalog.models import Direction, DirectionSet, Generator

    cat = open_catalog(catalog, quiet=quiet, readonly=True)
    with cat.read() as s:
        rows = s.execute(select(DirectionSet.name, DirectionSet.method, Generator.name,
                                func.count(Direction.id), func.count(func.distinct(Direction.group_name)),
                                func.sum(case((Direction.metrics_json.like('%"sigma_per_unit"%'), 1), else_=0)))
                         .outerjoin(Generator, Generator.id == DirectionSet.generator_id)
                         .outerjoin(Direction, Direction.set_id == DirectionSet.id)
                         .group_by(DirectionSet.id)).all()
    for name, method, gen, count, groups, calibrated in rows:
        calibrated = calibrated or 0
        state = "calibrated" if count and calibrated == count else "not calibrated" if not calibrated else \
            f"{calibrated}/{count} calibrated"
        say(f"{name:<20} {method:<10} generator {gen or 'any'}  {count} directions, {groups} groups, {state}")
