"""Per-stage options, resolved once (flag > OHLORA_* env var > default) into frozen dataclasses.

The CLI builds these; validation lives here so a bad value fails before anything is written.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ohlora_cli.errors import UsageError
from ohlora_cli.limits import (
    MAX_BATCH_SIZE,
    MAX_SHEET_IMAGES,
    check_int,
    check_name,
    check_number,
    check_scale,
    check_seed,
)

SCORERS = ("parser", "cnn-filter", "property-cnn")  # what `--scorers` may name (ohlora_cli.scoring.scorers)
DEFAULT_SCORERS = ("parser", "cnn-filter")  # `score` and `generate --score` without --scorers

DEVICE_HELP = "auto | cpu | cuda | cuda:N"
DEVICE_NAME = re.compile(r"^(auto|cpu|meta|cuda(:\d+)?)$")  # meta: the placement check (models.devices)
LABEL_MODES = ("random", "zero")
UNITS = ("raw", "sigma")  # synth scales: along unit directions in w (the original's), or population standard deviations
NOISE_MODES = ("const", "random")
DTYPES = ("fp32", "bf16", "fp16")


def check_device(name: str) -> None:
    """The form of ``--device`` (whether that device exists is known only once torch looks)."""
    if not DEVICE_NAME.match(name or ""):
        source = f"OHLORA_DEVICE={name}" if os.environ.get("OHLORA_DEVICE") == name else f"--device {name}"
        raise UsageError(f"{source} is not a device", f"Use one of: {DEVICE_HELP}")


def _check_common(psi: float, trunc_layers: int, noise: str, dtype: str) -> None:
    check_number(psi, "--psi", lo=0.0, hi=2.0, example="1.0")
    check_int(trunc_layers, "--trunc-layers", lo=0, hi=64, example="8")
    if psi != 1.0 and trunc_layers == 0:
        raise UsageError(f"--psi {psi:g} has no effect without --trunc-layers",
                         "Pass --trunc-layers N to truncate the first N W+ layers (e.g. --trunc-layers 8)")
    if noise not in NOISE_MODES:
        raise UsageError(f"--noise must be const or random, not {noise!r}", "Pass --noise const")
    if dtype not in DTYPES:
        raise UsageError(f"--dtype must be fp32, bf16 or fp16, not {dtype!r}", "Pass --dtype fp32")


@dataclass(frozen=True)
class ScoreConfig:
    """``ohlora score``: which scorers, parser and CNN set score a generator's images."""

    model: str | None = None
    scorers: tuple[str, ...] = DEFAULT_SCORERS
    parser: str = "synthetic"
    parser_weights: str | None = None
    mode: str = "fixed"
    detector: str = "fixed"
    cnns: str = "synthetic"
    batch_size: int | None = None  # None: 64 on the CPU, 256 on CUDA
    device: str = "auto"

    def __post_init__(self) -> None:
        unknown = [s for s in self.scorers if s not in SCORERS]
        if unknown:
            raise UsageError(f"unknown scorer {unknown[0]!r}", f"Use one of: {', '.join(SCORERS)}")
        if not self.scorers:
            raise UsageError("no scorer given", f"Pass --scorers with some of: {', '.join(SCORERS)}")
        if self.detector not in ("fixed", "mtcnn"):
            raise UsageError(f"--detector must be fixed or mtcnn, not {self.detector!r}", "Pass --detector fixed")
        if self.detector == "mtcnn" and self.parser == "synthetic":
            raise UsageError("the synthetic parser reads whole synthetic frames; it takes no face boxes",
                             "Use --detector mtcnn with --parser bisenet")
        if self.mode not in ("fixed", "seed"):
            raise UsageError(f"--mode must be fixed or seed, not {self.mode!r}", "Pass --mode fixed")
        check_int(self.batch_size, "--batch-size", lo=1, hi=MAX_BATCH_SIZE, example="64")
        check_name(self.cnns, "--cnns", "synthetic")
        check_device(self.device)

    @property
    def scorer_id(self) -> str:
        """The parser scorer's id."""
        return f"parser-{self.parser}/{self.mode}"

    def scorer_ids(self) -> list[str]:
        ids = {"parser": self.scorer_id, "cnn-filter": f"cnn-filter/{self.cnns}",
               "property-cnn": f"property-cnn/{self.cnns}"}
        return [ids[s] for s in self.scorers]


@dataclass(frozen=True)
class GenerateConfig:
    """``ohlora generate``: seeds ``seed_start .. seed_start+n-1``, one image row each."""

    n: int
    model: str | None = None
    seed_start: int = 0
    batch_size: int | None = None  # None: 16 on the CPU, 64 on CUDA (models.devices.default_batch_size)
    psi: float = 1.0
    trunc_layers: int = 0
    labels: str = "random"
    noise: str = "const"
    save_images: Path | None = None
    device: str = "auto"
    dtype: str = "fp32"
    score: bool = False
    scorers: tuple[str, ...] = DEFAULT_SCORERS

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise UsageError(f"--n must be a positive number of images, got {self.n}", "Pass e.g. --n 15000")
        if self.seed_start < 0 or self.seed_start + self.n > 2**32:
            raise UsageError(f"seeds must lie in [0, 2^32), got {self.seed_start}..{self.seed_start + self.n - 1}",
                             "Lower --seed-start or --n")
        source = "OHLORA_BATCH_SIZE" if os.environ.get("OHLORA_BATCH_SIZE") == str(self.batch_size) else "--batch-size"
        check_int(self.batch_size, source, lo=1, hi=MAX_BATCH_SIZE, example="16")
        if self.labels not in LABEL_MODES:
            raise UsageError(f"--labels must be random or zero, not {self.labels!r}", "Pass --labels random")
        _check_common(self.psi, self.trunc_layers, self.noise, self.dtype)
        check_device(self.device)
        if self.score:
            ScoreConfig(scorers=self.scorers)  # same checks and messages as `ohlora score --scorers`


@dataclass(frozen=True)
class SynthConfig:
    """``ohlora synth``: one latent (image / seed / identity / z-CSV row), edits, sweeps or a grid."""

    out: Path
    image_id: int | None = None
    seed: int | None = None
    identity: str | None = None
    z_csv: Path | None = None
    row: int = 0
    model: str | None = None
    labels: str = "random"
    edits: tuple[tuple[str, float], ...] = ()
    sweeps: tuple[tuple[str, tuple[float, ...]], ...] = ()
    grid: tuple[tuple[str, tuple[float, ...]], ...] = ()
    directions: str | None = None
    group: str | None = None
    layers: tuple[int, ...] | None = None
    psi: float = 1.0
    trunc_layers: int = 0
    noise: str = "const"
    device: str = "auto"
    dtype: str = "fp32"
    animate: Path | None = None
    targets: tuple[tuple[tuple[str, float], ...], ...] = ()
    units: str = "raw"  # of every scale above: raw (along unit directions) | sigma (population standard deviations)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.units not in UNITS:
            raise UsageError(f"--units must be raw or sigma, not {self.units!r}", "Pass --units sigma")
        if self.animate is not None and (self.sweeps or self.grid):
            raise UsageError("--animate cannot be combined with --sweep or --grid", "Use one of them per call")
        if self.animate is not None and self.animate.suffix.lower() != ".gif":
            raise UsageError(f"--animate {self.animate} must end in .gif", "e.g. --animate talk.gif")
        if self.animate is None and self.out.suffix.lower() != ".png":
            raise UsageError(f"--out {self.out} must end in .png", "e.g. --out face.png")
        sources = [x is not None for x in (self.image_id, self.seed, self.identity, self.z_csv)]
        if sum(sources) != 1:
            raise UsageError("pass exactly one of --image, --seed, --identity, --z-csv",
                             "e.g. `ohlora synth --seed 7 --eyes 1.2`")
        if self.sweeps and self.grid:
            raise UsageError("--sweep and --grid cannot be combined", "Use one of them per call")
        if self.row < 0:
            raise UsageError(f"--row must be >= 0, got {self.row}", "Pass e.g. --row 0")
        check_seed(self.seed, "--seed")
        if self.image_id is not None and not 1 <= self.image_id < 2**63:
            raise UsageError(f"--image {self.image_id} is not an image id", "Ids are whole numbers from 1, e.g. --image 1")
        self._check_scales()
        if self.labels not in LABEL_MODES:
            raise UsageError(f"--labels must be random or zero, not {self.labels!r}", "Pass --labels random")
        _check_common(self.psi, self.trunc_layers, self.noise, self.dtype)
        check_device(self.device)

    def _check_scales(self) -> None:
        """Every scale finite and within the edit range; no property edited twice; a picture of at most
        MAX_SHEET_IMAGES faces (counted before anything is rendered)."""
        seen: set[str] = set()
        for prop, value in self.edits:
            if prop in seen:
                raise UsageError(f"{prop} is edited twice", f"Give one scale per property (e.g. {_edit_text(prop, 1.2)})")
            seen.add(prop)
            check_scale(value, _edit_text(prop, value))
        for flag, specs in (("--sweep", self.sweeps), ("--grid", self.grid)):
            for prop, values in specs:
                for v in values:
                    check_scale(v, f"{flag} {prop} value {v:g}")
        for target in self.targets:
            for prop, value in target:
                check_scale(value, f"--target {prop}={value:g}")
        if self.grid and len({p for p, _ in self.grid}) < len(self.grid):
            raise UsageError("a property is given to --grid twice", "Give each property one --grid")
        faces = (len(self.sweeps) * max(len(v) for _, v in self.sweeps) if self.sweeps
                 else math.prod(len(v) for _, v in self.grid))
        if faces > MAX_SHEET_IMAGES:
            flag = "--sweep" if self.sweeps else "--grid"
            raise UsageError(f"{flag} asks for {faces:,} faces in one picture; at most {MAX_SHEET_IMAGES:,} fit",
                             f"Use fewer values or fewer {flag} properties")


EDIT_FLAGS = ("eyes", "mouth", "pose")  # the properties `synth` takes as --eyes / --mouth / --pose


def _edit_text(prop: str, value: float) -> str:
    return f"--{prop} {value:g}" if prop in EDIT_FLAGS else f"--edit {prop}={value:g}"


def parse_values(spec: str, flag: str, *, form: str = "values", example: str = "eyes=-1.2:1.2:7") -> tuple[float, ...]:
    """Finite floats from ``START:STOP:COUNT`` (inclusive linspace, COUNT 2..MAX_SHEET_IMAGES, checked before
    anything is allocated) or ``-1.2,0,1.2``.  ``form``: "values" takes both, "range" only the first, "list"
    only the second, "one" a single number."""
    import numpy as np

    forms = {"values": "START:STOP:COUNT or a comma list", "range": "START:STOP:COUNT", "list": "a comma list",
             "one": "a number"}
    bad = UsageError(f"{flag} value {spec!r} is not {forms[form]}", f"e.g. {flag} {example}")
    if ":" in spec and form in ("values", "range"):
        parts = spec.split(":")
        try:
            start, stop, n = float(parts[0]), float(parts[1]), int(parts[2]) if len(parts) == 3 else None
        except ValueError:
            raise bad from None
        if n is None:
            raise bad
        _check_finite((start, stop), flag, spec)
        if not 2 <= n <= MAX_SHEET_IMAGES:
            raise UsageError(f"{flag} value {spec!r} asks for {n:,} value{'s' if n != 1 else ''}; COUNT must be 2 "
                             f"to {MAX_SHEET_IMAGES}", f"e.g. {flag} {example}")
        return tuple(float(v) for v in np.round(np.linspace(start, stop, n), 6))
    try:
        values = tuple(float(v) for v in spec.split(",")) if form != "range" else None
    except ValueError:
        values = None
    if values is None or (form == "one" and len(values) != 1):
        raise bad
    if len(values) > MAX_SHEET_IMAGES:
        raise UsageError(f"{flag} lists {len(values):,} values; at most {MAX_SHEET_IMAGES}", "Pass fewer values")
    _check_finite(values, flag, spec)
    return values


def _check_finite(values, flag: str, spec: str) -> None:
    bad = [v for v in values if not math.isfinite(v)]
    if bad:
        raise UsageError(f"{flag} value {spec!r} holds {bad[0]:g}, not a finite number", "Pass finite numbers")


def parse_assignment(spec: str, flag: str, *, form: str = "values") -> tuple[str, tuple[float, ...]]:
    """``eyes=-1.2:1.2:7`` → ("eyes", values); ``form`` as for :func:`parse_values`."""
    examples = {"values": "eyes=-1.2:1.2:7", "range": "eyes=-1.2:1.2:7", "list": "eyes=-1,0,1", "one": "eyes=1.2"}
    name, sep, values = spec.partition("=")
    if not sep or not name.strip():
        shape = {"one": "PROPERTY=VALUE", "range": "PROPERTY=START:STOP:COUNT"}.get(form, "PROPERTY=VALUES")
        raise UsageError(f"{flag} {spec!r} must look like {shape}", f"e.g. {flag} {examples[form]}")
    if form == "range" and ":" not in values and "," in values:
        parts = [v.strip() for v in values.split(",")]
        a, b, c = (parts + ["START", "STOP", "COUNT"][len(parts):])[:3] if len(parts) == 3 and parts[2].isdigit() \
            else ("START", "STOP", "COUNT")
        raise UsageError(f"{flag} {spec} is not PROPERTY=START:STOP:COUNT",
                         f"Write {flag} {name.strip()}={a}:{b}:{c} for {c} values from {a} to {b}, "
                         f"or --grid {spec} for exactly these values")
    return name.strip(), parse_values(values, flag, form=form, example=examples[form])


def parse_layers(spec: str | None, num_layers: int | None = None) -> tuple[int, ...] | None:
    """``0-5`` or ``0,1,2`` → layer indices (W+ layers an edit applies to)."""
    if spec is None:
        return None
    out: list[int] = []
    try:
        for part in spec.split(","):
            lo, sep, hi = part.partition("-")
            out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except ValueError:
        raise UsageError(f"--layers {spec!r} is not a list like 0-5 or 0,1,2", "e.g. --layers 0-5") from None
    if not out or min(out) < 0 or (num_layers is not None and max(out) >= num_layers):
        raise UsageError(f"--layers {spec!r} is out of range", f"Layers are 0..{(num_layers or 1) - 1}")
    return tuple(sorted(set(out)))
