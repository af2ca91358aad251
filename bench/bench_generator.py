"""Generator forward speed at 256×256 (GenForce 256 config, random weights), fp32 vs bf16, batch 1 / 8,
and the overhead of ``synth`` over the raw forward pass.

    python bench/bench_generator.py [--threads 2] [--genforce PATH_TO_GENFORCE_CHECKOUT]

With ``--genforce`` (a checkout of github.com/genforce/genforce), its StyleGANGenerator gets the same
weights and is timed side by side; without it, the reference figures of ../shared/COMPUTE-NOTES.md
(same CPU kind, GenForce StyleGAN v1, random weights) are printed for comparison.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ohlora_cli.edits import edit_wp
from ohlora_cli.models.inference import latents_for_seeds, map_to_w, synthesize
from ohlora_cli.models.stylegan import GeneratorConfig, StyleGANGenerator

sys.path.insert(0, str(Path(__file__).parent))
NOTES_REFERENCE = {1: 0.96, 8: 0.74}  # img/s, COMPUTE-NOTES.md, GenForce v1 at 256, fp32, 2-core EPYC


def images_per_second(fn, n_images: int, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n_images / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--genforce", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    G = StyleGANGenerator(GeneratorConfig(256, label_size=7)).eval()
    z, label = latents_for_seeds(range(8), 512, 7)
    w = torch.from_numpy(map_to_w(G, z, label))
    print(f"GenForce 256 config (26.1M params), {args.threads} threads, best of {args.repeats}; "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()} (bf16 is native only with AVX512_BF16/AMX)")
    results = {}
    for dtype in ("fp32", "bf16"):
        if dtype == "bf16":  # as ohlora's synthesize() does for bf16 on CPU
            G.synthesis.to(memory_format=torch.channels_last)
        for batch in (1, 8):
            wb = w[:batch]

            def batched(wb=wb, dtype=dtype):
                with torch.no_grad(), (torch.autocast("cpu", torch.bfloat16) if dtype == "bf16" else _null()):
                    G.synthesis(G.truncation(wb))

            results[(dtype, batch)] = images_per_second(batched, batch, args.repeats)
            print(f"  {dtype} batch {batch}: {results[(dtype, batch)]:.2f} img/s (one forward of the whole batch)")
    G.synthesis.to(memory_format=torch.contiguous_format)
    per_sample = images_per_second(lambda: synthesize(G, w), 8, args.repeats)
    print(f"  fp32, 8 images one at a time (ohlora's exact CPU path): {per_sample:.2f} img/s")
    for batch in (1, 8):
        print(f"  bf16 / fp32 at batch {batch}: {results[('bf16', batch)] / results[('fp32', batch)]:.2f}x")
    if args.genforce:
        compare_genforce(G, w, args)
    compare_genforce_ops(G, w, args, results)
    for batch in (1, 8):
        print(f"  vs GenForce figures of COMPUTE-NOTES (another machine of this kind, not this run) batch {batch}: "
              f"{results[('fp32', batch)] / NOTES_REFERENCE[batch]:.2f}x ({NOTES_REFERENCE[batch]} img/s)")
    # synth overhead: one edited frame from a cached w vs the raw forward
    dirs = np.linalg.qr(np.random.default_rng(0).standard_normal((512, 3)))[0].T.astype(np.float32)
    w0 = w[0].numpy()

    def raw():
        with torch.no_grad():
            G.synthesis(G.truncation(w[:1]))

    def frame():
        wp = edit_wp(w0, dirs, np.array([[0.4, -1.0, 0.3]], np.float32), G.num_layers)
        synthesize(G, wp)

    t_raw = 1 / images_per_second(raw, 1, args.repeats + 1)
    t_frame = 1 / images_per_second(frame, 1, args.repeats + 1)
    print(f"  synth frame from cached w: {t_frame * 1000:.0f} ms vs raw forward {t_raw * 1000:.0f} ms "
          f"→ {t_frame / t_raw:.3f}x")


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *a):
        return False


def compare_genforce_ops(G, w, args, results) -> None:
    """Side by side, same weights, measured alternately: GenForce's op sequence vs ohlora's module."""
    from genforce_ops import genforce_synthesis

    sd = G.state_dict()
    for batch in (1, 8):
        wp = G.truncation(w[:batch])
        best = {"ohlora": float("inf"), "genforce": float("inf")}
        fns = {"ohlora": lambda: G.synthesis(wp), "genforce": lambda: genforce_synthesis(sd, wp, resolution=256)}
        with torch.no_grad():
            for fn in fns.values():
                fn()
            for _ in range(args.repeats + 1):
                for name, fn in fns.items():
                    t = time.perf_counter()
                    fn()
                    best[name] = min(best[name], time.perf_counter() - t)
            diff = (genforce_synthesis(sd, wp, resolution=256) - G.synthesis(wp)).abs().max().item()
        o, r = batch / best["ohlora"], batch / best["genforce"]
        print(f"  vs GenForce op sequence (same weights, alternating runs) batch {batch}: ohlora {o:.2f} / "
              f"GenForce {r:.2f} img/s = {o / r:.2f}x; max |diff| {diff:.1e}")


def compare_genforce(G, w, args) -> None:
    sys.path.insert(0, args.genforce)
    from models.stylegan_generator import StyleGANGenerator as Reference  # noqa: E402 — user-supplied checkout

    ref = Reference(256, label_size=0).eval()
    sd = {k: v for k, v in G.state_dict().items() if k != "mapping.label_weight" and not k.startswith("mapping.dense0")}
    ref.load_state_dict(sd, strict=False)
    for batch in (1, 8):
        wp = G.truncation(w[:batch])

        def ref_fn(wp=wp):
            with torch.no_grad():
                ref.synthesis(wp)

        def own_fn(wp=wp):
            with torch.no_grad():
                G.synthesis(wp)

        r, o = images_per_second(ref_fn, batch, args.repeats), images_per_second(own_fn, batch, args.repeats)
        with torch.no_grad():
            diff = (ref.synthesis(wp)["image"] - G.synthesis(wp)).abs().max().item()
        print(f"  vs GenForce (this run) batch {batch}: ohlora {o:.2f} / GenForce {r:.2f} img/s = {o / r:.2f}x; "
              f"max |diff| {diff:.2e}")


if __name__ == "__main__":
    main()
