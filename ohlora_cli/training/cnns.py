"""Training of the CNNs of docs/original.md §3: arrays in, models and metrics out.

Nothing here knows the catalog or the CLI; the files these models are saved in are
:mod:`ohlora_cli.models.cnn_files`.

- :func:`train_filter_ensemble`: one gender / quality / age / glass CNN per stratified fold (§3.1),
  returned as an :class:`~ohlora_cli.models.cnn_files.Ensemble` whose ``predict`` is the soft vote.
- :func:`train_property_cnn`: the merged Property Score CNN (§3.2) on (N, 8) normalised scores.

Differences from the original, on purpose:

- Every split, initialisation, shuffle and dropout mask is seeded (``seed``; the original had none).
- A fold that fails the retry threshold is retrained from ``init_state`` when one is given (the
  original re-initialised gender/quality retries without their pretrained weights, §10), with a
  new seed, at most ``max_retries`` times; if every try fails, the best try is kept and its fold is
  marked ``success: False`` in the metrics.
- The Property Score CNN is trained as one network on all 8 outputs (MSE, cosine schedule) instead
  of the original's separate v1 six-sub-CNN run and hairstyle run.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Final

import numpy as np
import torch
from torch import nn

from ohlora_cli.errors import UsageError
from ohlora_cli.models.cnn_files import (
    METRIC_THRESHOLD,
    Ensemble,
    clone_state,
    load_state,
    plain,
)
from ohlora_cli.models.cnns import (
    FILTER_PROPS,
    FilterCNN,
    PropertyScoreCNN,
    kaiming_init,
)
from ohlora_cli.properties.algorithms import PROPERTY_NAMES

FILTER_LR: Final = {"gender": 5e-6, "quality": 5e-6, "age": 2.5e-5, "glass": 5e-5}
RETRY_VAL_LOSS: Final = {"gender": 0.35, "quality": 0.13, "age": 0.23, "glass": 0.10}
SELECTION_EXCLUDES: Final = (6,)  # background_std is left out of the property CNN's early-stopping loss
EVAL_CHUNK: Final = 64
PROPERTY_COLUMNS: Final = tuple(PROPERTY_NAMES)  # the merged CNN's output order

EpochHook = Callable[[dict], None]


# ---------------------------------------------------------------- helpers


def _sub_seed(seed: int, *parts: int) -> int:
    s = int(seed)
    for p in parts:
        s = (s * 1_000_003 + int(p) + 1) % (2**63 - 1)
    return s


def _to_tensor_u8(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, R, R, 3) → uint8 (N, 3, R, R); converted to float one batch at a time."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


def _as_float(x_u8: torch.Tensor, kind: str) -> torch.Tensor:
    x = x_u8.float()
    return x / 255.0 if kind == "filter" else x / 127.5 - 1.0


def _square_images(images: np.ndarray, n: int, what: str) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8 or images.shape[1] != images.shape[2]:
        raise UsageError(f"{what} images must be uint8 RGB of shape (N, R, R, 3), got {images.dtype} {images.shape}",
                         "Pass square images as stored by `ohlora generate`")
    if len(images) != n:
        raise UsageError(f"{what}: {len(images)} images but {n} labels", "Pass one label per image")
    return images


def _initialised(model: nn.Module, init: str) -> nn.Module:
    if init == "kaiming":
        return kaiming_init(model)
    if init != "default":
        raise UsageError(f"unknown init {init!r}", "Use init='default' or 'kaiming'")
    return model


@torch.no_grad()
def _outputs(model: nn.Module, x_u8: torch.Tensor, idx: np.ndarray, kind: str) -> torch.Tensor:
    model.eval()
    parts = [model(_as_float(x_u8[idx[s:s + EVAL_CHUNK]], kind)) for s in range(0, len(idx), EVAL_CHUNK)]
    return torch.cat(parts).float()


def binary_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, Any]:
    """AUROC (None with one class), accuracy and F1 at ``scores >= threshold``, confusion counts."""
    from sklearn.metrics import roc_auc_score

    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(int)
    pred = (scores >= threshold).astype(int)
    tp, tn = int(((pred == 1) & (labels == 1)).sum()), int(((pred == 0) & (labels == 0)).sum())
    fp, fn = int(((pred == 1) & (labels == 0)).sum()), int(((pred == 0) & (labels == 1)).sum())
    auroc = float(roc_auc_score(labels, scores)) if len(np.unique(labels)) == 2 else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"auroc": auroc, "accuracy": (tp + tn) / max(len(labels), 1), "f1": f1,
            "tp": tp, "tn": tn, "fp": fp, "fn": fn}


def _finite(x: float) -> float:
    """NaN / inf losses (a diverged run) compare as worse than any real loss."""
    return x if math.isfinite(x) else math.inf


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


# ---------------------------------------------------------------- filter CNNs


def train_filter_ensemble(images: np.ndarray, labels: np.ndarray, *, prop: str, folds: int = 5, seed: int,
                          max_epochs: int, patience: int = 20, batch_size: int = 16, lr: float | None = None,
                          init_state: dict[str, torch.Tensor] | None = None, max_retries: int = 3,
                          retry_threshold: float | None = None, on_epoch: EpochHook | None = None,
                          width: float = 1.0, init: str = "default") -> Ensemble:
    """Stratified k-fold training of one filter CNN (docs/original.md §3.1); one model per fold.

    ``images`` uint8 (N, R, R, 3), ``labels`` (N,) 0/1. Per fold: BCE (sum; val loss = sum / N), AdamW
    at ``lr`` (default: the original's), ``CosineAnnealingLR(T_max=10)`` stepped per epoch, early stopping
    after ``patience`` epochs without a lower val loss, best-epoch weights kept. A fold whose min val
    loss exceeds ``retry_threshold`` (default: the original's) is retrained with a new seed, at most
    ``max_retries`` times. ``init_state`` (e.g. a pretrained v1 CNN) initialises every fold and try.
    ``on_epoch`` receives ``{"fold", "attempt", "epoch", "train_loss", "val_loss"}`` after each epoch.
    ``width`` scales the channel counts (``cnns`` module doc; 1.0 = the original); ``init="kaiming"``
    re-initialises the convs (:func:`~ohlora_cli.models.cnns.kaiming_init`) when no ``init_state`` is given.
    """
    from sklearn.model_selection import StratifiedKFold

    if prop not in FILTER_PROPS:
        raise UsageError(f"unknown filter property {prop!r}", "Use one of: " + ", ".join(FILTER_PROPS))
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.isin(labels, (0, 1)).all():
        raise UsageError(f"{prop} labels must be a 1-d array of 0/1", "Label each image 0 or 1")
    images = _square_images(images, len(labels), prop)
    if folds < 2:
        raise UsageError(f"--folds must be at least 2, got {folds}", "Use --folds 5 (the original's value)")
    counts = np.bincount(labels.astype(int), minlength=2)
    if counts.min() < folds:
        raise UsageError(f"{prop} labels have {counts[0]} zeros and {counts[1]} ones; every fold needs both",
                         f"Label at least {folds} images of each class, or lower --folds")
    if max_epochs < 1 or patience < 1 or batch_size < 1:
        raise UsageError("max_epochs, patience and batch_size must be positive", "Check the training options")
    lr = FILTER_LR[prop] if lr is None else float(lr)
    retry_threshold = RETRY_VAL_LOSS[prop] if retry_threshold is None else float(retry_threshold)
    threshold = METRIC_THRESHOLD[prop]
    resolution = images.shape[1]
    x_u8 = _to_tensor_u8(images)
    y = torch.from_numpy(labels.astype(np.float32))

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    models: list[FilterCNN] = []
    fold_metrics: list[dict[str, Any]] = []
    for fold, (train_idx, val_idx) in enumerate(splitter.split(np.zeros(len(labels)), labels.astype(int))):
        tries = []
        for attempt in range(max_retries + 1):
            torch.manual_seed(_sub_seed(seed, fold, attempt))
            model = _initialised(FilterCNN(prop, resolution, width), init)
            if init_state is not None:
                load_state(model, init_state, f"init_state for the {prop} CNN")
            result = _fit_filter(model, x_u8, y, train_idx, val_idx, lr=lr, max_epochs=max_epochs,
                                 patience=patience, batch_size=batch_size,
                                 hook=(lambda d, f=fold, a=attempt: on_epoch({"fold": f, "attempt": a, **d}))
                                 if on_epoch else None)
            tries.append(result)
            if result["min_val_loss"] <= retry_threshold:
                break
        best = min(tries, key=lambda r: r["min_val_loss"])
        model = FilterCNN(prop, resolution, width)
        model.load_state_dict(best["state"])
        model.eval()
        models.append(model)
        scores = best["val_scores"]
        fold_metrics.append({
            "fold": fold, "attempts": len(tries), "success": best["min_val_loss"] <= retry_threshold,
            "min_val_loss": best["min_val_loss"], "best_epoch": best["best_epoch"], "epochs": best["epochs"],
            "n_train": len(train_idx), "n_val": len(val_idx),
            **binary_metrics(scores, labels[val_idx], threshold),
            "val_loss_history": best["val_losses"],
        })
    aurocs = [m["auroc"] for m in fold_metrics if m["auroc"] is not None]
    metrics = {
        "prop": prop, "resolution": resolution, "width": width, "n": len(labels), "positives": int(counts[1]), "folds": fold_metrics,
        "mean_auroc": float(np.mean(aurocs)) if aurocs else None,
        "mean_min_val_loss": float(np.mean([m["min_val_loss"] for m in fold_metrics])),
        "all_succeeded": all(m["success"] for m in fold_metrics),
        "options": {"folds": folds, "seed": seed, "max_epochs": max_epochs, "patience": patience,
                    "batch_size": batch_size, "lr": lr, "retry_threshold": retry_threshold, "width": width, "weight_init": init,
                    "max_retries": max_retries, "metric_threshold": threshold,
                    "init": "init_state" if init_state is not None else "random"},
    }
    return Ensemble(prop=prop, models=models, metrics=plain(metrics))


def _train_epoch(model: nn.Module, opt, sched, x_u8: torch.Tensor, train_idx: np.ndarray, batch_size: int,
                 kind: str, batch_loss, *, summed: bool) -> float:
    """One shuffled pass over ``train_idx`` (then one scheduler step); the mean training loss per image.

    ``batch_loss(out, idx)`` is a sum over the batch when ``summed`` (BCE, reduction 'sum'), else a mean.
    """
    model.train()
    order = train_idx[torch.randperm(len(train_idx)).numpy()]
    total = 0.0
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        loss = batch_loss(model(_as_float(x_u8[idx], kind)), idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * (1 if summed else len(idx))
    sched.step()
    return total / len(order)


def _fit_filter(model: FilterCNN, x_u8: torch.Tensor, y: torch.Tensor, train_idx: np.ndarray,
                val_idx: np.ndarray, *, lr: float, max_epochs: int, patience: int, batch_size: int,
                hook: EpochHook | None) -> dict[str, Any]:
    """One try of one fold; the caller has seeded torch."""
    loss_fn = nn.BCELoss(reduction="sum")
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0)
    train_idx = np.asarray(train_idx)
    val_idx = np.asarray(val_idx)
    best: dict[str, Any] = {"min_val_loss": math.inf}
    val_losses: list[float] = []
    for epoch in range(max_epochs):
        train_loss = _train_epoch(model, opt, sched, x_u8, train_idx, batch_size, "filter",
                                  lambda out, idx: loss_fn(out[:, 0], y[idx]), summed=True)
        scores = _outputs(model, x_u8, val_idx, "filter")[:, 0]
        val_loss = float(loss_fn(scores, y[val_idx])) / len(val_idx)
        val_losses.append(val_loss)
        if hook:
            hook({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if epoch == 0 or _finite(val_loss) < best["min_val_loss"]:
            best = {"min_val_loss": _finite(val_loss), "best_epoch": epoch, "state": clone_state(model),
                    "val_scores": scores.numpy().copy()}
        if epoch - best["best_epoch"] >= patience:
            break
    best.update(epochs=len(val_losses), val_losses=val_losses)
    return best


# ---------------------------------------------------------------- property score CNN


def train_property_cnn(images: np.ndarray, targets: np.ndarray, *, seed: int, max_epochs: int, patience: int = 20,
                       batch_size: int = 16, lr: float = 5e-5, val_fraction: float = 0.1,
                       init_state: dict[str, torch.Tensor] | None = None,
                       on_epoch: EpochHook | None = None, width: float = 1.0,
                       init: str = "default") -> tuple[PropertyScoreCNN, dict[str, Any]]:
    """Train the merged Property Score CNN on ``targets`` (N, 8) normalised scores (docs/original.md §3.2).

    Seeded random split (``val_fraction`` to validation), MSE over the 8 outputs, AdamW, cosine
    schedule (T_max 10) stepped per epoch, early stopping on the val MSE without background_std
    (index 6), best-epoch weights. Metrics: per-property val MSE / MAE / Pearson r at the best epoch,
    and the loss history. The model is returned in eval mode.
    """
    targets = np.asarray(targets, dtype=np.float32)
    if targets.ndim != 2 or targets.shape[1] != len(PROPERTY_COLUMNS):
        raise UsageError(f"property targets must have shape (N, 8), got {targets.shape}",
                         "Pass scores in the order " + ", ".join(PROPERTY_COLUMNS))
    if not np.isfinite(targets).all():
        raise UsageError("property targets contain NaN or infinite values", "Score every image first")
    images = _square_images(images, len(targets), "property CNN")
    n = len(targets)
    n_train = int(n * (1.0 - val_fraction))
    if not 0.0 < val_fraction < 1.0 or n_train < 1 or n - n_train < 2:
        raise UsageError(f"cannot split {n} images with val_fraction {val_fraction}",
                         "Use more images (at least 4) or a val_fraction in (0, 1)")
    if max_epochs < 1 or patience < 1 or batch_size < 1:
        raise UsageError("max_epochs, patience and batch_size must be positive", "Check the training options")
    perm = np.random.default_rng(seed).permutation(n)
    train_idx, val_idx = perm[:n_train], perm[n_train:]
    x_u8 = _to_tensor_u8(images)
    y = torch.from_numpy(targets)
    keep = [i for i in range(targets.shape[1]) if i not in SELECTION_EXCLUDES]

    torch.manual_seed(_sub_seed(seed, 0))
    model = _initialised(PropertyScoreCNN(images.shape[1], width), init)
    if init_state is not None:
        load_state(model, init_state, "init_state for the property CNN")
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"loss": math.inf}
    for epoch in range(max_epochs):
        train_loss = _train_epoch(model, opt, sched, x_u8, train_idx, batch_size, "property",
                                  lambda out, idx: nn.functional.mse_loss(out, y[idx]), summed=False)
        out = _outputs(model, x_u8, val_idx, "property")
        err = out - y[val_idx]
        val_loss = float((err ** 2).mean())
        selection = float((err[:, keep] ** 2).mean())
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_selection_loss": selection}
        history.append(row)
        if on_epoch:
            on_epoch(dict(row))
        if epoch == 0 or _finite(selection) < best["loss"]:
            best = {"loss": _finite(selection), "epoch": epoch, "state": clone_state(model), "out": out.numpy().copy()}
        if epoch - best["epoch"] >= patience:
            break
    model.load_state_dict(best["state"])
    model.eval()
    out, truth = best["out"], targets[val_idx]
    per_property = {name: {"mse": float(np.mean((out[:, i] - truth[:, i]) ** 2)),
                           "mae": float(np.mean(np.abs(out[:, i] - truth[:, i]))),
                           "corr": _pearson(out[:, i], truth[:, i])}
                    for i, name in enumerate(PROPERTY_COLUMNS)}
    metrics = {"resolution": images.shape[1], "width": width, "n_train": len(train_idx), "n_val": len(val_idx),
               "best_epoch": best["epoch"], "epochs": len(history), "val_selection_loss": best["loss"],
               "per_property": per_property, "history": history,
               "options": {"seed": seed, "max_epochs": max_epochs, "patience": patience, "batch_size": batch_size,
                           "lr": lr, "val_fraction": val_fraction, "width": width, "weight_init": init,
                           "init": "init_state" if init_state is not None else "random"}}
    return model, plain(metrics)
