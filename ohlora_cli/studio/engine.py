"""The studio's work, without the web: a request → one edited face, its unedited twin, their measured
properties, the downloads (PNG, sweep sheet, animation GIF, as bytes) and the ``ohlora synth`` command
that writes the same file.

Every picture goes through the same functions as ``ohlora synth`` (``resolve_latent``, ``infer_group``,
``plan``, ``direction_matrix``, ``edit_wp``, ``render``), so the command shown reproduces it bit for
bit.  Requests are validated by :func:`parse_request` into a :class:`~ohlora_cli.config.SynthConfig`
before anything is read; one :class:`Studio` serves every browser tab, one request at a time (a lock).
"""

from __future__ import annotations

import base64
import json
import math
import re
import shlex
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ohlora_cli.calibration import from_metrics
from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.directions import (
    direction_layers,
    direction_matrix,
    direction_metrics,
    resolve_direction_set,
)
from ohlora_cli.catalog.models import (
    Direction,
    DirectionSet,
    Generator,
    Identity,
    Image,
    Normalisation,
)
from ohlora_cli.catalog.registry import (
    default_generator_name,
    embedded_generators,
    load_generator,
)
from ohlora_cli.catalog.scores import normalise_scores
from ohlora_cli.catalog.vectors import decode, encode
from ohlora_cli.config import UNITS, SynthConfig, parse_layers
from ohlora_cli.edits import edit_wp
from ohlora_cli.errors import NotFoundError, UsageError
from ohlora_cli.images import contact_sheet, gif_bytes, png_bytes
from ohlora_cli.limits import MAX_SCALE, MAX_SEED, NAME_PATTERN
from ohlora_cli.models.inference import latents_for_seeds, pick_device, render
from ohlora_cli.motion import PROPERTIES, TARGET_SIGMA
from ohlora_cli.scoring.scorers import scorer_from_id
from ohlora_cli.stages.synth import (
    Latent,
    animation_track,
    infer_group,
    plan,
    resolve_latent,
    resolve_units,
)

DEFAULT_SCORER = "parser-synthetic/fixed"  # measures faces when the direction set names no scorer
NAME_RE = re.compile(rf"(?:{NAME_PATTERN.pattern})\Z")  # ohlora_cli.limits' names; .match checks the whole
ANIMATION_FPS = 20  # stages.synth.animate's default
DEFAULT_TARGET = (("mouth", 1.8),)  # the animation's target when eyes / mouth / pose are all at 0 (raw units)
DEFAULT_TARGET_SIGMA = tuple(TARGET_SIGMA.items())  # ... in σ units
EDIT_FLAGS = ("eyes", "mouth", "pose")  # properties `ohlora synth` takes as --eyes / --mouth / --pose
_CACHE = 64


class Conflict(UsageError):
    """The request is valid but clashes with the catalog (a name already taken): HTTP 409."""


@dataclass(frozen=True)
class Export:
    """What a download asks for beyond the face: the sweep's range and steps."""

    sweep_range: float = 2.0
    sweep_steps: int = 7


# ---------------------------------------------------------------- request validation (pure)


def _field(body: dict, key: str, kinds: tuple[type, ...], what: str):
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise UsageError(f"{key} must be {what}, got {json.dumps(value)[:40]}", f"Send {key} as {what}")
    return value


def _number(body: dict, key: str, default: float, lo: float, hi: float) -> float:
    value = _field(body, key, (int, float), "a number")
    value = default if value is None else float(value)
    if not math.isfinite(value) or not lo <= value <= hi:
        raise UsageError(f"{key} must be between {lo:g} and {hi:g}, got {value:g}", f"Send {key} in {lo:g}..{hi:g}")
    return value


def _integer(body: dict, key: str, default: int | None, lo: int, hi: int) -> int | None:
    value = _field(body, key, (int,), "a whole number")
    if value is None:
        return default
    if not lo <= value <= hi:
        raise UsageError(f"{key} must be between {lo} and {hi}, got {value}", f"Send {key} in {lo}..{hi}")
    return value


def _name(body: dict, key: str) -> str | None:
    value = _field(body, key, (str,), "a name")
    if value is not None and not NAME_RE.match(value):
        raise UsageError(f"{key} {value[:40]!r} is not a name (letters, digits, . _ -, up to 64)",
                         f"Send {key} like 'my-face-1'")
    return value


def parse_request(body: object, *, device: str = "auto") -> SynthConfig:
    """A render request (JSON object) → the ``SynthConfig`` of ``ohlora synth`` that draws it.

    Fields: exactly one of ``image`` (id), ``seed``, ``identity``; optional ``model``, ``directions``
    (names), ``edits`` ({property: scale}), ``units`` (``raw`` | ``sigma``, of the scales), ``layers``
    (``0-5``), ``psi``, ``trunc_layers``.
    """
    if not isinstance(body, dict):
        raise UsageError("the request body must be a JSON object", 'Send e.g. {"seed": 7, "edits": {"mouth": 1.2}}')
    known = {"image", "seed", "identity", "model", "directions", "edits", "units", "layers", "psi", "trunc_layers",
             "sweep_range", "sweep_steps", "name"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise UsageError(f"unknown field {unknown[0]!r}", f"Fields are {', '.join(sorted(known))}")
    image = _integer(body, "image", None, 1, 2**63 - 1)
    seed = _integer(body, "seed", None, 0, MAX_SEED)
    identity = _field(body, "identity", (str,), "an identity name")
    if identity is not None and not 0 < len(identity) <= 200:
        raise UsageError("identity must be a non-empty name of at most 200 characters", "Pick an identity from the list")
    if sum(x is not None for x in (image, seed, identity)) != 1:
        raise UsageError("send exactly one of image, seed, identity", 'e.g. {"seed": 7}')
    edits_in = _field(body, "edits", (dict,), "an object of property: scale") or {}
    edits = []
    for prop, value in edits_in.items():
        if not isinstance(prop, str) or not 0 < len(prop) <= 64:
            raise UsageError("edits keys must be property names", 'e.g. {"mouth": 1.2}')
        scale = _number({prop: value}, prop, 0.0, -MAX_SCALE, MAX_SCALE)
        if scale != 0.0:
            edits.append((prop, scale))
    edits.sort(key=lambda e: (EDIT_FLAGS.index(e[0]) if e[0] in EDIT_FLAGS else len(EDIT_FLAGS)))
    units = _field(body, "units", (str,), "raw or sigma") or "raw"
    if units not in UNITS:
        raise UsageError(f"units must be raw or sigma, got {units[:40]!r}", 'Send "units": "sigma" or "raw"')
    layers_spec = _field(body, "layers", (str,), "a layer list like 0-5")
    layers = parse_layers(layers_spec.strip()) if layers_spec and layers_spec.strip() not in ("", "all") else None
    return SynthConfig(out=Path("face.png"), image_id=image, seed=seed, identity=identity,
                       model=_field(body, "model", (str,), "a generator name"),
                       directions=_field(body, "directions", (str,), "a direction set name"),
                       edits=tuple(edits), units=units, layers=layers, psi=_number(body, "psi", 1.0, 0.0, 2.0),
                       trunc_layers=_integer(body, "trunc_layers", 0, 0, 64), device=device)


def parse_export(body: dict) -> Export:
    return Export(_number(body, "sweep_range", 2.0, 0.05, MAX_SCALE), _integer(body, "sweep_steps", 7, 2, 15))


def sweep_values(export: Export) -> tuple[float, ...]:
    """The values ``--sweep P=-R:R:N`` gives (``config.parse_values``' rounding)."""
    return tuple(float(v) for v in np.round(np.linspace(-export.sweep_range, export.sweep_range,
                                                         export.sweep_steps), 6))


def _num(v: float) -> str:
    return repr(float(v))


def layers_spec(layers: tuple[int, ...] | None) -> str | None:
    """(0, 1, 2, 5) → '0-2,5'."""
    if layers is None:
        return None
    runs: list[list[int]] = []
    for i in layers:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def synth_command(cfg: SynthConfig, *, catalog: str, generator: str, directions: str | None) -> str:
    """The ``ohlora synth`` command line that writes what ``cfg`` describes."""
    args = ["ohlora", "synth", "--catalog", catalog]
    if cfg.image_id is not None:
        args += ["--image", str(cfg.image_id)]
    else:
        args += ["--model", generator]
        args += ["--seed", str(cfg.seed)] if cfg.seed is not None else ["--identity", cfg.identity]
    if directions is not None and (cfg.edits or cfg.sweeps or cfg.animate is not None):
        args += ["--directions", directions]
        if cfg.units != "raw":
            args += ["--units", cfg.units]
    if cfg.animate is None:
        for prop, scale in cfg.edits:
            args += [f"--{prop}", _num(scale)] if prop in EDIT_FLAGS else ["--edit", f"{prop}={_num(scale)}"]
        for prop, values in cfg.sweeps:
            args += ["--sweep", f"{prop}={_num(values[0])}:{_num(values[-1])}:{len(values)}"]
    if cfg.layers is not None:
        args += ["--layers", layers_spec(cfg.layers)]
    if cfg.psi != 1.0:
        args += ["--psi", _num(cfg.psi), "--trunc-layers", str(cfg.trunc_layers)]
    if cfg.animate is not None:
        args += ["--animate", str(cfg.animate)]
        for target in cfg.targets:
            args += ["--target", ",".join(f"{p}={_num(v)}" for p, v in target)]
    else:
        args += ["--out", str(cfg.out)]
    return " ".join(shlex.quote(a) for a in args)


# ---------------------------------------------------------------- the studio


@dataclass(frozen=True)
class Face:
    """A resolved source: its latent, generator, network, direction set, group and the set's properties."""

    latent: Latent
    generator: Generator
    G: object
    directions: DirectionSet | None
    group: str | None
    properties: tuple[str, ...]
    note: str | None


class Studio:
    """One catalog, one device, caches of resolved faces; every public method holds the lock."""

    def __init__(self, catalog: Catalog, *, catalog_arg: str | None = None, model: str | None = None,
                 directions: str | None = None, device: str = "auto") -> None:
        self.catalog = catalog
        self.catalog_arg = catalog_arg or str(catalog.path)
        self.model, self.directions, self.device_name = model, directions, device
        self.device = pick_device(device)
        self.lock = threading.RLock()
        self._faces: OrderedDict = OrderedDict()
        self._originals: OrderedDict = OrderedDict()
        self._edits: OrderedDict = OrderedDict()
        self._scorers: dict = {}

    # -- what the page offers

    def info(self) -> dict:
        with self.lock, self.catalog.read() as s:
            gens = s.scalars(select(Generator).order_by(Generator.id)).all()
            sets = s.scalars(select(DirectionSet).order_by(DirectionSet.id)).all()
            set_props: dict[int, set[str]] = {}
            for set_id, prop in s.execute(select(Direction.set_id, Direction.property).distinct()):
                set_props.setdefault(set_id, set()).add(prop)
            uncalibrated = set(s.scalars(select(Direction.set_id).where(
                Direction.metrics_json.not_like('%"sigma_per_unit"%')).distinct()))
            identities = list(s.scalars(select(Identity.name).order_by(Identity.id).limit(1000)))
            count, first, last = s.execute(select(func.count(Image.id), func.min(Image.id), func.max(Image.id))).one()
        by_id = {g.id: g.name for g in gens}
        generators = [dict(name=g.name, resolution=g.resolution, num_layers=g.num_layers) for g in gens]
        registered = {g["name"] for g in generators}
        generators += [dict(name=name, resolution=None, num_layers=None)
                       for name in embedded_generators() if name not in registered]
        if self.model and self.model not in {g["name"] for g in generators}:  # a checkpoint path from --model
            generators.append(dict(name=self.model, resolution=None, num_layers=None))
        return dict(catalog=self.catalog_arg, generators=generators,
                    default_model=self.model or default_generator_name(), default_directions=self.directions,
                    direction_sets=[dict(name=d.name, generator=by_id.get(d.generator_id), method=d.method,
                                         properties=sorted(set_props.get(d.id, ())),
                                         calibrated=d.id in set_props and d.id not in uncalibrated) for d in sets],
                    identities=identities, images=dict(count=count, first=first, last=last))

    def known_models(self) -> set[str]:
        with self.catalog.read() as s:
            names = set(s.scalars(select(Generator.name)))
        return names | set(embedded_generators()) | ({self.model} if self.model else set())

    # -- resolving a request

    def _with_defaults(self, cfg: SynthConfig) -> SynthConfig:
        if cfg.image_id is None and cfg.model is None:
            cfg = replace(cfg, model=self.model)
        if cfg.model is not None and cfg.model not in self.known_models():
            raise NotFoundError(f"unknown model {cfg.model!r}",
                                f"Use one of: {', '.join(sorted(self.known_models()))}")
        return cfg

    def face(self, cfg: SynthConfig) -> Face:
        key = (cfg.image_id, cfg.seed, cfg.identity, cfg.model, cfg.labels, cfg.directions)
        if key in self._faces:
            self._faces.move_to_end(key)
            return self._faces[key]
        latent = resolve_latent(self.catalog, cfg, self.device)
        gen = latent.generator
        G = load_generator(gen, self.device)
        ds, group, props, note = None, latent.group, (), None
        directions = cfg.directions
        if directions is None and self.directions is not None:
            with self.catalog.read() as s:
                cli_set = s.scalars(select(DirectionSet).where(DirectionSet.name == self.directions)).first()
            if cli_set is not None and cli_set.generator_id in (None, gen.id):
                directions = self.directions
        try:
            ds = resolve_direction_set(self.catalog, gen, directions)
        except NotFoundError as err:
            if directions is not None:
                raise
            note = err.message
        if ds is not None:
            group = infer_group(self.catalog, ds, latent, G, self.device) or latent.group
            with self.catalog.read() as s:
                rows = s.execute(select(Direction.property, Direction.group_name)
                                 .where(Direction.set_id == ds.id)).all()
            groups = {g for _, g in rows}
            if group is None and groups == {"all"}:
                group = "all"
            in_group = {p for p, g in rows if g == group}
            props = tuple(sorted(in_group, key=lambda p: (EDIT_FLAGS.index(p) if p in EDIT_FLAGS else 9, p)))
            if not props:
                note = f"no directions of set {ds.name} for group {group}; pass a group in the catalog"
        face = Face(latent, gen, G, ds, group, props, note)
        self._faces[key] = face
        while len(self._faces) > _CACHE:
            self._faces.popitem(last=False)
        return face

    def _check(self, cfg: SynthConfig, face: Face) -> None:
        gen = face.generator
        if cfg.layers is not None and max(cfg.layers) >= gen.num_layers:
            raise UsageError(f"layers goes up to {max(cfg.layers)} but {gen.name} has {gen.num_layers} layers",
                             f"Use layers 0..{gen.num_layers - 1}")
        if cfg.trunc_layers > gen.num_layers:
            raise UsageError(f"trunc_layers {cfg.trunc_layers} is more than {gen.name}'s {gen.num_layers} layers",
                             f"Use 1..{gen.num_layers}")
        props = [p for p, _ in cfg.edits] + [p for p, _ in cfg.sweeps]
        if props and face.directions is None:
            raise NotFoundError(face.note or f"generator {gen.name} has no directions", "Run `ohlora vectorfind`")
        unknown = [p for p in props if p not in face.properties]
        if unknown:
            raise NotFoundError(f"unknown property {unknown[0]!r} for direction set {face.directions.name}",
                                f"It has {', '.join(face.properties) or 'no directions for this group'}")

    def _images(self, cfg: SynthConfig, face: Face) -> tuple[np.ndarray, int, list[str], list[str] | None]:
        """Exactly ``stages.synth.run``'s pixels: (N, R, R, 3), columns, captions, row labels."""
        props, scales, ncols, captions, row_labels = plan(cfg)
        if props:
            dirs, _ = direction_matrix(self.catalog, face.directions, props, face.group)
            own = direction_layers(self.catalog, face.directions, props, face.group)
            scales = resolve_units(self.catalog, face.directions, props, face.group, cfg).to_raw(scales)
        else:
            dirs, own = np.zeros((0, face.generator.w_dim), np.float32), None
        wp = edit_wp(face.latent.w, dirs, scales, face.generator.num_layers, cfg.layers, direction_layers=own)
        images = render(face.G, wp, psi=cfg.psi, trunc_layers=cfg.trunc_layers, noise_mode=cfg.noise,
                        device=self.device, dtype=cfg.dtype)
        return images, ncols, captions, row_labels

    def _scorer_id(self, face: Face) -> str:
        opts = json.loads(face.directions.options_json or "{}") if face.directions is not None else {}
        return opts.get("scorer") or DEFAULT_SCORER

    def measure(self, face: Face, image: np.ndarray) -> tuple[str, dict[str, float], list[str]]:
        """(scorer id, measured values, properties in normalised units) of one face."""
        scorer_id = self._scorer_id(face)
        if scorer_id not in self._scorers:
            self._scorers[scorer_id] = scorer_from_id(self.catalog, scorer_id)
        sc = self._scorers[scorer_id]
        raw = sc.score(image[None])
        values = normalise_scores(self.catalog, scorer_id, sc.properties, raw)[0]
        with self.catalog.read() as s:
            normed = sorted(s.scalars(select(Normalisation.property).where(Normalisation.scorer == scorer_id)))
        return scorer_id, {p: round(float(v), 4) for p, v in zip(sc.properties, values)}, normed

    # -- endpoints' work

    def _original_key(self, cfg: SynthConfig, face: Face) -> tuple:
        return (cfg.image_id, cfg.seed, cfg.identity, cfg.model, cfg.psi, cfg.trunc_layers,
                face.directions.id if face.directions else None)

    def _edited(self, cfg: SynthConfig, face: Face) -> np.ndarray:
        """The edited face (the last few are kept, so measuring after showing does not render twice)."""
        key = repr(cfg)
        if key not in self._edits:
            self._edits[key] = self._images(cfg, face)[0][0]
            while len(self._edits) > 8:
                self._edits.popitem(last=False)
        return self._edits[key]

    def _original(self, cfg: SynthConfig, face: Face) -> dict:
        okey = self._original_key(cfg, face)
        if okey not in self._originals:
            plain = self._images(replace(cfg, edits=()), face)[0][0]
            self._originals[okey] = dict(image=plain, png=base64.b64encode(png_bytes(plain)).decode(), measured=None)
            while len(self._originals) > _CACHE:
                self._originals.popitem(last=False)
        return self._originals[okey]

    def render(self, cfg: SynthConfig) -> dict:
        """The edited face, the unedited one and the synth command (measuring is :meth:`measure_request`)."""
        with self.lock:
            t0 = time.perf_counter()
            cfg = self._with_defaults(cfg)
            face = self.face(cfg)
            self._check(cfg, face)
            image = self._edited(cfg, face)
            original = self._original(cfg, face)
            gen, ds = face.generator, face.directions
            return dict(image=base64.b64encode(png_bytes(image)).decode(), original=original["png"],
                        generator=gen.name, resolution=gen.resolution, num_layers=gen.num_layers,
                        directions=ds.name if ds else None, group=face.group, properties=list(face.properties),
                        units=cfg.units, sigma_per_unit=self._sigma_per_unit(face), warning=self._warning(cfg, face),
                        latent=face.latent.description, note=face.note,
                        server_ms=round((time.perf_counter() - t0) * 1000, 1),
                        command=synth_command(cfg, catalog=self.catalog_arg, generator=gen.name,
                                              directions=ds.name if ds else None))

    def _sigma_per_unit(self, face: Face) -> dict[str, float | None]:
        """Each slider property's calibration (σ per raw unit) in the face's group; None where it has none."""
        if face.directions is None or not face.properties:
            return {}
        metrics = direction_metrics(self.catalog, face.directions, list(face.properties), face.group)
        cals = [from_metrics(m) for m in metrics]
        return {p: c.sigma_per_unit if c is not None and c.usable else None for p, c in zip(face.properties, cals)}

    def _warning(self, cfg: SynthConfig, face: Face) -> str | None:
        props = [p for p, _ in cfg.edits]
        if not props or face.directions is None:
            return None
        return resolve_units(self.catalog, face.directions, props, face.group, cfg).warning

    def measure_request(self, cfg: SynthConfig) -> dict:
        """The measured properties of the edited face and of the unedited one."""
        with self.lock:
            t0 = time.perf_counter()
            cfg = self._with_defaults(cfg)
            face = self.face(cfg)
            self._check(cfg, face)
            scorer, measured, normed = self.measure(face, self._edited(cfg, face))
            original = self._original(cfg, face)
            if original["measured"] is None:
                original["measured"] = self.measure(face, original["image"])[1]
            return dict(scorer=scorer, normalised=normed, measured=measured, measured_original=original["measured"],
                        server_ms=round((time.perf_counter() - t0) * 1000, 1))

    def export(self, cfg: SynthConfig, kind: str, export: Export) -> tuple[bytes, str, str, str]:
        """(bytes, media type, file name, synth command) of a download: png | sweep | animation."""
        with self.lock:
            cfg = self._with_defaults(cfg)
            face = self.face(cfg)
            self._check(cfg, face)
            gen, ds = face.generator, face.directions
            if kind == "png":
                data, media, cfg = png_bytes(self._images(cfg, face)[0][0]), "image/png", replace(cfg, out=Path("face.png"))
            elif kind == "sweep":
                if not face.properties:
                    raise NotFoundError(face.note or f"generator {gen.name} has no directions", "Run `ohlora vectorfind`")
                values = sweep_values(export)
                cfg = replace(cfg, out=Path("sweep.png"), sweeps=tuple((p, values) for p in face.properties))
                images, ncols, captions, row_labels = self._images(cfg, face)
                sheet = contact_sheet(images, ncols, captions=captions, row_labels=row_labels,
                                      scale=max(1, 96 // gen.resolution))
                data, media = png_bytes(sheet), "image/png"
            elif kind == "animation":
                data, cfg = self._animation(cfg, face), self._animation_cfg(cfg)
                media = "image/gif"
            else:
                raise NotFoundError(f"unknown export {kind!r}", "Use png, sweep or animation")
            command = synth_command(cfg, catalog=self.catalog_arg, generator=gen.name,
                                    directions=ds.name if ds else None)
            return data, media, (cfg.animate or cfg.out).name, command

    @staticmethod
    def _animation_cfg(cfg: SynthConfig) -> SynthConfig:
        target = tuple((p, v) for p, v in cfg.edits if p in PROPERTIES) or \
            (DEFAULT_TARGET_SIGMA if cfg.units == "sigma" else DEFAULT_TARGET)
        return replace(cfg, animate=Path("talk.gif"), targets=(target,), edits=())

    def _animation(self, cfg: SynthConfig, face: Face) -> bytes:
        """``stages.synth.animate``'s frames for the current eyes / mouth / pose as the one target."""
        missing = [p for p in PROPERTIES if p not in face.properties]
        if missing:
            name = face.directions.name if face.directions else "none"
            raise NotFoundError(f"the animation needs eyes, mouth and pose directions; set {name} lacks {missing[0]}",
                                "Pick a direction set with all three")
        cfg = self._animation_cfg(cfg)
        dirs, _ = direction_matrix(self.catalog, face.directions, list(PROPERTIES), face.group)
        track, _ = animation_track(self.catalog, face.directions, face.group, cfg, ANIMATION_FPS)
        wp = edit_wp(face.latent.w, dirs, track.astype(np.float32), face.generator.num_layers, cfg.layers,
                     direction_layers=direction_layers(self.catalog, face.directions, list(PROPERTIES), face.group))
        frames = render(face.G, wp, psi=cfg.psi, trunc_layers=cfg.trunc_layers, noise_mode=cfg.noise,
                        device=self.device, dtype=cfg.dtype)
        return gif_bytes(frames, face.generator.resolution)

    def save_identity(self, cfg: SynthConfig, name: str) -> dict:
        """Store the face's z ‖ label as a named identity (one row); the edits go into its meta."""
        with self.lock:
            cfg = self._with_defaults(cfg)
            face = self.face(cfg)
            self._check(cfg, face)
            gen = face.generator
            z, label = self._codes(cfg, gen)
            ds = face.directions
            meta = dict(studio=dict(source=face.latent.description, generator=gen.name,
                                    directions=ds.name if ds else None, edits=dict(cfg.edits), units=cfg.units,
                                    layers=layers_spec(cfg.layers), psi=cfg.psi, trunc_layers=cfg.trunc_layers,
                                    note="z ‖ label of the unedited face; the edits are recorded here"))
            try:
                with self.catalog.write() as s:
                    if s.scalars(select(Identity.id).where(Identity.name == name)).first() is not None:
                        raise Conflict(f"an identity named {name!r} already exists", "Choose another name")
                    s.add(Identity(name=name, z_dim=gen.z_dim, label_size=gen.label_size, z=encode(z, gen.z_dim),
                                   label=encode(label, gen.label_size) if gen.label_size else None,
                                   group_name=face.group if face.group != "all" else None,
                                   source=f"studio: {face.latent.description} of {gen.name}",
                                   meta_json=json.dumps(meta)))
            except IntegrityError:
                raise Conflict(f"an identity named {name!r} already exists", "Choose another name") from None
            ident_cfg = replace(cfg, image_id=None, seed=None, identity=name, model=gen.name)
            return dict(name=name, command=synth_command(ident_cfg, catalog=self.catalog_arg, generator=gen.name,
                                                         directions=ds.name if ds else None))

    def _codes(self, cfg: SynthConfig, gen: Generator) -> tuple[np.ndarray, np.ndarray | None]:
        if cfg.image_id is not None:
            with self.catalog.read() as s:
                img = s.get(Image, cfg.image_id)
                return decode(img.z, gen.z_dim), decode(img.label, gen.label_size) if gen.label_size else None
        if cfg.identity is not None:
            with self.catalog.read() as s:
                ident = s.scalars(select(Identity).where(Identity.name == cfg.identity)).first()
                return (decode(ident.z, ident.z_dim),
                        decode(ident.label, ident.label_size) if ident.label_size else None)
        z, label = latents_for_seeds([cfg.seed], gen.z_dim, gen.label_size, cfg.labels)
        return z[0], label[0] if label is not None else None
