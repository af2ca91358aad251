"""Charts for reports, drawn with matplotlib's Agg backend (no display): arrays in, an RGB uint8 image out.

``images.save_png`` writes the image.  Every axis is labelled with what it measures and its unit.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

DPI = 100


def _figure(width: float, height: float):
    """A figure drawn by the Agg canvas: never a window, whatever MPLBACKEND says."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _finite(v) -> bool:
    return v is not None and math.isfinite(v)


def scatter_panels(panels: Sequence[tuple[str, np.ndarray, np.ndarray]], *, xlabel: str, ylabel: str,
                   title: str | None = None, slope_unit: str = "") -> np.ndarray:
    """One scatter panel per (title, x, y), side by side, each with Pearson r in its title and a least-squares
    line (its slope in ``slope_unit`` per unit of x); ``xlabel`` / ``ylabel`` name the axes with their units."""
    fig = _figure(3.6 * len(panels) + 0.6, 3.7)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, x, y) in zip(axes, panels):
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        xo, yo = x[ok], y[ok]
        # intended values repeat on a grid: a little horizontal jitter shows how many points sit there
        jitter = np.random.default_rng(0).uniform(-0.04, 0.04, len(xo)) * (np.ptp(xo) if len(xo) else 0)
        ax.scatter(xo + jitter, yo, s=5, alpha=0.35, color="tab:blue", linewidths=0)
        r = float(np.corrcoef(xo, yo)[0, 1]) if len(xo) > 2 and xo.std() > 0 and yo.std() > 0 else float("nan")
        if math.isfinite(r):
            slope, icept = np.polyfit(xo, yo, 1)
            xs = np.array([xo.min(), xo.max()])
            ax.plot(xs, slope * xs + icept, color="tab:red", lw=1.2, label=f"fit: {slope:.2f}{' ' + slope_unit if slope_unit else ''} per unit")
            ax.legend(loc="upper left", fontsize=7, frameon=False)
        ax.set_title(f"{name}   r = {r:.3f}", fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel(ylabel, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _pixels(fig)


def grouped_bars(categories: Sequence[str], series: dict[str, Sequence[float]], *, title: str, ylabel: str,
                 xlabel: str | None = None, ymax: float | None = None, percent: bool = False) -> np.ndarray:
    """Bars per category, one colour per series (legend above); NaN values leave a gap.  ``percent`` shows
    fractions as 0–100 %."""
    n = max(len(series), 1)
    fig = _figure(max(5.0, 0.32 * n * len(categories) + 1.6), 3.8)
    ax = fig.add_subplot()
    width = 0.8 / n
    x = np.arange(len(categories))
    scale = 100.0 if percent else 1.0
    for k, (name, values) in enumerate(series.items()):
        vals = np.array([v * scale if _finite(v) else np.nan for v in values], float)
        ax.bar(x - 0.4 + width * (k + 0.5), vals, width * 0.92, label=name, color=f"C{k % 10}")
    ax.set_xticks(x, [str(c) for c in categories], rotation=45 if len(categories) > 8 else 0, fontsize=7,
                  ha="right" if len(categories) > 8 else "center")
    ax.set_ylabel(ylabel, fontsize=8)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=8)
    if ymax is not None:
        ax.set_ylim(0, ymax * scale)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(fontsize=7, ncol=min(n, 4), loc="lower left", bbox_to_anchor=(0, 1.08), frameon=False)
    fig.tight_layout()
    return _pixels(fig)


def measure_panels(measures: Sequence[tuple[str, str, bool]], series: dict[str, Sequence[float]], *,
                   title: str) -> np.ndarray:
    """One small bar panel per measure (its own axis and unit), one bar per series.

    ``measures``: (panel title, y-axis label with the unit, higher is better); ``series[name][i]`` is the
    value of measure i.  Each panel's title says which way is better.
    """
    cols = min(len(measures), 4)
    rows = math.ceil(len(measures) / cols)
    fig = _figure(3.0 * cols, 2.6 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    names = list(series)
    for i, (name, ylabel, higher) in enumerate(measures):
        ax = axes[i]
        vals = [series[s][i] if _finite(series[s][i]) else np.nan for s in names]
        ax.bar(range(len(names)), vals, color=[f"C{k % 10}" for k in range(len(names))])
        for k, v in enumerate(vals):
            if math.isfinite(v):
                ax.text(k, v, f"{v:.3g}", ha="center", va="bottom", fontsize=6)
        ax.set_title(f"{name} ({'higher' if higher else 'lower'} is better)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=7)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=6)
        ax.tick_params(axis="y", labelsize=6)
        ax.grid(axis="y", alpha=0.3)
        finite = [v for v in vals if math.isfinite(v)]
        if finite:
            lo, hi = min(finite), max(finite)
            ax.set_ylim(0, hi * 1.18 if hi > 0 else 1.0)
            if lo > 0.5 * hi and hi <= 1.0 and higher:  # r and rates near the top: start the axis lower
                ax.set_ylim(max(0.0, lo - 1.5 * (hi - lo) - 0.02), min(1.0, hi + 0.6 * (hi - lo) + 0.02))
    for ax in axes[len(measures):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _pixels(fig)


__all__ = ["scatter_panels", "grouped_bars", "measure_panels"]
