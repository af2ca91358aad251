"""``ohlora synthetic render | info``: the procedural face world that is ohlora's embedded default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.cli._common import QuietOpt, example, say
from ohlora_cli.config import parse_assignment
from ohlora_cli.errors import OutputError, UsageError
from ohlora_cli.progress import progress

app = typer.Typer(help="The synthetic face world: render faces with ground truth; show the shipped models.",
                  no_args_is_help=True, epilog=example("ohlora synthetic render --n 20000 --out faces/"))


@app.command(epilog=example("ohlora synthetic render --n 20000 --resolution 64 --out faces/",
                            "ohlora synthetic render --n 100 --set glasses=1 --out glasses/"))
def render(
    n: Annotated[int, typer.Option("--n", help="Number of faces (seeds seed-start .. seed-start+n-1).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    resolution: Annotated[int, typer.Option("--resolution", help="Power of two ≥ 32.")] = 64,
    seed_start: Annotated[int, typer.Option("--seed-start", help="First seed.")] = 0,
    set_: Annotated[list[str] | None, typer.Option("--set", help="NAME=VALUE fixes an attribute for every face.")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Render faces with their true 11-class parsing maps, attributes.csv and a hand_labels.csv."""
    from ohlora_cli.images import ensure_writable_dir
    from ohlora_cli.limits import (
        MAX_RENDER_FACES,
        MAX_RESOLUTION,
        MAX_SEED,
        check_int,
        check_seed,
    )
    from ohlora_cli.synthetic.dataset import render_to_dir

    if n <= 0:
        raise UsageError(f"--n must be a positive number of faces, got {n}", "Pass e.g. --n 20000")
    check_int(n, "--n", lo=1, hi=MAX_RENDER_FACES, example="20000")
    if resolution > MAX_RESOLUTION:  # (the renderer names what else it needs: a power of two >= 32)
        raise UsageError(f"--resolution must be at most {MAX_RESOLUTION}, got {resolution}", "Pass e.g. --resolution 64")
    check_seed(seed_start, "--seed-start")
    if seed_start + n - 1 > MAX_SEED:
        raise UsageError(f"seeds {seed_start}..{seed_start + n - 1} go past {MAX_SEED}", "Lower --seed-start or --n")
    overrides = {name: values[0] for name, values in (parse_assignment(s, "--set", form="one") for s in set_ or [])}
    try:
        from ohlora_cli.synthetic.dataset import apply_overrides
        from ohlora_cli.synthetic.renderer import check_resolution, sample_attributes

        check_resolution(resolution)
        apply_overrides(sample_attributes([seed_start]), overrides)
    except ValueError as err:
        raise UsageError(str(err), "See `ohlora synthetic render --help`") from None
    ensure_writable_dir(out, "--out")
    with progress(n, "render", quiet=quiet, unit="face") as advance:
        try:
            render_to_dir(out, n, resolution, seed_start, progress=advance, overrides=overrides)
        except OSError as err:
            raise OutputError(f"cannot write to {out} ({err.strerror or err})", "Pass a writable --out") from None
    say(f"rendered {n} faces at {resolution}px to {out} (images/, maps/, attributes.csv, hand_labels.csv, "
        f"contact_sheet.png)")


@app.command(epilog=example("ohlora synthetic info"))
def info(quiet: QuietOpt = False) -> None:
    """What ohlora ships for the synthetic world: files, sizes, recipes and measured quality."""
    from ohlora_cli.catalog.registry import ASSETS_DIR

    manifest = json.loads((ASSETS_DIR / "manifest.json").read_text())
    total = 0
    for kind in ("generators", "parsers", "cnns"):
        for name, entry in manifest.get(kind, {}).items():
            path = ASSETS_DIR / entry["file"]
            size = path.stat().st_size if path.exists() else 0
            total += size
            say(f"{kind[:-1]} {name}: {entry['file']} ({size / 1e6:.1f} MB) sha256 {entry['sha256'][:12]}")
            say(f"  {entry['description']}")
            say(f"  recipe: {entry['recipe']}")
            for key, value in entry.get("figures", {}).items():
                say(f"  {key}: {value}")
    say(f"total shipped weights: {total / 1e6:.1f} MB; default generator: {manifest['default_generator']}")
