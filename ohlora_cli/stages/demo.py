"""``demo``: the pipeline end to end on the embedded default, into one new folder.

generate (with PNGs) → score (synthetic parser + the seed's algorithms) → vectorfind (the original's
per-group SVM) → synth sweeps of eyes / mouth / pose on a few faces.  Every step goes through the
same stage functions as the individual commands, on a catalog inside the output folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from ohlora_cli.catalog.db import open_catalog
from ohlora_cli.catalog.models import Image
from ohlora_cli.config import GenerateConfig, SynthConfig
from ohlora_cli.errors import UsageError
from ohlora_cli.images import contact_sheet, ensure_writable_dir, load_png, save_png
from ohlora_cli.stages import generate, score, synth, vectorfind


@dataclass(frozen=True)
class DemoResult:
    out: Path
    catalog: Path
    images: int
    contact_sheet: Path
    sweeps: list[Path]
    accuracy: dict[str, float]
    seconds: float


def run(out: Path, *, n: int = 2000, groups: int = 16, model: str | None = None, faces: int = 3,
        log=lambda message: None) -> DemoResult:
    t0 = time.perf_counter()
    if n < 1:
        raise UsageError(f"--n must be positive, got {n}", "Pass e.g. --n 2000")
    out = ensure_writable_dir(out, "--out")
    catalog = open_catalog(out / "ohlora.db")
    try:
        log(f"generate {n} images")
        generate.run(catalog, GenerateConfig(n=n, model=model, save_images=out / "images"))
        with catalog.read() as s:
            rows = s.execute(select(Image.id, Image.path).order_by(Image.seed).limit(64)).all()
        sheet = save_png(out / "contact_sheet.png",
                         contact_sheet(np.stack([load_png(Path(p)) for _, p in rows]), 8, scale=2))
        log("score them (synthetic parser + the original's property algorithms)")
        score.run(catalog, score.ScoreConfig(model=model))
        log(f"find eyes / mouth / pose directions in {groups} groups (the original's SVM method)")
        found = vectorfind.run(catalog, vectorfind.VectorfindConfig(model=model, groups=groups, name="demo-svm",
                                                                     replace=True))
        sweeps = []
        values = tuple(np.round(np.linspace(-3, 3, 7), 2))
        for image_id, _ in rows[:faces]:
            cfg = SynthConfig(out=out / f"sweeps-image{image_id}.png", image_id=image_id, directions="demo-svm",
                              sweeps=tuple((p, values) for p in ("eyes", "mouth", "pose")))
            sweeps.append(synth.run(catalog, cfg).out)
        return DemoResult(out, catalog.path, n, sheet, sweeps, found.accuracy, time.perf_counter() - t0)
    finally:
        catalog.close()
