"""``ohlora finetune``: adversarial fine-tuning on a filtered selection (docs/original.md §1.4–1.5, §5)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.cli._common import (
    DEFAULT_CATALOG,
    CatalogOpt,
    DeviceOpt,
    ModelOpt,
    QuietOpt,
    ThreadsOpt,
    example,
    open_catalog,
    say,
    say_err,
    use_threads,
)
from ohlora_cli.progress import LazyProgress
from ohlora_cli.training.presets import preset_help

EPILOG = example("ohlora finetune --selection v8-train --preset v8 --out v8 --steps 500",
                 "ohlora finetune --model v1 --selection v8-train --out v8 --time 2h --resume")


def finetune(
    selection: Annotated[str, typer.Option("--selection", help="Named selection from `ohlora filter`.")],
    out: Annotated[str, typer.Option("--out", help="Name of the new generator (and of its run folder).")],
    model: ModelOpt = None,
    preset: Annotated[str, typer.Option("--preset", help=preset_help())] = "v8",
    steps: Annotated[int | None, typer.Option("--steps", help="Training steps (batches).")] = None,
    kimg: Annotated[float | None, typer.Option("--kimg", help="Thousands of real images shown.")] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", help="Passes over the selection.")] = None,
    time_: Annotated[str | None, typer.Option("--time", help="Wall-clock budget, e.g. 20m, 2h.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="[default: the preset's]")] = None,
    lr: Annotated[float, typer.Option("--lr", help="AdamW lr for G and D (constant).")] = 1e-4,
    r1: Annotated[float, typer.Option("--r1", help="R1 penalty gamma on reals.")] = 10.0,
    ema: Annotated[float, typer.Option("--ema", help="EMA decay of generator_smooth (0 = none, as the original).")]
    = 0.0,
    labels: Annotated[str, typer.Option("--labels", help="stored (the images' own labels) | zero (the original "
                                                         "v8's all-zero labels).")] = "stored",
    train: Annotated[list[str] | None, typer.Option("--train", help="Trainable glob (repeatable); 'D:' prefix for "
                                                                    "the discriminator.")] = None,
    freeze: Annotated[list[str] | None, typer.Option("--freeze", help="Glob to freeze (repeatable).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds z, noise, shuffles and new layers.")] = 0,
    d_model: Annotated[str | None, typer.Option("--d-model", help="Discriminator file when the generator file has "
                                                                  "none (e.g. stylegan_dis_fine_tuned_v1.pth).")]
    = None,
    augment: Annotated[str, typer.Option("--augment", help="What D sees: none (the original) | diffaug (colour, "
                                                           "translation, cutout on every image) | ada (the same "
                                                           "kinds with a probability steered toward r_t = "
                                                           "--ada-target).")] = "none",
    ada_target: Annotated[float, typer.Option("--ada-target", help="ada: the r_t = E[sign(D(real))] to hold.")] = 0.6,
    ada_speed: Annotated[float, typer.Option("--ada-speed", help="ada: thousands of images for p to go 0 -> 1.")]
    = 2.0,
    holdout: Annotated[int, typer.Option("--holdout", help="Selection images kept out of training to measure D's "
                                                           "held-out AUROC (0 = train on all, as the original).")]
    = 0,
    anchor: Annotated[float, typer.Option("--anchor", help="Weight of the synthetic base recipe's warm-up loss (G(z, "
                                                           "label) vs the renderer's face for it) added to every G "
                                                           "update; needs a synthetic-world generator (0 = off).")]
    = 0.0,
    freeze_noise: Annotated[bool, typer.Option("--freeze-noise", help="Keep the per-layer noise strengths at the "
                                                                      "parent's values.")] = False,
    noise: Annotated[str, typer.Option("--noise", help="Noise inputs of the fakes made while training: random "
                                                       "(GenForce's) | const (the fixed noise images are rendered "
                                                       "with).")] = "random",
    new_d: Annotated[bool, typer.Option("--new-d", help="Start a freshly initialised discriminator.")] = False,
    from_original: Annotated[bool, typer.Option("--from-original", help="Make an unconditional GenForce model "
                                                                        "conditional first (new label weights, the original's v1 recipe).")] = False,
    monitor_every: Annotated[int, typer.Option("--monitor-every", help="Steps between filter-score checks "
                                                                       "(0 = off).")] = 50,
    monitor_n: Annotated[int, typer.Option("--monitor-n", help="Samples per check.")] = 64,
    checkpoint_every: Annotated[int, typer.Option("--checkpoint-every", help="Steps between checkpoints.")] = 50,
    log_every: Annotated[int, typer.Option("--log-every", help="Steps between stats.jsonl lines.")] = 25,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the newest run of --out from its checkpoint.")]
    = False,
    runs: Annotated[Path | None, typer.Option("--runs", help="Root of run folders [default: runs/ beside the "
                                                             "catalog].")] = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = "auto",
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Fine-tune a generator on a selection and register the result (with its lineage) as a new generator.

    Losses and schedule are the original's (D softplus + R1, G non-saturating; G repeated up to 4x while
    g_loss >= 2 d_loss; AdamW). Fixed on purpose: no scheduler is created (the original created one and
    never stepped it); an optional EMA generator is saved beside the raw one. Full-state checkpoints
    every --checkpoint-every steps make --resume continue bit-for-bit after a kill.
    """
    use_threads(threads, adapt=False)  # a resumed run repeats the count, and so its bits
    from ohlora_cli.stages import finetune as stage

    cfg = stage.FinetuneConfig(model=model, selection=selection, out=out, preset=preset, steps=steps, kimg=kimg,
                               epochs=epochs, time=time_, batch_size=batch_size, lr=lr, r1=r1, ema=ema, labels=labels,
                               train=tuple(train or ()), freeze=tuple(freeze or ()), seed=seed, d_model=d_model,
                               new_d=new_d, from_original=from_original, monitor_every=monitor_every,
                               monitor_n=monitor_n, checkpoint_every=checkpoint_every, log_every=log_every,
                               resume=resume, device=device, augment=augment, ada_target=ada_target,
                               ada_speed_kimg=ada_speed, holdout=holdout, anchor=anchor, freeze_noise=freeze_noise,
                               noise=noise)
    cat = open_catalog(catalog, quiet=quiet)
    root = runs or Path(catalog).parent / "runs"

    def log(row: dict) -> None:
        keys = ("step", "d_loss", "g_loss", "g_reg", "d_auroc", "r_t", "ada_p", "holdout_auroc", "mean_gender",
                "mean_quality", "mean_age", "mean_glass",
                "pass_rate", "fd_selection")
        say_err("  ".join(f"{k} {row[k]}" for k in keys if k in row), quiet)

    with LazyProgress("prepare", quiet=quiet) as prep, LazyProgress("finetune", quiet=quiet, unit="step") as bar:
        bars = {"prepare": prep, "train": bar}
        r = stage.run(cat, cfg, root, log=log, on_start=lambda phase, total: bars[phase].start(total),
                      advance=lambda phase, n: bars[phase].advance(n))
    if r.existing:
        say(f"generator {r.generator} already exists, fine-tuned with the same options for {r.steps} steps "
            f"(run folder {r.run_dir}); nothing to do")
        return
    g, d = r.trainable
    say(f"trainable parameters: G {g:,}  D {d:,}")
    for name in r.no_grad:
        say_err(f"warning: {name} is trainable but receives no gradient at this resolution")
    if r.monitor:
        first, last = r.monitor[0], r.monitor[-1]
        for key in ("mean_gender", "mean_quality", "mean_age", "mean_glass", "pass_rate", "fd_selection"):
            if key in first and key in last:
                say(f"{key:<13} {first[key]:.4f} -> {last[key]:.4f}")
    say(f"fine-tuned {r.generator} for {r.steps} steps on {r.images} images in {r.seconds:.1f} s; "
        f"run folder {r.run_dir}")
