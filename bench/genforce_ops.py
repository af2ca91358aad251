"""GenForce StyleGAN v1's synthesis forward, op for op, as a plain function of a state dict.

Written from GenForce's published op order (ConvBlock: upsample → conv / fused conv_transpose →
blur → noise → bias → LeakyReLU → instance norm (mean/sqrt form) → style; weights rescaled on
every call; ``F.linear`` styles; ``const.repeat``).  It is the side-by-side baseline of
``bench_generator.py`` when no GenForce checkout is at hand, and a numerical cross-check of ohlora's
module: both read the same state dict.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def genforce_synthesis(sd: dict, wp: torch.Tensor, *, resolution: int, fused_min_res: int = 128) -> torch.Tensor:
    n_blocks = int(math.log2(resolution)) - 1
    x = None
    for b in range(n_blocks):
        res = 4 * 2**b
        for layer in (2 * b, 2 * b + 1):
            p = f"synthesis.layer{layer}."
            if layer == 0:
                x = sd[p + "const"].repeat(wp.shape[0], 1, 1, 1)
            else:
                weight = sd[p + "weight"]
                weight = weight * (math.sqrt(2.0) / np.sqrt(weight.shape[1] * 9))
                if layer == 2 * b and res >= fused_min_res:
                    weight = F.pad(weight, (1, 1, 1, 1, 0, 0, 0, 0), "constant", 0.0)
                    weight = weight[:, :, 1:, 1:] + weight[:, :, :-1, 1:] + weight[:, :, 1:, :-1] + weight[:, :, :-1, :-1]
                    x = F.conv_transpose2d(x, weight.permute(1, 0, 2, 3), stride=2, padding=1)
                else:
                    if layer == 2 * b:
                        x = F.interpolate(x, scale_factor=2, mode="nearest")
                    x = F.conv2d(x, weight, padding=1)
                if layer == 2 * b:
                    x = F.conv2d(x, sd[p + "blur.kernel"], padding=1, groups=x.shape[1])
            x = x + sd[p + "apply_noise.noise"] * sd[p + "apply_noise.weight"].view(1, -1, 1, 1)
            x = x + sd[p + "bias"].view(1, -1, 1, 1)
            x = F.leaky_relu(x, 0.2)
            x = x - torch.mean(x, dim=[2, 3], keepdim=True)
            x = x / torch.sqrt(torch.mean(x**2, dim=[2, 3], keepdim=True) + 1e-8)
            style = F.linear(wp[:, layer], sd[p + "style.weight"] * (1.0 / np.sqrt(wp.shape[-1])), sd[p + "style.bias"])
            style = style.view(-1, 2, x.shape[1], 1, 1)
            x = x * (style[:, 0] + 1) + style[:, 1]
    out = f"synthesis.output{n_blocks - 1}."
    weight = sd[out + "weight"] * (1.0 / np.sqrt(sd[out + "weight"].shape[1]))
    return F.conv2d(x, weight) + sd[out + "bias"].view(1, -1, 1, 1)
