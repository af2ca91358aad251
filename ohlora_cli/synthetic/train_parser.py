"""Recipe of the shipped synthetic face parser (``assets/synthetic-parser.pt``), and its evaluation.

Training faces are rendered on the fly from seeds >= ``TRAIN_SEED_MIN`` (seeds 0..99_999 are held
out for evaluation), then degraded so the parser also reads GAN-generated images: Gaussian blur,
additive noise, brightness / contrast / colour jitter and JPEG round trips (``augment``). The
augmentation is photometric only, so the true map needs no transform. Loss: class-weighted
cross-entropy (small classes: brows, eyes, nose, lips, inner mouth weighted up) plus a soft Dice
term, AdamW with linear warm-up + cosine decay. Everything is drawn from ``seed``: the face seeds,
the augmentation and the initial weights.

    python -m ohlora_cli.synthetic.train_parser --steps 1400 --batch-size 32 --seed 0

trains on one CPU thread, evaluates on 1000 held-out faces (seeds 0..999) and prints per-class IoU
and per-property agreement (Pearson r of ``compute_properties_batch`` on predicted vs true maps).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ohlora_cli.files import write_atomic
from ohlora_cli.models.checkpoints import read_file
from ohlora_cli.models.parsers import (
    SYNTHETIC_PARSER_FILE,
    ParserNetConfig,
    SyntheticParser,
    SyntheticParserNet,
    images_to_tensor,
    save_parser_weights,
)
from ohlora_cli.properties.algorithms import PROPERTY_NAMES, compute_properties_batch
from ohlora_cli.synthetic.renderer import (
    CLASS_NAMES,
    NUM_CLASSES,
    render,
    sample_attributes,
)

TRAIN_SEED_MIN = 1_000_000
TRAIN_SEED_MAX = 2**31 - 1
HELD_OUT_SEEDS = 100_000  # seeds 0..99_999: evaluation only
# Cross-entropy weights in CLASS_NAMES order: the small classes count more.
CLASS_WEIGHTS = (1.0, 1.0, 4.0, 4.0, 3.0, 3.0, 2.0, 3.0, 3.0, 3.0, 1.0)
DICE_WEIGHT = 0.5
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4
WARMUP_STEPS = 50
MIN_LR_FRACTION = 0.02


# ---------------------------------------------------------------- augmentation


def augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photometric degradations of uint8 (N, R, R, 3) RGB faces; each face draws its own.

    Per face, independently: Gaussian blur sigma in [0, 1.2] px (p = 0.5), brightness / contrast /
    per-channel gain jitter (p = 0.8), additive Gaussian noise sigma in [1, 8] (p = 0.4), and a JPEG
    round trip at quality 30..95 (p = 0.3). About 4% of faces stay untouched.
    """
    import cv2

    out = np.empty_like(images)
    for i, im in enumerate(images):
        x = im.astype(np.float32)
        if rng.random() < 0.5:
            sigma = rng.uniform(0.0, 1.2)
            if sigma > 0.1:
                x = cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
        if rng.random() < 0.8:
            mean = x.mean()
            contrast = rng.uniform(0.75, 1.25)
            gain = rng.uniform(0.9, 1.1, size=3).astype(np.float32)
            x = ((x - mean) * contrast + mean + rng.uniform(-25.0, 25.0)) * gain
        if rng.random() < 0.4:
            x += rng.normal(0.0, rng.uniform(1.0, 8.0), size=x.shape).astype(np.float32)
        y = np.clip(x + 0.5, 0, 255).astype(np.uint8)
        if rng.random() < 0.3:
            quality = int(rng.integers(30, 96))
            ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(y[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                y = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
        out[i] = y
    return out


def training_batch(rng: np.random.Generator, batch_size: int, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Fresh faces from seeds >= ``TRAIN_SEED_MIN``: (augmented uint8 images, true maps)."""
    seeds = rng.integers(TRAIN_SEED_MIN, TRAIN_SEED_MAX, size=batch_size, dtype=np.int64)
    images, maps = render(sample_attributes(seeds), seeds, resolution)
    return augment(images, rng), maps


# ---------------------------------------------------------------- training


def _loss(logits, target, weights):
    import torch
    from torch.nn import functional as F

    ce = F.cross_entropy(logits, target, weight=weights)
    prob = logits.softmax(dim=1)
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(prob.dtype)
    inter = (prob * onehot).sum(dim=(0, 2, 3))
    denom = prob.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    present = onehot.sum(dim=(0, 2, 3)) > 0
    dice = 1.0 - (2.0 * inter + 1.0) / (denom + 1.0)
    return ce + DICE_WEIGHT * dice[present].mean() if present.any() else ce + 0.0 * torch.zeros(())


def _lr_factor(step: int, steps: int) -> float:
    if step < WARMUP_STEPS:
        return (step + 1) / WARMUP_STEPS
    t = (step - WARMUP_STEPS) / max(1, steps - WARMUP_STEPS)
    return MIN_LR_FRACTION + (1.0 - MIN_LR_FRACTION) * 0.5 * (1.0 + math.cos(math.pi * t))


def train_parser(out: Path, *, steps: int, batch_size: int, seed: int, resolution: int = 64,
                 channels: tuple[int, ...] = (16, 32, 48, 48), threads: int = 1,
                 log: Callable[[str], None] = print) -> dict:
    """Train a :class:`SyntheticParserNet` and save it to ``out`` atomically; return a summary dict."""
    import cv2
    import torch

    if steps < 1 or batch_size < 2:
        raise ValueError(f"need steps >= 1 and batch_size >= 2, got {steps} and {batch_size}")
    torch.set_num_threads(threads)
    cv2.setNumThreads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 0x9A45E])
    net = SyntheticParserNet(ParserNetConfig(resolution=resolution, channels=tuple(channels)))
    net = net.to(memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(net.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, steps))
    weights = torch.tensor(CLASS_WEIGHTS, dtype=torch.float32)

    t0 = time.perf_counter()
    running = None
    for step in range(steps):
        images, maps = training_batch(rng, batch_size, resolution)
        x = images_to_tensor(images).contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(maps.astype(np.int64))
        loss = _loss(net(x), y, weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if (step + 1) % 50 == 0 or step + 1 == steps:
            log(f"step {step + 1}/{steps}  loss {running:.4f}  lr {sched.get_last_lr()[0]:.2e}  "
                f"{time.perf_counter() - t0:.0f}s")

    wall = time.perf_counter() - t0
    net = net.to(memory_format=torch.contiguous_format).eval()
    recipe = {"module": "ohlora_cli.synthetic.train_parser", "steps": steps, "batch_size": batch_size,
              "seed": seed, "resolution": resolution, "channels": list(channels), "threads": threads,
              "learning_rate": LEARNING_RATE, "weight_decay": WEIGHT_DECAY, "warmup_steps": WARMUP_STEPS,
              "class_weights": list(CLASS_WEIGHTS), "dice_weight": DICE_WEIGHT,
              "train_seed_min": TRAIN_SEED_MIN, "torch": str(torch.__version__)}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_parser_weights(out, net, recipe=recipe, metrics={"final_loss": float(running), "train_seconds": wall})
    return {"path": str(out), "steps": steps, "final_loss": float(running), "train_seconds": wall,
            "parameters": sum(p.numel() for p in net.parameters())}


# ---------------------------------------------------------------- evaluation


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / den) if den > 0 else float("nan")


def evaluate_parser(parser, n: int = 1000, seed_start: int = 0, resolution: int = 64,
                    batch_size: int = 250) -> dict:
    """Per-class IoU, mean IoU and per-property agreement on held-out faces ``seed_start..+n``.

    IoU per class is pooled over all ``n`` maps (intersection and union summed). Property
    agreement: Pearson r between ``compute_properties_batch`` on the parser's maps (with its crops)
    and on the true maps (with the rendered images), per property in ``PROPERTY_NAMES`` order.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    conf = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    pred_props, true_props = [], []
    pixel_ok = 0
    for s in range(seed_start, seed_start + n, batch_size):
        seeds = np.arange(s, min(s + batch_size, seed_start + n), dtype=np.int64)
        images, maps = render(sample_attributes(seeds), seeds, resolution)
        res = parser.parse(images)
        pred = res.maps
        if pred.shape != maps.shape:
            import cv2

            pred = np.stack([cv2.resize(m, maps.shape[1:][::-1], interpolation=cv2.INTER_NEAREST) for m in pred])
        conf += np.bincount(maps.ravel().astype(np.int64) * NUM_CLASSES + pred.ravel(),
                            minlength=NUM_CLASSES ** 2).reshape(NUM_CLASSES, NUM_CLASSES)
        pixel_ok += int((pred == maps).sum())
        true_props.append(compute_properties_batch(maps, images))
        pred_props.append(compute_properties_batch(res.maps, res.crops))
    inter = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - np.diag(conf)
    iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    t, p = np.concatenate(true_props), np.concatenate(pred_props)
    return {
        "n": n, "seed_start": seed_start, "resolution": resolution,
        "iou": {name: float(v) for name, v in zip(CLASS_NAMES, iou)},
        "mean_iou": float(np.nanmean(iou)),
        "pixel_accuracy": float(pixel_ok / conf.sum()),
        "property_r": {name: _pearson(p[:, j], t[:, j]) for j, name in enumerate(PROPERTY_NAMES)},
    }


def format_report(metrics: dict) -> str:
    """The two tables (IoU per class, Pearson r per property) as Markdown."""
    lines = [f"Held-out faces: seeds {metrics['seed_start']}..{metrics['seed_start'] + metrics['n'] - 1} "
             f"at {metrics['resolution']} px", "", "| class | IoU |", "|---|---|"]
    lines += [f"| {name} | {v:.4f} |" for name, v in metrics["iou"].items()]
    lines += [f"| **mean (11 classes)** | **{metrics['mean_iou']:.4f}** |", "",
              f"Pixel accuracy: {metrics['pixel_accuracy']:.4f}", "",
              "| property | Pearson r (parser maps vs true maps) |", "|---|---|"]
    lines += [f"| {name} | {v:.4f} |" for name, v in metrics["property_r"].items()]
    return "\n".join(lines)


def _plain(x):
    """Numbers, strings, lists and dicts only (numpy scalars become Python floats/ints)."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    return x


def _attach_metrics(path: Path, metrics: dict) -> None:
    """Rewrite the weight file with the evaluation added under ``metrics`` (atomically).

    The file must stay loadable by the safe loader, so only plain types go in.
    """
    import torch

    obj = read_file(path)
    obj["metrics"] = {**obj.get("metrics", {}), "eval": _plain(metrics)}
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ohlora_cli.synthetic.train_parser",
                                 description="Train and evaluate the synthetic face parser.",
                                 epilog="example: python -m ohlora_cli.synthetic.train_parser "
                                        "--steps 1400 --batch-size 32 --seed 0")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=SYNTHETIC_PARSER_FILE)
    ap.add_argument("--eval-n", type=int, default=1000)
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    summary = train_parser(args.out, steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                           resolution=args.resolution, threads=args.threads, log=log)
    metrics = evaluate_parser(SyntheticParser(args.out), n=args.eval_n, seed_start=0, resolution=args.resolution)
    _attach_metrics(args.out, metrics)
    print(format_report(metrics))
    print(f"\ntrained {summary['steps']} steps in {summary['train_seconds']:.0f} s "
          f"({summary['parameters']} parameters); total {time.perf_counter() - t0:.0f} s; "
          f"file {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
