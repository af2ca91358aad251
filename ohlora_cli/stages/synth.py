"""``synth``: one latent (catalog image, seed, identity or z-CSV row) edited along directions.

w = mapping(z, label) (or the stored w of a catalog image); w' = w + Σ scale·direction[property,
group]; rendered with psi, truncation layers and fixed noise.  A positive scale increases the
property.  The group comes from ``--group``, else from the set's grouping: the sample's stored
membership, or its scores against the set's cutoffs (scored once if missing); imported sets use
the identity's stored group.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from sqlalchemy import func, select

from ohlora_cli.calibration import (
    RANGE_SLACK,
    Calibration,
    beyond_range,
    from_metrics,
    to_raw,
)
from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.directions import (
    direction_layers,
    direction_matrix,
    direction_metrics,
    resolve_direction_set,
)
from ohlora_cli.catalog.models import (
    DirectionSet,
    Generator,
    Grouping,
    GroupMember,
    Identity,
    Image,
    Score,
)
from ohlora_cli.catalog.queries import generator_by_id
from ohlora_cli.catalog.registry import find_generator, load_generator
from ohlora_cli.catalog.scores import insert_scores, normalise_scores
from ohlora_cli.catalog.vectors import decode
from ohlora_cli.config import EDIT_FLAGS, SynthConfig
from ohlora_cli.directions import group_names
from ohlora_cli.edits import edit_wp
from ohlora_cli.errors import NotFoundError, UsageError
from ohlora_cli.files import write_atomic
from ohlora_cli.formats import read_latent_csv
from ohlora_cli.images import contact_sheet, ensure_writable_dir, gif_bytes, save_png
from ohlora_cli.limits import MAX_SCALE
from ohlora_cli.models.inference import latents_for_seeds, map_to_w, pick_device, render
from ohlora_cli.motion import (
    BLINK_RAW,
    BLINK_SIGMA,
    PROPERTIES,
    TARGET_RAW,
    TARGET_SIGMA,
    expression_track,
)
from ohlora_cli.scoring.scorers import scorer_from_id


@dataclass(frozen=True)
class Latent:
    generator: Generator
    w: np.ndarray  # (w_dim,)
    group: str | None
    description: str
    image_id: int | None = None


@dataclass(frozen=True)
class SynthResult:
    out: Path
    images: int
    latent: str
    generator: str
    direction_set: str | None
    group: str | None
    seconds: float
    units: str = ""  # how the scales were read, e.g. "raw units" or "σ units (1σ = eyes 1.25 raw)"


@dataclass(frozen=True)
class Units:
    """How the scales a request types become raw scales along its directions: raw = typed / divisor."""

    units: str  # raw | sigma
    props: tuple[str, ...]
    divisors: np.ndarray  # (P,): 1 for raw, sigma_per_unit for sigma
    calibrations: tuple[Calibration | None, ...]
    warning: str | None  # one line when a scale lies far outside the calibrated range

    def to_raw(self, scales: np.ndarray) -> np.ndarray:
        """(N, P) typed scales → raw scales (float32)."""
        return to_raw(scales, self.divisors).astype(np.float32).reshape(np.shape(scales))

    def describe(self) -> str:
        if self.units == "raw":
            return "raw units"
        return "σ units (1σ = " + ", ".join(f"{p} {1 / d:.3g}" for p, d in zip(self.props, self.divisors)) + " raw)"


def typed_scales(cfg: SynthConfig) -> list[tuple[str, float, str]]:
    """(property, value, how it was typed) for every scale of the request."""
    out = [(p, v, f"--{p} {v:g}" if p in EDIT_FLAGS else f"--edit {p}={v:g}") for p, v in cfg.edits]
    for flag, specs in (("--sweep", cfg.sweeps), ("--grid", cfg.grid)):
        out += [(p, v, f"{flag} {p} value {v:g}") for p, values in specs for v in values]
    out += [(p, v, f"--target {p}={v:g}") for target in cfg.targets for p, v in target]
    return out


def resolve_units(catalog: Catalog, ds: DirectionSet, props: list[str], group: str, cfg: SynthConfig,
                  extra: list[tuple[str, float, str]] = ()) -> Units:
    """The divisors that turn ``cfg``'s scales (``cfg.units``) into raw scales along ``props``' directions of
    ``group``, with every converted scale checked against the edit range, and the range warning.

    σ units need each direction's calibration (``ohlora vectorfind calibrate``) with a positive
    ``sigma_per_unit``; ``extra`` are scales the caller adds (the animation's default target).
    """
    cals = tuple(from_metrics(m) for m in direction_metrics(catalog, ds, props, group))
    divisors = np.ones(len(props))
    if cfg.units == "sigma":
        for j, (p, cal) in enumerate(zip(props, cals)):
            if cal is None:
                raise UsageError(f"direction set {ds.name} has no calibration for {p} (group {group}), so --units "
                                 "sigma cannot size it", f"Run `ohlora vectorfind calibrate {ds.name}`, or pass "
                                 "--units raw")
            if not cal.usable:
                raise UsageError(f"direction set {ds.name}'s {p} direction (group {group}) did not increase {p} when "
                                 f"calibrated ({cal.sigma_per_unit:+.3g} σ per unit), so --units sigma cannot size it",
                                 "Pass --units raw")
            divisors[j] = cal.sigma_per_unit
    beyond = []
    for p, v, text in [t for t in typed_scales(cfg) if t[0] in props] + list(extra):
        j = props.index(p)
        raw = v / divisors[j]
        if cfg.units == "sigma" and abs(raw) > MAX_SCALE:
            raise UsageError(f"{text} is {raw:.3g} raw units along {ds.name}'s {p} direction (group {group}, 1σ = "
                             f"{1 / divisors[j]:.3g} raw), outside the edit range -{MAX_SCALE:g}..{MAX_SCALE:g}",
                             f"Pass at most {MAX_SCALE * divisors[j]:.3g} σ there, or --units raw")
        cal = cals[j]
        if cal is not None and beyond_range(raw, cal):
            lo, hi = cal.scale_range
            shown = f"{text} ({raw:.3g} raw)" if cfg.units == "sigma" else text
            beyond.append(f"{shown} lies beyond {RANGE_SLACK:g}× the scales {ds.name}'s {p} direction was "
                          f"calibrated on ({lo:g}..{hi:g} raw): the edit is extrapolated there")
    warning = None
    if beyond:
        warning = "Warning: " + beyond[0] + (f" (and {len(beyond) - 1} more)" if len(beyond) > 1 else "")
    return Units(cfg.units, tuple(props), divisors, cals, warning)


def animation_track(catalog: Catalog, ds: DirectionSet, group: str, cfg: SynthConfig,
                    fps: int = 20) -> tuple[np.ndarray, Units]:
    """(T, 3) raw eyes / mouth / pose per frame of ``cfg``'s animation (:func:`~ohlora_cli.motion.expression_track`).

    Targets are in ``cfg.units``; without one the mouth opens to 2σ (σ units) or 1.8 (raw).  A blink closes
    the eyes by 2σ when the eyes direction is calibrated, else by 2.4 raw.
    """
    for target in cfg.targets:
        unknown = [p for p, _ in target if p not in PROPERTIES]
        if unknown:
            raise UsageError(f"--target property {unknown[0]!r} is not animated", "Targets use eyes, mouth, pose")
    targets = [dict(t) for t in cfg.targets]
    extra = []
    if not targets:
        targets = [dict(TARGET_SIGMA if cfg.units == "sigma" else TARGET_RAW)]
        extra = [(p, v, f"the animation's default target {p}={v:g}") for p, v in targets[0].items()]
    units = resolve_units(catalog, ds, list(PROPERTIES), group, cfg, extra)
    eyes = units.calibrations[0]
    depth = min(BLINK_SIGMA / eyes.sigma_per_unit, MAX_SCALE) if eyes is not None and eyes.usable else BLINK_RAW
    raw = [{p: v / units.divisors[PROPERTIES.index(p)] for p, v in t.items()} for t in targets]
    return expression_track(raw, fps=fps, blink_depth=depth), units


def resolve_latent(catalog: Catalog, cfg: SynthConfig, device) -> Latent:
    if cfg.image_id is not None:
        with catalog.read() as s:
            img = s.get(Image, cfg.image_id)
            if img is None:
                low, high = s.execute(select(func.min(Image.id), func.max(Image.id))).one()
                raise NotFoundError(f"no image with id {cfg.image_id} in the catalog",
                                    f"Image ids here run from {low} to {high}" if low is not None else
                                    "The catalog has no images yet: run `ohlora generate --n 100`, or pass --seed")
            member = s.execute(select(GroupMember.group_name).join(Grouping)
                               .where(GroupMember.image_id == img.id).order_by(Grouping.id.desc())).first()
        gen = generator_by_id(catalog, img.generator_id)
        return Latent(gen, decode(img.w, gen.w_dim), member[0] if member else None,
                      f"image {img.id} (seed {img.seed})", img.id)
    gen = find_generator(catalog, cfg.model)
    if cfg.identity is not None:
        with catalog.read() as s:
            ident = s.scalars(select(Identity).where(Identity.name == cfg.identity)).first()
            if ident is None:
                names = list(s.scalars(select(Identity.name).limit(5)))
                raise NotFoundError(f"no identity named {cfg.identity!r}",
                                    f"Known: {', '.join(names) or 'none'} (import with `ohlora identity import`)")
        if (ident.z_dim, ident.label_size) != (gen.z_dim, gen.label_size):
            raise UsageError(f"identity {ident.name} is z{ident.z_dim}+{ident.label_size} but generator {gen.name} "
                             f"takes z{gen.z_dim}+{gen.label_size}", "Pass a matching --model")
        z = decode(ident.z, ident.z_dim)[None]
        label = decode(ident.label, ident.label_size)[None] if ident.label_size else None
        group, desc = ident.group_name, f"identity {ident.name}"
    elif cfg.z_csv is not None:
        codes = read_latent_csv(cfg.z_csv, gen.z_dim + gen.label_size)
        if cfg.row >= len(codes):
            raise UsageError(f"--row {cfg.row} is past the end of {cfg.z_csv} ({len(codes)} rows)",
                             f"Pass --row 0..{len(codes) - 1}")
        z = codes[cfg.row:cfg.row + 1, :gen.z_dim]
        label = codes[cfg.row:cfg.row + 1, gen.z_dim:] if gen.label_size else None
        group, desc = None, f"{cfg.z_csv} row {cfg.row}"
    else:
        z, label = latents_for_seeds([cfg.seed], gen.z_dim, gen.label_size, cfg.labels)
        group, desc = None, f"seed {cfg.seed}"
    w = map_to_w(load_generator(gen, device), z, label, device)[0]
    return Latent(gen, w, group, desc)


def infer_group(catalog: Catalog, ds: DirectionSet, latent: Latent, G, device,
                pending: list[dict] | None = None) -> str | None:
    """The sample's group under a vectorfind set's grouping (its stored membership, else its scores).

    A catalog image without the set's scores is scored once and the scores are stored (or, with
    ``pending``, added to it for the caller to store once its output is written); a sample outside
    the catalog (seed, identity, CSV row) is rendered and scored on the fly.
    """
    opts = json.loads(ds.options_json or "{}")
    group_by, scorer = opts.get("group_by"), opts.get("scorer")
    if not group_by or not scorer:
        return None
    with catalog.read() as s:
        if latent.image_id is not None:
            member = s.scalars(select(GroupMember.group_name).join(Grouping).where(
                Grouping.name == ds.name, Grouping.generator_id == ds.generator_id,
                GroupMember.image_id == latent.image_id)).first()
            if member is not None:
                return member
            stored = dict(s.execute(select(Score.property, Score.value).where(
                Score.image_id == latent.image_id, Score.scorer == scorer)).all())
        else:
            stored = {}
    if not all(p in stored for p in group_by):
        stored = _score_one(catalog, scorer, latent, G, device, pending)
    values = normalise_scores(catalog, scorer, group_by, np.array([[stored[p] for p in group_by]]))
    return str(group_names(values, np.array([opts["cutoffs"][p] for p in group_by]))[0])


def _score_one(catalog: Catalog, scorer: str, latent: Latent, G, device,
               pending: list[dict] | None = None) -> dict[str, float]:
    sc = scorer_from_id(catalog, scorer, device)
    values = dict(zip(sc.properties, map(float, sc.score(render(G, latent.w[None], device=device))[0])))
    if latent.image_id is not None:
        rows = [dict(image_id=latent.image_id, property=p, value=v, scorer=scorer, run_id=None)
                for p, v in values.items()]
        if pending is not None:
            pending.extend(rows)
        else:
            _store_scores(catalog, rows)
    return values


def _store_scores(catalog: Catalog, rows: list[dict]) -> None:
    if rows:
        with catalog.write() as s:  # (kept as they are when a process beside this one stored them first)
            insert_scores(s, rows)


def plan(cfg: SynthConfig) -> tuple[list[str], np.ndarray, int, list[str], list[str] | None]:
    """Properties, scale matrix (N, P), columns, captions and row labels of the requested picture."""
    base = dict(cfg.edits)
    unit = "sd" if cfg.units == "sigma" else ""  # captions of σ scales (the sheets' font has no σ)
    props = list(dict.fromkeys([p for p, _ in cfg.edits] + [p for p, _ in cfg.sweeps] + [p for p, _ in cfg.grid]))
    rows: list[dict[str, float]] = []
    captions: list[str] = []
    row_labels = None
    if cfg.sweeps:
        ncols = max(len(v) for _, v in cfg.sweeps)
        row_labels = []
        for prop, values in cfg.sweeps:
            row_labels.append(prop)
            for j in range(ncols):
                if j < len(values):
                    rows.append({**base, prop: values[j]})
                    captions.append(f"{values[j]:+.2f}{unit}")
                else:  # pad shorter sweeps with the unedited image
                    rows.append(dict(base))
                    captions.append("")
    elif cfg.grid:
        names = [p for p, _ in cfg.grid]
        for combo in itertools.product(*[v for _, v in cfg.grid]):
            rows.append({**base, **dict(zip(names, combo))})
            captions.append(" ".join(f"{n[0]}{v:+.1f}{unit}" for n, v in zip(names, combo)))
        ncols = len(cfg.grid[-1][1])
    else:
        rows, ncols, captions = [dict(base)], 1, []
    scales = np.array([[r.get(p, 0.0) for p in props] for r in rows], np.float32).reshape(len(rows), len(props))
    return props, scales, ncols, captions, row_labels


def run(catalog: Catalog, cfg: SynthConfig, *, on_start: Callable[[int], None] | None = None,
        advance: Callable[[int], None] | None = None, warn: Callable[[str], None] | None = None) -> SynthResult:
    """Render the edited face (a sweep, a grid: every image of it); ``on_start(images)`` and ``advance(k)``
    drive a progress bar; ``warn(line)`` hears of scales far outside the calibrated range."""
    t0 = time.perf_counter()
    if cfg.animate is not None:
        return animate(catalog, cfg, on_start=on_start, advance=advance, warn=warn)
    if cfg.out.suffix.lower() != ".png":
        raise UsageError(f"--out {cfg.out} must end in .png", "e.g. --out face.png")
    ensure_writable_dir(cfg.out.parent if str(cfg.out.parent) else Path("."), "--out")
    device = pick_device(cfg.device)
    latent = resolve_latent(catalog, cfg, device)
    gen = latent.generator
    props, scales, ncols, captions, row_labels = plan(cfg)
    G = load_generator(gen, device)
    layers = cfg.layers
    if layers is not None and max(layers) >= gen.num_layers:
        raise UsageError(f"--layers goes up to {max(layers)} but {gen.name} has {gen.num_layers} layers",
                         f"Use layers 0..{gen.num_layers - 1}")
    ds_name, group, units = None, cfg.group or latent.group, ""
    scores: list[dict] = []  # stored once the picture is written: a failed write leaves the catalog as it was
    if props:
        ds = resolve_direction_set(catalog, gen, cfg.directions)
        group = cfg.group or infer_group(catalog, ds, latent, G, device, scores) or latent.group
        directions, group = direction_matrix(catalog, ds, props, group)
        own = direction_layers(catalog, ds, props, group)
        ds_name = ds.name
        conversion = resolve_units(catalog, ds, props, group, cfg)
        scales, units = conversion.to_raw(scales), conversion.describe()
        if conversion.warning and warn is not None:
            warn(conversion.warning)
    else:
        directions, own = np.zeros((0, gen.w_dim), np.float32), None
    wp = edit_wp(latent.w, directions, scales, gen.num_layers, layers, direction_layers=own)
    if on_start is not None:
        on_start(len(wp))
    images = render(G, wp, psi=cfg.psi, trunc_layers=cfg.trunc_layers, noise_mode=cfg.noise, device=device,
                    dtype=cfg.dtype, advance=advance)
    if len(images) == 1:
        save_png(cfg.out, images[0])
    else:
        scale = max(1, 96 // gen.resolution)
        save_png(cfg.out, contact_sheet(images, ncols, captions=captions, row_labels=row_labels, scale=scale))
    _store_scores(catalog, scores)
    return SynthResult(cfg.out, len(images), latent.description, gen.name, ds_name, group, time.perf_counter() - t0,
                       units)


def animate(catalog: Catalog, cfg: SynthConfig, fps: int = 20, *, on_start: Callable[[int], None] | None = None,
            advance: Callable[[int], None] | None = None, warn: Callable[[str], None] | None = None) -> SynthResult:
    """The app's motion (:func:`animation_track`) through ``targets``, rendered frame by frame into a GIF."""
    t0 = time.perf_counter()
    ensure_writable_dir(cfg.animate.parent if str(cfg.animate.parent) else Path("."), "--animate")
    device = pick_device(cfg.device)
    latent = resolve_latent(catalog, cfg, device)
    gen = latent.generator
    G = load_generator(gen, device)
    ds = resolve_direction_set(catalog, gen, cfg.directions)
    scores: list[dict] = []  # stored once the GIF is written
    group = cfg.group or infer_group(catalog, ds, latent, G, device, scores) or latent.group
    directions, group = direction_matrix(catalog, ds, list(PROPERTIES), group)
    track, units = animation_track(catalog, ds, group, cfg, fps)
    if units.warning and warn is not None:
        warn(units.warning)
    wp = edit_wp(latent.w, directions, track.astype(np.float32), gen.num_layers, cfg.layers,
                 direction_layers=direction_layers(catalog, ds, list(PROPERTIES), group))
    t_render = time.perf_counter()
    if on_start is not None:
        on_start(len(wp))
    frames = render(G, wp, psi=cfg.psi, trunc_layers=cfg.trunc_layers, noise_mode=cfg.noise, device=device,
                    dtype=cfg.dtype, advance=advance)
    render_fps = len(frames) / (time.perf_counter() - t_render)
    data = gif_bytes(frames, gen.resolution, fps)
    write_atomic(cfg.animate, lambda tmp: tmp.write_bytes(data))
    _store_scores(catalog, scores)
    return SynthResult(cfg.animate, len(frames), f"{latent.description}, rendered at {render_fps:.0f} frames/s",
                       gen.name, ds.name, group, time.perf_counter() - t0, units.describe())
