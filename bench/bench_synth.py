"""Synthesis latency on CPU: one frame from a cached w (no mapping network), and frames/s of
``synth --animate`` (the expression motion), at 256×256 (GenForce-size generator, random weights)
and 64×64 (the embedded base generator).

    python bench/bench_synth.py [--frames 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from ohlora_cli.edits import edit_wp
    from ohlora_cli.models.checkpoints import load_checkpoint
    from ohlora_cli.models.inference import map_to_w, render
    from ohlora_cli.catalog.registry import embedded_generators
    from ohlora_cli.models.stylegan import GeneratorConfig, StyleGANGenerator
    from ohlora_cli.motion import expression_track

    torch.manual_seed(0)
    nets = {"256 (GenForce size, random weights)": StyleGANGenerator(GeneratorConfig(256, label_size=7)).eval(),
            "64 (synthetic-base)": load_checkpoint(embedded_generators()["synthetic-base"].path).build_generator()}
    track = expression_track([{"mouth": 1.8, "eyes": 1.0}, {"pose": -1.2}], fps=20)
    print(f"synthesis on CPU, {args.threads} threads:")
    for name, G in nets.items():
        z = np.random.default_rng(0).standard_normal((1, 512)).astype(np.float32)
        w = map_to_w(G, z, np.zeros((1, 7), np.float32))[0]
        dirs = np.linalg.qr(np.random.default_rng(1).standard_normal((512, 3)))[0].T.astype(np.float32)
        render(G, w[None])  # warm-up
        times = []
        for k in range(args.frames):
            t = time.perf_counter()
            render(G, edit_wp(w, dirs, np.array([[0.1 * k, 0, 0]], np.float32), G.num_layers))
            times.append(time.perf_counter() - t)
        n = min(len(track), args.frames * 4)
        t = time.perf_counter()
        render(G, edit_wp(w, dirs, track[:n].astype(np.float32), G.num_layers))
        fps = n / (time.perf_counter() - t)
        print(f"  {name}: one edited frame from cached w {np.median(times) * 1000:.0f} ms (median of {args.frames}); "
              f"animate {fps:.1f} frames/s over {n} frames (the original app plays 20-30 fps)")


if __name__ == "__main__":
    main()
