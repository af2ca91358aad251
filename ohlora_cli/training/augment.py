"""Differentiable augmentation for the discriminator (reals and fakes alike), and ADA's controller.

Two families, both written here from their papers (no torchvision):

- ``diffaug``: Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training": colour
  (brightness ±0.5, saturation ×[0, 2], contrast ×[0.5, 1.5]), translation by up to 1/8 of the image
  (zero padded) and cutout of a square half the image's side, applied to every image.
- ``ada``: Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data": each
  transform (x-flip, integer translation by up to 1/8, brightness, contrast, saturation, cutout) is
  applied to each image with probability ``p``; ``p`` is steered so that the overfitting heuristic
  r_t = E[sign(D(real))] stays near a target (0.6 in the paper).

Every op is differentiable in the images (the random parameters are not), so G learns through them.
Randomness comes from torch's global generator, which the trainer seeds per step: resumed runs stay
bit-for-bit.  Images are N×C×H×W in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ohlora_cli.models.devices import to_host

AUGMENTS = ("none", "diffaug", "ada")


def _uniform(n: int, like: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """n draws in [lo, hi), made on the CPU (the same on any device) and moved to ``like``'s device."""
    return (torch.rand(n) * (hi - lo) + lo).to(device=like.device, dtype=like.dtype)


def _mask(n: int, p: float, like: torch.Tensor) -> torch.Tensor:
    """N×1×1×1 of 1 where a transform applies (probability p), else 0."""
    return (torch.rand(n) < p).to(device=like.device, dtype=like.dtype).view(n, 1, 1, 1)


def _mix(x: torch.Tensor, y: torch.Tensor, on: torch.Tensor) -> torch.Tensor:
    return x + (y - x) * on


def brightness(x: torch.Tensor, p: float = 1.0) -> torch.Tensor:
    shift = _uniform(x.shape[0], x, -0.5, 0.5).view(-1, 1, 1, 1) * 2  # [-1, 1] images: ±0.5 of the [0, 1] range
    return _mix(x, x + shift, _mask(x.shape[0], p, x))


def saturation(x: torch.Tensor, p: float = 1.0) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    factor = _uniform(x.shape[0], x, 0.0, 2.0).view(-1, 1, 1, 1)
    return _mix(x, (x - mean) * factor + mean, _mask(x.shape[0], p, x))


def contrast(x: torch.Tensor, p: float = 1.0) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    factor = _uniform(x.shape[0], x, 0.5, 1.5).view(-1, 1, 1, 1)
    return _mix(x, (x - mean) * factor + mean, _mask(x.shape[0], p, x))


def xflip(x: torch.Tensor, p: float = 0.5) -> torch.Tensor:
    return _mix(x, x.flip(3), _mask(x.shape[0], p, x))


def translation(x: torch.Tensor, p: float = 1.0, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by whole pixels, up to ``ratio`` of its size, filling with zeros (grey)."""
    n, _, h, w = x.shape
    sh, sw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    dy = torch.randint(-sh, sh + 1, (n,)).to(x.device)
    dx = torch.randint(-sw, sw + 1, (n,)).to(x.device)
    on = (torch.rand(n) < p).to(x.device)
    dy, dx = dy * on, dx * on
    rows = torch.arange(h, device=x.device).view(1, h, 1) - dy.view(n, 1, 1)  # source row of each output row
    cols = torch.arange(w, device=x.device).view(1, 1, w) - dx.view(n, 1, 1)
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).to(x.dtype).unsqueeze(1)
    index = (rows.clamp(0, h - 1) * w + cols.clamp(0, w - 1)).view(n, 1, h * w).expand(-1, x.shape[1], -1)
    out = x.reshape(n, x.shape[1], h * w).gather(2, index).view_as(x)
    return out * inside


def cutout(x: torch.Tensor, p: float = 1.0, ratio: float = 0.5) -> torch.Tensor:
    """Zero a square of side ``ratio`` × size at a random centre (it may hang over the edge)."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n,)).to(x.device).view(n, 1, 1)
    cx = torch.randint(0, w + (1 - cw % 2), (n,)).to(x.device).view(n, 1, 1)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = cy - ch // 2, cx - cw // 2
    hole = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    keep = 1 - hole.to(x.dtype).unsqueeze(1) * _mask(n, p, x)
    return x * keep


def diffaug(x: torch.Tensor) -> torch.Tensor:
    """DiffAugment's 'color,translation,cutout' policy, every transform on every image."""
    return cutout(translation(contrast(saturation(brightness(x)))))


def ada_augment(x: torch.Tensor, p: float) -> torch.Tensor:
    """ADA's idea with this subset of its pipeline: each transform on each image with probability p."""
    if p <= 0:
        return x
    x = translation(xflip(x, p), p)
    x = contrast(saturation(brightness(x, p), p), p)
    return cutout(x, p)


@dataclass
class AdaController:
    """ADA's p: every ``interval`` D steps, p += sign(r_t − target) · images_seen / (speed_kimg · 1000).

    ``speed_kimg`` is how many thousand images p needs to go from 0 to 1 (500 in the paper, for runs of
    millions of images; fine-tunes here see a few thousand, so it is a setting).
    """

    target: float = 0.6
    interval: int = 4
    speed_kimg: float = 2.0
    p: float = 0.0
    _sum: float = 0.0
    _count: int = 0
    _steps: int = 0

    def update(self, real_logits: torch.Tensor) -> float:
        """Feed one D step's real logits; returns the p to use from now on."""
        signs = np.sign(to_host(real_logits.float()).ravel())  # zeros on the meta device
        self._sum += float(signs.sum())
        self._count += signs.size
        self._steps += 1
        if self._steps % self.interval == 0 and self._count:
            r_t = self._sum / self._count
            step = self._count / (self.speed_kimg * 1000)
            self.p = float(min(1.0, max(0.0, self.p + (step if r_t > self.target else -step))))
            self._sum, self._count = 0.0, 0
        return self.p

    def state(self) -> dict:
        return {"p": self.p, "sum": self._sum, "count": self._count, "steps": self._steps}

    def load(self, state: dict) -> None:
        self.p, self._sum = float(state["p"]), float(state["sum"])
        self._count, self._steps = int(state["count"]), int(state["steps"])


def overfit_heuristic(real_logits: torch.Tensor) -> float:
    """ADA's r_t = E[sign(D(x))] over real images: 0 when D cannot tell, 1 when it is sure of every real."""
    return float(np.sign(to_host(real_logits.float())).mean())
