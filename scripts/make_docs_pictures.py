"""Re-make the README's pictures from the embedded models (run after shipping a new base generator).

    python scripts/make_docs_pictures.py
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    from typer.testing import CliRunner

    from ohlora_cli.cli import app
    from ohlora_cli.images import contact_sheet, save_png
    from ohlora_cli.models.inference import latents_for_seeds, map_to_w, render
    from ohlora_cli.models.checkpoints import load_checkpoint
    from ohlora_cli.catalog.registry import embedded_generators

    G = load_checkpoint(embedded_generators()["synthetic-base"].path).build_generator()
    z, label = latents_for_seeds(np.arange(64), 512, 7)
    save_png(DOCS / "synthetic_base_samples.png", contact_sheet(render(G, map_to_w(G, z, label)), 8))
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        os.environ.pop("OHLORA_MODEL", None)
        os.environ["OHLORA_CATALOG"] = str(Path(tmp) / "ohlora.db")
        runner = CliRunner()
        for args in (["generate", "--n", "400"], ["score"], ["vectorfind", "--groups", "4"],
                     ["synth", "--seed", "7", "--sweep", "eyes=-3:3:7", "--sweep", "mouth=-3:3:7", "--sweep",
                      "pose=-3:3:7", "--out", "sweeps.png"]):
            r = runner.invoke(app, args)
            assert r.exit_code == 0, r.output
        shutil.copyfile(Path(tmp) / "sweeps.png", DOCS / "sweeps.png")
    print("wrote", DOCS / "synthetic_base_samples.png", DOCS / "sweeps.png")


if __name__ == "__main__":
    main()
