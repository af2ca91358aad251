"""``ohlora eval``: the original's 50-image test protocol with entanglement measures, for one or more methods."""

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
from ohlora_cli.config import parse_values
from ohlora_cli.errors import UsageError
from ohlora_cli.progress import LazyProgress

EPILOG = example("ohlora eval --cases 200", "ohlora eval --compare svm,conditional,regression,svm@0-3 --out ev",
                 "ohlora eval --directions seed-v8 --identities")


def evaluate(
    compare: Annotated[str | None, typer.Option("--compare", help="Comma list of direction sets or methods (newest "
                                                                  "set of that method); NAME@0-3 edits only those "
                                                                  "W+ layers.")] = None,
    directions: Annotated[str | None, typer.Option("--directions", help="One direction set [default: the newest of "
                                                                        "the generator].")] = None,
    cases: Annotated[int, typer.Option("--cases", help="Number of cases (random seeds).")] = 200,
    seed_start: Annotated[int, typer.Option("--seed-start", help="First case seed.")] = 5_000_000,
    identities: Annotated[bool, typer.Option("--identities", help="Use the imported identities as cases.")] = False,
    scorer: Annotated[str, typer.Option("--scorer", help="What measures the edited images: parser-<parser>/<mode> "
                                                         "or property-cnn/<set>.")] = "parser-synthetic/fixed",
    pass_: Annotated[str, typer.Option("--pass", help="|r| thresholds eyes,mouth,pose.")] = "0.92,0.88,0.88",
    out: Annotated[Path, typer.Option("--out", help="Folder for report.md, CSVs and plots.")] = Path("ohlora-eval"),
    model: ModelOpt = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = "auto",
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Run the original's 50-image test for one or more direction sets on the same cases.

    Each case is edited on the grid eyes ±1.2 × mouth (5) × pose (5) and measured; the report gives
    Pearson r, the pass rate, the off-target matrix, effect sizes (off-eff: how many standard deviations
    hair and background measures move over an edit's range), identity drift and per-group results.
    """
    use_threads(threads)
    from ohlora_cli.stages import evaluate as stage

    if compare and directions:
        raise UsageError("--compare and --directions exclude each other", "Pass one of them")
    items = tuple(x.strip() for x in (compare or directions or "").split(",") if x.strip())
    thresholds = tuple(parse_values(pass_, "--pass", form="list", example="0.92,0.88,0.88"))
    cfg = stage.EvalConfig(model=model, methods=items, cases=cases, seed_start=seed_start, identities=identities,
                           scorer=scorer, thresholds=thresholds, out=out, device=device)
    cat = open_catalog(catalog, quiet=quiet)
    with LazyProgress("eval", quiet=quiet, unit="case") as bar:
        r = stage.run(cat, cfg, on_start=bar.start, advance=bar.advance)
    say(f"{'method':<22} {'|r| eyes':>8} {'mouth':>7} {'pose':>7} {'pass':>7} {'off-tgt':>8} {'off-eff':>8} {'drift':>7}")
    for m in r.methods:
        sm = m.summary
        say(f"{m.label:<22} {sm['mean_abs_r_eyes']:>8.4f} {sm['mean_abs_r_mouth']:>7.4f} {sm['mean_abs_r_pose']:>7.4f} "
            f"{sm['pass_rate']:>7.1%} {sm['off_target_mean_abs']:>8.4f} "
            f"{sm['off_target_effect_mean_abs']:>8.4f} {sm['drift_mean']:>7.4f}")
    if r.replaced:
        say_err(f"replaced {r.replaced} earlier evaluation(s) with the same options (this rerun recomputed them)",
                quiet)
    say(f"evaluated {r.cases} cases of {r.generator} with {r.scorer} in {r.seconds:.1f} s; "
        f"report {r.out / 'report.md'}")
