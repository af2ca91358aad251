"""Latents from seeds, z → w, and w / wp → uint8 images.  Used by every stage that renders.

Determinism contract:
- z and label come from the sample's own seed (``numpy.random.RandomState(seed).randn``, the
  stylegan2-ada convention), so they never depend on batch composition.
- ``map_to_w`` is bit-identical at any batch size (the generator's inference linears are
  batch-invariant), so a stored w equals a recomputed one.
- ``render`` on CPU runs the synthesis one sample at a time, each on one thread (several samples at
  once on several threads): convolution kernels are chosen by batch size and split by thread count,
  and one-at-a-time is as fast on CPU (measured in ``bench/bench_generator.py``), so an image
  re-rendered from its catalog row is bit-identical whatever ``--batch-size`` or ``--threads`` made
  it.  On CUDA it runs whole batches; images then agree to float rounding (≤ 1 level of 255).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Callable, Literal

import numpy as np
import torch

from ohlora_cli.errors import UsageError
from ohlora_cli.models.devices import cpu_parallel, pick_device, to_host
from ohlora_cli.models.stylegan import NoiseMode, StyleGANGenerator, to_uint8

__all__ = ["latents_for_seeds", "pick_device", "map_to_w", "synthesize", "render", "label_directions"]

LabelMode = Literal["random", "zero", "none"]
DType = Literal["fp32", "bf16", "fp16"]


def latents_for_seeds(seeds: np.ndarray | list[int], z_dim: int, label_size: int,
                      label_mode: LabelMode = "random") -> tuple[np.ndarray, np.ndarray | None]:
    """Per-seed ``z`` (N, z_dim) and label (N, label_size) — label drawn right after z from the same stream."""
    seeds = np.asarray(seeds, dtype=np.int64)
    z = np.empty((len(seeds), z_dim), np.float32)
    label = np.zeros((len(seeds), label_size), np.float32) if label_size else None
    for i, seed in enumerate(seeds):
        draw = np.random.RandomState(int(seed)).randn(z_dim + (label_size if label_mode == "random" else 0))
        z[i] = draw[:z_dim]
        if label is not None and label_mode == "random":
            label[i] = draw[z_dim:]
    return z, label


@torch.no_grad()
def map_to_w(G: StyleGANGenerator, z: np.ndarray, label: np.ndarray | None,
             device: torch.device = torch.device("cpu")) -> np.ndarray:
    """z (+ label) → w (N, w_dim) float32, batch-invariant."""
    zt = torch.from_numpy(np.ascontiguousarray(z, np.float32)).to(device)
    lt = torch.from_numpy(np.ascontiguousarray(label, np.float32)).to(device) if label is not None else None
    return to_host(G.mapping(zt, lt).float())


def _autocast(device: torch.device, dtype: DType):
    if dtype == "fp32" or device.type == "meta":
        return nullcontext()
    if dtype == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    if dtype == "fp16":
        if device.type != "cuda":
            raise UsageError("--dtype fp16 needs a CUDA device", "Use --dtype fp32 (or bf16) on the CPU")
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    raise UsageError(f"--dtype must be fp32, bf16 or fp16, not {dtype!r}", "Pass --dtype fp32")


@torch.no_grad()
def synthesize(G: StyleGANGenerator, w: np.ndarray | torch.Tensor, *, psi: float = 1.0, trunc_layers: int = 0,
               noise_mode: NoiseMode = "const", device: torch.device = torch.device("cpu"),
               dtype: DType = "fp32", advance: Callable[[int], None] | None = None) -> torch.Tensor:
    """w (N, w_dim) or wp (N, L, w_dim) → float images (N, 3, R, R) in about [-1, 1]; ``advance(k)`` after
    each k images (one at a time on CPU, the batch elsewhere) drives a progress bar."""
    wt = torch.as_tensor(np.asarray(w, np.float32) if isinstance(w, np.ndarray) else w).to(device)
    wp = G.truncation(wt, psi, trunc_layers)
    if dtype == "bf16" and device.type == "cpu":
        # oneDNN's bf16 convolutions need channels-last; NCHW bf16 falls back to a ~25x slower path
        G.synthesis.to(memory_format=torch.channels_last)
    if device.type == "cpu":
        _autocast(device, dtype)  # refuses a dtype the CPU cannot run, before any work
        return torch.cat(_synthesize_each(G, wp, noise_mode, device, dtype, advance)).float()
    with _autocast(device, dtype):
        images = G.synthesis(wp, noise_mode)
    if advance is not None:
        advance(wp.shape[0])
    return images.float()


def _synthesize_each(G: StyleGANGenerator, wp: torch.Tensor, noise_mode: NoiseMode, device: torch.device,
                     dtype: DType, advance: Callable[[int], None] | None) -> list[torch.Tensor]:
    """The CPU path: each sample on its own, on one intra-op thread, up to the command's thread count of
    samples at once (:func:`~ohlora_cli.models.devices.cpu_parallel`).

    A 64 px synthesis at batch 1 is hundreds of small kernels: splitting each of them over two OpenMP
    threads costs more in wake-ups than it gains (120 renders of ``synthetic-base``: 1.35 s on one thread,
    1.92 s on two with passive waits, 1.14 s on two samples at once).  And since every sample runs on one
    thread, an image's bits do not depend on the thread count either.
    """
    def one(i: int) -> torch.Tensor:
        with _autocast(device, dtype):  # autocast is per thread
            return G.synthesis(wp[i:i + 1], noise_mode)

    return cpu_parallel(one, wp.shape[0], device, done=(lambda i, part: advance(1)) if advance is not None else None)


def render(G: StyleGANGenerator, w: np.ndarray | torch.Tensor, **kwargs) -> np.ndarray:
    """w or wp → uint8 RGB images (N, R, R, 3), the seed's post-processing."""
    return to_uint8(synthesize(G, w, **kwargs))


def label_directions(G: StyleGANGenerator, label_dims: list[int], seeds) -> np.ndarray:
    """(K, w_dim) unit directions in w along which a conditional generator's label dims move: the mean of
    w(label + e_k) - w(label) over ``seeds`` (e.g. directions for a studio or a test without vectorfind)."""
    z, label = latents_for_seeds(seeds, G.cfg.z_dim, G.cfg.label_size)
    w0 = map_to_w(G, z, label)
    out = []
    for k in label_dims:
        moved = label.copy()
        moved[:, k] += 1.0
        d = (map_to_w(G, z, moved) - w0).mean(0)
        out.append(d / np.linalg.norm(d))
    return np.stack(out).astype(np.float32)
