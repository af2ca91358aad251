"""Per-stage options, resolved once (flag > OHLORA_* env var > default) into frozen dataclasses.

The CLI builds these; validation lives here so a bad value fails before anything is written.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ohlora_cli.errors import UsageError

SCORERS = ("parser", "cnn-filter", "property-cnn")  # what `--scorers` may name (ohlora_cli.scoring.scorers)
DEFAULT_SCORERS = ("parser", "cnn-filter")  # `score` and `generate --score` without --scorers

DEVICE_HELP = "auto | cpu | cuda | cuda:N"
DEVICE_NAME = re.compile(r"^(auto|cpu|meta|cuda(:\d+)?)$")  # meta: the placement check (models.devices)
LABEL_MODES = ("random", "zero")
NOISE_MODES = ("const", "random")
DTYPES = ("fp32", "bf16", "fp16")


def check_device(name: str) -> None:
    """The form of ``--device`` (whether that device exists is known only once torch looks)."""
    if not DEVICE_NAME.match(name or ""):
        source = f"OHLORA_DEVICE={name}" if os.environ.get("OHLORA_DEVICE") == name else f"--device {name}"
        raise UsageError(f"{source} is not a device", f"Use one of: {DEVICE_HELP}")


def _check_common(psi: float, trunc_layers: int, noise: str, dtype: str) -> None:
    if not 0.0 <= psi <= 2.0:
        raise UsageError(f"--psi must be between 0 and 2, got {psi:g}", "Pass e.g. --psi 1.0")
    if trunc_layers < 0:
        raise UsageError(f"--trunc-layers must be >= 0, got {trunc_layers}", "Pass e.g. --trunc-layers 0")
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
        if self.batch_size is not None and self.batch_size <= 0:
            raise UsageError(f"--batch-size must be positive, got {self.batch_size}", "Pass e.g. --batch-size 64")
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
        if self.batch_size is not None and self.batch_size <= 0:
            raise UsageError(f"--batch-size must be positive, got {self.batch_size}", "Pass e.g. --batch-size 16")
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
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.animate is not None and (self.sweeps or self.grid):
            raise UsageError("--animate cannot be combined with --sweep or --grid", "Use one of them per call")
        if self.animate is not None and self.animate.suffix.lower() != ".gif":
            raise UsageError(f"--animate {self.animate} must end in .gif", "e.g. --animate talk.gif")
        sources = [x is not None for x in (self.image_id, self.seed, self.identity, self.z_csv)]
        if sum(sources) != 1:
            raise UsageError("pass exactly one of --image, --seed, --identity, --z-csv",
                             "e.g. `ohlora synth --seed 7 --eyes 1.2`")
        if self.sweeps and self.grid:
            raise UsageError("--sweep and --grid cannot be combined", "Use one of them per call")
        if self.row < 0:
            raise UsageError(f"--row must be >= 0, got {self.row}", "Pass e.g. --row 0")
        if self.labels not in LABEL_MODES:
            raise UsageError(f"--labels must be random or zero, not {self.labels!r}", "Pass --labels random")
        _check_common(self.psi, self.trunc_layers, self.noise, self.dtype)
        check_device(self.device)


def parse_values(spec: str, flag: str) -> tuple[float, ...]:
    """``-1.2:1.2:7`` (inclusive linspace) or ``-1.2,0,1.2`` → floats."""
    import numpy as np

    try:
        if ":" in spec:
            start, stop, count = spec.split(":")
            n = int(count)
            if n < 1:
                raise ValueError
            return tuple(float(v) for v in np.round(np.linspace(float(start), float(stop), n), 6))
        return tuple(float(v) for v in spec.split(","))
    except ValueError:
        raise UsageError(f"{flag} value {spec!r} is not START:STOP:COUNT or a comma list",
                         f"e.g. {flag} eyes=-1.2:1.2:7") from None


def parse_assignment(spec: str, flag: str) -> tuple[str, tuple[float, ...]]:
    """``eyes=-1.2:1.2:7`` → ("eyes", values)."""
    name, sep, values = spec.partition("=")
    if not sep or not name.strip():
        raise UsageError(f"{flag} {spec!r} must look like PROPERTY=VALUES", f"e.g. {flag} eyes=-1.2:1.2:7")
    return name.strip(), parse_values(values, flag)


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
