"""``ohlora generate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.cli._common import (
    DEFAULT_CATALOG,
    CatalogOpt,
    DeviceOpt,
    DTypeOpt,
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
from ohlora_cli.config import DEFAULT_SCORERS, GenerateConfig
from ohlora_cli.progress import LazyProgress

EPILOG = example("ohlora generate --n 15000", "ohlora generate --n 100 --save-images faces/ --labels zero",
                 "torchrun --standalone --nproc-per-node 4 -m ohlora_cli -- generate --n 240000 --score")


def generate(
    n: Annotated[int, typer.Option("--n", help="Number of images (seeds seed-start .. seed-start+n-1).")],
    model: ModelOpt = None,
    seed_start: Annotated[int, typer.Option("--seed-start", help="First seed.")] = 0,
    batch_size: Annotated[int | None, typer.Option("--batch-size", envvar="OHLORA_BATCH_SIZE",
                                                   help="Images per batch / transaction [default: 16 on the CPU, "
                                                        "64 on CUDA].")] = None,
    psi: Annotated[float, typer.Option("--psi", help="Truncation psi (1 = none).")] = 1.0,
    trunc_layers: Annotated[int, typer.Option("--trunc-layers", help="Truncate the first N W+ layers toward the mean w (needed by --psi).")] = 0,
    labels: Annotated[str, typer.Option("--labels", help="random | zero (conditional generators).")] = "random",
    noise: Annotated[str, typer.Option("--noise", help="const (stored buffers) | random.")] = "const",
    save_images: Annotated[Path | None, typer.Option("--save-images", help="Also write PNGs to this folder.")] = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = "auto",
    dtype: DTypeOpt = "fp32",
    score: Annotated[bool, typer.Option("--score", help="Also score each batch (as `ohlora score` would), in the "
                                                        "same pass and transaction.")] = False,
    scorers: Annotated[str, typer.Option("--scorers", help="With --score: comma list of parser, cnn-filter, "
                                                           "property-cnn.")] = ",".join(DEFAULT_SCORERS),
    shard: Annotated[str | None, typer.Option("--shard", help="K/N: do part K of N into a shard catalog beside "
                                                              "--catalog (under torchrun: from RANK/WORLD_SIZE; "
                                                              "rank 0 merges).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved options and exit.")] = False,
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Sample latents (one seed per image), map them to w, store z/label/w in the catalog (PNGs optional).

    Resumable: rerunning the same command after a kill completes only the missing seeds.
    """
    use_threads(threads)
    cfg = GenerateConfig(n=n, model=model, seed_start=seed_start, batch_size=batch_size, psi=psi,
                         trunc_layers=trunc_layers, labels=labels, noise=noise, save_images=save_images,
                         device=device, dtype=dtype, score=score,
                         scorers=tuple(s.strip() for s in scorers.split(",") if s.strip()))
    if dry_run:
        from ohlora_cli.catalog.queries import options_json

        say(options_json(cfg))
        return
    from ohlora_cli.shards import resolve_shard

    part = resolve_shard(shard)
    if part is not None:
        from ohlora_cli.sharded import generate_shard

        with LazyProgress(f"generate {part}", quiet=quiet) as bar:
            outcome = generate_shard(catalog, cfg, part, advance=bar.advance, on_start=bar.start)
        say_shard(outcome, quiet)
        return
    from ohlora_cli.stages import generate as stage

    cat = open_catalog(catalog, quiet=quiet)
    with LazyProgress("generate", quiet=quiet) as bar:
        result = stage.run(cat, cfg, advance=bar.advance, on_start=bar.start)
    if result.skipped:
        say_err(f"{result.skipped} of {n} seeds were already in the catalog", quiet)
    rate = result.new / result.seconds if result.seconds else 0.0
    say(f"generated {result.new} images with {result.generator} (labels {result.label_mode}) "
        f"in {result.seconds:.1f} s ({rate:.1f} img/s); catalog {catalog}")
