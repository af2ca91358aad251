"""The one loader for generator/discriminator files: no other module knows a generator file's layout.

(Training-state files — the ``ohlora-train-state`` checkpoints of :mod:`ohlora_cli.training.gan` and
the warm-up state of the base recipe — are their writers' own formats; they are read back through
this module's safe :func:`read_file`, like every other weight file.)

Layouts understood:
- **ohlora**: ``{"format": "ohlora-stylegan", "g_config": {...}, "generator": sd, ...}`` (+ optional
  ``generator_smooth``, ``discriminator``/``d_config``, ``lineage``).
- **GenForce**: ``{"generator": sd, "discriminator": sd, "generator_smooth": sd, ...}``; the smoothed
  generator is preferred when present.
- **seed** (the Oh-LoRA project) and other bare state dicts: ``{"mapping.dense0.weight": ..., ...}``.

Architecture is inferred from tensor shapes when no config is stored.  Files are read with
``torch.load(weights_only=True)``: a pickle that carries anything but tensors and plain containers
is refused, never executed.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from ohlora_cli.errors import CheckpointError
from ohlora_cli.files import write_atomic
from ohlora_cli.models.stylegan import (
    INIT_RES,
    DiscriminatorConfig,
    GeneratorConfig,
    StyleGANDiscriminator,
    StyleGANGenerator,
)

OHLORA_FORMAT = "ohlora-stylegan"


@dataclass
class LoadedCheckpoint:
    """What a checkpoint file holds, as typed objects."""

    kind: str  # ohlora | genforce | bare
    g_config: GeneratorConfig
    generator_state: dict[str, torch.Tensor]
    d_config: DiscriminatorConfig | None = None
    discriminator_state: dict[str, torch.Tensor] | None = None
    lineage: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def build_generator(self, *, strict: bool = True) -> StyleGANGenerator:
        G = StyleGANGenerator(self.g_config)
        _load_into(G, self.generator_state, strict=strict, what="generator")
        return G.eval()

    def build_discriminator(self) -> StyleGANDiscriminator | None:
        if self.d_config is None or self.discriminator_state is None:
            return None
        D = StyleGANDiscriminator(self.d_config)
        _load_into(D, self.discriminator_state, strict=True, what="discriminator")
        return D


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_file(path: Path | str) -> Any:
    """``torch.load`` restricted to tensors and plain containers; clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist", "Check the path passed to --model")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protocol notices; errors still raise
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 — torch raises many types for bad files
        msg = str(err)
        if "Unsupported global" in msg or "GLOBAL " in msg:
            found = re.search(r"GLOBAL ([\w.]+)", msg) or re.search(r"global ([\w.]+)", msg)
            what = f" ({found.group(1)})" if found else ""
            raise CheckpointError(
                f"checkpoint {path} contains Python objects other than tensors{what}; refusing to load it",
                "ohlora never executes code from weight files: re-save it as a plain state dict") from None
        raise CheckpointError(f"checkpoint {path} is not a readable PyTorch file ({type(err).__name__})",
                              "Check the file is complete and was written by torch.save") from None


def load_checkpoint(path: Path | str, *, g_overrides: dict | None = None) -> LoadedCheckpoint:
    """Read any supported file into a :class:`LoadedCheckpoint` (configs inferred or stored)."""
    path = Path(path)
    obj = read_file(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(obj).__name__}, not a state dict",
                              "Pass a GenForce, Oh-LoRA or ohlora generator file")
    if obj.get("format") == OHLORA_FORMAT:
        g_cfg = _config_from_dict(GeneratorConfig, obj["g_config"])
        g_state = obj.get("generator_smooth") or obj["generator"]
        d_cfg = _config_from_dict(DiscriminatorConfig, obj["d_config"]) if obj.get("d_config") else None
        return LoadedCheckpoint("ohlora", g_cfg, g_state, d_cfg, obj.get("discriminator"),
                                dict(obj.get("lineage") or {}), {k: v for k, v in obj.items() if k == "meta"})
    if "generator" in obj or "generator_smooth" in obj:
        g_state = obj.get("generator_smooth") or obj["generator"]
        kind = "genforce"
    elif any(k.startswith("mapping.") for k in obj):
        g_state, kind = obj, "bare"
    else:
        keys = ", ".join(list(obj)[:5])
        raise CheckpointError(f"checkpoint {path} has no generator weights (keys: {keys})",
                              "Pass a GenForce, Oh-LoRA or ohlora generator file")
    if not isinstance(g_state, dict) or not all(isinstance(v, torch.Tensor) for v in g_state.values()):
        raise CheckpointError(f"checkpoint {path}: the generator entry is not a state dict",
                              "Pass a GenForce, Oh-LoRA or ohlora generator file")
    g_cfg = infer_generator_config(g_state, path, **(g_overrides or {}))
    d_state = obj.get("discriminator") if kind == "genforce" else None
    d_cfg = infer_discriminator_config(d_state) if isinstance(d_state, dict) else None
    return LoadedCheckpoint(kind, g_cfg, g_state, d_cfg, d_state if d_cfg else None)


ORIGINAL_CONDITIONAL_MBSTD_GROUP = 16
"""The original V3's conditional D is built with ``minibatch_std_group_size=16`` (docs/original.md §3), which
its bare state dict does not record; a bare conditional D file is read with it (GenForce's default is 4)."""


def load_discriminator(path: Path | str) -> StyleGANDiscriminator:
    """A discriminator kept in its own file (the original's ``stylegan_dis_*.pth``, a GenForce
    checkpoint's ``discriminator`` or an ohlora file), architecture inferred from shapes."""
    obj = read_file(path)
    state = obj.get("discriminator", obj) if isinstance(obj, dict) else None
    d_cfg = infer_discriminator_config(state) if isinstance(state, dict) else None
    if d_cfg is not None and isinstance(obj.get("d_config"), dict):  # an ohlora file records its D
        d_cfg = _config_from_dict(DiscriminatorConfig, {**d_cfg.to_dict(), **obj["d_config"]})
    elif d_cfg is not None and state is obj and d_cfg.label_size:
        d_cfg = replace(d_cfg, mbstd_group_size=ORIGINAL_CONDITIONAL_MBSTD_GROUP)
    if d_cfg is None:
        raise CheckpointError(f"{path} holds no discriminator weights",
                              "Pass the original's stylegan_dis_*.pth or a GenForce checkpoint")
    D = StyleGANDiscriminator(d_cfg)
    _load_into(D, state, strict=True, what="discriminator")
    return D


def save_checkpoint(path: Path, G: StyleGANGenerator, *, D: StyleGANDiscriminator | None = None,
                    G_smooth: StyleGANGenerator | None = None, lineage: dict | None = None,
                    meta: dict | None = None) -> None:
    """Write an ohlora file atomically (:mod:`ohlora_cli.files`)."""
    obj: dict[str, Any] = {"format": OHLORA_FORMAT, "g_config": G.cfg.to_dict(), "generator": G.state_dict(),
                           "lineage": lineage or {}, "meta": meta or {}}
    if G_smooth is not None:
        obj["generator_smooth"] = G_smooth.state_dict()
    if D is not None:
        obj["d_config"], obj["discriminator"] = D.cfg.to_dict(), D.state_dict()
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def _config_from_dict(cls, data: dict):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def _layer_indices(state: dict, prefix: str) -> list[int]:
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in state if (m := pat.match(k))})


def _fmaps(channels_by_res: dict[int, int]) -> tuple[int, int]:
    """(fmaps_base, fmaps_max) such that ``min(base // res, max)`` reproduces every observed count."""
    fmax = max(channels_by_res.values())
    below = [c * r for r, c in sorted(channels_by_res.items()) if c < fmax]
    base = below[0] if below else fmax * max(channels_by_res)
    if any(min(base // r, fmax) != c for r, c in channels_by_res.items()):
        raise ValueError(f"channel counts {channels_by_res} do not follow min(fmaps_base/res, fmaps_max)")
    return base, fmax


def infer_generator_config(state: dict, path: Path | str = "<state>", **overrides) -> GeneratorConfig:
    """Architecture from tensor shapes (resolution, z/w/label dims, mapping depth, channel rule)."""
    try:
        dense = _layer_indices(state, "mapping.dense")
        layers = _layer_indices(state, "synthesis.layer")
        num_layers = len(layers)
        resolution = INIT_RES * 2 ** (num_layers // 2 - 1)
        first_in = state["mapping.dense0.weight"].shape[1]
        label_size, label_dim = 0, 16
        if "mapping.label_weight" in state:
            label_size, label_dim = state["mapping.label_weight"].shape
        channels = {INIT_RES * 2**b: state[f"synthesis.layer{2 * b + 1}.weight"].shape[0]
                    for b in range(num_layers // 2)}
        base, fmax = _fmaps(channels)
        cfg = dict(resolution=resolution, z_dim=first_in - (label_dim if label_size else 0),
                   w_dim=state[f"mapping.dense{dense[-1]}.weight"].shape[0], label_size=label_size,
                   label_dim=label_dim, mapping_layers=len(dense),
                   mapping_fmaps=state["mapping.dense0.weight"].shape[0], fmaps_base=base, fmaps_max=fmax,
                   image_channels=state[f"synthesis.output{num_layers // 2 - 1}.weight"].shape[0])
        cfg.update(overrides)
        return GeneratorConfig(**cfg)
    except (KeyError, ValueError, IndexError) as err:
        raise CheckpointError(f"checkpoint {path} is not a StyleGAN generator this ohlora can read ({err})",
                              "Pass a GenForce StyleGAN (v1) or Oh-LoRA generator file") from None


def infer_discriminator_config(state: dict, **overrides) -> DiscriminatorConfig | None:
    """D architecture from shapes; None when the state dict is not a StyleGAN discriminator."""
    try:
        inputs = _layer_indices(state, "input")
        resolution = INIT_RES * 2 ** (len(inputs) - 1)
        channels = {resolution // 2**i: state[f"input{i}.weight"].shape[0] for i in inputs}
        base, fmax = _fmaps(channels)
        n = len(inputs)
        last = state[f"layer{2 * n}.weight"]
        hidden = state[f"layer{2 * n - 1}.weight"].shape[0]
        if last.shape[0] == 1:
            label_size, mode = last.shape[1] - hidden, "concat"
        else:
            label_size, mode = last.shape[0], "project"
        cfg = dict(resolution=resolution, label_size=label_size, label_mode=mode, fmaps_base=base,
                   fmaps_max=fmax, image_channels=state["input0.weight"].shape[1])
        cfg.update(overrides)
        return DiscriminatorConfig(**cfg)
    except (KeyError, ValueError, IndexError):
        return None


def _load_into(module: torch.nn.Module, state: dict, *, strict: bool, what: str) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        raise CheckpointError(f"{what} weight {k} has shape {tuple(state[k].shape)}, expected {tuple(own[k].shape)}",
                              "The file does not match the architecture; check --model")
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}" + (f" (+{len(missing) - 4} more)" if len(missing) > 4 else ""))
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:4])}" + (f" (+{len(unexpected) - 4} more)" if len(unexpected) > 4 else ""))
        raise CheckpointError(f"{what} state dict does not match: {'; '.join(parts)}",
                              "Pass a complete GenForce / Oh-LoRA / ohlora file")
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)


def describe(cfg: GeneratorConfig) -> str:
    """One line: ``256px z512+7 w512, 14 layers``."""
    label = f"+{cfg.label_size}" if cfg.label_size else ""
    return f"{cfg.resolution}px z{cfg.z_dim}{label} w{cfg.w_dim}, {cfg.num_layers} layers"


__all__ = ["LoadedCheckpoint", "load_checkpoint", "save_checkpoint", "sha256_file", "infer_generator_config",
           "infer_discriminator_config", "describe", "read_file"]
