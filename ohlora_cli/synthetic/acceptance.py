"""Acceptance figures of a synthetic-world generator: face completeness, property spread, conditioning.

Generated samples are parsed by the synthetic parser and measured with the seed's algorithms
(``fixed`` mode); the reference is the renderer measured the same way on its own true maps.

    python -m ohlora_cli.synthetic.acceptance --model synthetic-base --n 2000
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ohlora_cli.catalog.registry import embedded_cnns, embedded_generators
from ohlora_cli.models.checkpoints import load_checkpoint
from ohlora_cli.models.cnn_files import load_filter_ensemble
from ohlora_cli.models.inference import latents_for_seeds, map_to_w, render
from ohlora_cli.models.parsers import load_parser
from ohlora_cli.properties.algorithms import PROPERTY_NAMES, compute_properties_batch
from ohlora_cli.synthetic import renderer
from ohlora_cli.synthetic.latent_code import LATENT_ATTRIBUTES

SPREAD_PROPERTIES = ("eyes", "mouth", "pose", "hair_color", "hair_length", "background_mean", "hairstyle")
LABEL_PROPERTIES = ("eyes", "hair_color", "hair_length", "mouth", "pose", "background_mean", "background_std")


def face_complete(maps: np.ndarray) -> np.ndarray:
    """(N,) True where both eyes (4, 5), a mouth (7/8/9) and hair (10) are present."""
    has = lambda classes: np.isin(maps, classes).reshape(len(maps), -1).any(axis=1)  # noqa: E731
    return has([4]) & has([5]) & has([7, 8, 9]) & has([10])


def spread_ratios(generated: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """std of each property over generated samples / std over rendered faces."""
    return {p: float(generated[:, PROPERTY_NAMES.index(p)].std() / reference[:, PROPERTY_NAMES.index(p)].std())
            for p in SPREAD_PROPERTIES}


def label_correlations(labels: np.ndarray, props: np.ndarray) -> dict[str, float]:
    """Pearson r between each label dim and the property it is meant to set (does conditioning work?)."""
    out = {}
    for j, name in enumerate(LABEL_PROPERTIES):
        x, y = labels[:, j], props[:, PROPERTY_NAMES.index(name)]
        out[name] = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")
    return out


def decodability(w: np.ndarray, x: np.ndarray, n_train: int, ridge: float = 1e-3) -> np.ndarray:
    """Held-out R² of a ridge-regularised linear read-out of each column of ``x`` from ``w``: fitted on the
    first ``n_train`` rows, judged on the rest.  ~0 or below: w does not carry it (linearly)."""
    w1 = np.c_[w, np.ones(len(w))].astype(np.float64)
    x = np.asarray(x, np.float64)
    a, b = w1[:n_train], x[:n_train]
    coef = np.linalg.solve(a.T @ a + ridge * np.eye(w1.shape[1]), a.T @ b)
    res = x[n_train:] - w1[n_train:] @ coef
    return 1 - res.var(0) / x[n_train:].var(0)


FILTER_CHECKS = {"male (gender < 0.5)": ("gender", "<", 0.5), "low quality (quality < 0.5)": ("quality", "<", 0.5),
                 "old (age >= 0.5)": ("age", ">=", 0.5), "glasses (glass >= 0.5)": ("glass", ">=", 0.5)}


def filter_occurrence(probs: dict[str, np.ndarray]) -> dict[str, float]:
    """Fraction of samples the filter CNNs call male / low quality / old / with glasses (soft vote vs 0.5)."""
    return {name: float((probs[p] < t).mean() if op == "<" else (probs[p] >= t).mean())
            for name, (p, op, t) in FILTER_CHECKS.items()}


def default_rules_pass_rate(probs: dict[str, np.ndarray]) -> float:
    """Joint pass rate of the original's four filter rules (docs/original.md §4.2)."""
    return float(((probs["gender"] >= 0.92) & (probs["quality"] >= 0.9) & (probs["age"] <= 0.008)
                  & (probs["glass"] <= 0.01)).mean())


def evaluate(model: str | Path, n: int = 2000, seed_start: int = 0, batch: int = 250) -> dict:
    assets = embedded_generators()
    path = assets[str(model)].path if str(model) in assets else Path(model)
    G = load_checkpoint(path).build_generator()
    parser = load_parser("synthetic")
    ensembles = _filter_ensembles()
    probs: dict[str, list] = {p: [] for p in ensembles}
    props, labels, complete, ref, ws, zs = [], [], [], [], [], []
    for start in range(seed_start, seed_start + n, batch):
        seeds = np.arange(start, min(start + batch, seed_start + n))
        z, label = latents_for_seeds(seeds, G.cfg.z_dim, G.cfg.label_size)
        w = map_to_w(G, z, label)
        ws.append(w)
        zs.append(z[:, :5])
        images = render(G, w)
        parsed = parser.parse(images)
        props.append(compute_properties_batch(parsed.maps, parsed.crops))
        complete.append(face_complete(parsed.maps))
        for p, ens in ensembles.items():
            probs[p].append(ens.predict(images))
        labels.append(label)
        attrs = renderer.sample_attributes(seeds + 50_000)
        r_images, r_maps = renderer.render(attrs, seeds + 50_000, G.cfg.resolution)
        ref.append(compute_properties_batch(r_maps, r_images))
    props, labels, complete, ref = map(np.concatenate, (props, labels, complete, ref))
    out = {"n": n, "complete_rate": float(complete.mean()), "spread_ratio": spread_ratios(props, ref),
           "label_r": label_correlations(labels, props) if G.cfg.label_size == 7 else {}}
    if G.cfg.label_size == 7:
        r2 = decodability(np.concatenate(ws), np.c_[np.concatenate(zs), labels], int(0.75 * n))
        out["decodable_from_w"] = {**{f"z[{j}] ({a})": float(r2[j]) for j, a in enumerate(LATENT_ATTRIBUTES)},
                                   **{f"label {p}": float(r2[5 + k]) for k, p in enumerate(LABEL_PROPERTIES)}}
    if ensembles:
        p = {k: np.concatenate(v) for k, v in probs.items()}
        out["filter_occurrence"] = filter_occurrence(p)
        out["default_rules_pass_rate"] = default_rules_pass_rate(p)
    return out


def _filter_ensembles() -> dict:
    """The embedded filter CNN ensembles, by property ({} when not shipped yet)."""
    cnns = embedded_cnns()
    return {p: load_filter_ensemble(cnns[f"cnn-{p}"].path) for p in ("gender", "quality", "age", "glass")
            if f"cnn-{p}" in cnns}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="synthetic-base")
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    result = evaluate(args.model, args.n)
    print(json.dumps(result, indent=2))
    print(f"\n| check | value | target |\n|---|---|---|\n| both eyes, mouth, hair detected | "
          f"{result['complete_rate']:.1%} | ≥ 95% |")
    for p, r in result["spread_ratio"].items():
        print(f"| spread of {p} (std / renderer's) | {r:.2f} | ≥ 0.50 |")
    for p, r in result["label_r"].items():
        print(f"| label → {p}, Pearson r | {r:.2f} | (conditioning) |")


if __name__ == "__main__":
    main()
