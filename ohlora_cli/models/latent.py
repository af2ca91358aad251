"""A discriminator on w: (w, label) → realness, for fine-tuning the mapping network (``finetune --preset latent``).

The selection's images are the parent generator's own samples, so their w are in the catalog: the
mapping network can be fine-tuned to make w distributed like the selection's, judged by this small MLP,
while the synthesis network (and so every face a w draws) stays the parent's.  Its input is w
standardised by the reference set's mean and standard deviation (buffers, saved with the weights) and,
for a conditional generator, the label.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class LatentDiscriminatorConfig:
    w_dim: int = 512
    label_size: int = 0
    width: int = 256  # hidden units per layer
    layers: int = 3  # dense layers, the last one to the score

    def to_dict(self) -> dict:
        return asdict(self)


class LatentDiscriminator(nn.Module):
    """An MLP with leaky-ReLU (0.2) hidden layers on [standardised w, label]; one score per sample."""

    def __init__(self, cfg: LatentDiscriminatorConfig) -> None:
        super().__init__()
        if cfg.layers < 1 or cfg.width < 1 or cfg.w_dim < 1 or cfg.label_size < 0:
            raise ValueError(f"bad latent discriminator config {cfg}")
        self.cfg = cfg
        self.register_buffer("mean", torch.zeros(cfg.w_dim))
        self.register_buffer("std", torch.ones(cfg.w_dim))
        dims = [cfg.w_dim + cfg.label_size] + [cfg.width] * (cfg.layers - 1) + [1]
        self.dense = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))

    @torch.no_grad()
    def standardise_to(self, w: torch.Tensor) -> None:
        """Take the mean and standard deviation of reference w (N × w_dim) as the input's scale."""
        self.mean.copy_(w.mean(0))
        self.std.copy_(w.std(0).clamp(min=1e-3))

    def forward(self, w: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        if w.ndim != 2 or w.shape[1] != self.cfg.w_dim:
            raise ValueError(f"w must have shape (N, {self.cfg.w_dim}), got {tuple(w.shape)}")
        x = (w - self.mean) / self.std
        if self.cfg.label_size:
            if label is None or label.shape != (w.shape[0], self.cfg.label_size):
                raise ValueError(f"this discriminator needs a label of shape (N, {self.cfg.label_size})")
            x = torch.cat([x, label.to(x.dtype)], dim=1)
        for i, layer in enumerate(self.dense):
            x = layer(x)
            if i < len(self.dense) - 1:
                x = F.leaky_relu(x, 0.2)
        return x
