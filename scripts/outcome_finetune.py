"""Fine-tuning outcome on the synthetic world (the finetune issue's closing table).

1. generate ``--n`` samples of the embedded base generator, score them (parser + filter CNNs);
2. ``filter`` them with ``--rule`` (default: the original's four rules) into a selection;
3. ``finetune`` the base on it with the given options, once per ``--seed``;
4. on ``--fresh`` new seeds, before (base) vs after (each fine-tune), with the same scorers: per-rule
   and joint pass rates, the spread (std) of the properties vectorfind uses relative to the base, and the
   feature distance (Fréchet distance of the Property Score CNN's hidden features, not FID) to the selection.

Steps 1–2 and the base's figures are made once per ``--out`` folder and reused; every fine-tune appends
one line to ``OUT/results.jsonl`` and the script ends by printing the table of all of them (``--table``
prints it without training).

    python scripts/outcome_finetune.py --out runs/outcome-ft9 --setting v8 --preset v8 --steps 600 --seed 0 --seed 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

SPREAD = ("eyes", "mouth", "pose", "hair_color", "hair_length", "background_mean", "hairstyle")
SHOWN_SPREAD = ("eyes", "mouth", "pose", "hairstyle")
FRESH_SEED0 = 70_000_000


def measure(catalog, name: str, n: int, rules, batch: int = 250, reference=None) -> dict:
    from ohlora_cli.catalog.registry import load_generator, resolve_generator
    from ohlora_cli.config import ScoreConfig
    from ohlora_cli.frechet import feature_stats, frechet_distance
    from ohlora_cli.models.inference import latents_for_seeds, map_to_w, render
    from ohlora_cli.rules import apply_rules
    from ohlora_cli.scoring.features import PropertyFeatures
    from ohlora_cli.scoring.scorers import FilterCnnScorer, ParserScorer

    gen = resolve_generator(catalog, name)
    G = load_generator(gen)
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


def prepare(catalog, out: Path, args, rules_text) -> tuple[dict, tuple]:
    """The selection and the base's figures: made once per folder (``base.json``), then reused."""
    from ohlora_cli.config import GenerateConfig, ScoreConfig
    from ohlora_cli.rules import parse_rule
    from ohlora_cli.stages import filter as filter_stage
    from ohlora_cli.stages import generate, score

    key = {"rules": rules_text, "n": args.n, "fresh": args.fresh}
    path = out / "base.json"
    t = time.perf_counter()
    generate.run(catalog, GenerateConfig(n=args.n))
    score.run(catalog, ScoreConfig())
    sel = filter_stage.run(catalog, name="train", rules=rules_text, replace=True)
    reference = selection_reference(catalog, "train")
    if path.exists() and json.loads(path.read_text())["key"] == key:
        return json.loads(path.read_text()), reference
    base = {"key": key, "selection": {"passed": sel.passed, "of": sel.total,
                                      "per_rule": dict(zip(sel.rules, sel.passed_per_rule))},
            "fresh": measure(catalog, "synthetic-base", args.fresh, [parse_rule(r) for r in rules_text],
                             reference=reference)}
    base["seconds"] = round(time.perf_counter() - t, 1)
    path.write_text(json.dumps(base, indent=1))
    return base, reference


def table(out: Path) -> str:
    """The markdown table of ``base.json`` and every line of ``results.jsonl`` (one row per fine-tune)."""
    base = json.loads((out / "base.json").read_text())
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()] \
        if (out / "results.jsonl").exists() else []
    b = base["fresh"]
    quality = next(r for r in b["per_rule"] if r.startswith("quality"))
    lines = ["| setting | seed | fine-tune time | joint pass | Δ pp | " + quality + " | feature distance | spread kept ("
             + " / ".join(SHOWN_SPREAD) + "; min of 7) |", "|---|---|---|---|---|---|---|---|"]

    def row(label, seed, seconds, fr):
        spread = {q: fr["std"][q] / b["std"][q] for q in SPREAD}
        shown = " / ".join(f"{spread[q]:.2f}" for q in SHOWN_SPREAD)
        return (f"| {label} | {seed} | {seconds} | {fr['joint']:.1%} | {100 * (fr['joint'] - b['joint']):+.1f} | "
                f"{fr['per_rule'][quality]:.1%} | {fr['fd_selection']:.2f} | {shown}; {min(spread.values()):.2f} |")

    lines.append(row("synthetic-base", "–", "–", b))
    for r in rows:
        lines.append(row(r["setting"], r["seed"], f"{r['seconds']:.0f} s", r["fresh"]))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--setting", default=None, help="name of this setting in the table [default: from the options]")
    ap.add_argument("--table", action="store_true", help="only print the table of the folder's results")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--fresh", type=int, default=2000)
    ap.add_argument("--rule", action="append", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, action="append", default=None, help="fine-tune seed (repeatable) [0]")
    ap.add_argument("--preset", default="v8")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--ema", type=float, default=0.0, help="EMA decay of the saved generator (0 = raw, as the original)")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--r1", type=float, default=10.0)
    ap.add_argument("--r1-every", type=int, default=1)
    ap.add_argument("--augment", default="none", choices=("none", "diffaug", "ada"))
    ap.add_argument("--ada-speed", type=float, default=2.0)
    ap.add_argument("--holdout", type=int, default=0)
    ap.add_argument("--anchor", type=float, default=0.0)
    ap.add_argument("--freeze-noise", action="store_true")
    ap.add_argument("--noise", default="random", choices=("random", "const"))
    ap.add_argument("--labels", default="stored", choices=("stored", "zero"))
    ap.add_argument("--train", action="append", default=None, help="trainable glob (repeatable; D: prefix)")
    ap.add_argument("--freeze", action="append", default=None, help="glob to freeze (repeatable)")
    args = ap.parse_args()
    if args.table:
        print(table(args.out))
        return
    torch.set_num_threads(args.threads)
    from ohlora_cli.catalog.db import open_catalog
    from ohlora_cli.rules import DEFAULT_RULES, parse_rule
    from ohlora_cli.stages import finetune

    rules_text = args.rule or list(DEFAULT_RULES)
    rules = [parse_rule(r) for r in rules_text]
    args.out.mkdir(parents=True, exist_ok=True)
    catalog = open_catalog(args.out / "ohlora.db")
    base, reference = prepare(catalog, args.out, args, rules_text)
    print(json.dumps({"selection": base["selection"], "base_joint": base["fresh"]["joint"]}), flush=True)
    options = {"preset": args.preset, "steps": args.steps, "batch_size": args.batch_size, "ema": args.ema,
               "lr": args.lr, "r1": args.r1, "r1_every": args.r1_every, "augment": args.augment,
               "ada_speed_kimg": args.ada_speed, "holdout": args.holdout, "anchor": args.anchor,
               "freeze_noise": args.freeze_noise, "noise": args.noise, "labels": args.labels,
               "train": tuple(args.train or ()), "freeze": tuple(args.freeze or ())}
    setting = args.setting or "-".join(f"{k}{v}" for k, v in options.items() if v not in (None, (), False))
    for seed in args.seed or [0]:
        digest = hashlib.sha256(json.dumps([setting, options], default=str).encode()).hexdigest()[:8]
        name = f"ft-{digest}-seed{seed}"
        t = time.perf_counter()
        runs = args.out / "runs" / "finetune"
        cfg = finetune.FinetuneConfig(model="synthetic-base", selection="train", out=name, seed=seed,
                                      monitor_every=100, log_every=50, checkpoint_every=100,
                                      resume=runs.exists() and any(runs.glob(f"*-{name}")), **options)
        r = finetune.run(catalog, cfg, args.out / "runs", log=lambda row: print(json.dumps(row), flush=True))
        seconds = time.perf_counter() - t
        result = {"setting": setting, "seed": seed, "generator": name, "options": options,
                  "seconds": round(seconds, 1), "trainable": r.trainable, "steps": r.steps, "run_dir": str(r.run_dir),
                  "fresh": measure(catalog, name, args.fresh, rules, reference=reference)}
        with open(args.out / "results.jsonl", "a") as f:
            f.write(json.dumps(result, default=str) + "\n")
        print(json.dumps({k: result[k] for k in ("setting", "seed", "seconds")} | {"joint": result["fresh"]["joint"]}),
              flush=True)
    catalog.close()
    print(table(args.out))


if __name__ == "__main__":
    main()
