"""The GPU check: every stage on a CUDA device at 256 px, bounded to a few minutes, with the figures.

    python bench/gpu_check.py                    # on a machine with CUDA (about 3 minutes)
    python bench/gpu_check.py --device cpu --quick   # the same code paths on the CPU, small sizes (a smoke run)

With a GenForce-layout checkpoint of random weights (the 256 config, written here) and with the embedded
model, it prints:
- G img/s at fp32, fp16 and bf16 vs the GenForce op sequence on the same weights (bench/genforce_ops.py);
- the max pixel difference of fp16 / bf16 renders vs fp32, and of device vs CPU renders of the same seeds;
- generate + score img/s (stage functions, catalog, PNG writer thread);
- a fine-tune step time (G + D step, batch 8);
- that score, filter --export, synth (edit, sweep, animation) and eval run on the device.
``--out DIR`` also writes the figures as ``gpu_check.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from typer.testing import CliRunner

from ohlora_cli.catalog.db import open_catalog
from ohlora_cli.cli import app
from ohlora_cli.config import GenerateConfig
from ohlora_cli.models.inference import latents_for_seeds, map_to_w, pick_device, render, synthesize
from ohlora_cli.models.stylegan import (DiscriminatorConfig, GeneratorConfig, StyleGANDiscriminator,
                                        StyleGANGenerator, to_uint8)
from ohlora_cli.stages import generate
from ohlora_cli.training.gan import GanTrainer, TrainConfig

sys.path.insert(0, str(Path(__file__).parent))
from genforce_ops import genforce_synthesis  # noqa: E402

FIGURES: dict = {}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(fn, n: int, device: torch.device, budget: float) -> float:
    """Images/s of ``fn`` (which makes ``n`` images), best of repeated runs within ``budget`` seconds."""
    fn()
    sync(device)
    best, start = float("inf"), time.perf_counter()
    while True:
        t = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t)
        if time.perf_counter() - start > budget:
            return n / best


def note(key: str, value, text: str) -> None:
    FIGURES[key] = value
    print(text, flush=True)


def genforce_checkpoint(path: Path, resolution: int) -> tuple[StyleGANGenerator, StyleGANDiscriminator]:
    """A GenForce-layout file (generator / discriminator / generator_smooth) of random weights."""
    torch.manual_seed(0)
    small = {} if resolution >= 256 else {"fmaps_base": 1024, "fmaps_max": 64}
    G = StyleGANGenerator(GeneratorConfig(resolution, label_size=7, **small)).eval()
    D = StyleGANDiscriminator(DiscriminatorConfig(resolution, label_size=7, **small))
    torch.save({"generator": G.state_dict(), "discriminator": D.state_dict(), "generator_smooth": G.state_dict()},
               path)
    return G, D


def generator_speed(G: StyleGANGenerator, device: torch.device, batch: int, budget: float) -> None:
    G = G.to(device)
    z, label = latents_for_seeds(range(batch), G.cfg.z_dim, G.cfg.label_size)
    w = torch.from_numpy(map_to_w(G, z, label, device)).to(device)
    wp = G.truncation(w)
    sd = G.state_dict()
    res = G.cfg.resolution
    with torch.no_grad():
        ref = rate(lambda: genforce_synthesis(sd, wp, resolution=res), batch, device, budget)
        note("genforce_ops_fp32_img_s", round(ref, 1), f"GenForce op sequence, fp32, batch {batch}: {ref:.1f} img/s")
        base = to_uint8(synthesize(G, w, device=device))
        for dtype in ("fp32", "fp16", "bf16"):
            if dtype == "fp16" and device.type != "cuda":
                continue
            own = rate(lambda d=dtype: synthesize(G, w, device=device, dtype=d), batch, device, budget)
            diff = int(np.abs(to_uint8(synthesize(G, w, device=device, dtype=dtype)).astype(int) - base).max())
            note(f"ohlora_{dtype}_img_s", round(own, 1),
                 f"ohlora {dtype}, batch {batch}: {own:.1f} img/s = {own / ref:.2f}x the GenForce ops; "
                 f"max pixel difference vs fp32 {diff}")
            FIGURES[f"max_pixel_diff_{dtype}_vs_fp32"] = diff
    if device.type != "cpu":
        seeds = 4
        cpu_G = G.to("cpu")
        cpu_images = render(cpu_G, map_to_w(cpu_G, z[:seeds], label[:seeds]))
        G = G.to(device)
        dev_images = render(G, map_to_w(G, z[:seeds], label[:seeds], device), device=device)
        diff = int(np.abs(dev_images.astype(int) - cpu_images).max())
        note("max_pixel_diff_device_vs_cpu", diff, f"{device} vs CPU renders of the same {seeds} seeds: max pixel "
                                                    f"difference {diff}")


def generate_and_score(catalog_path: Path, model: str, n: int, device: torch.device, label: str) -> None:
    catalog = open_catalog(catalog_path)
    try:
        cfg = GenerateConfig(n=n, model=model, device=str(device), score=True,
                             save_images=catalog_path.parent / f"images-{label}")
        t = time.perf_counter()
        r = generate.run(catalog, cfg)
        sec = time.perf_counter() - t
    finally:
        catalog.close()
    note(f"generate_score_img_s_{label}", round(r.new / sec, 1),
         f"generate --score --save-images, {label}: {r.new} images in {sec:.1f} s = {r.new / sec:.1f} img/s")


def finetune_step(G: StyleGANGenerator, D: StyleGANDiscriminator, device: torch.device, label: str,
                  steps: int) -> None:
    G, D = G.to(device).train(), D.to(device)
    res = G.cfg.resolution
    real = torch.rand(64, 3, res, res) * 2 - 1
    labels = torch.randn(64, 7)

    def source(step: int, batch: int):
        idx = torch.arange(step * batch, (step + 1) * batch) % 64
        return real[idx], labels[idx]

    with tempfile.TemporaryDirectory() as tmp:
        trainer = GanTrainer(G, D, source, TrainConfig(steps=steps + 1, batch_size=8, checkpoint_every=10**9,
                                                       log_every=10**9), Path(tmp) / "run")
        trainer.train_step()
        sync(device)
        t = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        sync(device)
        sec = (time.perf_counter() - t) / steps
    note(f"finetune_step_s_{label}", round(sec, 4), f"fine-tune step (G + D, batch 8), {label}: {sec * 1000:.0f} ms")


def stages_run(tmp: Path, device: torch.device, model: str) -> None:
    runner = CliRunner()
    cat = str(tmp / "stages.db")
    commands = [
        ["generate", "--n", "64", "--model", model],
        ["score", "--model", model],
        ["vectorfind", "--model", model, "--groups", "2", "--group-by", "hair_color"],
        ["filter", "--model", model, "--name", "all", "--rule", "eyes>=-100", "--export", str(tmp / "export")],
        ["synth", "--model", model, "--seed", "3", "--eyes", "1", "--out", str(tmp / "e.png")],
        ["synth", "--model", model, "--seed", "3", "--sweep", "mouth=-2:2:5", "--out", str(tmp / "s.png")],
        ["synth", "--model", model, "--image", "1", "--animate", str(tmp / "a.gif"), "--out", str(tmp / "a.png")],
        ["eval", "--model", model, "--cases", "2", "--out", str(tmp / "ev")],
        ["finetune", "--model", model, "--selection", "all", "--out", "ft", "--steps", "2", "--monitor-every", "0",
         "--runs", str(tmp / "runs")],
    ]
    ok = []
    for args in commands:
        t = time.perf_counter()
        device_args = [] if args[0] == "vectorfind" else ["--device", str(device)]  # vectorfind: sklearn on the CPU
        r = runner.invoke(app, [*args, *device_args, "--catalog", cat, "--quiet"])
        status = "ok" if r.exit_code == 0 else f"FAILED ({r.exit_code}): {(r.stderr or str(r.exception))[-300:]}"
        print(f"  {args[0]:<10} {time.perf_counter() - t:6.1f} s  {status}", flush=True)
        ok.append(r.exit_code == 0)
    note("stages_ok", all(ok), f"every stage on {device}: {'ok' if all(ok) else 'SOME FAILED'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run of the code paths on a CPU)")
    ap.add_argument("--budget", type=float, default=8.0, help="seconds per timing")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    t0 = time.perf_counter()
    device = pick_device(args.device)
    res, batch, n_gen, n_emb, steps = (32, 2, 8, 16, 1) if args.quick else (256, 32, 512, 4000, 10)
    budget = 0.5 if args.quick else args.budget
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"ohlora GPU check on {device} ({name}), torch {torch.__version__}, {res} px", flush=True)
    FIGURES.update(device=str(device), device_name=name, torch=torch.__version__, resolution=res)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        G, D = genforce_checkpoint(tmp / "genforce256.pt", res)
        print("-- generator speed and numerics (GenForce layout, random weights)", flush=True)
        generator_speed(G, device, batch, budget)
        print("-- generate + score (parser + filter CNNs), stage functions", flush=True)
        generate_and_score(tmp / "gs.db", str(tmp / "genforce256.pt"), n_gen, device, f"genforce-{res}px")
        generate_and_score(tmp / "gs.db", "synthetic-base", n_emb, device, "embedded-64px")
        print("-- fine-tune step", flush=True)
        finetune_step(G, D, device, f"genforce-{res}px", steps)
        emb = StyleGANGenerator(GeneratorConfig(64, label_size=7, fmaps_base=1024, fmaps_max=64))
        emb_d = StyleGANDiscriminator(DiscriminatorConfig(64, label_size=7, fmaps_base=1024, fmaps_max=64))
        finetune_step(emb, emb_d, device, "embedded-64px", steps)
        print("-- every stage through the CLI, embedded model", flush=True)
        stages_run(tmp, device, "synthetic-base")
    FIGURES["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"gpu check finished in {FIGURES['seconds']:.0f} s", flush=True)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "gpu_check.json").write_text(json.dumps(FIGURES, indent=2) + "\n")


if __name__ == "__main__":
    main()
