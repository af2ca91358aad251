"""``ohlora studio``: slider-to-new-image latency in a real browser (Debian chromium + Playwright), p50/p95,
at 64 px (the embedded ``synthetic-base``; goal p95 <= 100 ms on CPU) and at 256 px (a GenForce-size
generator with random weights, registered in a temp catalog).

The latency is the page's own: from the slider's ``input`` event to the new image decoded on screen
(debounce, request, render, PNG, decode), read from ``window.studioStats``; the measured values follow
in a second request, which each move waits for before the next.

    python bench/bench_studio.py [--moves 40] [--moves-256 8] [--threads N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ohlora_cli.synthetic.latent_code import LABEL_ATTRIBUTES

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LABEL_DIMS = {p: LABEL_ATTRIBUTES.index(p) for p in ("eyes", "mouth", "pose")}


def cli(*args: str) -> None:
    from typer.testing import CliRunner

    from ohlora_cli.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, (args, r.stdout, r.stderr)


def label_directions(out: Path) -> list[Path]:
    """synthetic-base's label axes for eyes / mouth / pose, mapped into w (as in tests/test_studio_browser.py)."""
    from ohlora_cli.catalog.registry import embedded_generators
    from ohlora_cli.models.checkpoints import load_checkpoint
    from ohlora_cli.models.inference import label_directions as label_directions_of

    G = load_checkpoint(embedded_generators()["synthetic-base"].path).build_generator()
    vectors = label_directions_of(G, list(LABEL_DIMS.values()), range(1000, 1064))
    files = [out / f"{prop}.npy" for prop in LABEL_DIMS]
    for path, v in zip(files, vectors):
        np.save(path, v[None])
    return files


def random_256(out: Path) -> tuple[Path, list[Path]]:
    from ohlora_cli.models.checkpoints import save_checkpoint
    from ohlora_cli.models.stylegan import GeneratorConfig, StyleGANGenerator

    torch.manual_seed(0)
    path = out / "random-256.pt"
    save_checkpoint(path, StyleGANGenerator(GeneratorConfig(256, label_size=7)).eval())
    dirs = np.linalg.qr(np.random.default_rng(1).standard_normal((512, 3)))[0].T.astype(np.float32)
    (out / "d256").mkdir()
    files = []
    for prop, v in zip(LABEL_DIMS, dirs):
        files.append(out / "d256" / f"{prop}.npy")
        np.save(files[-1], v[None])
    return path, files


def measure(page, moves: int) -> tuple[np.ndarray, list[dict]]:
    lat, server = [], []
    for i in range(moves + 2):
        n = page.evaluate("window.studioStats.measures")
        page.locator("#slider-mouth").fill(f"{((i % 13) - 6) * 0.45:.2f}")
        deadline = time.monotonic() + 120
        while page.evaluate("window.studioStats.measures") <= n:  # the image, then its measured values
            if time.monotonic() > deadline:
                raise SystemExit(f"no image after 120 s: {page.text_content('#error')}")
            time.sleep(0.02)  # slow polling: leave the CPU to the browser and the server
        if i >= 2:  # the first two warm the caches
            lat.append(page.evaluate("window.studioStats.latencies.at(-1)"))
            server.append(page.evaluate("window.studioStats.last.server_ms"))
    return np.array(lat), server


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--moves", type=int, default=40)
    ap.add_argument("--moves-256", type=int, default=8)
    ap.add_argument("--threads", type=int, default=None, help="[default: what `ohlora studio` picks]")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from ohlora_cli.threads import apply_threads

    args.threads = apply_threads(args.threads, reserve=1)  # the studio's rule: one core stays with the browser

    from ohlora_cli.catalog.db import open_catalog
    from ohlora_cli.studio.engine import Studio
    from ohlora_cli.studio.serve import running

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db = tmp / "ohlora.db"
        cli("vectorfind", "import-npy", *label_directions(tmp), "--model", "synthetic-base", "--name", "label-dirs",
            "--catalog", db, "--quiet")
        g256, d256 = random_256(tmp)
        cli("model", "register", g256, "--name", "random-256", "--catalog", db, "--quiet")
        cli("vectorfind", "import-npy", *d256, "--model", "random-256", "--name", "random-256-dirs",
            "--catalog", db, "--quiet")
        catalog = open_catalog(db)
        studio = Studio(catalog, model="synthetic-base", device="cpu")
        print(f"ohlora studio, slider → new image in chromium, CPU, {args.threads} torch threads "
              f"(debounce + request + render + PNG + decode):")
        with running(studio) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(url)
            while page.evaluate("window.studioStats.measures") < 1:
                time.sleep(0.01)
            for label, model, moves in (("64 px (synthetic-base)", None, args.moves),
                                        ("256 px (GenForce size, random weights)", "random-256", args.moves_256)):
                if model is not None:
                    n = page.evaluate("window.studioStats.measures")
                    page.select_option("#model", model)
                    while page.evaluate("window.studioStats.measures") <= n:
                        time.sleep(0.01)
                lat, server = measure(page, moves)
                print(f"  {label}: p50 {np.percentile(lat, 50):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms, "
                      f"max {lat.max():.0f} ms over {len(lat)} slider moves (server part: median "
                      f"{np.median(server):.0f} ms; the measured values follow in a second request)")
            browser.close()
        catalog.close()


if __name__ == "__main__":
    main()
