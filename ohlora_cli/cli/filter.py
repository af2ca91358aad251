"""``ohlora filter``."""

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
from ohlora_cli.config import check_device
from ohlora_cli.progress import LazyProgress

EPILOG = example("ohlora filter --name v8-train", "ohlora filter --name big-eyes --rule 'eyes>=1.0'")


def filter_(
    name: Annotated[str, typer.Option("--name", help="Name of the selection.")],
    rule: Annotated[list[str] | None, typer.Option("--rule", help="PROPERTY>=VALUE etc.; all must pass "
                                                                   "[default: the original's four].")] = None,
    model: ModelOpt = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace a selection with the same name.")] = False,
    scorer: Annotated[list[str] | None, typer.Option("--scorer", help="Scorer id to use where several scored a "
                                                                      "property (e.g. cnn-filter/synthetic).")] = None,
    include_labelled: Annotated[bool, typer.Option("--include-labelled", help="Keep hand-labelled images, judged "
                                                                              "by their labels [default: left out, "
                                                                              "as the original].")] = False,
    export: Annotated[Path | None, typer.Option("--export", help="Also write the selected images to this folder.")]
    = None,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = "auto",
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Store a named selection of images passing every rule; print per-rule and joint pass rates."""
    use_threads(threads)
    from ohlora_cli.rules import DEFAULT_RULES
    from ohlora_cli.stages import filter as stage

    check_device(device)
    stage.check_options(name=name, rules=list(rule or DEFAULT_RULES), scorers=tuple(scorer or ()))
    cat = open_catalog(catalog, quiet=quiet)
    with LazyProgress("export", quiet=quiet) as bar:  # the export is written before the selection is stored
        r = stage.run(cat, name=name, rules=list(rule or DEFAULT_RULES), model=model, replace=replace,
                      scorers=tuple(scorer or ()), include_labelled=include_labelled, export=export, device=device,
                      on_export_start=bar.start, advance=bar.advance)
    if r.excluded_labelled:
        say_err(f"left out {r.excluded_labelled} hand-labelled images (--include-labelled keeps them)", quiet)
    pct = lambda k: f"{k / r.total:.1%}" if r.total else "-"  # noqa: E731
    say(f"{'rule':<22} {'passed':>8} {'rate':>7}")
    for text, k in zip(r.rules, r.passed_per_rule):
        say(f"{text:<22} {k:>8} {pct(k):>7}")
    say(f"{'all rules':<22} {r.passed:>8} {pct(r.passed):>7}")
    if r.existing:
        say(f"selection {r.name} already holds these {r.passed} of {r.total} scored images of {r.generator} "
            "(same rules); nothing changed")
    else:
        say(f"selection {r.name}: {r.passed} of {r.total} scored images of {r.generator}")
    if r.exported is not None:
        say(f"wrote {r.exported} images to {export}")
