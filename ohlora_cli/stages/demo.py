"""``demo``: the pipeline so far, end to end, on the embedded default, into one new folder.

generate (PNG) → contact sheet → import the original's directions (bundled copy) →
synth sweeps of eyes / mouth / pose.  Every step goes through the same stage functions as the
individual commands, on a catalog inside the output folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from ohlora_cli.catalog.db import open_catalog
from ohlora_cli.catalog.models import DirectionSet, Image
from ohlora_cli.config import GenerateConfig, SynthConfig
from ohlora_cli.errors import UsageError
from ohlora_cli.images import contact_sheet, ensure_writable_dir, load_png, save_png
from ohlora_cli.progress import Advance
from ohlora_cli.stages import generate, synth
from ohlora_cli.stages.transfer import import_seed_directions


@dataclass(frozen=True)
class DemoResult:
    out: Path
    catalog: Path
    images: int
    contact_sheet: Path
    sweeps: Path
    seconds: float


def run(out: Path, *, n: int = 64, model: str | None = None, advance: Advance | None = None,
        on_start=None) -> DemoResult:
    t0 = time.perf_counter()
    if n < 1:
        raise UsageError(f"--n must be positive, got {n}", "Pass e.g. --n 64")
    out = ensure_writable_dir(out, "--out")
    catalog = open_catalog(out / "ohlora.db")
    try:
        generate.run(catalog, GenerateConfig(n=n, model=model, save_images=out / "images"), advance=advance,
                     on_start=on_start)
        with catalog.read() as s:
            paths = list(s.scalars(select(Image.path).where(Image.path.is_not(None)).order_by(Image.seed).limit(64)))
            first_id = s.scalars(select(Image.id).order_by(Image.seed)).first()
            has_seed = s.scalars(select(DirectionSet.id).where(DirectionSet.name == "seed-v8")).first()
        sheet = save_png(out / "contact_sheet.png",
                         contact_sheet(np.stack([load_png(Path(p)) for p in paths]), 8, scale=2))
        if has_seed is None:
            import_seed_directions(catalog, None, name="seed-v8")
        sweeps = synth.run(catalog, SynthConfig(
            out=out / "sweeps.png", image_id=first_id, directions="seed-v8", group="hhhh",
            sweeps=tuple((p, tuple(np.round(np.linspace(-3, 3, 7), 2))) for p in ("eyes", "mouth", "pose"))))
        return DemoResult(out, catalog.path, n, sheet, sweeps.out, time.perf_counter() - t0)
    finally:
        catalog.close()
