"""``ohlora score`` and ``ohlora filter``."""

from __future__ import annotations

from typing import Annotated

import typer

from ohlora_cli.cli._common import (DEFAULT_CATALOG, CatalogOpt, DeviceOpt, ModelOpt, QuietOpt, example,
                                    open_catalog, say, say_err)

SCORE_EPILOG = example("ohlora score", "ohlora score --model v8 --parser synthetic --mode seed")
FILTER_EPILOG = example("ohlora filter --name v8-train", "ohlora filter --name big-eyes --rule 'eyes>=1.0'")


def score(
    model: ModelOpt = None,
    scorers: Annotated[str, typer.Option("--scorers", help="Comma list; today: parser.")] = "parser",
    parser: Annotated[str, typer.Option("--parser", help="Face parser: synthetic | bisenet.")] = "synthetic",
    parser_weights: Annotated[str | None, typer.Option("--parser-weights", help="Weights for the parser "
                                                       "(bisenet: face-parsing.PyTorch 79999_iter.pth).")] = None,
    mode: Annotated[str, typer.Option("--mode", help="Property algorithms: fixed | seed (the original's numbers).")] = "fixed",
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
                            parser_weights=parser_weights, mode=mode, batch_size=batch_size, device=device)
    cat = open_catalog(catalog, quiet=quiet)
    with LazyProgress("score", quiet=quiet) as bar:
        r = stage.run(cat, cfg, advance=bar.advance, on_start=bar.start)
    if r.skipped:
        say_err(f"{r.skipped} images already had {r.scorer} scores", quiet)
    if r.normalisation_fitted:
        say_err(f"stored the normalisation of {r.scorer} (mean, std over the images scored so far)", quiet)
    rate = r.new / r.seconds if r.seconds else 0.0
    say(f"scored {r.new} images of {r.generator} with {r.scorer} in {r.seconds:.1f} s ({rate:.1f} img/s)")


def filter_(
    name: Annotated[str, typer.Option("--name", help="Name of the selection.")],
    rule: Annotated[list[str] | None, typer.Option("--rule", help="PROPERTY>=VALUE etc.; all must pass "
                                                                   "[default: the original's four].")] = None,
    model: ModelOpt = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a selection with the same name.")] = False,
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Store a named selection of images passing every rule; print per-rule and joint pass rates."""
    from ohlora_cli.stages import filter as stage

    r = stage.run(open_catalog(catalog, quiet=quiet), name=name, rules=list(rule or stage.DEFAULT_RULES),
                  model=model, replace=replace)
    pct = lambda k: f"{k / r.total:.1%}" if r.total else "-"  # noqa: E731
    say(f"{'rule':<22} {'passed':>8} {'rate':>7}")
    for text, k in zip(r.rules, r.passed_per_rule):
        say(f"{text:<22} {k:>8} {pct(k):>7}")
    say(f"{'all rules':<22} {r.passed:>8} {pct(r.passed):>7}")
    say(f"selection {r.name}: {r.passed} of {r.total} scored images of {r.generator}")
