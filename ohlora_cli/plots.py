"""Small PNG charts drawn with Pillow (no plotting library needed): scatter panels and grouped bars.

Arrays in, an RGB uint8 image out; ``images.save_png`` writes it.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127)]


def _canvas(w: int, h: int):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (w, h), (255, 255, 255))
    return img, ImageDraw.Draw(img)


def _nice_range(lo: float, hi: float) -> tuple[float, float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return 0.0, 1.0
    if hi - lo < 1e-9:
        return lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.06
    return lo - pad, hi + pad


def scatter_panels(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], *, xlabel: str = "intended",
                   ylabel: str = "measured", size: int = 260) -> np.ndarray:
    """One scatter panel per (title, x, y), side by side, with axes, min/max ticks and Pearson r."""
    pad_l, pad_b, pad_t = 44, 34, 24
    w = len(panels) * (size + pad_l + 10) + 10
    h = size + pad_b + pad_t + 10
    img, d = _canvas(w, h)
    for k, (title, x, y) in enumerate(panels):
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        x0 = 10 + k * (size + pad_l + 10) + pad_l
        y0 = pad_t
        d.rectangle([x0, y0, x0 + size, y0 + size], outline=(0, 0, 0))
        xlo, xhi = _nice_range(float(x[ok].min()) if ok.any() else 0, float(x[ok].max()) if ok.any() else 1)
        ylo, yhi = _nice_range(float(y[ok].min()) if ok.any() else 0, float(y[ok].max()) if ok.any() else 1)
        px = x0 + (x[ok] - xlo) / (xhi - xlo) * size
        py = y0 + size - (y[ok] - ylo) / (yhi - ylo) * size
        for a, b in zip(px, py):
            d.ellipse([a - 1.5, b - 1.5, a + 1.5, b + 1.5], fill=PALETTE[0])
        r = np.corrcoef(x[ok], y[ok])[0, 1] if ok.sum() > 2 and x[ok].std() > 0 and y[ok].std() > 0 else float("nan")
        d.text((x0, 4), f"{title}  r = {r:.3f}", fill=(0, 0, 0))
        d.text((x0, y0 + size + 4), f"{xlo:.2g}", fill=(80, 80, 80))
        d.text((x0 + size - 30, y0 + size + 4), f"{xhi:.2g}", fill=(80, 80, 80))
        d.text((x0 + size // 2 - 20, y0 + size + 18), xlabel, fill=(0, 0, 0))
        d.text((x0 - pad_l + 2, y0 + size - 10), f"{ylo:.2g}", fill=(80, 80, 80))
        d.text((x0 - pad_l + 2, y0), f"{yhi:.2g}", fill=(80, 80, 80))
        d.text((x0 - pad_l + 2, y0 + size // 2), ylabel[:7], fill=(0, 0, 0))
    return np.asarray(img)


def grouped_bars(categories: Sequence[str], series: dict[str, Sequence[float]], *, title: str,
                 ymax: float | None = None, bar: int = 14, height: int = 240) -> np.ndarray:
    """Bars per category, one colour per series (legend on top); values above each bar."""
    n_series = max(len(series), 1)
    group_w = n_series * bar + 14
    pad_l, pad_t, pad_b = 40, 40 + 12 * ((n_series + 3) // 4), 60
    w = max(pad_l + len(categories) * group_w + 20, 360)
    h = height + pad_t + pad_b
    img, d = _canvas(w, h)
    values = [v for vs in series.values() for v in vs if v is not None and math.isfinite(v)]
    top = ymax if ymax is not None else (max(values) * 1.1 if values and max(values) > 0 else 1.0)
    d.text((pad_l, 4), title, fill=(0, 0, 0))
    for k, name in enumerate(series):
        lx, ly = pad_l + (k % 4) * 150, 20 + 12 * (k // 4)
        d.rectangle([lx, ly + 2, lx + 8, ly + 10], fill=PALETTE[k % len(PALETTE)])
        d.text((lx + 12, ly), name[:22], fill=(0, 0, 0))
    base = pad_t + height
    d.line([pad_l, base, w - 10, base], fill=(0, 0, 0))
    d.line([pad_l, pad_t, pad_l, base], fill=(0, 0, 0))
    d.text((4, pad_t - 6), f"{top:.2g}", fill=(80, 80, 80))
    d.text((4, base - 6), "0", fill=(80, 80, 80))
    for c, cat in enumerate(categories):
        gx = pad_l + 8 + c * group_w
        for k, vs in enumerate(series.values()):
            v = vs[c]
            if v is None or not math.isfinite(v):
                continue
            top_y = base - max(min(v / top, 1.0), 0.0) * height
            d.rectangle([gx + k * bar, top_y, gx + (k + 1) * bar - 2, base], fill=PALETTE[k % len(PALETTE)])
        d.text((gx, base + 4 + 12 * (c % 3)), str(cat)[:12], fill=(0, 0, 0))
    return np.asarray(img)


__all__ = ["scatter_panels", "grouped_bars"]
