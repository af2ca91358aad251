"""``ohlora demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.cli._common import ModelOpt, QuietOpt, example, say

EPILOG = example("ohlora demo --out ohlora-demo")


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the catalog, images and pictures.")] = Path("ohlora-demo"),
    n: Annotated[int, typer.Option("--n", help="Images to generate.")] = 64,
    model: ModelOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run the pipeline end to end on the embedded default into one folder and say where the pictures are."""
    from ohlora_cli.progress import LazyProgress
    from ohlora_cli.stages import demo as stage

    with LazyProgress("generate", quiet=quiet) as bar:
        r = stage.run(out, n=n, model=model, advance=bar.advance, on_start=bar.start)
    say(f"demo finished in {r.seconds:.1f} s: catalog {r.catalog}, {r.images} images")
    say(f"  contact sheet: {r.contact_sheet}")
    say(f"  eyes / mouth / pose sweeps: {r.sweeps}")
