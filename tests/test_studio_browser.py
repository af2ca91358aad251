"""``ohlora studio`` in a real browser: Debian's chromium driven by Playwright (no browser download),
against the real server (uvicorn on a free port, in a thread), with the trained 64-px generator and
directions that move its label's eyes / mouth / pose."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ohlora_cli.synthetic.latent_code import LABEL_ATTRIBUTES

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LABEL_DIMS = {p: LABEL_ATTRIBUTES.index(p) for p in ("eyes", "mouth", "pose")}
ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("chromium") is None,
                                reason="needs Debian's chromium (apt-get install -y chromium)")


def label_directions(out: Path, model: str = "synthetic-base", n: int = 64) -> list[Path]:
    """Unit directions in w along which the generator's label moves eyes / mouth / pose (mean of
    w(label + e_k) - w(label) over n seeds), as PROPERTY.npy files for ``vectorfind import-npy``."""
    from ohlora_cli.catalog.registry import embedded_generators
    from ohlora_cli.models.checkpoints import load_checkpoint
    from ohlora_cli.models.inference import label_directions as label_directions_of

    G = load_checkpoint(embedded_generators()[model].path).build_generator()
    vectors = label_directions_of(G, list(LABEL_DIMS.values()), range(1000, 1000 + n))
    files = [out / f"{prop}.npy" for prop in LABEL_DIMS]
    for path, v in zip(files, vectors):
        np.save(path, v[None])
    return files


def launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_renders(page, more_than: int, timeout_s: float = 20, what: str = "measures") -> None:
    """Until the page has shown more than ``more_than`` measured renders (polled: the page's CSP forbids
    the eval that ``wait_for_function`` needs)."""
    import time

    deadline = time.monotonic() + timeout_s
    while page.evaluate(f"window.studioStats.{what}") <= more_than:
        if time.monotonic() > deadline:
            raise AssertionError(f"no new image within {timeout_s} s; page error: {page.text_content('#error')}")
        time.sleep(0.005)


def test_mouth_slider_moves_the_face(cli, tmp_path, catalog_path):
    from playwright.sync_api import sync_playwright

    from ohlora_cli.catalog.db import open_catalog
    from ohlora_cli.studio.engine import Studio
    from ohlora_cli.studio.serve import running

    cli("vectorfind", "import-npy", *label_directions(tmp_path), "--model", "synthetic-base", "--name", "label-dirs")
    catalog = open_catalog(catalog_path)
    studio = Studio(catalog, catalog_arg="ohlora.db", model="synthetic-base", device="cpu")
    with running(studio) as url, sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1180, "height": 860})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url)
        wait_renders(page, 0)
        assert page.locator("#slider-mouth").count() == 1 and page.locator("#slider-pose").count() == 1
        before_src = page.get_attribute("#edited", "src")
        before = float(page.get_attribute("#meas-mouth", "data-value"))
        n = page.evaluate("window.studioStats.measures")
        page.locator("#slider-mouth").fill("2")  # sets the value and fires `input`, as a drag does
        wait_renders(page, n)
        after_src = page.get_attribute("#edited", "src")
        after = float(page.get_attribute("#meas-mouth", "data-value"))
        assert after_src != before_src and page.get_attribute("#original", "src") == before_src
        edited = page.evaluate("""async () => {
            const load = (src) => new Promise((ok) => { const i = new Image(); i.onload = () => ok(i); i.src = src; });
            const [a, b] = await Promise.all([load(document.getElementById('edited').src),
                                              load(document.getElementById('original').src)]);
            const c = document.createElement('canvas'); c.width = a.width; c.height = a.height;
            const g = c.getContext('2d'); g.drawImage(a, 0, 0); const x = g.getImageData(0, 0, a.width, a.height).data;
            g.clearRect(0, 0, a.width, a.height); g.drawImage(b, 0, 0); const y = g.getImageData(0, 0, a.width, a.height).data;
            let changed = 0; for (let i = 0; i < x.length; i += 4) if (x[i] !== y[i] || x[i+1] !== y[i+1] || x[i+2] !== y[i+2]) changed++;
            return {changed, total: x.length / 4, width: a.width};
        }""")
        assert edited["width"] == 64 and edited["changed"] > 0.02 * edited["total"]
        assert after > before + 0.05, (before, after)  # raw parser units (this catalog has no normalisation)
        assert "--mouth 2.0" in page.text_content("#command")
        assert page.text_content("#error") == "" and not errors
        assert all(r.startswith(url) or r.startswith("data:") or r.startswith("blob:") for r in requests), requests
        shot = ROOT / "docs" / "studio.png" if os.environ.get("OHLORA_UPDATE_DOCS") == "1" else tmp_path / "studio.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        browser.close()
    catalog.close()
