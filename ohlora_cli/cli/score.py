"""``ohlora score``."""

from __future__ import annotations

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
    say_shard,
    use_threads,
)
from ohlora_cli.config import DEFAULT_SCORERS, ScoreConfig
from ohlora_cli.progress import LazyProgress

EPILOG = example("ohlora score", "ohlora score --model v8 --parser synthetic --mode seed",
                       "ohlora score --scorers property-cnn,cnn-filter --cnns mine")


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
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Images per batch / transaction "
                                                                        "[default: 64 on the CPU, 256 on CUDA].")] = None,
    shard: Annotated[str | None, typer.Option("--shard", help="K/N: do part K of N into a shard catalog beside "
                                                              "--catalog (under torchrun: from RANK/WORLD_SIZE; "
                                                              "rank 0 merges).")] = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = "auto",
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Score every image of the generator that lacks scores (re-rendered from w when no PNG is stored).

    Resumable; the first values of a scorer also fix its normalisation reference (mean, ddof-1 std).
    """
    use_threads(threads)
    from ohlora_cli.stages import score as stage

    cfg = ScoreConfig(model=model, scorers=tuple(s.strip() for s in scorers.split(",")), parser=parser,
                      parser_weights=parser_weights, mode=mode, detector=detector, cnns=cnns, batch_size=batch_size,
                      device=device)
    from ohlora_cli.shards import resolve_shard

    part = resolve_shard(shard)
    if part is not None:
        from ohlora_cli.sharded import score_shard

        with LazyProgress(f"score {part}", quiet=quiet) as bar:
            say_shard(score_shard(catalog, cfg, part, advance=bar.advance, on_start=bar.start), quiet)
        return
    cat = open_catalog(catalog, quiet=quiet)
    with LazyProgress("score", quiet=quiet) as bar:
        r = stage.run(cat, cfg, advance=bar.advance, on_start=bar.start)
    for sid in r.scorers:
        if r.skipped[sid]:
            say_err(f"{r.skipped[sid]} images already had {sid} scores", quiet)
    for sid, ref in r.references.items():
        if sid in r.normalisation_fitted:
            say_err(f"stored the normalisation reference of {sid}: mean and std of the {ref.reference} scored "
                    "so far; images scored later are normalised with it", quiet)
        elif r.new[sid] and r.skipped[sid] + r.new[sid] > ref.n:
            say_err(f"{sid} values are normalised with its reference fitted earlier on {ref.reference}", quiet)
    rate = r.images / r.seconds if r.seconds else 0.0
    counts = ", ".join(f"{sid} {r.new[sid]}" for sid in r.scorers)
    say(f"scored {r.images} images of {r.generator} in {r.seconds:.1f} s ({rate:.1f} img/s): {counts}")
