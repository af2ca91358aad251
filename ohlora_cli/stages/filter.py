"""``filter``: a named selection of one generator's images whose scores pass every rule (SPEC §4.2).

A rule is ``PROPERTY OP VALUE`` with OP one of ``>= <= > < ==``.  A property's values come from
the one scorer that has it for this generator; scorers with a stored normalisation (the parser
properties) are compared in normalised units, the others (CNN probabilities) as stored.
"""

from __future__ import annotations

import json
import operator
import re
from dataclasses import dataclass

import numpy as np
from sqlalchemy import insert, select

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.models import Image, Normalisation, Score, Selection, SelectionMember
from ohlora_cli.catalog.queries import stage_run
from ohlora_cli.errors import NotFoundError, UsageError
from ohlora_cli.models.registry import resolve_generator
from ohlora_cli.stages.score import scorers_with

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
    if not m:
        raise UsageError(f"malformed rule {text!r}", "Write rules like 'gender>=0.92' or 'age<=0.008'")
    return Rule(m[1], m[2], float(m[3]))


def apply_rules(values: np.ndarray, rules: list[Rule]) -> np.ndarray:
    """(N, R) values, one column per rule → (N, R) bool pass matrix (pure)."""
    return np.stack([OPS[r.op](values[:, j], r.value) for j, r in enumerate(rules)], axis=1)


@dataclass(frozen=True)
class FilterResult:
    name: str
    generator: str
    total: int
    rules: list[str]
    passed_per_rule: list[int]
    passed: int


def _values(catalog: Catalog, generator_id: int, rules: list[Rule]) -> tuple[np.ndarray, np.ndarray]:
    scorers = {}
    for prop in dict.fromkeys(r.prop for r in rules):
        found = sorted(scorers_with(catalog, generator_id, prop))
        if not found:
            raise NotFoundError(f"no scores for property {prop!r} yet",
                                "Run `ohlora score` for this generator first")
        if len(found) > 1:
            raise UsageError(f"property {prop!r} has scores from several scorers ({', '.join(found)})",
                             "Keep one scorer per property for filtering")
        scorers[prop] = found[0]
    with catalog.read() as s:
        columns = {}
        for prop, scorer in scorers.items():
            rows = dict(s.execute(select(Score.image_id, Score.value).join(Image, Image.id == Score.image_id).where(
                Score.property == prop, Score.scorer == scorer, Image.generator_id == generator_id)).all())
            norm = s.scalars(select(Normalisation).where(Normalisation.scorer == scorer,
                                                         Normalisation.property == prop)).first()
            if norm is not None and norm.std > 0:
                rows = {i: (v - norm.mean) / norm.std for i, v in rows.items()}
            columns[prop] = rows
    ids = sorted(set.intersection(*(set(c) for c in columns.values())))
    values = np.array([[columns[r.prop][i] for r in rules] for i in ids], np.float64).reshape(len(ids), len(rules))
    return np.array(ids, np.int64), values


def run(catalog: Catalog, *, name: str, rules: list[str], model: str | None = None,
        replace: bool = False) -> FilterResult:
    parsed = [parse_rule(r) for r in rules]
    gen = resolve_generator(catalog, model)
    with catalog.read() as s:
        exists = s.scalars(select(Selection).where(Selection.name == name)).first()
    if exists is not None and not replace:
        raise UsageError(f"a selection named {name!r} already exists", "Pass another --name, or --replace")
    ids, values = _values(catalog, gen.id, parsed)
    ok = apply_rules(values, parsed) if len(ids) else np.zeros((0, len(parsed)), bool)
    chosen = ids[ok.all(axis=1)] if len(ids) else ids
    with stage_run(catalog, "filter", {"name": name, "rules": [str(r) for r in parsed], "generator": gen.name}) as run_id:
        with catalog.write() as s:
            if exists is not None:
                s.delete(s.get(Selection, exists.id))
                s.flush()
            sel = Selection(name=name, generator_id=gen.id, rules_json=json.dumps([str(r) for r in parsed]),
                            run_id=run_id)
            s.add(sel)
            s.flush()
            if len(chosen):
                s.execute(insert(SelectionMember), [dict(selection_id=sel.id, image_id=int(i)) for i in chosen])
    return FilterResult(name, gen.name, len(ids), [str(r) for r in parsed], ok.sum(axis=0).astype(int).tolist(),
                        len(chosen))
