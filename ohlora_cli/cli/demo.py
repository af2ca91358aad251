"""``ohlora demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.cli._common import ModelOpt, QuietOpt, example, say, say_err

EPILOG = example("ohlora demo --out ohlora-demo", "ohlora demo --n 400 --groups 4 --out quick")


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the catalog, images and pictures.")] = Path("ohlora-demo"),
    n: Annotated[int, typer.Option("--n", help="Images to generate and score.")] = 2000,
    groups: Annotated[int, typer.Option("--groups", help="vectorfind groups (2^k).")] = 16,
    model: ModelOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run generate → score → vectorfind → synth on the embedded default into one folder; say where the pictures are."""
    from ohlora_cli.stages import demo as stage

    r = stage.run(out, n=n, groups=groups, model=model, log=lambda m: say_err(m, quiet))
    say(f"demo finished in {r.seconds:.1f} s: catalog {r.catalog}, {r.images} images")
    say("  direction validation accuracy: " + ", ".join(f"{p} {a:.3f}" for p, a in r.accuracy.items()))
    say(f"  contact sheet: {r.contact_sheet}")
    for path in r.sweeps:
        say(f"  eyes / mouth / pose sweeps: {path}")
