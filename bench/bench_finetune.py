"""Fine-tuning throughput of the 64×64 synthetic model on CPU: images/s and sec/kimg per preset
(v8: mapping + 4×4 block, batch 8; v1: mapping only, batch 16, style mixing 0.9; all: everything,
batch 8), R1 every step as the original.  Real images are rendered faces.

    python bench/bench_finetune.py [--steps 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from ohlora_cli.models.checkpoints import load_checkpoint
    from ohlora_cli.catalog.registry import embedded_generators
    from ohlora_cli.stages.finetune import PRESET_BATCH, PRESET_STYLE_MIXING, SelectionImages
    from ohlora_cli.synthetic import renderer
    from ohlora_cli.training.gan import GanTrainer, TrainConfig, preset_patterns, trainable_counts

    seeds = np.arange(256)
    images, _ = renderer.render(renderer.sample_attributes(seeds), seeds, 64)
    labels = np.random.default_rng(0).standard_normal((256, 7)).astype(np.float32)
    ckpt = load_checkpoint(embedded_generators()["synthetic-base"].path)
    print(f"fine-tuning throughput, synthetic-base 64 px, CPU {args.threads} thread(s), {args.steps} steps each:")
    print(f"{'preset':<7} {'batch':>5} {'G params':>10} {'D params':>10} {'img/s':>7} {'sec/kimg':>9} {'s/step':>7}")
    for preset in ("v8", "v1", "all"):
        G, D = ckpt.build_generator().train(), ckpt.build_discriminator().train()
        g, d = preset_patterns(preset, D)
        cfg = TrainConfig(steps=args.steps + 2, batch_size=PRESET_BATCH[preset], style_mixing_prob=PRESET_STYLE_MIXING[preset],
                          g_train=g, d_train=d, checkpoint_every=10**9, log_every=10**9)
        with tempfile.TemporaryDirectory() as tmp:
            trainer = GanTrainer(G, D, SelectionImages(images, labels, 0), cfg, tmp)
            for _ in range(2):  # warm-up
                trainer.train_step()
            t = time.perf_counter()
            for _ in range(args.steps):
                trainer.train_step()
            sec = time.perf_counter() - t
        n_img = args.steps * cfg.batch_size
        gc, dc = trainable_counts(G, D, g, d)
        print(f"{preset:<7} {cfg.batch_size:>5} {gc:>10,} {dc:>10,} {n_img / sec:>7.1f} {sec / n_img * 1000:>9.1f} "
              f"{sec / args.steps:>7.3f}")


if __name__ == "__main__":
    main()
