"""Score throughput on CPU (images/s): parser + algorithms, the filter CNN ensembles (4 × 5 folds), the
Property Score CNN, and the whole ``ohlora score`` (default scorers: parser + filter CNNs) at 64 px
(the embedded base generator) and 256 px (a random-weight GenForce-size generator, PNGs stored).

    python bench/bench_score.py [--n 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def rate(fn, images: np.ndarray, repeats: int = 1) -> float:
    fn(images[:8])  # warm-up
    t = time.perf_counter()
    for _ in range(repeats):
        fn(images)
    return repeats * len(images) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-256-score", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from ohlora_cli.models.cnns import FilterCNN, PropertyScoreCNN, predict
    from ohlora_cli.models.parsers import load_parser
    from ohlora_cli.properties.algorithms import compute_properties_batch
    from ohlora_cli.models.cnn_files import Ensemble, load_filter_ensemble, load_property_cnn
    from ohlora_cli.catalog.registry import embedded_cnns
    from ohlora_cli.synthetic import renderer

    seeds = np.arange(args.n)
    img64, _ = renderer.render(renderer.sample_attributes(seeds), seeds, 64)
    img256, _ = renderer.render(renderer.sample_attributes(seeds[:64]), seeds[:64], 256)
    parser = load_parser("synthetic")

    def parse_and_score(x):
        p = parser.parse(x)
        return compute_properties_batch(p.maps, p.crops, "fixed")

    cnns = embedded_cnns()
    ensembles = [load_filter_ensemble(cnns[f"cnn-{p}"].path) for p in ("gender", "quality", "age", "glass")]
    prop64, _ = load_property_cnn(cnns["cnn-property"].path)
    rows = [("parser + algorithms (synthetic parser)", "64", rate(parse_and_score, img64)),
            ("filter CNNs, 4 x 5 folds (synthetic, width 0.25)", "64",
             rate(lambda x: [e.predict(x) for e in ensembles], img64)),
            ("Property Score CNN (synthetic, width 0.25)", "64", rate(lambda x: predict(prop64, x), img64))]
    torch.manual_seed(0)
    orig = [Ensemble(p, [FilterCNN(p, 256).eval() for _ in range(5)]) for p in ("gender", "quality", "age", "glass")]
    rows.append(("filter CNNs, 4 x 5 folds (original architecture)", "256",
                 rate(lambda x: [e.predict(x) for e in orig], img256[:32])))
    rows.append(("Property Score CNN (original architecture)", "256",
                 rate(lambda x: predict(PropertyScoreCNN(256).eval(), x), img256[:32])))
    rows.append(("parser + algorithms (synthetic parser, resized)", "256", rate(parse_and_score, img256)))

    from typer.testing import CliRunner

    from ohlora_cli.cli import app

    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["OHLORA_CATALOG"] = str(Path(tmp) / "b.db")
        os.environ.pop("OHLORA_MODEL", None)
        runner.invoke(app, ["generate", "--n", str(args.n), "--quiet"])
        t = time.perf_counter()
        r = runner.invoke(app, ["score", "--quiet"])
        rows.append(("whole `ohlora score` (re-render from w + parser + filter CNNs)", "64",
                     args.n / (time.perf_counter() - t)))
        assert r.exit_code == 0, r.output
        if not args.skip_256_score:
            from ohlora_cli.models.checkpoints import save_checkpoint
            from ohlora_cli.models.stylegan import GeneratorConfig, StyleGANGenerator

            torch.manual_seed(0)
            save_checkpoint(Path(tmp) / "g256.pt", StyleGANGenerator(GeneratorConfig(256, label_size=7)))
            n256 = 16
            runner.invoke(app, ["generate", "--model", str(Path(tmp) / "g256.pt"), "--n", str(n256), "--quiet",
                                "--save-images", str(Path(tmp) / "img")])
            t = time.perf_counter()
            r = runner.invoke(app, ["score", "--model", "g256", "--quiet"])
            rows.append(("whole `ohlora score` (stored PNGs + parser + filter CNNs)", "256",
                         n256 / (time.perf_counter() - t)))
            assert r.exit_code == 0, r.output
    print(f"score throughput on CPU, {args.threads} thread(s):")
    print(f"{'what':<66} {'px':>4} {'img/s':>8}")
    for what, px, v in rows:
        print(f"{what:<66} {px:>4} {v:>8.1f}")


if __name__ == "__main__":
    main()
