"""Recipe for the synthetic world's scoring CNNs (the embedded default scorers).

- **Filter ensembles** (gender, quality, age, glass; docs/original.md §3.1 architectures at 64 px, ``width`` 0.25):
  5 stratified folds each, trained on ``--n-labelled`` rendered faces whose "hand labels" are the
  renderer's ground truth (``renderer.hand_labels``), then judged on ``--n-heldout`` other faces.
- **Property Score CNN** (docs/original.md §3.2, same width): trained on ``--n-property`` rendered faces whose
  targets are the seed's algorithms (``fixed`` mode) on the renderer's *true* maps, normalised with
  the training set's mean / ddof-1 std (stored in the file so scores can be given back in algorithm
  units), judged on held-out faces.

Differences from the original's settings, on purpose (the original fine-tuned from pretrained
weights with lr 5e-6 .. 5e-5 and patience 20; here every model starts from scratch on CPU): lr 1e-3,
He-normal conv init (``cnns.kaiming_init``; PyTorch's default leaves the narrow gender tower stuck at
the class prior), at most ``--max-epochs`` epochs with patience ``--patience``.

    python -m ohlora_cli.synthetic.train_cnns --out runs/cnns --seed 0 --threads 1
    python -m ohlora_cli.synthetic.train_cnns --out runs/cnns --ship   # copy into the package

With ``--generator FILE --n-generated N`` the filter ensembles also learn from N faces *generated* by
that (synthetic-world) generator, labelled with what its z asks for (the base recipe's fixed map
z → gender / age / glasses / quality, :func:`ohlora_cli.synthetic.train_base.attributes_from_latent`),
so that they judge the GAN's softer drawing the way they judge renders instead of calling every
generated face "low quality".  Held-out figures are then given for rendered and generated faces apart.

Each finished model is written at once and skipped on a rerun, so a killed run resumes.  ``--only``
splits the work between processes; the manifest records each shipped file's own command, seed included.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Final

import numpy as np
import torch

from ohlora_cli.catalog.registry import ASSETS_DIR
from ohlora_cli.files import write_atomic, write_text_atomic
from ohlora_cli.models.checkpoints import load_checkpoint, sha256_file
from ohlora_cli.models.cnn_files import (
    load_filter_ensemble,
    load_property_cnn,
    save_filter_ensemble,
    save_property_cnn,
)
from ohlora_cli.models.cnns import FILTER_PROPS, predict
from ohlora_cli.models.inference import latents_for_seeds, map_to_w, render
from ohlora_cli.properties.algorithms import PROPERTY_NAMES, compute_properties_batch
from ohlora_cli.synthetic import renderer
from ohlora_cli.synthetic.latent_code import attribute_stats, attributes_from_latent
from ohlora_cli.training.cnns import (
    binary_metrics,
    train_filter_ensemble,
    train_property_cnn,
)

RESOLUTION: Final = 64
WIDTH: Final = 0.25
LABELLED_SEED0: Final = 30_000_000
HELDOUT_SEED0: Final = 31_000_000
PROPERTY_SEED0: Final = 32_000_000
PROPERTY_HELDOUT_SEED0: Final = 33_000_000


def render_set(seed0: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images (N, R, R, 3) uint8, true maps (N, R, R), attributes (N, 12)) of seeds seed0..seed0+n-1."""
    seeds = np.arange(seed0, seed0 + n, dtype=np.int64)
    attrs = renderer.sample_attributes(seeds)
    images, maps = renderer.render(attrs, seeds, RESOLUTION)
    return images, maps, attrs


GENERATED_SEED0: Final = 34_000_000
GENERATED_HELDOUT_SEED0: Final = 35_000_000


def generated_set(generator: Path, seed0: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, R, R, 3) uint8 from the generator, intended hand labels (N, 4)) of seeds seed0.. ."""
    G = load_checkpoint(generator).build_generator()
    stats = attribute_stats()
    seeds = np.arange(seed0, seed0 + n, dtype=np.int64)
    images, labels = [], []
    for start in range(0, n, 250):
        z, label = latents_for_seeds(seeds[start:start + 250], G.cfg.z_dim, G.cfg.label_size)
        img = render(G, map_to_w(G, z, label))
        if img.shape[1] != RESOLUTION:
            import cv2

            img = np.stack([cv2.resize(im, (RESOLUTION, RESOLUTION), interpolation=cv2.INTER_AREA) for im in img])
        images.append(img)
        labels.append(renderer.hand_labels(attributes_from_latent(z, label, stats)[0]))
    return np.concatenate(images), np.concatenate(labels)


def filter_file(out: Path, prop: str) -> Path:
    return out / f"synthetic-cnn-{prop}.pt"


def property_file(out: Path) -> Path:
    return out / "synthetic-cnn-property.pt"


def train_all(out: Path, *, n_labelled: int, n_heldout: int, n_property: int, seed: int, max_epochs: int,
              patience: int, lr: float = 1e-3, generator: Path | None = None, n_generated: int = 0,
              only: tuple[str, ...] | None = None, log=print) -> dict:
    """Train (or pick up from ``out``) every model; ``only`` limits this process to some of them
    (``gender``, ``quality``, ``age``, ``glass``, ``property``) so two processes can share the work."""
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"filter": {}, "property": {}}
    images, _, attrs = render_set(LABELLED_SEED0, n_labelled)
    labels = renderer.hand_labels(attrs)
    held_images, _, held_attrs = render_set(HELDOUT_SEED0, n_heldout)
    held_labels = renderer.hand_labels(held_attrs)
    gen_held = None
    if generator is not None and n_generated > 0:
        g_images, g_labels = generated_set(generator, GENERATED_SEED0, n_generated)
        images, labels = np.concatenate([images, g_images]), np.concatenate([labels, g_labels])
        gen_held = generated_set(generator, GENERATED_HELDOUT_SEED0, n_heldout)
        report["generated"] = {"generator": str(generator), "n_train": n_generated, "n_heldout": n_heldout}
    for k, prop in enumerate(FILTER_PROPS):
        path = filter_file(out, prop)
        if only is not None and prop not in only:
            continue
        if not path.exists():
            t0 = time.perf_counter()
            ens = train_filter_ensemble(images, labels[:, k], prop=prop, seed=seed, max_epochs=max_epochs,
                                        patience=patience, lr=lr, width=WIDTH, init="kaiming", max_retries=1,
                                        on_epoch=lambda d, p=prop: log({"cnn": p, **d}) if d["epoch"] % 5 == 0 else None)
            ens.metrics["train_seconds"] = round(time.perf_counter() - t0, 1)
            ens.metrics["heldout"] = binary_metrics(ens.predict(held_images), held_labels[:, k], ens.threshold)
            ens.metrics["heldout"]["n"] = n_heldout
            ens.metrics["heldout"]["positives"] = int(held_labels[:, k].sum())
            if gen_held is not None:
                ens.metrics["heldout_generated"] = binary_metrics(ens.predict(gen_held[0]), gen_held[1][:, k],
                                                                  ens.threshold)
                ens.metrics["heldout_generated"]["positives"] = int(gen_held[1][:, k].sum())
            save_filter_ensemble(path, ens, half=True)
        ens = load_filter_ensemble(path)
        report["filter"][prop] = {"fold_auroc": [f["auroc"] for f in ens.metrics["folds"]],
                                  "heldout": ens.metrics["heldout"], "train_seconds": ens.metrics["train_seconds"],
                                  **({"heldout_generated": ens.metrics["heldout_generated"]}
                                     if "heldout_generated" in ens.metrics else {})}
        log({"cnn": prop, "heldout_auroc": ens.metrics["heldout"]["auroc"]})

    path = property_file(out)
    if only is not None and "property" not in only:
        return report
    if not path.exists():
        t0 = time.perf_counter()
        p_images, p_maps, _ = render_set(PROPERTY_SEED0, n_property)
        raw = compute_properties_batch(p_maps, p_images, "fixed")
        mean, std = raw.mean(0), raw.std(0, ddof=1)
        model, metrics = train_property_cnn(p_images, (raw - mean) / std, seed=seed, max_epochs=max_epochs,
                                            patience=patience, lr=lr, width=WIDTH, init="kaiming",
                                            on_epoch=lambda d: log({"cnn": "property", **d}))
        metrics["train_seconds"] = round(time.perf_counter() - t0, 1)
        metrics["target_mean"], metrics["target_std"] = mean.tolist(), std.tolist()
        h_images, h_maps, _ = render_set(PROPERTY_HELDOUT_SEED0, max(n_heldout // 2, 4))
        truth = (compute_properties_batch(h_maps, h_images, "fixed") - mean) / std

        pred = predict(model, h_images)
        metrics["heldout"] = {name: {"mse": float(np.mean((pred[:, j] - truth[:, j]) ** 2)),
                                     "mae": float(np.mean(np.abs(pred[:, j] - truth[:, j]))),
                                     "corr": float(np.corrcoef(pred[:, j], truth[:, j])[0, 1])}
                              for j, name in enumerate(PROPERTY_NAMES)}
        metrics["heldout_n"] = len(h_images)
        save_property_cnn(path, model, metrics, half=True)
    _, metrics = load_property_cnn(path)
    report["property"] = {"heldout": metrics["heldout"], "train_seconds": metrics["train_seconds"],
                          "n_train": metrics["n_train"], "heldout_n": metrics["heldout_n"]}
    write_text_atomic(out / "report.json", json.dumps(report, indent=1))
    return report


RECIPE: Final = "python -m ohlora_cli.synthetic.train_cnns --out runs/cnns --threads 1"


def ship(out: Path, log=print) -> None:
    """Copy the trained files into the package assets and record them (sha256, recipe, figures)."""
    report = json.loads((out / "report.json").read_text())
    manifest_path = ASSETS_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    cnns = manifest.setdefault("cnns", {})
    files = [(f"cnn-{p}", filter_file(out, p)) for p in FILTER_PROPS] + [("cnn-property", property_file(out))]
    for kind, src in files:
        target = ASSETS_DIR / src.name
        write_atomic(target, lambda tmp, src=src: shutil.copyfile(src, tmp))
        if kind == "cnn-property":
            figures = {"held-out Pearson r vs algorithms": {k: round(v["corr"], 3)
                                                            for k, v in report["property"]["heldout"].items()},
                       "train seconds": report["property"]["train_seconds"]}
        else:
            f = report["filter"][kind.removeprefix("cnn-")]
            figures = {"held-out AUROC": round(f["heldout"]["auroc"], 4),
                       **({"held-out AUROC on generated faces (intended labels)":
                           round(f["heldout_generated"]["auroc"], 4)} if "heldout_generated" in f else {}),
                       "fold AUROC": [round(a, 4) for a in f["fold_auroc"]], "train seconds": f["train_seconds"]}
        seed = (load_property_cnn(src)[1] if kind == "cnn-property" else load_filter_ensemble(src).metrics)\
            .get("options", {}).get("seed", 0)
        recipe = f"{RECIPE} --seed {seed} --only {kind.removeprefix('cnn-')}"
        if "generated" in report and kind != "cnn-property":
            recipe += f" --generator {report['generated']['generator']} --n-generated {report['generated']['n_train']}"
        cnns[kind] = {"file": target.name, "sha256": sha256_file(target), "recipe": recipe,
                      "description": f"{kind} for the synthetic world (64 px, width {WIDTH}, fp16 weights)",
                      "figures": figures}
        log({"shipped": target.name, "bytes": target.stat().st_size})
    write_text_atomic(manifest_path, json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n-labelled", type=int, default=2000)
    ap.add_argument("--n-heldout", type=int, default=2000)
    ap.add_argument("--n-property", type=int, default=4000)
    ap.add_argument("--max-epochs", type=int, default=30)
    ap.add_argument("--patience", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--generator", type=Path, help="also train the filter CNNs on faces this generator draws")
    ap.add_argument("--n-generated", type=int, default=2000)
    ap.add_argument("--only", help="comma list of gender,quality,age,glass,property: train just these here")
    ap.add_argument("--ship", action="store_true", help="copy the trained files into the package assets")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    log = lambda row: print(json.dumps(row), flush=True)  # noqa: E731
    if args.ship:
        ship(args.out, log)
        return
    report = train_all(args.out, n_labelled=args.n_labelled, n_heldout=args.n_heldout, n_property=args.n_property,
                       seed=args.seed, max_epochs=args.max_epochs, patience=args.patience, log=log,
                       generator=args.generator, n_generated=args.n_generated if args.generator else 0,
                       only=tuple(args.only.split(",")) if args.only else None)
    if args.only:
        return
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
