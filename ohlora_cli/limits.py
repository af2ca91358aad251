"""The limits every command checks its options against, and the checks themselves (one place).

Bad values are refused before any work starts (before the catalog is opened), with one line naming
the option as typed and its allowed range.  Numbers must be finite; names become file names and
catalog keys, so they follow one pattern.  The README's "Guarantees" section lists these values.
"""

from __future__ import annotations

import math
import re

from ohlora_cli.errors import UsageError

# Names of selections, generators, direction sets, identities, CNN sets, groupings: also file names.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_RULE = "1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"
MAX_SEED = 2**32 - 1  # numpy.random.RandomState and scikit-learn take seeds in [0, 2^32)
MAX_SCALE = 10.0  # |edit scale| along a unit direction; the original's edits stay within ±3
MAX_SHEET_IMAGES = 1024  # faces in one `synth --sweep / --grid` picture
MAX_BATCH_SIZE = 4096  # images processed at once (--batch-size, --monitor-n)
MAX_EVAL_CASES = 2000  # `eval --cases`: each case is 50 rendered faces, and the unedited faces stay in memory
MAX_TRAIN_STEPS = 10**9  # finetune: --steps, and what --kimg / --epochs come to
MAX_CNN_WIDTH = 4.0  # `label train --width`: channel multiplier of the original's CNNs
MAX_FOLDS = 20  # `label train --folds`
MAX_RESOLUTION = 1024  # `synthetic render --resolution`, `label train --resolution`
MAX_RENDER_FACES = 1_000_000  # `synthetic render --n`: attributes.csv is gathered in memory
MAX_LR = 1.0  # --lr (AdamW)
MAX_R1 = 1e4  # finetune --r1 (R1 gamma)
MAX_ANCHOR = 1e3  # finetune --anchor (weight of the warm-up loss; the base recipe used 1)


def check_name(value: str, flag: str, example: str = "v8-train") -> str:
    """``value`` if it is a usable name, else a one-line error naming ``flag``."""
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        shown = repr(value if len(value) <= 70 else value[:67] + "...")
        raise UsageError(f"{flag} {shown} is not a usable name", f"Use {NAME_RULE} (e.g. {flag} {example})")
    return value


def check_number(value: float | None, flag: str, *, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False, hi_open: bool = False, example: str | None = None) -> float | None:
    """A finite float within [lo, hi] (either end open on request); None passes."""
    if value is None:
        return None
    low_ok = lo is None or (value > lo if lo_open else value >= lo)
    high_ok = hi is None or (value < hi if hi_open else value <= hi)
    if not math.isfinite(value) or not (low_ok and high_ok):
        raise UsageError(f"{flag} must be {_range(lo, hi, lo_open, hi_open)}, got {value:g}", _fix(flag, example))
    return value


def _fix(flag: str, example: str | None) -> str:
    if example is None:
        return "Pass a number in that range"
    return f"Set e.g. {flag}={example}" if flag.startswith("OHLORA_") else f"Pass e.g. {flag} {example}"


def _range(lo, hi, lo_open, hi_open) -> str:
    if lo is not None and hi is not None:
        if not (lo_open or hi_open):
            return f"between {lo:g} and {hi:g}"
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"a finite number {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"a finite number {'<' if hi_open else '<='} {hi:g}"
    return "a finite number"


def check_int(value: int | None, flag: str, *, lo: int, hi: int | None = None, example: str | None = None) -> int | None:
    """An integer within [lo, hi]; None passes."""
    if value is None:
        return None
    if value < lo or (hi is not None and value > hi):
        where = f"between {lo:,} and {hi:,}" if hi is not None else f"at least {lo:,}"
        raise UsageError(f"{flag} must be {where}, got {value:,}", _fix(flag, example))
    return value


def check_seed(value: int | None, flag: str = "--seed") -> int | None:
    """A seed in [0, 2^32)."""
    if value is not None and not 0 <= value <= MAX_SEED:
        raise UsageError(f"{flag} must be between 0 and {MAX_SEED} (2^32 - 1), got {value}", f"Pass e.g. {flag} 0")
    return value


def check_scale(value: float, what: str) -> float:
    """An edit scale along a unit direction: finite, |value| <= MAX_SCALE."""
    if not math.isfinite(value):
        raise UsageError(f"{what} is not a finite number", f"Pass a scale between -{MAX_SCALE:g} and {MAX_SCALE:g}")
    if abs(value) > MAX_SCALE:
        raise UsageError(f"{what} is outside the edit range -{MAX_SCALE:g}..{MAX_SCALE:g}",
                         f"Pass a scale between -{MAX_SCALE:g} and {MAX_SCALE:g} (directions are unit vectors in w; "
                         "the original edits within ±3)")
    return value
