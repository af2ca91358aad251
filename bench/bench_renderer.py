"""Renderer throughput, single thread, batch 256: images/s at 64, 128 and 256.

Run: ``python bench/bench_renderer.py [--faces 1024] [--resolutions 64 128 256]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ohlora_cli.synthetic.renderer import render, sample_attributes  # noqa: E402


def bench(resolution: int, faces: int, batch: int = 256) -> float:
    seeds = np.arange(faces, dtype=np.int64)
    attrs = sample_attributes(seeds)
    render(attrs[:8], seeds[:8], resolution)  # warm-up (imports, caches)
    start = time.perf_counter()
    for s in range(0, faces, batch):
        render(attrs[s:s + batch], seeds[s:s + batch], resolution)
    return faces / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=1024, help="faces per resolution (64; fewer above)")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print("resolution  images/s  (1 thread, batch 256)")
    for r in args.resolutions:
        faces = max(256, args.faces * 64 * 64 // (r * r)) if r > 64 else args.faces
        print(f"{r:>10}  {bench(r, faces):8.1f}")


if __name__ == "__main__":
    main()
