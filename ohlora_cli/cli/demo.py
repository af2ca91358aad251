"""``ohlora demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.cli._common import (
    ModelOpt,
    QuietOpt,
    ThreadsOpt,
    example,
    say,
    say_err,
    use_threads,
)

EPILOG = example("ohlora demo --out ohlora-demo", "ohlora demo --n 400 --groups 4 --finetune-steps 20 --out quick")


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the catalog, images, report and pictures.")]
    = Path("ohlora-demo"),
    n: Annotated[int, typer.Option("--n", help="Images to generate and score (per generator).")] = 2000,
    groups: Annotated[int, typer.Option("--groups", help="vectorfind groups (2^k).")] = 16,
    finetune_steps: Annotated[int, typer.Option("--finetune-steps", help="Fine-tuning steps (0 = skip).")] = 275,
    cases: Annotated[int, typer.Option("--cases", help="eval cases (50 edited images each).")] = 20,
    rule: Annotated[list[str] | None, typer.Option("--rule", help="Filter rules before fine-tuning [default: the "
                                                                  "original's four].")] = None,
    model: ModelOpt = None,
    threads: ThreadsOpt = "auto",
    quiet: QuietOpt = False,
) -> None:
    """Run the whole pipeline on the embedded default into one folder; say where the pictures are.

    generate → score → filter → finetune → generate → score → verdict (the fine-tuned generator's pass
    rate and feature distance against its parent's; the later steps use the parent unless it is beaten)
    → vectorfind (svm, global) → eval → synth sweeps and an animation.
    """
    use_threads(threads)
    from ohlora_cli import demo as stage

    r = stage.run(out, n=n, groups=groups, model=model, finetune_steps=finetune_steps, cases=cases,
                  rules=tuple(rule) if rule else stage.DEMO_RULES, log=lambda m: say_err(m, quiet), quiet=quiet)
    say(f"demo finished in {r.seconds:.1f} s: catalog {r.catalog}, {r.images} images per generator")
    say("  filter pass rate: " + ", ".join(f"{g} {v:.1%}" for g, v in r.pass_rates.items()))
    if r.verdict is not None:
        say(f"  fine-tune: {r.verdict}")
    say("  direction validation accuracy: " + ", ".join(f"{p} {a:.3f}" for p, a in r.accuracy.items()))
    for label, sm in r.eval_summary.items():
        say(f"  eval {label}: mean |r| eyes {sm['mean_abs_r_eyes']:.3f} mouth {sm['mean_abs_r_mouth']:.3f} "
            f"pose {sm['mean_abs_r_pose']:.3f}, pass rate {sm['pass_rate']:.1%}")
    say(f"  report: {r.report}")
    say(f"  contact sheet: {r.contact_sheet}")
    for path in r.sweeps:
        say(f"  eyes / mouth / pose sweeps: {path}")
    if r.animation is not None:
        say(f"  animation: {r.animation}")
