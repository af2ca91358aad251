"""Filter rules (``gender>=0.92``): parsed from text, applied to a value matrix.  Pure."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

import numpy as np

from ohlora_cli.errors import UsageError

DEFAULT_RULES = ("gender>=0.92", "quality>=0.9", "age<=0.008", "glass<=0.01")


OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}


RULE = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(>=|<=|==|>|<)\s*(-?[0-9.]+(?:e-?[0-9]+)?)\s*$")


@dataclass(frozen=True)
class Rule:
    prop: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.prop}{self.op}{self.value:g}"


def parse_rule(text: str) -> Rule:
    m = RULE.match(text)
    try:
        value = float(m[3]) if m else math.nan
    except ValueError:  # e.g. 1.2.3
        value = math.nan
    if not math.isfinite(value):
        raise UsageError(f"malformed rule {text!r}", "Write rules like 'gender>=0.92' or 'age<=0.008'")
    return Rule(m[1], m[2], value)


def apply_rules(values: np.ndarray, rules: list[Rule]) -> np.ndarray:
    """(N, R) values, one column per rule → (N, R) bool pass matrix (pure)."""
    return np.stack([OPS[r.op](values[:, j], r.value) for j, r in enumerate(rules)], axis=1)
