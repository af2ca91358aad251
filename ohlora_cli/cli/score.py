"""``ohlora score`` and ``ohlora filter``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.cli._common import (DEFAULT_CATALOG, CatalogOpt, DeviceOpt, ModelOpt, QuietOpt, example,
                                    open_catalog, say, say_err)
from ohlora_cli.config import DEFAULT_SCORERS

SCORE_EPILOG = example("ohlora score", "ohlora score --model v8 --parser synthetic --mode seed",
                       "ohlora score --scorers property-cnn,cnn-filter --cnns mine")
FILTER_EPILOG = example("ohlora filter --name v8-train", "ohlora filter --name big-eyes --rule 'eyes>=1.0'")


def score(
    model: ModelOpt = None,
    scorers: Annotated[str, typer.Option("--scorers", help="Comma list of parser, cnn-filter, property-cnn.")]
    = ",".join(DEFAULT_SCORERS),
    parser: Annotated[str, typer.Option("--parser", help="Face parser: synthetic | bisenet.")] = "synthetic",
    parser_weights: Annotated[str | None, typer.Option("--parser-weights", help="Weights for the parser "
                                                       "(bisenet: face-parsing.PyTorch 79999_iter.pth).")] = None,
    mode: Annotated[str, typer.Option("--mode", help="Property algorithms: fixed | seed (the original's numbers).")] = "fixed",
    detector: Annotated[str, typer.Option("--detector", help="Face crop before a real-face parser: fixed (full "
                                                             "frame) | mtcnn (pip install --no-deps "
                                                             "facenet-pytorch).")] = "fixed",
    cnns: Annotated[str, typer.Option("--cnns", help="CNN set for cnn-filter / property-cnn (`ohlora model list`).")]
    = "synthetic",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per batch / transaction.")] = 64,
    device: DeviceOpt = "auto",
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Score every image of the generator that lacks scores (re-rendered from w when no PNG is stored).

    Resumable; the first values of a scorer also fix its normalisation reference (mean, ddof-1 std).
    """
    from ohlora_cli.progress import LazyProgress
    from ohlora_cli.stages import score as stage

    cfg = stage.ScoreConfig(model=model, scorers=tuple(s.strip() for s in scorers.split(",")), parser=parser,
                            parser_weights=parser_weights, mode=mode, detector=detector, cnns=cnns, batch_size=batch_size,
                            device=device)
    cat = open_catalog(catalog, quiet=quiet)
    with LazyProgress("score", quiet=quiet) as bar:
        r = stage.run(cat, cfg, advance=bar.advance, on_start=bar.start)
    for sid in r.scorers:
        if r.skipped[sid]:
            say_err(f"{r.skipped[sid]} images already had {sid} scores", quiet)
    for sid in r.normalisation_fitted:
        say_err(f"stored the normalisation of {sid} (mean, std over the images scored so far)", quiet)
    rate = r.images / r.seconds if r.seconds else 0.0
    counts = ", ".join(f"{sid} {r.new[sid]}" for sid in r.scorers)
    say(f"scored {r.images} images of {r.generator} in {r.seconds:.1f} s ({rate:.1f} img/s): {counts}")


def filter_(
    name: Annotated[str, typer.Option("--name", help="Name of the selection.")],
    rule: Annotated[list[str] | None, typer.Option("--rule", help="PROPERTY>=VALUE etc.; all must pass "
                                                                   "[default: the original's four].")] = None,
    model: ModelOpt = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a selection with the same name.")] = False,
    scorer: Annotated[list[str] | None, typer.Option("--scorer", help="Scorer id to use where several scored a "
                                                                      "property (e.g. cnn-filter/synthetic).")] = None,
    include_labelled: Annotated[bool, typer.Option("--include-labelled", help="Keep hand-labelled images, judged "
                                                                              "by their labels [default: left out, "
                                                                              "as the original].")] = False,
    export: Annotated[Path | None, typer.Option("--export", help="Also write the selected images to this folder.")]
    = None,
    device: DeviceOpt = "auto",
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Store a named selection of images passing every rule; print per-rule and joint pass rates."""
    from ohlora_cli.progress import LazyProgress
    from ohlora_cli.stages import filter as stage

    cat = open_catalog(catalog, quiet=quiet)
    r = stage.run(cat, name=name, rules=list(rule or stage.DEFAULT_RULES), model=model, replace=replace,
                  scorers=tuple(scorer or ()), include_labelled=include_labelled)
    if r.excluded_labelled:
        say_err(f"left out {r.excluded_labelled} hand-labelled images (--include-labelled keeps them)", quiet)
    pct = lambda k: f"{k / r.total:.1%}" if r.total else "-"  # noqa: E731
    say(f"{'rule':<22} {'passed':>8} {'rate':>7}")
    for text, k in zip(r.rules, r.passed_per_rule):
        say(f"{text:<22} {k:>8} {pct(k):>7}")
    say(f"{'all rules':<22} {r.passed:>8} {pct(r.passed):>7}")
    say(f"selection {r.name}: {r.passed} of {r.total} scored images of {r.generator}")
    if export is not None:
        with LazyProgress("export", quiet=quiet) as bar:
            bar.start(r.passed)
            k = stage.export_selection(cat, r.name, export, device=device, advance=bar.advance)
        say(f"wrote {k} images to {export}")
