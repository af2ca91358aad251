"""The ``ohlora-cnn`` file format and the original's CNN state dicts: the one place that knows CNN files.

``{"format": "ohlora-cnn", "kind": "cnn-<prop>" | "cnn-property", "resolution": R, "width": w,
"state_dicts": [...], "metrics": {...}}`` holds only tensors and plain Python values, so the safe
loader ``checkpoints.read_file`` (``weights_only=True``) reads it; it is written atomically.  The
loaders also accept the original project's bare state dicts (``cnn_ohlora_v3_gender_model_0.pt``,
``ohlora_v3_merged_property_cnn.pth``), which are 256-px models (docs/original.md §3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Sequence

import numpy as np
import torch
from torch import nn

from ohlora_cli.errors import CheckpointError, UsageError
from ohlora_cli.files import write_atomic
from ohlora_cli.models.checkpoints import read_file
from ohlora_cli.models.cnns import (
    FILTER_FLATTEN_256,
    FILTER_PROPS,
    REFERENCE_RESOLUTION,
    FilterCNN,
    PropertyScoreCNN,
    check_images,
    expected_state_keys,
    predict,
)

CNN_FORMAT: Final = "ohlora-cnn"
PROPERTY_KIND: Final = "cnn-property"
METRIC_THRESHOLD: Final = {"gender": 0.5, "quality": 0.9, "age": 0.1, "glass": 0.1}  # docs/original.md §3.1


def filter_kind(prop: str) -> str:
    """File / registry kind of a filter CNN: ``cnn-gender`` ..."""
    return f"cnn-{prop}"


def clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a model's state dict."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- the ensemble


@dataclass
class Ensemble:
    """The fold models of one filter property; ``predict`` is the soft vote."""

    prop: str
    models: list[FilterCNN]
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def resolution(self) -> int:
        return self.models[0].resolution

    @property
    def threshold(self) -> float:
        """The accuracy / F1 threshold of docs/original.md §3.1 for this property."""
        return METRIC_THRESHOLD[self.prop]

    def to(self, device: torch.device | str) -> "Ensemble":
        """Move every fold model to ``device`` (where :meth:`predict` then runs)."""
        for m in self.models:
            m.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.models[0].parameters()).device

    def predict_folds(self, images: np.ndarray) -> np.ndarray:
        """(N, K) float32: each fold model's output (eval mode), on the models' device."""
        images = check_images(images, self.resolution)
        return np.stack([predict(m, images, device=self.device) for m in self.models], axis=1)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """(N,) float32 soft vote: the mean of the fold outputs."""
        return self.predict_folds(images).mean(axis=1).astype(np.float32)


# ---------------------------------------------------------------- files


def _stored_state(model: nn.Module, half: bool) -> dict[str, torch.Tensor]:
    state = clone_state(model)
    return {k: v.half() if half and v.is_floating_point() else v for k, v in state.items()}


def save_filter_ensemble(path: Path | str, ensemble: Ensemble, *, half: bool = False) -> None:
    """Write an ``ohlora-cnn`` file for a filter ensemble (atomic); ``half`` stores fp16 weights
    (loaded back into fp32 models)."""
    _write(Path(path), {"format": CNN_FORMAT, "kind": filter_kind(ensemble.prop), "resolution": ensemble.resolution,
                        "width": ensemble.models[0].width,
                        "state_dicts": [_stored_state(m, half) for m in ensemble.models],
                        "metrics": plain(ensemble.metrics)})


def save_property_cnn(path: Path | str, model: PropertyScoreCNN, metrics: dict | None = None, *,
                      half: bool = False) -> None:
    """Write an ``ohlora-cnn`` file for the Property Score CNN (atomic); ``half`` as above."""
    _write(Path(path), {"format": CNN_FORMAT, "kind": PROPERTY_KIND, "resolution": model.resolution,
                        "width": model.width, "state_dicts": [_stored_state(model, half)],
                        "metrics": plain(metrics or {})})


def is_ohlora_cnn(path: Path | str) -> bool:
    """Whether ``path`` is an ``ohlora-cnn`` file (else, perhaps, an original bare state dict)."""
    return _read(path).get("format") == CNN_FORMAT


def detect_cnn_kind(path: Path | str) -> str:
    """``cnn-<prop>`` or ``cnn-property`` for an ohlora CNN file or an original bare state dict."""
    obj = _read(path)
    if obj.get("format") == CNN_FORMAT:
        return str(obj.get("kind"))
    return _original_kind(obj, path)


def load_filter_ensemble(path: Path | str, *, prop: str | None = None) -> Ensemble:
    """An :class:`Ensemble` (eval mode) from an ohlora CNN file, or from one original fold file
    (bare ``state_dict`` of ``GenderCNN`` ... ``GlassCNN``, 256 px) as a one-model ensemble."""
    obj = _read(path)
    if obj.get("format") != CNN_FORMAT:
        return load_original_filter_cnn([path], prop=prop)
    kind = obj.get("kind")
    if kind == PROPERTY_KIND or not isinstance(kind, str) or kind.removeprefix("cnn-") not in FILTER_PROPS:
        raise CheckpointError(f"{path} holds a {kind} CNN, not a gender / quality / age / glass CNN",
                              "Pass a filter CNN file (kind cnn-gender, cnn-quality, cnn-age or cnn-glass)")
    file_prop = kind.removeprefix("cnn-")
    if prop is not None and prop != file_prop:
        raise CheckpointError(f"{path} holds the {file_prop} CNN, not the {prop} CNN", f"Pass the {prop} CNN file")
    resolution, width = _resolution(obj, path), _width(obj, path)
    models = []
    for i, state in enumerate(_state_dicts(obj, path)):
        model = FilterCNN(file_prop, resolution, width)
        load_state(model, state, f"{path} fold {i}")
        models.append(model.eval())
    return Ensemble(prop=file_prop, models=models, metrics=dict(obj.get("metrics") or {}))


def load_original_filter_cnn(paths: Sequence[Path | str], *, prop: str | None = None) -> Ensemble:
    """An :class:`Ensemble` of the original's per-fold files (``cnn_ohlora_v3_{prop}_model_{k}.pt``,
    or the v1 ``{prop}_model_0.pt``): bare 256-px state dicts, loaded strictly."""
    if not paths:
        raise UsageError("no CNN files given", "Pass at least one .pt file")
    models: list[FilterCNN] = []
    for path in paths:
        state = _read(path)
        kind = _original_kind(state, path)
        file_prop = kind.removeprefix("cnn-")
        if kind == PROPERTY_KIND:
            raise CheckpointError(f"{path} is a Property Score CNN, not a filter CNN",
                                  "Register it with --kind cnn-property")
        if prop is not None and file_prop != prop:
            raise CheckpointError(f"{path} has the architecture of the {file_prop} CNN, not the {prop} CNN",
                                  f"Pass the {prop} CNN file or use --kind {kind}")
        prop = file_prop
        model = FilterCNN(file_prop, REFERENCE_RESOLUTION)
        load_state(model, state, str(path))
        models.append(model.eval())
    return Ensemble(prop=str(prop), models=models, metrics={"source": "original", "files": [str(p) for p in paths]})


def load_property_cnn(path: Path | str) -> tuple[PropertyScoreCNN, dict[str, Any]]:
    """The Property Score CNN (eval mode) and its metrics, from an ohlora CNN file or the original's
    merged bare state dict (``ohlora_v3_merged_property_cnn.pth``, 256 px; metrics ``{}``)."""
    obj = _read(path)
    if obj.get("format") != CNN_FORMAT:
        kind = _original_kind(obj, path)
        if kind != PROPERTY_KIND:
            raise CheckpointError(f"{path} is a {kind.removeprefix('cnn-')} CNN, not a Property Score CNN",
                                  f"Register it with --kind {kind}")
        model = PropertyScoreCNN(REFERENCE_RESOLUTION)
        load_state(model, obj, str(path))
        return model.eval(), {"source": "original"}
    if obj.get("kind") != PROPERTY_KIND:
        raise CheckpointError(f"{path} holds a {obj.get('kind')} CNN, not a Property Score CNN",
                              "Pass a cnn-property file")
    states = _state_dicts(obj, path)
    if len(states) != 1:
        raise CheckpointError(f"{path} holds {len(states)} property CNNs, expected 1", "Re-save the file")
    model = PropertyScoreCNN(_resolution(obj, path), _width(obj, path))
    load_state(model, states[0], str(path))
    return model.eval(), dict(obj.get("metrics") or {})


def _original_kind(state: dict, path: Path | str) -> str:
    """Kind of an original bare state dict, from its keys and the fc1 input size (unique per CNN)."""
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is neither an ohlora CNN file nor a CNN state dict",
                              "Pass a file written by `ohlora` or the original's CNN .pt / .pth")
    if "eyes_score_cnn.fc1.0.weight" in state or "hairstyle_score_cnn.fc1.0.weight" in state:
        return PROPERTY_KIND
    fc1 = state.get("fc1.0.weight")
    if fc1 is not None and fc1.ndim == 2 and "fc_final.0.weight" in state:
        for prop in FILTER_PROPS:
            if set(state) == set(expected_state_keys(prop)) and fc1.shape[1] == FILTER_FLATTEN_256[prop]:
                return filter_kind(prop)
    keys = ", ".join(list(state)[:4])
    raise CheckpointError(f"{path} does not match any of the original's CNNs (keys: {keys})",
                          "Pass cnn_ohlora_v3_<prop>_model_<k>.pt or ohlora_v3_merged_property_cnn.pth")


def _read(path: Path | str) -> dict:
    obj = read_file(path, "Check the CNN file's path")
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a CNN file",
                              "Pass a file written by `ohlora` or the original's CNN .pt / .pth")
    return obj


def _resolution(obj: dict, path: Path | str) -> int:
    res = obj.get("resolution")
    if not isinstance(res, int) or res < 1:
        raise CheckpointError(f"{path} has no valid resolution ({res!r})", "Re-save the file with ohlora")
    return res


def _width(obj: dict, path: Path | str) -> float:
    width = obj.get("width", 1.0)
    if not isinstance(width, (int, float)) or not width > 0:
        raise CheckpointError(f"{path} has no valid width ({width!r})", "Re-save the file with ohlora")
    return float(width)


def _state_dicts(obj: dict, path: Path | str) -> list[dict]:
    states = obj.get("state_dicts")
    if not isinstance(states, list) or not states or not all(isinstance(s, dict) for s in states):
        raise CheckpointError(f"{path} has no state_dicts list", "Re-save the file with ohlora")
    return states


def load_state(model: nn.Module, state: dict, what: str) -> None:
    """Strict load with one-line errors naming the first missing / unexpected / mis-shaped key."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = [f"{label} {keys[0]}" + (f" (+{len(keys) - 1} more)" if len(keys) > 1 else "")
                for label, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
    if wrong:
        k = wrong[0]
        problems.append(f"{k} has shape {tuple(state[k].shape)}, expected {tuple(own[k].shape)}")
    if problems:
        res = getattr(model, "resolution", REFERENCE_RESOLUTION)
        raise CheckpointError(f"{what} does not fit the {type(model).__name__} at {res} px: {'; '.join(problems)}",
                              "The weights belong to another CNN or resolution; check the file and --kind")
    model.load_state_dict(state, strict=True)


def plain(value: Any) -> Any:
    """Metrics as plain Python (no numpy scalars, tuples or NaN) so ``weights_only`` loading accepts them."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, torch.Tensor):
        return plain(value.detach().cpu().numpy())
    return str(value)


def _write(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: torch.save(obj, tmp), fix="Check the folder exists and is writable")

