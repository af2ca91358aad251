"""``eval``: the original's test protocol (docs/original.md §7) for one or more direction sets, plus entanglement.

For each case (a seed, or an imported identity) and each method:

1. the case's group comes from its own scores — the direction set's scorer on the unedited image,
   normalised with the catalog's reference, against the set's cutoffs (docs/original.md §7 "Group");
2. the 50-image grid eyes × mouth × pose (:func:`edit_grid`) is rendered with
   ``w' = w + e·v_eyes + m·v_mouth + p·v_pose`` (optionally only on some W+ layers);
3. each image is measured by one scorer (parser + the seed's algorithms by default);
4. Pearson r between intended and measured values per edited property → pass when
   |r_eyes| ≥ 0.92, |r_mouth| ≥ 0.88, |r_pose| ≥ 0.88 (configurable);
5. entanglement: r of each intended property against every other measured property (the off-target
   matrix); since r ignores how big a change is, also the effect size — how many population standard
   deviations (the spread of the cases' unedited images) a measured property moves over the whole
   intended range of an edit (:func:`effect_sizes`); and the identity drift — mean absolute pixel change (0–1) over the unedited image's
   background and hair, where no edit should act.

Every method sees the same cases.  Results go to the catalog (``evaluations``, ``evaluation_cases``)
and to a folder: ``report.md``, ``test_result_<method>.csv`` (the original's columns first),
``test_statistics.csv``, and PNG plots.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from sqlalchemy import select

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.directions import (
    direction_matrix,
    direction_metrics,
    resolve_direction_set,
)
from ohlora_cli.catalog.models import (
    Direction,
    DirectionSet,
    Evaluation,
    EvaluationCase,
    Identity,
)
from ohlora_cli.catalog.queries import stage_run
from ohlora_cli.catalog.registry import find_generator, load_generator
from ohlora_cli.catalog.scores import normalise_scores
from ohlora_cli.catalog.vectors import decode
from ohlora_cli.config import check_device, parse_layers
from ohlora_cli.directions import group_names
from ohlora_cli.edits import edit_wp
from ohlora_cli.errors import NotFoundError, UsageError
from ohlora_cli.files import atomic_path, write_text_atomic
from ohlora_cli.images import ensure_writable_dir, save_png
from ohlora_cli.limits import MAX_EVAL_CASES, MAX_SEED, check_int, check_seed
from ohlora_cli.models.inference import latents_for_seeds, map_to_w, pick_device, render
from ohlora_cli.models.parsers import load_parser
from ohlora_cli.plots import grouped_bars, measure_panels, scatter_panels
from ohlora_cli.scoring.scorers import (
    check_scorer_id,
    scorer_from_id,
    scorer_properties,
)

GRID_EYES = (-1.2, 1.2)
GRID_MOUTH = (-1.8, -0.9, 0.0, 0.9, 1.8)
GRID_POSE = (-1.8, -1.2, -0.6, 0.0, 0.6)
EDITED = ("eyes", "mouth", "pose")
OTHERS = ("hair_color", "hair_length", "background_mean", "hairstyle")
DEFAULT_THRESHOLDS = (0.92, 0.88, 0.88)
DRIFT_CLASSES = (0, 10)  # background, hair
CASE_SEED0 = 5_000_000
SCATTER_CASES = 20  # cases whose 50 measured values go into the intended-vs-measured plot


# ---------------------------------------------------------------- pure functions


def edit_grid() -> np.ndarray:
    """(50, 3) intended (eyes, mouth, pose), ordered as the original: mouth outer × eyes × pose inner."""
    return np.array([(e, m, p) for m in GRID_MOUTH for e in GRID_EYES for p in GRID_POSE], np.float64)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r; NaN when either side is constant or not finite."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if not (np.isfinite(x).all() and np.isfinite(y).all()) or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def case_metrics(intended: np.ndarray, measured: dict[str, np.ndarray]) -> dict[str, float]:
    """``r_<p>`` for each edited property and ``off_<p>_<q>`` = r(intended p, measured q) for every
    other measured property q."""
    out = {}
    for i, p in enumerate(EDITED):
        out[f"r_{p}"] = pearson(intended[:, i], measured[p])
        for q, values in measured.items():
            if q != p:
                out[f"off_{p}_{q}"] = pearson(intended[:, i], values)
    return out


def effect_sizes(intended: np.ndarray, measured: dict[str, np.ndarray], spread: dict[str, float]) -> dict[str, float]:
    """``eff_<p>_<q>`` = least-squares slope of measured q on intended p × the grid's range of p / spread of q.

    On target (q = p) this is how far an edit moves its own property, in population standard deviations;
    off target it is the size of the side effect, which Pearson r alone cannot tell from noise-free drift.
    """
    out = {}
    for i, p in enumerate(EDITED):
        x = np.asarray(intended[:, i], np.float64)
        span, dx = float(x.max() - x.min()), x - x.mean()
        for q, values in measured.items():
            s = spread.get(q, float("nan"))
            y = np.asarray(values, np.float64)
            if span == 0 or not (np.isfinite(s) and s > 0) or not np.isfinite(y).all():
                out[f"eff_{p}_{q}"] = float("nan")
                continue
            out[f"eff_{p}_{q}"] = float((dx @ (y - y.mean())) / (dx @ dx) * span / s)
    return out


def passes(metrics: dict[str, float], thresholds=DEFAULT_THRESHOLDS) -> bool:
    return all(abs(metrics[f"r_{p}"]) >= t for p, t in zip(EDITED, thresholds)
               if np.isfinite(metrics[f"r_{p}"])) and all(np.isfinite(metrics[f"r_{p}"]) for p in EDITED)


def identity_drift(base: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> float:
    """Mean |edited − base| / 255 over ``mask`` pixels (H, W bool), averaged over the edited images."""
    if not mask.any():
        return float("nan")
    diff = np.abs(edited.astype(np.int16) - base[None].astype(np.int16))  # (N, H, W, 3)
    return float(diff[:, mask].mean() / 255.0)


def drift_masks(maps: np.ndarray, resolution: int) -> np.ndarray:
    """(N, R, R) bool: background or hair in the parser's maps, resized (nearest) to the images' size."""
    import cv2

    masks = np.isin(maps, DRIFT_CLASSES).astype(np.uint8)
    if masks.shape[1] != resolution:
        masks = np.stack([cv2.resize(m, (resolution, resolution), interpolation=cv2.INTER_NEAREST) for m in masks])
    return masks.astype(bool)


def _nanmean(values) -> float:
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def summarise(rows: list[dict]) -> dict:
    """Means of |r|, pass rate, mean off-target |r| (edited vs the 4 others, and across the edited 3), drift."""
    def mean_abs(key: str) -> float:
        v = np.array([abs(r[key]) for r in rows if np.isfinite(r.get(key, np.nan))])
        return float(v.mean()) if len(v) else float("nan")

    out = {f"mean_abs_r_{p}": mean_abs(f"r_{p}") for p in EDITED}
    out["mean_r"] = {p: _nanmean([r[f"r_{p}"] for r in rows]) for p in EDITED}
    out["sum_abs_corr_mean"] = float(np.nansum([out[f"mean_abs_r_{p}"] for p in EDITED]))
    out["passed"] = int(sum(r["passed"] for r in rows))
    out["cases"] = len(rows)
    out["pass_rate"] = out["passed"] / len(rows) if rows else float("nan")
    off_other = [f"off_{p}_{q}" for p in EDITED for q in OTHERS]
    off_cross = [f"off_{p}_{q}" for p in EDITED for q in EDITED if q != p]
    out["off_target_mean_abs"] = _nanmean([mean_abs(k) for k in off_other])
    out["cross_edit_mean_abs"] = _nanmean([mean_abs(k) for k in off_cross])
    out["off_target_matrix"] = {p: {q: mean_abs(f"off_{p}_{q}") for q in EDITED + OTHERS if q != p} for p in EDITED}
    out["on_target_effect"] = {p: mean_abs(f"eff_{p}_{p}") for p in EDITED}
    out["off_target_effect_mean_abs"] = _nanmean([mean_abs(f"eff_{p}_{q}") for p in EDITED for q in OTHERS])
    out["effect_matrix"] = {p: {q: mean_abs(f"eff_{p}_{q}") for q in EDITED + OTHERS} for p in EDITED}
    out["drift_mean"] = _nanmean([r["drift"] for r in rows])
    groups: dict[str, list[bool]] = {}
    for r in rows:
        groups.setdefault(r.get("case_group", r["group"]), []).append(r["passed"])
    out["pass_rate_by_group"] = {g: float(np.mean(v)) for g, v in sorted(groups.items())}
    out["cases_by_group"] = {g: len(v) for g, v in sorted(groups.items())}
    return out


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class EvalConfig:
    model: str | None = None
    methods: tuple[str, ...] = ()  # direction set names, or method names (newest set of that method), "@a-b" = layers
    cases: int = 200
    seed_start: int = CASE_SEED0
    identities: bool = False
    scorer: str = "parser-synthetic/fixed"
    thresholds: tuple[float, float, float] = DEFAULT_THRESHOLDS
    out: Path = Path("ohlora-eval")
    device: str = "auto"

    def __post_init__(self) -> None:
        check_device(self.device)
        check_int(self.cases, "--cases", lo=1, hi=MAX_EVAL_CASES, example="200")
        check_seed(self.seed_start, "--seed-start")
        if self.seed_start + self.cases - 1 > MAX_SEED:
            raise UsageError(f"case seeds {self.seed_start}..{self.seed_start + self.cases - 1} go past {MAX_SEED}",
                             "Lower --seed-start or --cases")
        if len(self.thresholds) != 3 or not all(0 <= t <= 1 for t in self.thresholds):
            raise UsageError("--pass needs three thresholds in [0, 1] (eyes, mouth, pose)", "Pass --pass 0.92,0.88,0.88")
        check_scorer_id(self.scorer)
        for item in self.methods:
            _parse_item(item)  # a malformed @layers fails before the catalog is read


@dataclass
class MethodResult:
    label: str
    set_name: str
    method: str
    layers: tuple[int, ...] | None
    rows: list[dict]
    summary: dict
    evaluation_id: int | None = None


@dataclass
class EvalResult:
    generator: str
    scorer: str
    cases: int
    methods: list[MethodResult]
    out: Path
    seconds: float
    files: list[Path] = field(default_factory=list)
    replaced: int = 0  # earlier evaluations with the same options that this one replaced


def _parse_item(item: str) -> tuple[str, tuple[int, ...] | None]:
    name, _, layers = item.partition("@")
    return name.strip(), (tuple(parse_layers(layers)) if layers else None)


def resolve_methods(catalog: Catalog, gen, items: tuple[str, ...]) -> list[tuple[str, DirectionSet, tuple | None]]:
    """(label, set, layers) per requested item; a bare method name means that method's newest set."""
    if not items:
        ds = resolve_direction_set(catalog, gen, None)
        return [(ds.name, ds, None)]
    out = []
    for item in items:
        name, layers = _parse_item(item)
        with catalog.read() as s:
            ds = s.scalars(select(DirectionSet).where(DirectionSet.name == name)).first()
            if ds is None:
                ds = s.scalars(select(DirectionSet).where(DirectionSet.method == name,
                                                          DirectionSet.generator_id == gen.id)
                               .order_by(DirectionSet.id.desc())).first()
        if ds is None:
            raise NotFoundError(f"no direction set or method named {name!r} for {gen.name}",
                                f"Run `ohlora vectorfind --method {name}` first, or pass a set name")
        ds = resolve_direction_set(catalog, gen, ds.name)
        out.append((item, ds, layers))
    return out


# ---------------------------------------------------------------- the stage


def _case_latents(catalog: Catalog, gen, G, cfg: EvalConfig, device) -> tuple[list[str], np.ndarray]:
    if cfg.identities:
        with catalog.read() as s:
            idents = s.scalars(select(Identity).order_by(Identity.id)).all()
        idents = [i for i in idents if i.z_dim == gen.z_dim and i.label_size == gen.label_size][:cfg.cases]
        if not idents:
            raise NotFoundError(f"no identities fit {gen.name}", "Import some with `ohlora identity import`")
        z = np.stack([decode(i.z, i.z_dim) for i in idents])
        label = np.stack([decode(i.label, i.label_size) for i in idents]) if gen.label_size else None
        return [f"identity:{i.name}" for i in idents], map_to_w(G, z, label, device)
    seeds = np.arange(cfg.seed_start, cfg.seed_start + cfg.cases)
    z, label = latents_for_seeds(seeds, gen.z_dim, gen.label_size, "random" if gen.label_size else "none")
    return [f"seed:{s}" for s in seeds], map_to_w(G, z, label, device)


def _groups(catalog: Catalog, ds: DirectionSet, base_images: np.ndarray, cache: dict, device) -> list[str]:
    """Each case's group under the set's grouping, from the set's scorer on the unedited images."""
    opts = json.loads(ds.options_json or "{}")
    group_by, scorer = opts.get("group_by"), opts.get("scorer")
    if not group_by or not scorer:
        return ["all"] * len(base_images)
    if scorer not in cache:
        sc = scorer_from_id(catalog, scorer, device)
        cache[scorer] = (list(sc.properties), sc.score(base_images))
    props, values = cache[scorer]
    cols = normalise_scores(catalog, scorer, group_by, values[:, [props.index(p) for p in group_by]])
    return [str(g) for g in group_names(cols, np.array([opts["cutoffs"][p] for p in group_by]))]


def run(catalog: Catalog, cfg: EvalConfig, *, on_start: Callable[[int], None] | None = None,
        advance: Callable[[int], None] | None = None) -> EvalResult:
    t0 = time.perf_counter()
    gen = find_generator(catalog, cfg.model)
    methods = resolve_methods(catalog, gen, cfg.methods)
    missing = [p for p in EDITED if p not in scorer_properties(cfg.scorer)]
    if missing:
        raise UsageError(f"scorer {cfg.scorer} does not measure {missing[0]}",
                         "Use --scorer parser-synthetic/fixed or property-cnn/<set>")
    device = pick_device(cfg.device)
    measure = scorer_from_id(catalog, cfg.scorer, device)
    for label, ds, _ in methods:
        with catalog.read() as s:
            have = set(s.scalars(select(Direction.property).where(Direction.set_id == ds.id)))
        if not set(EDITED) <= have:
            raise UsageError(f"direction set {ds.name} lacks {sorted(set(EDITED) - have)[0]}",
                             "Evaluate a set with eyes, mouth and pose directions")
    out = ensure_writable_dir(Path(cfg.out), "--out")
    G = load_generator(gen, device)
    names, w = _case_latents(catalog, gen, G, cfg, device)
    base = render(G, w, device=device)
    masks = drift_masks(load_parser("synthetic").parse(base).maps, base.shape[1])
    grid = edit_grid()
    measured_props = [p for p in EDITED + OTHERS if p in measure.properties]
    cols = [list(measure.properties).index(p) for p in measured_props]
    base_values = measure.score(base)[:, cols]
    spread = {p: float(base_values[:, j].std(ddof=1)) if len(base) > 1 else float("nan")
              for j, p in enumerate(measured_props)}
    if on_start is not None:
        on_start(len(methods) * len(names))
    score_cache: dict = {}
    results: list[MethodResult] = []
    options = {"generator": gen.name, "methods": [m[0] for m in methods], "cases": len(names), "scorer": cfg.scorer,
               "thresholds": list(cfg.thresholds), "identities": cfg.identities, "seed_start": cfg.seed_start}
    set_groups = [_groups(catalog, ds, base, score_cache, device) for _, ds, _ in methods]
    # the cases' groups for per-group pass rates: the first grouped set's, so an ungrouped set is broken down too
    case_groups = next((g for g in set_groups if set(g) != {"all"}), set_groups[0])
    with stage_run(catalog, "eval", options) as run_id:
        for (label, ds, layers), groups in zip(methods, set_groups):
            rows = []
            for k, (name, g) in enumerate(zip(names, groups)):
                D, _ = direction_matrix(catalog, ds, list(EDITED), g)
                own = [m.get("layers") for m in direction_metrics(catalog, ds, list(EDITED), g)]  # the set's ranges
                images = render(G, edit_wp(w[k], D, grid, G.num_layers, layers, direction_layers=own), device=device)
                values = measure.score(images)[:, cols]
                by_prop = {p: values[:, j] for j, p in enumerate(measured_props)}
                m = {**case_metrics(grid, by_prop), **effect_sizes(grid, by_prop, spread)}
                row = {"case": k, "source": name, "group": g, "case_group": case_groups[k], **m,
                       "passed": passes(m, cfg.thresholds),
                       "drift": identity_drift(base[k], images, masks[k])}
                if k < SCATTER_CASES:
                    row["measured"] = values[:, [measured_props.index(p) for p in EDITED]]
                rows.append(row)
                if advance is not None:
                    advance(1)
            results.append(MethodResult(label, ds.name, ds.method, layers, rows, summarise(rows)))
        files = write_outputs(out, results, cfg, gen.name, spread)  # the files first: a failed write stores nothing
        replaced = _store(catalog, gen, cfg, results, methods, run_id)
    return EvalResult(gen.name, cfg.scorer, len(names), results, out, time.perf_counter() - t0, files, replaced)


def _clean(v):
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    return v


def _store(catalog: Catalog, gen, cfg: EvalConfig, results: list[MethodResult], methods, run_id: int) -> int:
    """Store every method's evaluation in one transaction; an earlier evaluation of the same set, layers,
    scorer, thresholds and cases (the same command, rerun — perhaps after a kill) is replaced, not
    repeated.  Returns how many were replaced."""
    replaced = 0
    with catalog.write() as s:
        for res, (_, ds, layers) in zip(results, methods):
            options = json.dumps({"layers": list(layers) if layers else None, "thresholds": list(cfg.thresholds),
                                  "cases": len(res.rows), "seed_start": cfg.seed_start, "identities": cfg.identities})
            for old in s.scalars(select(Evaluation).where(
                    Evaluation.generator_id == gen.id, Evaluation.direction_set_id == ds.id,
                    Evaluation.method == res.label, Evaluation.scorer == cfg.scorer,
                    Evaluation.options_json == options)):
                s.delete(old)
                replaced += 1
            s.flush()
            ev = Evaluation(generator_id=gen.id, direction_set_id=ds.id, method=res.label, scorer=cfg.scorer,
                            options_json=options, summary_json=json.dumps(_clean(res.summary)), run_id=run_id)
            s.add(ev)
            s.flush()
            res.evaluation_id = ev.id
            s.add_all([EvaluationCase(evaluation_id=ev.id, case=r["case"], source=r["source"], group_name=r["group"],
                                      r_eyes=_clean(r["r_eyes"]), r_mouth=_clean(r["r_mouth"]),
                                      r_pose=_clean(r["r_pose"]), passed=bool(r["passed"]),
                                      metrics_json=json.dumps(_clean({k: v for k, v in r.items()
                                                                      if k.startswith(("off_", "eff_")) or k == "drift"})))
                       for r in res.rows])
    return replaced


def _fmt(v: float) -> str:
    return "-" if v is None or not np.isfinite(v) else f"{v:.4f}"


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


# ---------------------------------------------------------------- the verdict (pure)

# The protocol's measures, in report order: summary key, name, axis label with its unit, higher is better.
MEASURES = (
    ("mean_abs_r_eyes", "eyes |r|", "mean |Pearson r|", True),
    ("mean_abs_r_mouth", "mouth |r|", "mean |Pearson r|", True),
    ("mean_abs_r_pose", "pose |r|", "mean |Pearson r|", True),
    ("pass_rate", "pass rate", "fraction of cases", True),
    ("off_target_mean_abs", "off-target |r|", "mean |Pearson r|", False),
    ("off_target_effect_mean_abs", "off-target effect", "population std devs (σ)", False),
    ("drift_mean", "drift", "mean |pixel change| (0-1)", False),
)


def _value(sm: dict, key: str) -> float:
    v = sm.get(key, float("nan"))
    return float(v) if v is not None and np.isfinite(v) else float("nan")


def _short(v: float, digits: int = 3) -> str:
    """.843 / -.12 / 1.83: the README's style."""
    if not np.isfinite(v):
        return "-"
    text = f"{v:.{digits}f}"
    return text.replace("0.", ".", 1) if abs(v) < 1 else text


def _measure_text(key: str, v: float) -> str:
    if key == "pass_rate":
        return f"{v:.1%}"
    return _short(v, 4 if key == "drift_mean" else 3)


def rank_key(sm: dict) -> tuple[float, float, float]:
    """Best first when sorted descending: pass rate, then the mean |r| of the three edits, then the smaller
    off-target effect (NaN counts as worst)."""
    def finite(v: float) -> float:
        return v if np.isfinite(v) else -np.inf
    mean_r = np.mean([_value(sm, f"mean_abs_r_{p}") for p in EDITED])
    return finite(_value(sm, "pass_rate")), finite(float(mean_r)), finite(-_value(sm, "off_target_effect_mean_abs"))


def versus(a: dict, b: dict) -> tuple[list[str], list[str]]:
    """The measure keys on which summary ``a`` is better than ``b``, and those on which it is not."""
    better, not_better = [], []
    for key, _, _, higher in MEASURES:
        x, y = _value(a, key), _value(b, key)
        (better if np.isfinite(x) and np.isfinite(y) and (x > y if higher else x < y) else not_better).append(key)
    return better, not_better


def failed_thresholds(rows: list[dict], thresholds=DEFAULT_THRESHOLDS) -> dict[str, int]:
    """How many failing cases miss each edited property's threshold (|r| below it, or no r at all)."""
    out = {p: 0 for p in EDITED}
    for r in rows:
        if r["passed"]:
            continue
        for p, t in zip(EDITED, thresholds):
            v = r.get(f"r_{p}", float("nan"))
            if not np.isfinite(v) or abs(v) < t:
                out[p] += 1
    return out


def verdict(results: list[MethodResult], thresholds=DEFAULT_THRESHOLDS) -> str:
    """The report's opening paragraph, from the numbers: which method does best and by how much, how it
    compares with the original's ``svm``, what fails and why."""
    ranked = sorted(results, key=lambda r: rank_key(r.summary), reverse=True)
    best, sm = ranked[0], ranked[0].summary
    names = {key: name for key, name, _, _ in MEASURES}
    n = sm["cases"]
    parts = [f"**`{best.label}` does best**" + (f" of {len(results)} methods" if len(results) > 1 else "")
             + f" on these {n} cases: it passes {sm['pass_rate']:.1%} ({sm['passed']}/{n}), with mean |r| eyes "
             f"{_short(sm['mean_abs_r_eyes'])}, mouth {_short(sm['mean_abs_r_mouth'])}, pose "
             f"{_short(sm['mean_abs_r_pose'])}."]
    reference = next((r for r in results if r.method == "svm" and r.layers is None and r is not best), None)
    if reference is not None:
        better, worse = versus(sm, reference.summary)
        gap = 100 * (sm["pass_rate"] - reference.summary["pass_rate"])
        head = (f"Against the original's per-group `{reference.label}` ({reference.summary['pass_rate']:.1%}, "
                f"{gap:+.1f} points)")
        if not worse:
            parts.append(f"{head} it is better on every measure of the protocol.")
        else:
            parts.append(f"{head} it is better on {len(better)} of {len(MEASURES)} measures and not on "
                         + ", ".join(f"{names[k]} ({_measure_text(k, _value(sm, k))} vs "
                                     f"{_measure_text(k, _value(reference.summary, k))})" for k in worse) + ".")
    if len(ranked) > 1:
        second = ranked[1]
        gap = 100 * (sm["pass_rate"] - second.summary["pass_rate"])
        parts.append(f"The runner-up, `{second.label}`, passes {second.summary['pass_rate']:.1%} "
                     f"({gap:.1f} points fewer).")
    failing = sm["cases"] - sm["passed"]
    if failing:
        missed = failed_thresholds(best.rows, thresholds)
        order = sorted(zip(EDITED, thresholds), key=lambda pt: -missed[pt[0]])
        worst = order[0][0]
        effect = sm["on_target_effect"]
        leak = _nanmean([sm["off_target_matrix"][q][worst] for q in EDITED if q != worst])
        smallest = min(EDITED, key=lambda p: effect[p] if np.isfinite(effect[p]) else np.inf)
        others = [p for p in EDITED if p != worst]
        lead = (f"Of its {failing} failing case{'s' if failing != 1 else ''}, " + ", ".join(
            f"{missed[p]} miss{'es' if missed[p] == 1 else ''} the {p} threshold (|r| < {t:g})" for p, t in order
            if missed[p]) + f": {worst} limits it.")
        if smallest == worst:
            parts.append(f"{lead} Why: its edit moves {worst} least, {_short(effect[worst], 2)} population standard "
                         f"deviations (σ) over the grid against " + " and ".join(
                             f"{_short(effect[p], 2)} σ for {p}" for p in others)
                         + f", so the parser's noise and the other edits' leak into measured {worst} (mean |r| "
                         f"{_short(leak)}) count for more.")
        else:
            parts.append(f"{lead} Its edit moves {worst} {_short(effect[worst], 2)} population standard deviations (σ) "
                         "over the grid (" + ", ".join(f"{p} {_short(effect[p], 2)} σ" for p in others)
                         + f"); the other edits' leak into measured {worst} has mean |r| {_short(leak)}.")
    else:
        parts.append("Every case passes.")
    side = [(sm["effect_matrix"][p].get(q, float("nan")), p, q) for p in EDITED for q in OTHERS
            if q in sm["effect_matrix"][p]]
    side = [s for s in side if np.isfinite(s[0])]
    if side:
        eff, p, q = max(side)
        parts.append(f"Its largest side effect: the {p} edit moves {q} by {_short(eff, 2)} σ "
                     f"(|r| {_short(sm['off_target_matrix'][p][q])}); over all edits and hair / background "
                     f"measures the mean is {_short(sm['off_target_effect_mean_abs'])} σ.")
    groups = {g: (rate, sm["cases_by_group"][g]) for g, rate in sm["pass_rate_by_group"].items()}
    if len(groups) > 1:
        g, (rate, count) = min(groups.items(), key=lambda kv: (kv[1][0], -kv[1][1]))
        parts.append(f"Its weakest group is `{g}` ({rate:.0%} of {count} case{'s' if count != 1 else ''}).")
    return " ".join(parts)


def pass_rate_chart(results: list[MethodResult]) -> tuple[list[str], dict[str, list[float]]]:
    """What ``pass_rate_by_group.png`` plots: the cases' groups (sorted; the first grouped set's grouping, for
    every method) and then ``all`` (every case), and per
    method its pass rate in each (NaN where it has no case of that group)."""
    groups = sorted({g for r in results for g in r.summary["pass_rate_by_group"]} - {"all"})
    categories = groups + ["all"]
    return categories, {r.label: [r.summary["pass_rate_by_group"].get(g, float("nan")) for g in groups]
                        + [r.summary["pass_rate"]] for r in results}


# ---------------------------------------------------------------- outputs


def write_outputs(out: Path, results: list[MethodResult], cfg: EvalConfig, generator: str,
                  spread: dict[str, float] | None = None) -> list[Path]:
    """The per-case and per-method CSVs, the pictures and ``report.md``; ``spread`` (population standard
    deviation of each measured property over the unedited cases) puts the scatter plots in σ."""
    files = []
    for res in results:
        path = out / f"test_result_{_safe(res.label)}.csv"
        off = sorted(k for k in res.rows[0] if k.startswith(("off_", "eff_"))) if res.rows else []
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["case", "vector_no", "passed", "group_name", "eyes_corr", "mouth_corr", "pose_corr",
                        "sum_abs_corr", "source", "drift", *off])
            for r in res.rows:
                sac = sum(abs(r[f"r_{p}"]) for p in EDITED if np.isfinite(r[f"r_{p}"]))
                w.writerow([r["case"], 0, "O" if r["passed"] else "X", r["group"], _fmt(r["r_eyes"]),
                            _fmt(r["r_mouth"]), _fmt(r["r_pose"]), _fmt(sac), r["source"], _fmt(r["drift"]),
                            *[_fmt(r[k]) for k in off]])
        files.append(path)
    path = out / "test_statistics.csv"
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "eyes_corr_mean", "mouth_corr_mean", "pose_corr_mean", "sum_abs_corr_mean", "passed",
                    "passed_ratio", "off_target_mean_abs", "cross_edit_mean_abs", "drift_mean",
                    "eyes_effect", "mouth_effect", "pose_effect", "off_target_effect_mean_abs"])
        for res in results:
            sm = res.summary
            w.writerow([res.label, *[_fmt(sm[f"mean_abs_r_{p}"]) for p in EDITED], _fmt(sm["sum_abs_corr_mean"]),
                        sm["passed"], _fmt(sm["pass_rate"]), _fmt(sm["off_target_mean_abs"]),
                        _fmt(sm["cross_edit_mean_abs"]), _fmt(sm["drift_mean"]),
                        *[_fmt(sm["on_target_effect"][p]) for p in EDITED], _fmt(sm["off_target_effect_mean_abs"])])
    files.append(path)
    # pictures (and, beside the per-group one, the numbers it plots)
    cases = results[0].summary["cases"]
    files.append(save_png(out / "methods.png", measure_panels(
        [(name, unit, higher) for _, name, unit, higher in MEASURES],
        {r.label: [r.summary[key] for key, *_ in MEASURES] for r in results},
        title=f"the protocol's measures, every method on the same {cases} cases ({generator})")))
    categories, series = pass_rate_chart(results)
    path = out / "pass_rate_by_group.csv"
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["group", *series])
        for i, g in enumerate(categories):
            w.writerow([g, *[_fmt(v[i]) for v in series.values()]])
    files.append(path)
    files.append(save_png(out / "pass_rate_by_group.png", grouped_bars(
        categories, series, title="pass rate per group of the cases ('all': every case)",
        ylabel="cases passing (%)",
        xlabel="case group (h/l per group-by property, by the first grouped set; 'all' = every case)",
        ymax=1.0, percent=True)))
    grid = edit_grid()
    for res in results:
        shown = [r for r in res.rows if "measured" in r]
        if not shown:
            continue
        sd = {p: (spread or {}).get(p, float("nan")) for p in EDITED}
        in_sigma = all(np.isfinite(s) and s > 0 for s in sd.values())
        panels = [(f"{p} ({len(shown)} cases)", np.concatenate([grid[:, j]] * len(shown)),
                   np.concatenate([(r["measured"][:, j] - r["measured"][:, j].mean()) / (sd[p] if in_sigma else 1.0)
                                   for r in shown]))
                  for j, p in enumerate(EDITED)]
        files.append(save_png(out / f"scatter_{_safe(res.label)}.png", scatter_panels(
            panels, xlabel="intended edit (scale along the unit direction in w)",
            ylabel="measured - case mean (" + ("σ of the unedited cases)" if in_sigma else "measure's units)"),
            title=f"intended vs measured: {res.label}", slope_unit="σ" if in_sigma else "")))
    files.append(write_report(out, results, cfg, generator))
    return files


def _matrix_lines(label: str, matrix: dict[str, dict[str, float]]) -> list[str]:
    """A markdown table: one row per intended property, edited properties' columns first; "—" where absent."""
    cols = sorted({c for row in matrix.values() for c in row}, key=lambda c: (c not in EDITED, c))
    lines = [f"**{label}**", "", "| intended \\ measured | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {p} | " + " | ".join(_short(row[c]) if c in row else "—" for c in cols) + " |"
              for p, row in matrix.items()]
    return lines + [""]


def write_report(out: Path, results: list[MethodResult], cfg: EvalConfig, generator: str) -> Path:
    sm0 = results[0].summary
    lines = [f"# ohlora eval: {generator}", "", verdict(results, cfg.thresholds), "",
             f"{sm0['cases']} cases ({'identities' if cfg.identities else f'seeds from {cfg.seed_start}'}), "
             f"measured by `{cfg.scorer}`; a case passes when |r| ≥ {cfg.thresholds[0]:g} / {cfg.thresholds[1]:g} / "
             f"{cfg.thresholds[2]:g} (eyes / mouth / pose), r being the Pearson correlation of intended and measured "
             f"values over the case's 50 images: eyes {list(GRID_EYES)} × mouth {list(GRID_MOUTH)} × "
             f"pose {list(GRID_POSE)}. Effect: how far a property moves over an edit's whole range, in population "
             "standard deviations (σ) of the unedited cases; off-target: the hair and background measures; drift: "
             "the mean pixel change (0–1) over the unedited image's background and hair.", "",
             "| method | set | eyes \\|r\\| | mouth \\|r\\| | pose \\|r\\| | pass | off-target \\|r\\| | "
             "cross-edit \\|r\\| | effect eyes / mouth / pose (σ) | off-target effect (σ) | drift |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    ranked = sorted(results, key=lambda r: rank_key(r.summary), reverse=True)
    for r in ranked:
        sm = r.summary
        lines.append(f"| `{r.label}` | {r.set_name} | {_short(sm['mean_abs_r_eyes'])} | "
                     f"{_short(sm['mean_abs_r_mouth'])} | {_short(sm['mean_abs_r_pose'])} | "
                     f"{sm['pass_rate']:.1%} ({sm['passed']}/{sm['cases']}) | {_short(sm['off_target_mean_abs'])} | "
                     f"{_short(sm['cross_edit_mean_abs'])} | "
                     + " / ".join(_short(sm["on_target_effect"][p], 2) for p in EDITED)
                     + f" | {_short(sm['off_target_effect_mean_abs'])} | {_short(sm['drift_mean'], 4)} |")
    lines += ["", "![the protocol's measures per method](methods.png)", "",
              "![pass rate per group and overall](pass_rate_by_group.png)", ""]
    for r in ranked:
        if (out / f"scatter_{_safe(r.label)}.png").exists():
            lines += [f"![intended vs measured, {r.label}](scatter_{_safe(r.label)}.png)", ""]
    lines += ["## Side effects", "", "Off-target matrix (mean |r| of the intended row property against the "
              "measured column property):", ""]
    for r in ranked:
        lines += _matrix_lines(r.label, r.summary["off_target_matrix"])
    lines += ["Effect sizes (mean |change over the edit's whole range| in σ of the measured column property; the "
              "diagonal is the edit's own effect):", ""]
    for r in ranked:
        lines += _matrix_lines(r.label, r.summary["effect_matrix"])
    lines += ["Files: per case `test_result_<method>.csv` (the original's columns first); per method "
              "`test_statistics.csv`; the numbers of the per-group picture `pass_rate_by_group.csv`.", ""]
    path = out / "report.md"
    return write_text_atomic(path, "\n".join(lines))


__all__ = ["EvalConfig", "EvalResult", "run", "edit_grid", "pearson", "case_metrics", "passes", "identity_drift",
           "summarise", "effect_sizes", "verdict", "rank_key", "versus", "pass_rate_chart", "MEASURES", "GRID_EYES",
           "GRID_MOUTH", "GRID_POSE"]
