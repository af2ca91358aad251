"""``ohlora label import | export | train``: hand labels and the filter CNN ensembles trained on them."""

from __future__ import annotations

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
    say_err,
    use_threads,
)

app = typer.Typer(help="Hand labels (gender, quality, age, glass as 0/1) and the CNN ensembles trained on them.",
                  no_args_is_help=True,
                  epilog=example("ohlora label export --n 2000 --out to-label", "ohlora label import labels.csv",
                                 "ohlora label train --name mine"))


@app.command("import", epilog=example("ohlora label import to-label/labels.csv"))
def import_(
    path: Annotated[Path, typer.Argument(help="CSV: image (catalog id or PNG path) or seed, then any of "
                                              "gender, quality, age, glass as 0/1 (empty = not labelled).")],
    model: ModelOpt = None,
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Store hand labels (1 = female / good quality / old / glasses); a relabel replaces the old value."""
    from ohlora_cli.catalog.registry import resolve_generator
    from ohlora_cli.stages import label as stage

    cat = open_catalog(catalog, quiet=quiet)
    gen_id = resolve_generator(cat, model).id if model else None
    r = stage.import_labels(cat, path, generator_id=gen_id)
    say(f"imported {r.labels} labels of {r.images} images")
    for prop, (zeros, ones) in r.per_property.items():
        say(f"{prop:<8} {ones:>6} ones {zeros:>6} zeros")


@app.command(epilog=example("ohlora label export --n 2000 --out to-label"))
def export(
    out: Annotated[Path, typer.Option("--out", help="Folder for images/, sheet-NNN.png and labels.csv.")],
    n: Annotated[int, typer.Option("--n", help="How many unlabelled images.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random choice.")] = 0,
    model: ModelOpt = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = "auto",
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Write unlabelled images, contact sheets with their ids, and a CSV template to fill in."""
    use_threads(threads)
    from ohlora_cli.catalog.registry import load_generator, resolve_generator
    from ohlora_cli.models.inference import pick_device
    from ohlora_cli.stages import label as stage

    stage.check_export_options(n=n, seed=seed)
    dev = pick_device(device)
    cat = open_catalog(catalog, quiet=quiet)
    gen = resolve_generator(cat, model)
    k, csv_path = stage.export_for_labelling(cat, gen, load_generator(gen, dev), n=n, out=out, seed=seed,
                                             device=dev)
    say(f"exported {k} images of {gen.name} to {out}; fill in {csv_path} and run `ohlora label import {csv_path}`")


@app.command(epilog=example("ohlora label train --name mine",
                            "ohlora label train --name synth --csv faces/hand_labels.csv --resolution 64"))
def train(
    name: Annotated[str, typer.Option("--name", help="Name of the CNN set (`ohlora score --cnns NAME`).")],
    props: Annotated[str, typer.Option("--props", help="Comma list of gender, quality, age, glass.")]
    = "gender,quality,age,glass",
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Train on the image files of this label CSV "
                                                                "instead of the catalog's hand labels.")] = None,
    resolution: Annotated[int | None, typer.Option("--resolution", help="Input size with --csv "
                                                                        "[default: the generator's].")] = None,
    folds: Annotated[int, typer.Option("--folds", help="Stratified folds (models per property).")] = 5,
    epochs: Annotated[int, typer.Option("--epochs", help="Most epochs per fold.")] = 100,
    patience: Annotated[int, typer.Option("--patience", help="Early stopping patience (epochs).")] = 20,
    lr: Annotated[float | None, typer.Option("--lr", help="AdamW lr [default: the original's per property].")] = None,
    width: Annotated[float, typer.Option("--width", help="Channel multiplier (1 = the original's CNNs).")] = 1.0,
    kaiming: Annotated[bool, typer.Option("--kaiming/--default-init", help="He-normal conv init (from scratch).")]
    = True,
    seed: Annotated[int, typer.Option("--seed", help="Seed of splits, init and shuffles.")] = 0,
    replace: Annotated[bool, typer.Option("--replace", help="Replace models of a set with the same name.")] = False,
    model: ModelOpt = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = "auto",
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Train one CNN per fold for each property (the original's recipe: BCE, AdamW, cosine, early stopping,
    eval-mode soft vote), register them as a CNN set and print each fold's AUROC, accuracy and F1."""
    use_threads(threads, adapt=False)  # training: the same count whatever else runs
    from ohlora_cli.catalog.registry import load_generator, resolve_generator
    from ohlora_cli.models.inference import pick_device
    from ohlora_cli.stages import label as stage

    prop_list = [p.strip() for p in props.split(",") if p.strip()]
    stage.check_train_options(name=name, props=prop_list, folds=folds, seed=seed, max_epochs=epochs,
                              patience=patience, lr=lr, width=width, resolution=resolution)
    cat = open_catalog(catalog, quiet=quiet)
    if csv_file is not None:
        res = resolution or resolve_generator(cat, model).resolution
        arrays = lambda p: stage.labelled_arrays_from_csv(csv_file, p, res)  # noqa: E731
    else:
        gen = resolve_generator(cat, model)
        dev = pick_device(device)
        G = load_generator(gen, dev)
        arrays = lambda p: stage.labelled_arrays_from_catalog(cat, gen, G, p, dev)  # noqa: E731
    out_dir = Path(catalog).resolve().parent / "cnns"
    log = (lambda d: say_err(f"{d['prop']} fold {d['fold']} epoch {d['epoch']}: val loss {d['val_loss']:.4f}")
           if d["epoch"] % 10 == 0 else None) if not quiet else None
    r = stage.train(cat, name=name, props=prop_list, arrays=arrays, out_dir=out_dir, folds=folds, seed=seed,
                    max_epochs=epochs, patience=patience, lr=lr, width=width, init="kaiming" if kaiming else "default",
                    replace=replace, on_epoch=log,
                    source=f"csv {Path(csv_file).resolve()} at {res}px" if csv_file is not None
                    else f"catalog {gen.name}")
    for prop in r.existing:
        say_err(f"kept the {prop} model trained before with the same options ({r.files[prop]})", quiet)
    say(f"{'property':<8} {'fold':>4} {'AUROC':>7} {'acc':>7} {'F1':>7} {'val loss':>9} {'epochs':>6}")
    for prop, m in r.metrics.items():
        for f in m["folds"]:
            auroc = f"{f['auroc']:.4f}" if f["auroc"] is not None else "-"
            say(f"{prop:<8} {f['fold']:>4} {auroc:>7} {f['accuracy']:>7.4f} {f['f1']:>7.4f} "
                f"{f['min_val_loss']:>9.4f} {f['epochs']:>6}")
    say(f"trained CNN set {r.name} ({', '.join(r.files)}) in {r.seconds:.0f} s; files in {out_dir}")
