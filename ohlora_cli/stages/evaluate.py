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
from ohlora_cli.catalog.directions import direction_matrix, resolve_direction_set
from ohlora_cli.catalog.models import (
    Direction,
    DirectionSet,
    Evaluation,
    EvaluationCase,
    Identity,
)
from ohlora_cli.catalog.queries import stage_run
from ohlora_cli.catalog.registry import load_generator, resolve_generator
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
from ohlora_cli.plots import grouped_bars, scatter_panels
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
        groups.setdefault(r["group"], []).append(r["passed"])
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
    gen = resolve_generator(catalog, cfg.model)
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
    with stage_run(catalog, "eval", options) as run_id:
        for label, ds, layers in methods:
            groups = _groups(catalog, ds, base, score_cache, device)
            rows = []
            for k, (name, g) in enumerate(zip(names, groups)):
                D, _ = direction_matrix(catalog, ds, list(EDITED), g)
                images = render(G, edit_wp(w[k], D, grid, G.num_layers, layers), device=device)
                values = measure.score(images)[:, cols]
                by_prop = {p: values[:, j] for j, p in enumerate(measured_props)}
                m = {**case_metrics(grid, by_prop), **effect_sizes(grid, by_prop, spread)}
                row = {"case": k, "source": name, "group": g, **m, "passed": passes(m, cfg.thresholds),
                       "drift": identity_drift(base[k], images, masks[k])}
                if k < SCATTER_CASES:
                    row["measured"] = values[:, [measured_props.index(p) for p in EDITED]]
                rows.append(row)
                if advance is not None:
                    advance(1)
            results.append(MethodResult(label, ds.name, ds.method, layers, rows, summarise(rows)))
        files = write_outputs(out, results, cfg, gen.name)  # the files first: a failed write stores nothing
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


def write_outputs(out: Path, results: list[MethodResult], cfg: EvalConfig, generator: str) -> list[Path]:
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
    # pictures
    grid = edit_grid()
    files.append(save_png(out / "methods.png", grouped_bars(
        ["|r| eyes", "|r| mouth", "|r| pose", "pass rate", "off-target |r|", "drift x10"],
        {r.label: [r.summary["mean_abs_r_eyes"], r.summary["mean_abs_r_mouth"], r.summary["mean_abs_r_pose"],
                   r.summary["pass_rate"], r.summary["off_target_mean_abs"], 10 * r.summary["drift_mean"]]
         for r in results}, title=f"methods on the same {results[0].summary['cases']} cases ({generator})", ymax=1.0)))
    groups = sorted({g for r in results for g in r.summary["pass_rate_by_group"]})
    files.append(save_png(out / "pass_rate_by_group.png", grouped_bars(
        groups, {r.label: [r.summary["pass_rate_by_group"].get(g, float("nan")) for g in groups] for r in results},
        title="pass rate per group", ymax=1.0)))
    for res in results:
        shown = [r for r in res.rows if "measured" in r]
        if not shown:
            continue
        panels = [(f"{p} ({len(shown)} cases)", np.concatenate([grid[:, j]] * len(shown)),
                   np.concatenate([r["measured"][:, j] - r["measured"][:, j].mean() for r in shown]))
                  for j, p in enumerate(EDITED)]
        files.append(save_png(out / f"scatter_{_safe(res.label)}.png",
                              scatter_panels(panels, ylabel="measured - case mean")))
    files.append(write_report(out, results, cfg, generator))
    return files


def _matrix_lines(label: str, matrix: dict[str, dict[str, float]]) -> list[str]:
    """A markdown table: one row per intended property, edited properties' columns first; "—" where absent."""
    cols = sorted({c for row in matrix.values() for c in row}, key=lambda c: (c not in EDITED, c))
    lines = [f"**{label}**", "", "| intended \\ measured | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {p} | " + " | ".join(_fmt(row[c]) if c in row else "—" for c in cols) + " |"
              for p, row in matrix.items()]
    return lines + [""]


def write_report(out: Path, results: list[MethodResult], cfg: EvalConfig, generator: str) -> Path:
    lines = [f"# ohlora eval: {generator}", "",
             f"{results[0].summary['cases']} cases ({'identities' if cfg.identities else f'seeds from {cfg.seed_start}'}), "
             f"measured by `{cfg.scorer}`; pass = |r| ≥ {cfg.thresholds[0]} / {cfg.thresholds[1]} / "
             f"{cfg.thresholds[2]} (eyes / mouth / pose). Grid: eyes {list(GRID_EYES)} × mouth {list(GRID_MOUTH)} × "
             f"pose {list(GRID_POSE)} (50 images per case).", "",
             "| method | set | mean abs r eyes | mouth | pose | pass rate | off-target abs r | cross-edit abs r | drift "
             "| effect eyes | mouth | pose | off-target effect |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        sm = r.summary
        lines.append(f"| {r.label} | {r.set_name} | {_fmt(sm['mean_abs_r_eyes'])} | {_fmt(sm['mean_abs_r_mouth'])} | "
                     f"{_fmt(sm['mean_abs_r_pose'])} | {sm['pass_rate']:.1%} ({sm['passed']}/{sm['cases']}) | "
                     f"{_fmt(sm['off_target_mean_abs'])} | {_fmt(sm['cross_edit_mean_abs'])} | {_fmt(sm['drift_mean'])} | "
                     + " | ".join(_fmt(sm["on_target_effect"][p]) for p in EDITED)
                     + f" | {_fmt(sm['off_target_effect_mean_abs'])} |")
    lines += ["", "Off-target matrix (mean |r| of intended row property vs measured column property):", ""]
    for r in results:
        lines += _matrix_lines(r.label, r.summary["off_target_matrix"])
    lines += ["Effect sizes (mean |change over the edit's whole range| in population standard deviations of the "
              "measured column property; the diagonal is the edit's own effect):", ""]
    for r in results:
        lines += _matrix_lines(r.label, r.summary["effect_matrix"])
    lines += ["Pictures: `methods.png`, `pass_rate_by_group.png`, `scatter_<method>.png` (intended vs measured). "
              "Per case: `test_result_<method>.csv`; per method: `test_statistics.csv`.", ""]
    path = out / "report.md"
    return write_text_atomic(path, "\n".join(lines))


__all__ = ["EvalConfig", "EvalResult", "run", "edit_grid", "pearson", "case_metrics", "passes", "identity_drift",
           "summarise", "effect_sizes", "GRID_EYES", "GRID_MOUTH", "GRID_POSE"]
