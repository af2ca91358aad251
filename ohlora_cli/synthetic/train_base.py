"""Recipe for the synthetic world's base generator + discriminator (the embedded default).

A 64×64 conditional StyleGAN exactly like the original FineTune-v1 interface (z 512 + 7 labels,
``label_weight`` 7×16; D with the label joined before its last layer), trained on rendered faces:

1. **Supervised warm-up** (COMPUTE-NOTES): regress G(z, label) (class-weighted L1) onto the face the renderer draws for
   attributes that are a fixed function of (z, label) — the 7 label dims set eyes, hair colour,
   hair length, mouth, pose, background mean/std; z sets hairstyle, gender, age, glasses, quality
   through the renderer's own marginals.  This gives the mapping network a meaningful start.
2. **Adversarial phase** (docs/original.md §5 losses via :mod:`ohlora_cli.training.gan`, everything trainable):
   real faces rendered from per-step seeds, labelled with their normalised attributes; every G update
   also pays ``--anchor`` × the warm-up loss (:class:`ohlora_cli.training.anchor.WarmupAnchor`).

    python -m ohlora_cli.synthetic.train_base --out runs/base7 --threads 2

The warm-up trains the mapping network at the synthesis' lr (``--mapping-boost``), oversamples the rare
filter attributes (``--rare-fraction``) and keeps the attribute-carrying z dims readable from w with a
linear probe (``--latent-probe``); without these the first shipped model never drew a male,
old or bespectacled face, and its eyes barely followed their label.  ``--hair-texture`` adds the seed's
hairstyle statistics (phase-free, :func:`hair_texture_stats`) to the warm-up loss: L1 alone learns the
average hair, flat, whatever the hairstyle.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ohlora_cli.catalog.registry import ASSETS_DIR
from ohlora_cli.files import write_atomic, write_text_atomic
from ohlora_cli.models.checkpoints import read_file, save_checkpoint, sha256_file
from ohlora_cli.models.stylegan import (
    DiscriminatorConfig,
    GeneratorConfig,
    StyleGANDiscriminator,
    StyleGANGenerator,
)
from ohlora_cli.synthetic import renderer
from ohlora_cli.synthetic.acceptance import evaluate
from ohlora_cli.synthetic.latent_code import (
    LABEL_ATTRIBUTES,
    LATENT_ATTRIBUTES,
    AttributeStats,
    attribute_stats,
    labels_from_attributes,
)
from ohlora_cli.training.anchor import (  # the warm-up loss and its anchor live below the stages (finetune uses them)
    BASE_HAIR_TEXTURE,
    WarmupAnchor,
    rare_tails,
    to_tensor,
    warmup_batch,
    warmup_loss,
)
from ohlora_cli.training.gan import GanTrainer, TrainConfig

TRAIN_SEED_BASE = 20_000_000

BASE_G = GeneratorConfig(64, label_size=7, fmaps_base=1024, fmaps_max=64)
BASE_D = DiscriminatorConfig(64, label_size=7, mbstd_group_size=4, fmaps_base=1024, fmaps_max=64)


class RenderedFaces:
    """Real faces for the adversarial phase: batch ``step`` is rendered from its own seeds."""

    def __init__(self, stats: AttributeStats, seed: int, resolution: int = 64) -> None:
        self.stats, self.seed, self.resolution = stats, seed, resolution

    def __call__(self, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        seeds = TRAIN_SEED_BASE + self.seed * 100_000_000 + step * batch_size + np.arange(batch_size)
        attrs = renderer.sample_attributes(seeds)
        images, _ = renderer.render(attrs, seeds, self.resolution)
        return to_tensor(images), torch.from_numpy(labels_from_attributes(attrs, self.stats))


def supervised_warmup(G: StyleGANGenerator, stats: AttributeStats, *, steps: int, batch_size: int, seed: int,
                      lr: float = 2e-3, log=print, log_every: int = 100, state_path: Path | None = None,
                      save_every: int = 500, rare_fraction: float = 0.0, mapping_boost: float = 1.0,
                      latent_probe: float = 0.0, texture_seeds: int = 0, hair_texture: float = 0.0) -> list[dict]:
    """Regress G(z, label) onto render(attributes_from_latent(z, label)): class-weighted L1 at 64 px + L1 at 16 px.

    ``rare_fraction`` > 0 oversamples the rare filter attributes (:func:`oversample_rare`);
    ``mapping_boost`` multiplies the mapping network's lr (its GenForce lr multiplier of 0.01 makes the
    few meaningful z dims slow to find).  ``latent_probe`` > 0 adds that weight × the MSE of a linear
    probe (w → the 5 attribute-carrying z dims and the 7 labels; discarded afterwards): without it the
    mapping learns to silence all of z (506 of its 512 dims are noise to the warm-up), the 5 meaningful
    dims with it, and hairstyle / gender / age / glasses / quality are never drawn.  ``texture_seeds``:
    see :func:`attributes_from_latent`.  ``hair_texture`` > 0 adds that weight × the L1 distance of
    :func:`hair_texture_stats` (fake vs target, on the target's map): without it hair comes out flat and
    the hairstyle z dim is not drawn.  Resumable: with ``state_path`` the weights, optimiser and step
    are saved every ``save_every`` steps (temp file + ``os.replace``) and picked up again; step ``s``
    draws its data from (seed, s) alone.
    """
    mapping = [p for n, p in G.named_parameters() if n.startswith("mapping.")]
    rest = [p for n, p in G.named_parameters() if not n.startswith("mapping.")]
    n_latent = len(LATENT_ATTRIBUTES)
    probe = torch.nn.Linear(G.cfg.w_dim, n_latent + G.cfg.label_size)
    opt = torch.optim.Adam([{"params": rest}, {"params": mapping, "lr": lr * mapping_boost},
                            {"params": list(probe.parameters())}], lr=lr, betas=(0.0, 0.99))
    tails = rare_tails(stats) if rare_fraction > 0 else {}
    history: list[dict] = []
    start = 0
    if state_path is not None and Path(state_path).exists():
        state = read_file(state_path)
        G.load_state_dict(state["generator"])
        if "probe" in state:
            probe.load_state_dict(state["probe"])
        opt.load_state_dict(state["opt"])
        start, history = int(state["step"]), json.loads(state["history"])
    G.train()
    t0 = time.perf_counter()
    for step in range(start, steps):
        batch = warmup_batch(np.random.default_rng([seed, 7, step]), stats, G.cfg, batch_size, tails=tails,
                             rare_fraction=rare_fraction, texture_seeds=texture_seeds)
        torch.manual_seed(seed * 1_000_003 + step)
        loss, w, tex_loss = warmup_loss(G, batch, hair_texture)
        probe_mse = F.mse_loss(probe(w), torch.cat([batch.z[:, :n_latent], batch.label], 1)) \
            if latent_probe > 0 else None
        if probe_mse is not None:
            loss = loss + latent_probe * probe_mse
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            G.truncation.update_w_avg(w)
        if (step + 1) % log_every == 0 or step + 1 == steps:
            row = {"phase": "supervised", "step": step + 1, "loss": round(loss.item(), 5),
                   **({"probe_mse": round(probe_mse.item(), 5)} if probe_mse is not None else {}),
                   **({"hair_texture": round(tex_loss.item(), 5)} if tex_loss is not None else {}),
                   "sec": round(time.perf_counter() - t0, 1)}
            history.append(row)
            log(row)
        if state_path is not None and ((step + 1) % save_every == 0 or step + 1 == steps):
            state = {"generator": G.state_dict(), "probe": probe.state_dict(), "opt": opt.state_dict(), "step": step + 1,
                     "history": json.dumps(history)}
            write_atomic(state_path, lambda tmp: torch.save(state, tmp))
    G.eval()
    return history


def train_base(out: Path, *, supervised_steps: int, gan_steps: int, batch_size: int = 16, seed: int = 0,
               r1_gamma: float = 1.0, r1_every: int = 4, ema_decay: float = 0.999, threads: int = 2,
               rare_fraction: float = 0.0, mapping_boost: float = 1.0, latent_probe: float = 0.0,
               texture_seeds: int = 0, hair_texture: float = 0.0, anchor: float = 0.0, log=print) -> dict:
    """The whole recipe; writes ``out/base.pt`` (G, G_ema as generator_smooth, D, configs) and a report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    stats = attribute_stats()
    G, D = StyleGANGenerator(BASE_G), StyleGANDiscriminator(BASE_D)
    history = supervised_warmup(G, stats, steps=supervised_steps, batch_size=batch_size, seed=seed, log=log,
                                state_path=out / "warmup-state.pt", rare_fraction=rare_fraction,
                                mapping_boost=mapping_boost, latent_probe=latent_probe, texture_seeds=texture_seeds,
                                hair_texture=hair_texture)
    write_text_atomic(out / "warmup.json", json.dumps(history))
    t_warm = time.perf_counter() - t0
    cfg = TrainConfig(steps=gan_steps, batch_size=batch_size, r1_gamma=r1_gamma, r1_every=r1_every,
                      ema_decay=ema_decay, seed=seed, checkpoint_every=250, log_every=50)
    reg = WarmupAnchor(G, stats, seed=seed, batch_size=batch_size, weight=anchor, hair_texture=hair_texture) \
        if anchor > 0 else None
    trainer = GanTrainer(G, D, RenderedFaces(stats, seed), cfg, out / "gan", log=log, g_regulariser=reg)
    if trainer.G_ema is not None:
        trainer.G_ema.load_state_dict(G.state_dict())
    result = trainer.run(resume=True)
    G_final = trainer.G_ema or G
    meta = {"recipe": f"python -m ohlora_cli.synthetic.train_base --out {out} --supervised-steps {supervised_steps} "
                      f"--gan-steps {gan_steps} --batch-size {batch_size} --seed {seed} --threads {threads}"
                      + f" --rare-fraction {rare_fraction:g} --mapping-boost {mapping_boost:g}"
                      + f" --latent-probe {latent_probe:g} --texture-seeds {texture_seeds}"
                      + f" --hair-texture {hair_texture:g} --anchor {anchor:g}",
            "warmup_seconds": round(t_warm, 1), "gan_seconds": round(result.seconds, 1),
            "attribute_stats": stats.to_dict(), "label_attributes": list(LABEL_ATTRIBUTES)}
    save_checkpoint(out / "base.pt", G_final, D=D, lineage={"recipe": meta["recipe"]}, meta=meta)
    return {"warmup_seconds": t_warm, "gan_seconds": result.seconds, "last": result.last}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--supervised-steps", type=int, default=6000)
    ap.add_argument("--gan-steps", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rare-fraction", type=float, default=0.3,
                    help="warm-up: share of each batch moved into each rare filter attribute's tail")
    ap.add_argument("--mapping-boost", type=float, default=100.0,
                    help="warm-up: lr multiplier of the mapping network (100 undoes GenForce's 0.01 lr_mul)")
    ap.add_argument("--latent-probe", type=float, default=1.0,
                    help="warm-up: weight of the linear probe that keeps the attribute-carrying z dims in w")
    ap.add_argument("--texture-seeds", type=int, default=0,
                    help="warm-up: renderer seeds used for textures/jitter (0 = any, from z[:, 5]; the shipped "
                         "model; 1 sharpened the warm-up but the adversarial phase undid it)")
    ap.add_argument("--hair-texture", type=float, default=BASE_HAIR_TEXTURE,
                    help="warm-up (and anchor) loss: weight of the hair-texture statistics term (the seed's "
                         "hairstyle score made differentiable)")
    ap.add_argument("--anchor", type=float, default=1.0,
                    help="adversarial phase: weight of the warm-up loss added to every G update")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    summary = train_base(args.out, supervised_steps=args.supervised_steps, gan_steps=args.gan_steps,
                         batch_size=args.batch_size, seed=args.seed, threads=args.threads,
                         rare_fraction=args.rare_fraction, mapping_boost=args.mapping_boost,
                         latent_probe=args.latent_probe, texture_seeds=args.texture_seeds,
                         hair_texture=args.hair_texture, anchor=args.anchor,
                         log=lambda row: print(json.dumps(row), flush=True))
    print(json.dumps({k: v for k, v in summary.items()}, default=str))


if __name__ == "__main__":
    main()


def ship(out: Path, *, name: str = "synthetic-base", n_check: int = 2000, make_default: bool = True) -> dict:
    """Copy ``out/base.pt`` into the package assets and record sha256, recipe, timing and acceptance figures."""
    meta = read_file(Path(out) / "base.pt")["meta"]
    target = ASSETS_DIR / f"{name}.pt"
    write_atomic(target, lambda tmp: shutil.copyfile(Path(out) / "base.pt", tmp))
    figures = evaluate(target, n_check)
    manifest_path = ASSETS_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["generators"][name] = {
        "file": target.name, "sha256": sha256_file(target), "recipe": meta["recipe"],
        "description": "64px conditional StyleGAN (z 512 + 7 labels like FineTune-v1, channels 64→16) + D, trained on "
                       "rendered faces: class-weighted supervised warm-up with hair-texture statistics, then "
                       "softplus + R1 adversarial phase anchored by the warm-up loss",
        "figures": {"wall time": f"warm-up {meta['warmup_seconds']:.0f} s + adversarial {meta['gan_seconds']:.0f} s "
                                 f"on {platform.processor() or platform.machine()} CPU",
                    f"faces with both eyes, mouth and hair ({n_check} samples)": round(figures["complete_rate"], 4),
                    "property spread vs renderer (std ratio)": {k: round(v, 3) for k, v in figures["spread_ratio"].items()},
                    "label -> property Pearson r": {k: round(v, 3) for k, v in figures["label_r"].items()},
                    "held-out R2 of a linear read-out from w": {k: round(v, 3) for k, v
                                                                in figures.get("decodable_from_w", {}).items()},
                    **({"filter attributes found by the filter CNNs (fraction)":
                        {k: round(v, 4) for k, v in figures["filter_occurrence"].items()},
                        "joint pass rate of the original's 4 filter rules": round(figures["default_rules_pass_rate"], 4)}
                       if "filter_occurrence" in figures else {})},
    }
    if make_default:
        manifest["default_generator"] = name
    write_text_atomic(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return figures
