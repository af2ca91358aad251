"""``ohlora synth``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ohlora_cli.cli._common import (
    DEFAULT_CATALOG,
    CatalogOpt,
    DeviceOpt,
    DTypeOpt,
    ModelOpt,
    QuietOpt,
    ThreadsOpt,
    example,
    open_catalog,
    say,
    say_err,
    use_threads,
)
from ohlora_cli.config import SynthConfig, parse_assignment, parse_layers
from ohlora_cli.progress import LazyProgress


def _target(spec: str) -> tuple[tuple[str, float], ...]:
    return tuple((name, values[0]) for name, values in (parse_assignment(part, "--target", form="one")
                                                        for part in spec.split(",")))


EPILOG = example("ohlora synth --eyes 1.2", "ohlora synth --image 42 --sweep eyes=-1.2:1.2:7 --out eyes.png",
                 "ohlora synth --image 42 --units sigma --eyes 1 --mouth -1",
                 "ohlora synth --identity seed-v8-83 --directions seed-v8 --mouth 1.8",
                 "ohlora synth --seed 3 --animate talk.gif --target mouth=1.8 --target pose=-1.2,eyes=1")


def synth(
    image: Annotated[int | None, typer.Option("--image", help="Catalog image id (uses its stored w).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of a new sample [default: 0 if no source].")] = None,
    identity: Annotated[str | None, typer.Option("--identity", help="Imported identity name.")] = None,
    z_csv: Annotated[Path | None, typer.Option("--z-csv", help="CSV of z ‖ label rows.")] = None,
    row: Annotated[int, typer.Option("--row", help="Row of --z-csv (0-based).")] = 0,
    eyes: Annotated[float | None, typer.Option("--eyes", help="Scale along the eyes direction (+ = more).")] = None,
    mouth: Annotated[float | None, typer.Option("--mouth", help="Scale along the mouth direction.")] = None,
    pose: Annotated[float | None, typer.Option("--pose", help="Scale along the pose direction.")] = None,
    edit: Annotated[list[str] | None, typer.Option("--edit", help="PROPERTY=SCALE for any other property.")] = None,
    sweep: Annotated[list[str] | None, typer.Option("--sweep", help="PROPERTY=START:STOP:COUNT (COUNT values from START "
                                                                       "to STOP), one row each.")] = None,
    grid: Annotated[list[str] | None, typer.Option("--grid", help="PROPERTY=VALUES (a comma list or "
                                                                     "START:STOP:COUNT); all combinations.")] = None,
    directions: Annotated[str | None, typer.Option("--directions", help="Direction set [default: newest of the "
                                                                        "generator].")] = None,
    group: Annotated[str | None, typer.Option("--group", help="Group whose directions to use (e.g. hhhh).")] = None,
    layers: Annotated[str | None, typer.Option("--layers", help="Edit only these W+ layers, e.g. 0-5.")] = None,
    model: ModelOpt = None,
    labels: Annotated[str, typer.Option("--labels", help="random | zero, for --seed.")] = "random",
    psi: Annotated[float, typer.Option("--psi", help="Truncation psi (1 = none).")] = 1.0,
    trunc_layers: Annotated[int, typer.Option("--trunc-layers", help="Truncate the first N W+ layers toward the mean w (needed by --psi).")] = 0,
    noise: Annotated[str, typer.Option("--noise", help="const | random.")] = "const",
    out: Annotated[Path, typer.Option("--out", help="Output PNG.")] = Path("synth.png"),
    animate: Annotated[Path | None, typer.Option("--animate", help="Write the original app's expression motion "
                                                                    "(cosine ramps, blinks) as a GIF.")] = None,
    target: Annotated[list[str] | None, typer.Option("--target", help="With --animate: e.g. 'mouth=1.8,eyes=1'; "
                                                                      "one ramp per --target [default: mouth 1.8 raw, "
                                                                      "2 sigma].")] = None,
    units: Annotated[str, typer.Option("--units", help="Of every scale: raw (along unit directions in w, the "
                                                       "original's) | sigma (population standard deviations of the "
                                                       "property; needs a calibrated set).")] = "raw",
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = "auto",
    dtype: DTypeOpt = "fp32",
    catalog: CatalogOpt = DEFAULT_CATALOG,
    quiet: QuietOpt = False,
) -> None:
    """Render one face with its eyes / mouth / pose (or any property with directions) moved.

    A positive scale increases the property; scales lie within ±10 (directions are unit vectors in w).  --sweep writes one row per property; --grid writes a
    contact sheet of every combination.  With --units sigma, --eyes 1 opens the eyes by one population
    standard deviation (the set's calibration, `ohlora vectorfind calibrate`).
    """
    use_threads(threads)
    from ohlora_cli.stages import synth as stage

    if all(x is None for x in (image, seed, identity, z_csv)):
        seed = 0
    edits = [(name, value) for name, value in (("eyes", eyes), ("mouth", mouth), ("pose", pose)) if value is not None]
    for spec in edit or []:
        name, values = parse_assignment(spec, "--edit", form="one")
        edits.append((name, values[0]))
    cfg = SynthConfig(out=out, image_id=image, seed=seed, identity=identity, z_csv=z_csv, row=row, model=model,
                      labels=labels, edits=tuple(edits),
                      sweeps=tuple(parse_assignment(s, "--sweep", form="range") for s in sweep or []),
                      grid=tuple(parse_assignment(g, "--grid") for g in grid or []),
                      directions=directions, group=group, layers=parse_layers(layers), psi=psi,
                      trunc_layers=trunc_layers, noise=noise, device=device, dtype=dtype, animate=animate,
                      targets=tuple(_target(t) for t in target or []), units=units)
    with LazyProgress("synth", quiet=quiet, unit="frame" if animate else "img") as bar:
        result = stage.run(open_catalog(catalog, quiet=quiet, write_on_demand=True), cfg, on_start=bar.start,
                           advance=bar.advance, warn=lambda line: say_err(line, quiet))
    where = f" directions {result.direction_set}/{result.group}, {result.units}" if result.direction_set else ""
    say(f"wrote {result.out} ({result.images} image{'s' if result.images > 1 else ''}, {result.latent}, "
        f"{result.generator}{where}) in {result.seconds:.2f} s")
