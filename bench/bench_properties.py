"""ms per 224x224 map for ``compute_properties`` (modes fixed and seed), single thread.

Run: ``python bench/bench_properties.py [--maps 200] [--size 224]``. Prints one line per mode.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from ohlora_cli.properties.algorithms import (  # noqa: E402
    BACKGROUND, HAIR, INNER_MOUTH, LEFT_EYE, LOWER_LIP, NOSE, RIGHT_EYE, SKIN, UPPER_LIP,
    compute_properties,
)


def face_like(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random face-like parsing map (hair, skin, eyes, nose, lips, background) and colour crop."""
    k = n / 224

    def pt(x: float, y: float) -> tuple[int, int]:
        return int(round(x * k)), int(round(y * k))

    def ax(a: float, b: float) -> tuple[int, int]:
        return max(1, int(round(a * k))), max(1, int(round(b * k)))

    def j(s: float) -> float:
        return float(rng.uniform(-s, s))

    seg = np.full((n, n), BACKGROUND, np.uint8)
    cv2.ellipse(seg, pt(112 + j(8), 100 + j(8)), ax(100 + j(10), 125 + j(20)), 0, 0, 360, HAIR, -1)
    cv2.rectangle(seg, pt(0, 120 + j(10)), pt(60 + j(20), 223), HAIR, -1)
    cv2.rectangle(seg, pt(164 + j(20), 120 + j(10)), pt(223, 223), HAIR, -1)
    cv2.ellipse(seg, pt(112 + j(4), 120 + j(4)), ax(58 + j(5), 75 + j(5)), 0, 0, 360, SKIN, -1)
    tilt = j(15)
    cv2.ellipse(seg, pt(85 + j(3), 100 + j(3)), ax(14 + j(2), 5 + j(3)), tilt, 0, 360, LEFT_EYE, -1)
    cv2.ellipse(seg, pt(139 + j(3), 100 + j(3)), ax(14 + j(2), 5 + j(3)), tilt, 0, 360, RIGHT_EYE, -1)
    cv2.ellipse(seg, pt(112 + j(3), 125 + j(3)), ax(7, 14), j(20), 0, 360, NOSE, -1)
    cv2.ellipse(seg, pt(112, 148 + j(2)), ax(20 + j(3), 5), 0, 0, 360, UPPER_LIP, -1)
    cv2.ellipse(seg, pt(112, 160 + j(2)), ax(20 + j(3), 6), 0, 0, 360, LOWER_LIP, -1)
    cv2.ellipse(seg, pt(112, 154 + j(1)), ax(14 + j(3), 1 + abs(j(5))), 0, 0, 360, INNER_MOUTH, -1)
    seg[(rng.random((n, n)) < 0.02) & (seg == HAIR)] = SKIN  # parser noise inside the hair
    rows = np.arange(n)[:, None] / k
    base = np.where(seg == HAIR, 60 + 30 * np.sin(rows / rng.uniform(3, 9)),
                    np.where(seg == BACKGROUND, 200.0, 170.0))
    image = np.clip(base[..., None] + rng.normal(0, 12, (n, n, 3)), 0, 255).astype(np.uint8)
    return seg, image


def ms_per_map(maps: list[tuple[np.ndarray, np.ndarray]], mode: str, repeats: int = 3) -> float:
    """Best-of-``repeats`` mean wall time per map, in ms."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for seg, image in maps:
            compute_properties(seg, image, mode)
        best = min(best, (time.perf_counter() - start) / len(maps))
    return best * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=int, default=200)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rng = np.random.default_rng(2025)
    maps = [face_like(rng, args.size) for _ in range(args.maps)]
    compute_properties(*maps[0])  # warm-up
    for mode in ("fixed", "seed"):
        print(f"compute_properties mode={mode:5s} size={args.size}: "
              f"{ms_per_map(maps, mode):.3f} ms/map ({args.maps} maps, 1 thread)")


if __name__ == "__main__":
    main()
