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
import zipfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from ohlora_cli.errors import CheckpointError, OhloraError
from ohlora_cli.files import input_file, write_atomic
from ohlora_cli.models.stylegan import (
    INIT_RES,
    DiscriminatorConfig,
    GeneratorConfig,
    StyleGANDiscriminator,
    StyleGANGenerator,
)

OHLORA_FORMAT = "ohlora-stylegan"
MAX_CHECKPOINT_BYTES = 4 << 30  # tensor data a weight file may hold (GenForce's 1024 px G + D + G_smooth: ~0.4 GiB)
MAX_INFLATION = 2  # torch.save stores records uncompressed: more data than this × the file's size is a zip bomb
MAX_PARAMETERS = 200_000_000  # per network; the GenForce / Oh-LoRA 256 px generator has 26 M
FILE_FIX = "Pass a GenForce, Oh-LoRA or ohlora generator file"


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
    source: str = ""  # the file it came from, for messages

    def _what(self, net: str) -> str:
        return f"checkpoint {self.source}: {net}" if self.source else net

    def build_generator(self, *, strict: bool = True) -> StyleGANGenerator:
        """The network with the file's weights; its size and every tensor's shape are checked on the meta
        device first, so a file declaring a huge network is refused before anything is allocated."""
        _check_state(_shapes(StyleGANGenerator, self.g_config, self._what("generator")), self.generator_state,
                     strict=strict, what=self._what("generator"))
        G = StyleGANGenerator(self.g_config)
        _load_into(G, self.generator_state)
        return G.eval()

    def build_discriminator(self) -> StyleGANDiscriminator | None:
        if self.d_config is None or self.discriminator_state is None:
            return None
        _check_state(_shapes(StyleGANDiscriminator, self.d_config, self._what("discriminator")),
                     self.discriminator_state, strict=True, what=self._what("discriminator"))
        D = StyleGANDiscriminator(self.d_config)
        _load_into(D, self.discriminator_state)
        return D


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MB"


def _check_archive(path: Path) -> None:
    """The sizes a torch zip archive declares, read from its directory before anything is inflated:
    refuse more than :data:`MAX_CHECKPOINT_BYTES`, or more than :data:`MAX_INFLATION` × the file's size
    (records torch.save never compresses, i.e. a zip bomb)."""
    try:
        with zipfile.ZipFile(path) as z:
            declared = sum(info.file_size for info in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return  # not a zip (an old-style torch file, or junk torch.load will name)
    size = path.stat().st_size
    if declared > MAX_INFLATION * size + (1 << 20):
        raise CheckpointError(f"checkpoint {path} would inflate to {_gib(declared)} from a {_gib(size)} file "
                              "(compressed records, which torch.save never writes); refusing to load it",
                              "Re-save the weights with torch.save")
    if declared > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"checkpoint {path} holds {_gib(declared)}, more than ohlora loads "
                              f"({_gib(MAX_CHECKPOINT_BYTES)})", "Save only the generator (and discriminator) weights")


def read_file(path: Path | str, fix: str = "Check the path passed to --model") -> Any:
    """``torch.load`` restricted to tensors and plain containers; clear errors for anything else."""
    path = Path(path)
    try:
        input_file(path, f"checkpoint {path}", fix)
    except OhloraError as err:
        raise CheckpointError(err.what, err.fix) from None
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty", "Check the file is complete and was written by torch.save")
    _check_archive(path)
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
        if "g_config" not in obj:
            raise CheckpointError(f"checkpoint {path} is an ohlora file without its g_config", FILE_FIX)
        g_cfg = _config_from_dict(GeneratorConfig, obj["g_config"], path, "g_config")
        g_state = _generator_state(obj, path)
        d_cfg = _config_from_dict(DiscriminatorConfig, obj["d_config"], path, "d_config") \
            if obj.get("d_config") is not None else None
        d_state = _state_dict(obj.get("discriminator"), path, "discriminator") if d_cfg is not None else None
        lineage = obj.get("lineage") or {}
        return LoadedCheckpoint("ohlora", g_cfg, g_state, d_cfg, d_state, dict(lineage) if isinstance(lineage, dict)
                                else {}, {k: v for k, v in obj.items() if k == "meta"}, str(path))
    if "generator" in obj or "generator_smooth" in obj:
        g_state = _generator_state(obj, path)
        kind = "genforce"
    elif any(isinstance(k, str) and k.startswith("mapping.") for k in obj):
        g_state, kind = _state_dict(obj, path, "generator"), "bare"
    else:
        keys = ", ".join(map(str, list(obj)[:5]))
        raise CheckpointError(f"checkpoint {path} has no generator weights (keys: {keys})", FILE_FIX)
    g_cfg = infer_generator_config(g_state, path, **(g_overrides or {}))
    d_state = obj.get("discriminator") if kind == "genforce" else None
    d_cfg = infer_discriminator_config(d_state) if _is_state_dict(d_state) else None
    return LoadedCheckpoint(kind, g_cfg, g_state, d_cfg, d_state if d_cfg else None, source=str(path))


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                       for k, v in obj.items())


def _state_dict(obj: Any, path: Path, entry: str) -> dict[str, torch.Tensor]:
    if not _is_state_dict(obj):
        what = "missing" if obj is None else f"a {type(obj).__name__}, not a state dict of tensors"
        raise CheckpointError(f"checkpoint {path}: the {entry} entry is {what}", FILE_FIX)
    return obj


def _generator_state(obj: dict, path: Path) -> dict[str, torch.Tensor]:
    """``generator_smooth`` when the file has one (GenForce's EMA weights), else ``generator``."""
    if obj.get("generator_smooth") is not None:
        return _state_dict(obj["generator_smooth"], path, "generator_smooth")
    return _state_dict(obj.get("generator"), path, "generator")


ORIGINAL_CONDITIONAL_MBSTD_GROUP = 16
"""The original V3's conditional D is built with ``minibatch_std_group_size=16`` (docs/original.md §3), which
its bare state dict does not record; a bare conditional D file is read with it (GenForce's default is 4)."""


def load_discriminator(path: Path | str, fix: str = "Check the path passed to --d-model") -> StyleGANDiscriminator:
    """A discriminator kept in its own file (the original's ``stylegan_dis_*.pth``, a GenForce
    checkpoint's ``discriminator`` or an ohlora file), architecture inferred from shapes."""
    obj = read_file(path, fix)
    state = obj.get("discriminator", obj) if isinstance(obj, dict) else None
    d_cfg = infer_discriminator_config(state) if _is_state_dict(state) else None
    if d_cfg is not None and isinstance(obj.get("d_config"), dict):  # an ohlora file records its D
        d_cfg = _config_from_dict(DiscriminatorConfig, {**d_cfg.to_dict(), **obj["d_config"]}, path, "d_config")
    elif d_cfg is not None and state is obj and d_cfg.label_size:
        d_cfg = replace(d_cfg, mbstd_group_size=ORIGINAL_CONDITIONAL_MBSTD_GROUP)
    if d_cfg is None:
        raise CheckpointError(f"{path} holds no discriminator weights",
                              "Pass the original's stylegan_dis_*.pth or a GenForce checkpoint")
    what = f"checkpoint {path}: discriminator"
    _check_state(_shapes(StyleGANDiscriminator, d_cfg, what), state, strict=True, what=what)
    D = StyleGANDiscriminator(d_cfg)
    _load_into(D, state)
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


_FIELD_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "bool | str": (bool, str)}


def _config_from_dict(cls, data: Any, path: Path | str = "<state>", entry: str = "config"):
    """A config dataclass from a file's plain dict, every field type-checked (a file is data, not code)."""
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {path}: {entry} is a {type(data).__name__}, not a table of settings",
                              FILE_FIX)
    known = {f.name: f for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in known}
    for k, v in values.items():
        types = _FIELD_TYPES.get(str(known[k].type), (object,))
        if not isinstance(v, types) or (isinstance(v, bool) and bool not in types):
            raise CheckpointError(f"checkpoint {path}: {entry} {k} is {v!r}, not of type {known[k].type}", FILE_FIX)
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"checkpoint {path}: {entry} is not a configuration this ohlora can build ({err})",
                              FILE_FIX) from None


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


def _shapes(cls, cfg, what: str) -> dict[str, tuple[int, ...]]:
    """Every tensor shape of the network ``cls(cfg)``, built on the meta device (no memory), and a
    :class:`CheckpointError` when it would have more than :data:`MAX_PARAMETERS` parameters."""
    with torch.device("meta"):
        state = cls(cfg).state_dict()
    n = sum(t.numel() for t in state.values())
    if n > MAX_PARAMETERS:
        raise CheckpointError(f"{what} would have {n:,} parameters, more than ohlora builds ({MAX_PARAMETERS:,})",
                              "Check the file: its tensor shapes declare a huge network")
    return {k: tuple(t.shape) for k, t in state.items()}


def _check_state(own: dict[str, tuple[int, ...]], state: dict, *, strict: bool, what: str) -> None:
    """Missing, unexpected and wrongly shaped tensors of ``state`` against the shapes ``own``."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k])]
    if wrong:
        k = wrong[0]
        raise CheckpointError(f"{what} weight {k} has shape {tuple(state[k].shape)}, expected {tuple(own[k])}",
                              "The file does not match the architecture; check --model")
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}" + (f" (+{len(missing) - 4} more)" if len(missing) > 4 else ""))
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:4])}" + (f" (+{len(unexpected) - 4} more)" if len(unexpected) > 4 else ""))
        raise CheckpointError(f"{what} state dict does not match: {'; '.join(parts)}",
                              "Pass a complete GenForce / Oh-LoRA / ohlora file")
    bad = next((k for k in own if k in state and state[k].is_floating_point()
                and not bool(torch.isfinite(state[k]).all())), None)
    if bad is not None:
        raise CheckpointError(f"{what} weight {bad} holds NaN or infinite values", "Pass an intact weight file")


def _load_into(module: torch.nn.Module, state: dict) -> None:
    """Copy a state dict that :func:`_check_state` accepted into ``module``."""
    own = module.state_dict()
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)


def describe(cfg: GeneratorConfig) -> str:
    """One line: ``256px z512+7 w512, 14 layers``."""
    label = f"+{cfg.label_size}" if cfg.label_size else ""
    return f"{cfg.resolution}px z{cfg.z_dim}{label} w{cfg.w_dim}, {cfg.num_layers} layers"


__all__ = ["LoadedCheckpoint", "load_checkpoint", "save_checkpoint", "sha256_file", "infer_generator_config",
           "infer_discriminator_config", "describe", "read_file"]
