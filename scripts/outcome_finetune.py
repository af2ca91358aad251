"""Fine-tuning outcome on the synthetic world (the finetune issue's closing table).

1. generate ``--n`` samples of the embedded base generator, score them (parser + filter CNNs);
2. ``filter`` them with ``--rule`` (default: the original's four rules) into a selection;
3. ``finetune`` the base on it with each ``--preset`` (v8, v1) for ``--steps`` steps;
4. on ``--fresh`` new seeds, before (base) vs after (each fine-tune), with the same scorers: per-rule
   and joint pass rates, and the spread (std) of the properties vectorfind uses, relative to the base.

    python scripts/outcome_finetune.py --out runs/outcome-finetune --steps 300
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

SPREAD = ("eyes", "mouth", "pose", "hair_color", "hair_length", "background_mean", "hairstyle")
FRESH_SEED0 = 70_000_000


def measure(catalog, name: str, n: int, rules, batch: int = 250, reference=None) -> dict:
    from ohlora_cli.models.inference import latents_for_seeds, map_to_w, render
    from ohlora_cli.catalog.registry import load_generator, resolve_generator
    from ohlora_cli.rules import apply_rules
    from ohlora_cli.scoring.scorers import FilterCnnScorer, ParserScorer
    from ohlora_cli.config import ScoreConfig

    gen = resolve_generator(catalog, name)
    G = load_generator(gen)
    from ohlora_cli.frechet import feature_stats, frechet_distance
    from ohlora_cli.scoring.features import PropertyFeatures

    fcnn, parser = FilterCnnScorer(catalog, "synthetic"), ParserScorer(ScoreConfig())
    feats = PropertyFeatures(catalog)
    f_vals, p_vals, h_vals = [], [], []
    for start in range(0, n, batch):
        seeds = np.arange(FRESH_SEED0 + start, FRESH_SEED0 + min(start + batch, n))
        z, label = latents_for_seeds(seeds, gen.z_dim, gen.label_size)
        images = render(G, map_to_w(G, z, label))
        f_vals.append(fcnn.score(images))
        p_vals.append(parser.score(images))
        h_vals.append(feats.features(images))
    f, p = np.concatenate(f_vals), np.concatenate(p_vals)
    fd = frechet_distance(*feature_stats(np.concatenate(h_vals)), *reference) if reference is not None else None
    cols = np.stack([f[:, list(fcnn.properties).index(r.prop)] for r in rules], axis=1)
    ok = apply_rules(cols, rules)
    return {"per_rule": {str(r): float(ok[:, j].mean()) for j, r in enumerate(rules)},
            "joint": float(ok.all(axis=1).mean()),
            "mean_filter_scores": {q: float(f[:, j].mean()) for j, q in enumerate(fcnn.properties)},
            "std": {q: float(p[:, list(parser.properties).index(q)].std()) for q in SPREAD}, "fd_selection": fd}


def selection_reference(catalog, selection: str):
    """(mean, cov) of the selection's Property-CNN hidden features (its images re-rendered by the base)."""
    from ohlora_cli.catalog.images import images_of
    from ohlora_cli.catalog.queries import selection_ids
    from ohlora_cli.catalog.registry import load_generator, resolve_generator
    from ohlora_cli.frechet import feature_stats
    from ohlora_cli.scoring.features import PropertyFeatures

    gen = resolve_generator(catalog, "synthetic-base")
    G = load_generator(gen)
    _, ids = selection_ids(catalog, selection)
    feats = PropertyFeatures(catalog)
    parts = [feats.features(images_of(catalog, G, gen, ids[i:i + 250], torch.device("cpu")))
             for i in range(0, len(ids), 250)]
    return feature_stats(np.concatenate(parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--fresh", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--preset", action="append", default=None)
    ap.add_argument("--rule", action="append", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ema", type=float, default=0.0, help="EMA decay of the saved generator (0 = raw, as the original)")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--augment", default="none", choices=("none", "diffaug", "ada"))
    ap.add_argument("--ada-speed", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0, help="the fine-tune's seed (z, noise, shuffles, augmentation)")
    ap.add_argument("--holdout", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from ohlora_cli.catalog.db import open_catalog
    from ohlora_cli.config import GenerateConfig
    from ohlora_cli.config import ScoreConfig
    from ohlora_cli.rules import DEFAULT_RULES, parse_rule
    from ohlora_cli.stages import filter as filter_stage, finetune, generate, score

    rules_text = args.rule or list(DEFAULT_RULES)
    rules = [parse_rule(r) for r in rules_text]
    args.out.mkdir(parents=True, exist_ok=True)
    catalog = open_catalog(args.out / "ohlora.db")
    report: dict = {"rules": rules_text, "n": args.n, "fresh": args.fresh, "steps": args.steps, "runs": {}}
    t = time.perf_counter()
    generate.run(catalog, GenerateConfig(n=args.n))
    score.run(catalog, ScoreConfig())
    sel = filter_stage.run(catalog, name="train", rules=rules_text, replace=True)
    report["selection"] = {"passed": sel.passed, "of": sel.total, "per_rule": dict(zip(sel.rules, sel.passed_per_rule))}
    report["prepare_seconds"] = round(time.perf_counter() - t, 1)
    print(json.dumps(report), flush=True)
    reference = selection_reference(catalog, "train")
    report["runs"]["synthetic-base"] = {"fresh": measure(catalog, "synthetic-base", args.fresh, rules,
                                                         reference=reference)}
    for preset in args.preset or ["v8", "v1"]:
        t = time.perf_counter()
        name = f"ft-{preset}" + (f"-ema{args.ema:g}" if args.ema else "") + (f"-lr{args.lr:g}" if args.lr != 1e-4 else "") \
            + (f"-{args.augment}" if args.augment != "none" else "") + f"-s{args.steps}-seed{args.seed}"
        cfg = finetune.FinetuneConfig(model="synthetic-base", selection="train", out=name, preset=preset,
                                      steps=args.steps, monitor_every=100, log_every=50, ema=args.ema, lr=args.lr,
                                      checkpoint_every=100, augment=args.augment, ada_speed_kimg=args.ada_speed,
                                      seed=args.seed, holdout=args.holdout, resume=(args.out / "runs" / "finetune").exists()
                                      and any((args.out / "runs" / "finetune").glob(f"*-{name}")))
        r = finetune.run(catalog, cfg, args.out / "runs", log=lambda row: print(json.dumps(row), flush=True))
        seconds = time.perf_counter() - t
        report["runs"][name] = {"seconds": round(seconds, 1), "trainable": r.trainable, "steps": r.steps,
                                "fresh": measure(catalog, name, args.fresh, rules, reference=reference)}
        print(json.dumps({name: report["runs"][name]}), flush=True)
    base = report["runs"]["synthetic-base"]["fresh"]
    print("\n| generator | fine-tune time | joint pass | feature distance | " + " | ".join(rules_text) + " | "
          + " | ".join(f"{q} spread" for q in SPREAD) + " |")
    print("|---" * (4 + len(rules_text) + len(SPREAD)) + "|")
    for name, run in report["runs"].items():
        fr = run["fresh"]
        spread = [fr["std"][q] / base["std"][q] for q in SPREAD]
        print(f"| {name} | {run.get('seconds', 0):.0f} s | {fr['joint']:.1%} | {fr['fd_selection']:.3f} | "
              + " | ".join(f"{fr['per_rule'][r]:.1%}" for r in rules_text) + " | "
              + " | ".join(f"{v:.2f}" for v in spread) + " |")
    tag = "-".join(args.preset or ["v8", "v1"]) + (f"-ema{args.ema:g}" if args.ema else "") \
        + (f"-lr{args.lr:g}" if args.lr != 1e-4 else "") + (f"-{args.augment}" if args.augment != "none" else "") \
        + f"-s{args.steps}-seed{args.seed}"
    (args.out / f"report-{tag}.json").write_text(json.dumps(report, indent=1))
    catalog.close()


if __name__ == "__main__":
    main()
