"""Finding latent directions (pure math: arrays in, arrays out).  The vectorfind stage does the I/O.

Convention: every returned direction is a unit vector and **adding it increases the property**.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Direction:
    vector: np.ndarray  # (D,) unit norm, + increases the property
    metrics: dict


def group_names(values: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
    """(N, k) scores and (k,) cutoffs → (N,) names like 'hlhh': 'h' where score ≥ cutoff (docs/original.md §6.1)."""
    letters = np.where(np.asarray(values) >= np.asarray(cutoffs)[None, :], "h", "l")
    return np.array(["".join(row) for row in letters]) if len(letters) else np.array([], dtype="<U1")


def all_groups(k: int) -> list[str]:
    """The 2^k names in the original's order: hh…h first, ll…l last."""
    return ["".join("l" if (i >> (k - 1 - b)) & 1 else "h" for b in range(k)) for i in range(2**k)]


def extremes(scores: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the top and bottom ``max(int(ratio·n), 1)`` samples by score (the original's k)."""
    n = len(scores)
    k = max(int(ratio * n), 1)
    order = np.argsort(scores, kind="stable")
    return order[n - k:][::-1], order[:k]


def _split(idx: np.ndarray, rng: np.random.Generator, train_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    idx = rng.permutation(idx)
    cut = int(round(len(idx) * train_fraction))
    return idx[:cut], idx[cut:]


def svm_direction(w: np.ndarray, scores: np.ndarray, *, ratio: float = 0.2, seed: int = 2025,
                  train_fraction: float = 0.8) -> Direction:
    """The original's v8 method: LinearSVC (C=1, squared hinge, tol 1e-4) on top vs bottom ``ratio``.

    Each class is shuffled (seeded) and split 80/20; the unit normal is oriented toward the top class.
    """
    from sklearn.svm import LinearSVC

    top, bottom = extremes(scores, ratio)
    if len(top) < 2 or len(bottom) < 2 or len(np.intersect1d(top, bottom)):
        raise ValueError(f"{len(scores)} samples are too few for top/bottom {ratio:g} classes of at least 2")
    rng = np.random.default_rng(seed)
    top_tr, top_va = _split(top, rng, train_fraction)
    bot_tr, bot_va = _split(bottom, rng, train_fraction)
    x_tr = np.concatenate([w[top_tr], w[bot_tr]])
    y_tr = np.concatenate([np.ones(len(top_tr)), np.zeros(len(bot_tr))])

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        svm = LinearSVC(random_state=seed, max_iter=1000, tol=1e-4, C=1.0, dual="auto").fit(x_tr, y_tr)
    coef = svm.coef_[0].astype(np.float64)
    vector = (coef / np.linalg.norm(coef)).astype(np.float32)
    # the original's 1,000 liblinear iterations do not always converge: recorded, not printed
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    metrics = {"train_n": int(len(y_tr)), "k": int(len(top)), "converged": converged}
    if len(top_va) and len(bot_va):
        x_va = np.concatenate([w[top_va], w[bot_va]])
        y_va = np.concatenate([np.ones(len(top_va)), np.zeros(len(bot_va))])
        metrics["val_accuracy"] = round(float((svm.predict(x_va) == y_va).mean()), 4)
        metrics["val_n"] = int(len(y_va))
    return Direction(vector, metrics)


def regression_direction(w: np.ndarray, scores: np.ndarray, *, alpha: float = 1.0) -> Direction:
    """Ridge regression of the (continuous) score on w; the unit coefficient vector."""
    x = w - w.mean(axis=0)
    y = scores - scores.mean()
    coef = np.linalg.solve(x.T @ x + alpha * np.eye(x.shape[1]), x.T @ y)
    pred = x @ coef
    r = float(np.corrcoef(pred, y)[0, 1]) if y.std() > 0 else float("nan")
    return Direction((coef / np.linalg.norm(coef)).astype(np.float32), {"train_r": round(r, 4), "n": len(y)})


def orthogonalize(vectors: np.ndarray) -> np.ndarray:
    """InterFaceGAN's conditional directions: each row projected off the span of the other *input* rows
    (then unit).  Each output is orthogonal to the other inputs, not to the other outputs."""
    vectors = np.asarray(vectors, np.float64)
    out = np.empty_like(vectors)
    for i in range(len(vectors)):
        others = np.delete(vectors, i, axis=0)
        if len(others):
            q, _ = np.linalg.qr(others.T)
            v = vectors[i] - q @ (q.T @ vectors[i])
        else:
            v = vectors[i]
        out[i] = v / np.linalg.norm(v)
    return out.astype(np.float32)


def project_off(vector: np.ndarray, others: np.ndarray) -> Direction:
    """InterFaceGAN's conditional manipulation against a set of directions: ``vector`` minus its projection on
    the span of ``others`` (K, D) — the off-target properties' own directions — made unit.

    Moving along the result changes none of the others' linear scores.  The projection keeps the sign (its
    dot product with ``vector`` is |vector|² − |projection|² ≥ 0), so + still increases the property.
    A vector (almost) inside that span has nothing left: :class:`ValueError`.
    """
    v = np.asarray(vector, np.float64)
    v = v / np.linalg.norm(v)
    others = np.asarray(others, np.float64).reshape(-1, len(v))
    if len(others):
        q, _ = np.linalg.qr(others.T)
        out = v - q @ (q.T @ v)
    else:
        out = v
    kept = float(np.linalg.norm(out))
    if kept < 1e-3:
        raise ValueError("the direction lies in the span of the off-target directions: nothing is left")
    return Direction((out / kept).astype(np.float32), {"kept": round(kept, 4), "projected_off": int(len(others))})


def layer_blocks(num_layers: int, size: int = 2) -> list[tuple[int, ...]]:
    """W+ layers in blocks of ``size`` (StyleGAN's two layers per resolution): 10 layers → (0, 1) … (8, 9)."""
    return [tuple(range(b, min(b + size, num_layers))) for b in range(0, num_layers, size)]


def choose_layer_blocks(on: np.ndarray, off: np.ndarray, *, share: float = 0.2, selectivity: float = 1.5) -> list[int]:
    """HiGAN's layer-wise re-scoring rule (Yang et al. 2021): of the W+ blocks, keep those where the property
    responds — its change ``on[b]`` (moving along the direction on block b only) is at least ``share`` of
    the strongest block's — and the others do not — ``on[b] ≥ selectivity · off[b]``, ``off[b]`` being the
    largest change of another measured property.  The strongest block is always kept.  Returns block indices."""
    on, off = np.asarray(on, np.float64), np.asarray(off, np.float64)
    best = int(np.nanargmax(on))
    keep = [b for b in range(len(on)) if np.isfinite(on[b]) and on[b] > 0 and on[b] >= share * on[best]
            and on[b] >= selectivity * off[b]]
    return sorted(set(keep) | {best})
