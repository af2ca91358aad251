"""``finetune``: adversarial fine-tuning of a generator on a named selection (docs/original.md §1.4–1.5, §5).

The loop, losses, presets, checkpoints and resume are :mod:`ohlora_cli.training.gan`'s; this module
resolves the run (parent G and D, selection, preset, length), prepares the training images (stored
PNGs, or re-rendered from the stored w with the parent generator) — or, for the ``latent`` preset, the
selection's stored w and a new discriminator on w (:mod:`ohlora_cli.models.latent`) — monitors the
filter scores of fixed samples, and registers the result as a new generator with its lineage.

Run folders are ``<runs>/finetune/NNNNN-<out>`` — numbered, never overwritten; ``--resume``
continues the newest folder of the same ``--out`` from its last full-state checkpoint.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from sqlalchemy import func, select

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.catalog.images import check_stored_pngs, images_of
from ohlora_cli.catalog.models import Generator, Image
from ohlora_cli.catalog.queries import selection_ids, stage_run
from ohlora_cli.catalog.registry import (
    generator_file,
    load_generator,
    register_generator,
    resolve_generator,
)
from ohlora_cli.catalog.vectors import decode_many
from ohlora_cli.config import check_device
from ohlora_cli.errors import CheckpointError, NotFoundError, UsageError
from ohlora_cli.files import write_text_atomic
from ohlora_cli.frechet import feature_stats
from ohlora_cli.images import ensure_writable_dir
from ohlora_cli.limits import (
    MAX_ANCHOR,
    MAX_BATCH_SIZE,
    MAX_LR,
    MAX_R1,
    MAX_TRAIN_STEPS,
    check_int,
    check_name,
    check_number,
    check_seed,
)
from ohlora_cli.models.checkpoints import (
    load_checkpoint,
    load_discriminator,
    save_checkpoint,
    sha256_file,
)
from ohlora_cli.models.devices import to_cpu
from ohlora_cli.models.inference import latents_for_seeds, map_to_w, pick_device, render
from ohlora_cli.models.latent import LatentDiscriminator, LatentDiscriminatorConfig
from ohlora_cli.models.stylegan import (
    DiscriminatorConfig,
    StyleGANDiscriminator,
    StyleGANGenerator,
)
from ohlora_cli.rules import DEFAULT_RULES, apply_rules, parse_rule
from ohlora_cli.scoring.features import PropertyFeatures
from ohlora_cli.scoring.scorers import FILTER_PROPERTIES, FilterCnnScorer
from ohlora_cli.synthetic.latent_code import (
    LABEL_ATTRIBUTES,
    LATENT_ATTRIBUTES,
    AttributeStats,
)
from ohlora_cli.training.anchor import BASE_HAIR_TEXTURE, WarmupAnchor
from ohlora_cli.training.augment import AUGMENTS
from ohlora_cli.training.gan import (
    GanTrainer,
    TrainConfig,
    preset_patterns,
    select_parameters,
    trainable_counts,
)
from ohlora_cli.training.presets import NOISE_STRENGTHS, PRESETS

MONITOR_SEED0 = 900_000_000
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str) -> float:
    """'90s', '20m', '2h', '1.5d', '600' → seconds."""
    m = DURATION.match(text or "")
    seconds = float(m[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]] if m else 0.0
    if not 0 < seconds < math.inf:
        raise UsageError(f"--time {text!r} is not a duration", "Write e.g. --time 20m or --time 2h")
    return seconds


@dataclass(frozen=True)
class FinetuneConfig:
    model: str | None
    selection: str
    out: str
    preset: str = "v8"
    steps: int | None = None
    kimg: float | None = None
    epochs: float | None = None
    time: str | None = None
    batch_size: int | None = None
    lr: float = 1e-4
    r1: float = 10.0
    r1_every: int = 1
    ema: float = 0.0
    labels: str = "stored"  # stored | zero
    train: tuple[str, ...] = ()
    freeze: tuple[str, ...] = ()
    seed: int = 0
    d_model: str | None = None
    new_d: bool = False
    from_original: bool = False
    monitor_every: int = 50
    monitor_n: int = 64
    checkpoint_every: int = 50
    log_every: int = 25
    resume: bool = False
    device: str = "auto"
    augment: str = "none"  # none | diffaug | ada: what D sees (training.augment); none is the original's
    ada_target: float = 0.6
    ada_speed_kimg: float = 2.0
    holdout: int = 0  # selection images kept out of training, for D's held-out AUROC in stats.jsonl
    anchor: float = 0.0  # weight of the synthetic base recipe's warm-up loss added to every G update (0 = off)
    freeze_noise: bool = False  # keep the per-layer noise strengths at the parent's values
    noise: str = "random"  # noise inputs of the fakes G makes while training: random (GenForce's) | const
    time_limit_s: float | None = field(init=False, default=None)  # --time, resolved once

    def __post_init__(self) -> None:
        check_device(self.device)
        if self.preset not in PRESETS:
            names = list(PRESETS)
            raise UsageError(f"unknown preset {self.preset!r}", f"Use --preset {', '.join(names[:-1])} or {names[-1]}")
        if self.labels not in ("stored", "zero"):
            raise UsageError(f"--labels must be stored or zero, not {self.labels!r}", "Pass --labels stored")
        given = [k for k in ("steps", "kimg", "epochs", "time") if getattr(self, k) is not None]
        if len(given) != 1:
            raise UsageError("give exactly one of --steps, --kimg, --epochs, --time" if given else
                             "the run has no length", "Pass e.g. --steps 500 or --time 20m")
        check_int(self.steps, "--steps", lo=1, hi=MAX_TRAIN_STEPS, example="500")
        check_number(self.kimg, "--kimg", lo=0, lo_open=True, hi=MAX_TRAIN_STEPS * max(self.batch, 1) / 1000,
                     example="10")
        check_number(self.epochs, "--epochs", lo=0, lo_open=True, hi=MAX_TRAIN_STEPS, example="10")
        if self.time is not None:
            object.__setattr__(self, "time_limit_s", parse_duration(self.time))
        check_int(self.checkpoint_every, "--checkpoint-every", lo=1, example="50")
        check_int(self.log_every, "--log-every", lo=1, example="25")
        check_int(self.monitor_every, "--monitor-every", lo=0, example="50")
        check_int(self.monitor_n, "--monitor-n", lo=1, hi=MAX_BATCH_SIZE, example="64")
        empty = [f"--{k} {p!r}" for k in ("train", "freeze") for p in getattr(self, k) if not p.strip()]
        if empty:
            raise UsageError(f"{empty[0]} is an empty pattern", "Pass a glob like 'mapping.*' (D: for the discriminator)")
        if self.monitor_every and self.monitor_every % self.log_every:
            raise UsageError(f"--monitor-every {self.monitor_every} is not a multiple of --log-every {self.log_every}",
                             "Monitoring happens on logged steps; pass e.g. --monitor-every 50 --log-every 25")
        check_int(self.batch_size, "--batch-size", lo=1, hi=MAX_BATCH_SIZE, example="8")
        check_number(self.lr, "--lr", lo=0, lo_open=True, hi=MAX_LR, example="1e-4")
        check_number(self.r1, "--r1", lo=0, hi=MAX_R1, example="10")
        check_number(self.ema, "--ema", lo=0, hi=1, hi_open=True, example="0.999")
        check_seed(self.seed)
        if self.augment not in AUGMENTS:
            raise UsageError(f"--augment {self.augment!r} is not an augmentation", f"Use one of: {', '.join(AUGMENTS)}")
        if not (math.isfinite(self.ada_target) and 0 < self.ada_target < 1) or \
                not (math.isfinite(self.ada_speed_kimg) and 0 < self.ada_speed_kimg <= 1e6):
            raise UsageError("--ada-target must be in (0, 1) and --ada-speed a positive number of kimg",
                             "Pass e.g. --ada-target 0.6 --ada-speed 2")
        if self.holdout < 0:
            raise UsageError(f"--holdout must be 0 or more, got {self.holdout}", "Pass e.g. --holdout 32")
        check_number(self.anchor, "--anchor", lo=0, hi=MAX_ANCHOR, example="1")
        if self.noise not in ("random", "const"):
            raise UsageError(f"--noise must be random or const, not {self.noise!r}", "Pass --noise random")
        if self.augment != "none" and PRESETS[self.preset].d_train == "latent":
            raise UsageError(f"--augment {self.augment} works on images; --preset {self.preset}'s discriminator "
                             "judges w", "Drop --augment")
        if self.anchor and self.from_original:
            raise UsageError("--anchor needs a generator of the synthetic world, not --from-original",
                             "Drop --anchor")
        check_name(self.out, "--out", "v8")
        check_name(self.selection, "--selection")

    @property
    def batch(self) -> int:
        return self.batch_size or PRESETS[self.preset].batch


@dataclass
class FinetuneResult:
    generator: str
    run_dir: Path
    steps: int
    seconds: float
    trainable: tuple[int, int]
    no_grad: list[str]
    images: int
    last: dict
    monitor: list[dict] = field(default_factory=list)
    existing: bool = False  # the generator was already there, fine-tuned by the same command: nothing was done


# ---------------------------------------------------------------- pure helpers


def steps_for(cfg: FinetuneConfig, n_images: int) -> int:
    """Training steps of the run (``--time`` runs get a bound that the time limit cuts short)."""
    if cfg.steps is not None:
        return int(cfg.steps)
    if cfg.kimg is not None:
        return max(1, math.ceil(cfg.kimg * 1000 / cfg.batch))
    if cfg.epochs is not None:
        steps = max(1, math.ceil(cfg.epochs * n_images / cfg.batch))
        if steps > MAX_TRAIN_STEPS:
            raise UsageError(f"--epochs {cfg.epochs:g} over {n_images:,} images comes to {steps:,} steps, more than "
                             f"{MAX_TRAIN_STEPS:,}", "Pass fewer --epochs")
        return steps
    return MAX_TRAIN_STEPS


def conditional_from_unconditional(G0: StyleGANGenerator, D0: StyleGANDiscriminator | None, label_size: int,
                                   seed: int) -> tuple[StyleGANGenerator, StyleGANDiscriminator | None]:
    """docs/original.md §1.4: a conditional G (new randn ``mapping.dense0`` and ``label_weight``) and D (new last
    layer taking the label) from unconditional ones; every other weight copied."""
    torch.manual_seed(seed)
    G = StyleGANGenerator(replace(G0.cfg, label_size=label_size))
    state = {k: v for k, v in G0.state_dict().items() if k != "mapping.dense0.weight"}
    missing, unexpected = G.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"mapping.dense0.weight", "mapping.label_weight"}:
        raise CheckpointError("the original generator does not fit the conditional architecture",
                              "Pass an unconditional GenForce StyleGAN checkpoint")
    with torch.no_grad():
        G.mapping.dense0.weight.normal_()
    D = None
    if D0 is not None:
        D = StyleGANDiscriminator(replace(D0.cfg, label_size=label_size))
        last = f"layer{D.num_blocks * 2}."
        d_state = {k: v for k, v in D0.state_dict().items() if not k.startswith(last)}
        missing, unexpected = D.load_state_dict(d_state, strict=False)
        if unexpected or any(not k.startswith(last) for k in missing):
            raise CheckpointError("the original discriminator does not fit the conditional architecture",
                                  "Pass an unconditional GenForce StyleGAN checkpoint")
    return G.eval(), D


def no_grad_parameters(G: StyleGANGenerator, names: set[str], batch: int = 2) -> list[str]:
    """Trainable parameters that a forward/backward of G leaves without gradient (e.g. ``output0``
    at full resolution)."""
    G = G.train()
    for n, p in G.named_parameters():
        p.grad = None
        p.requires_grad_(n in names)
    label = torch.zeros(batch, G.cfg.label_size) if G.cfg.label_size else None
    G(torch.randn(batch, G.cfg.z_dim), label).sum().backward()
    missing = [n for n, p in G.named_parameters() if n in names and p.grad is None]
    for p in G.parameters():
        p.grad = None
        p.requires_grad_(True)
    return missing


def comparable_options(cfg: FinetuneConfig, gen: Generator) -> dict:
    """What makes two fine-tunes the same (stored in the lineage): the parent and every option but
    ``--resume`` and ``--device``; JSON values, so a stored copy compares equal."""
    options = {k: v for k, v in asdict(cfg).items() if k not in ("model", "resume", "device", "time_limit_s")}
    return json.loads(json.dumps({"parent": gen.name, **options}, default=str))


def next_run_dir(root: Path, out: str) -> Path:
    """``root/NNNNN-out`` with the next free number (never an existing folder)."""
    root.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name.split("-", 1)[0]) for p in root.iterdir() if p.is_dir() and p.name[:5].isdigit()]
    return root / f"{(max(numbers) + 1 if numbers else 0):05d}-{out}"


def latest_run_dir(root: Path, out: str) -> Path | None:
    runs = sorted(p for p in root.glob(f"[0-9][0-9][0-9][0-9][0-9]-{out}") if p.is_dir()) if root.exists() else []
    return runs[-1] if runs else None


# ---------------------------------------------------------------- data


class SelectionImages:
    """Training batches from a selection: images in memory (uint8; or N×w_dim float w for the ``latent``
    preset), a seeded shuffle per epoch."""

    def __init__(self, images: np.ndarray, labels: np.ndarray | None, seed: int) -> None:
        self.images, self.labels, self.seed = images, labels, seed
        self._perms: dict[int, np.ndarray] = {}

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, 11, epoch]).permutation(len(self.images))}
        return self._perms[epoch]

    def __call__(self, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Batch ``step``: positions step·B .. step·B+B−1 of the epoch-wise shuffled order (from (seed, step) alone)."""
        n = len(self.images)
        idx = np.empty(batch_size, np.int64)
        for k in range(batch_size):
            epoch, i = divmod(step * batch_size + k, n)
            idx[k] = self._order(epoch)[i]
        x = _as_input(self.images[idx])
        y = torch.from_numpy(self.labels[idx]) if self.labels is not None else None
        return x, y


def _as_input(data: np.ndarray) -> torch.Tensor:
    """uint8 images (N, R, R, 3) → float N×3×R×R in [-1, 1]; w (N, w_dim) as they are."""
    if data.ndim == 2:
        return torch.from_numpy(np.ascontiguousarray(data, np.float32))
    return torch.from_numpy(data).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def split_holdout(images: np.ndarray, labels: np.ndarray | None, n: int, seed: int):
    """(training images, labels, held-out (images, labels) as tensors in [-1, 1] or None): ``n`` images
    drawn by a seeded permutation; refuses a hold-out that leaves fewer than 2 images to train on."""
    if n <= 0:
        return images, labels, None
    if n > len(images) - 2:
        raise UsageError(f"--holdout {n} leaves fewer than 2 of the selection's {len(images)} images to train on",
                         f"Pass --holdout {max(0, len(images) // 10)} or a larger selection")
    order = np.random.default_rng([seed, 13]).permutation(len(images))
    keep, held = np.sort(order[n:]), np.sort(order[:n])
    x = _as_input(images[held])
    y = torch.from_numpy(labels[held]) if labels is not None else None
    return images[keep], (labels[keep] if labels is not None else None), (x, y)


def check_selection(catalog: Catalog, selection: str, gen: Generator) -> list[int]:
    """The selection's image ids; errors when it is unknown, empty, or of another generator."""
    sel, ids = selection_ids(catalog, selection)
    if sel.generator_id != gen.id:
        with catalog.read() as s:
            other = s.get(Generator, sel.generator_id).name
        raise UsageError(f"selection {selection!r} holds images of {other}, not of {gen.name}",
                         f"Pass --model {other}, or filter images of {gen.name}")
    if not ids:
        raise UsageError(f"selection {selection!r} is empty", "Loosen the filter rules or generate more images")
    return ids


def load_selection(catalog: Catalog, ids: list[int], gen: Generator, G, device, *, label_mode: str,
                   label_size: int, advance=None) -> tuple[np.ndarray, np.ndarray | None]:
    """The selection's images (stored PNGs or re-rendered from w by the parent) and labels (stored or zero)."""
    parts = []
    for start in range(0, len(ids), 64):
        parts.append(images_of(catalog, G, gen, ids[start:start + 64], device))
        if advance is not None:
            advance(len(parts[-1]))
    return np.concatenate(parts), load_labels(catalog, ids, label_mode=label_mode, label_size=label_size)


def load_labels(catalog: Catalog, ids: list[int], *, label_mode: str, label_size: int) -> np.ndarray | None:
    """The selection's labels: stored (zero when one is missing) or zero; None for an unconditional G."""
    if not label_size:
        return None
    if label_mode == "zero":
        return np.zeros((len(ids), label_size), np.float32)
    with catalog.read() as s:
        rows = dict(s.execute(select(Image.id, Image.label).where(Image.id.in_(ids))).all())
    if any(rows[i] is None for i in ids):
        return np.zeros((len(ids), label_size), np.float32)
    return decode_many([rows[i] for i in ids], label_size).astype(np.float32)


def load_latents(catalog: Catalog, ids: list[int], w_dim: int) -> np.ndarray:
    """The selection's stored w (N × w_dim float32), in ``ids`` order."""
    with catalog.read() as s:
        rows = dict(s.execute(select(Image.id, Image.w).where(Image.id.in_(ids))).all())
    return decode_many([rows[i] for i in ids], w_dim).astype(np.float32)


# ---------------------------------------------------------------- monitoring


class FilterMonitor:
    """Mean filter CNN scores of ``n`` fixed samples and the pass rate of the selection's filter-CNN rules
    (the original's four when it has none) — docs/original.md §5 monitoring."""

    def __init__(self, catalog: Catalog, n: int, label_size: int, z_dim: int, rules: list[str] | None = None,
                 cnns: str = "synthetic", device: torch.device = torch.device("cpu"),
                 reference_images: np.ndarray | None = None) -> None:
        self.scorer = FilterCnnScorer(catalog, cnns, device)
        self.features = PropertyFeatures(catalog, cnns, device) if reference_images is not None else None
        self.reference = feature_stats(self.features.features(reference_images)) \
            if self.features is not None and len(reference_images) >= 2 else None
        parsed = [parse_rule(r) for r in (rules or [])]
        parsed = [r for r in parsed if r.prop in FILTER_PROPERTIES]
        self.rules = parsed or [parse_rule(r) for r in DEFAULT_RULES]
        self._apply = apply_rules
        z, label = latents_for_seeds(np.arange(MONITOR_SEED0, MONITOR_SEED0 + n), z_dim, label_size,
                                     "random" if label_size else "none")
        self.z, self.label = z, label

    def __call__(self, step: int, G: StyleGANGenerator) -> dict:
        was_training = G.training
        G.eval()
        device = next(G.parameters()).device
        with torch.no_grad():
            images = render(G, map_to_w(G, self.z, self.label, device), device=device)
        G.train(was_training)
        values = self.scorer.score(images)
        props = list(self.scorer.properties)
        cols = np.stack([values[:, props.index(r.prop)] for r in self.rules], axis=1)
        out = {f"mean_{p}": round(float(values[:, j].mean()), 4) for j, p in enumerate(props)}
        out["pass_rate"] = round(float(self._apply(cols, self.rules).all(axis=1).mean()), 4)
        if self.reference is not None and len(images) >= 2:  # Fréchet distance of the n samples to the selection
            out["fd_selection"] = round(self.features.distance_to(images, self.reference), 4)
        return out


# ---------------------------------------------------------------- the stage


SYNTHETIC_META = ("attribute_stats", "label_attributes")  # what makes a checkpoint a synthetic-world generator


def anchor_stats(meta: dict, G: StyleGANGenerator, name: str) -> AttributeStats:
    """The renderer's attribute statistics a synthetic-world generator was trained with (its checkpoint's
    meta, kept by its fine-tunes); a one-line error for any other generator (``--anchor`` needs them)."""
    fix = "Fine-tune synthetic-base (or a fine-tune of it) with --anchor, or drop --anchor"
    stats = meta.get("attribute_stats") if isinstance(meta, dict) else None
    if not isinstance(stats, dict) or meta.get("label_attributes") != list(LABEL_ATTRIBUTES):
        raise UsageError(f"--anchor needs a generator of the synthetic world (the renderer's attribute statistics "
                         f"in its file); {name} has none", fix)
    if G.cfg.label_size != len(LABEL_ATTRIBUTES) or G.cfg.z_dim <= len(LATENT_ATTRIBUTES):
        raise UsageError(f"--anchor needs the synthetic world's latent layout (z > {len(LATENT_ATTRIBUTES)} dims, "
                         f"{len(LABEL_ATTRIBUTES)} labels); {name} has z {G.cfg.z_dim}, label {G.cfg.label_size}", fix)
    try:
        return AttributeStats.from_dict(stats)
    except (KeyError, TypeError, ValueError):
        raise UsageError(f"--anchor: {name}'s attribute statistics are damaged", fix) from None


def _parent_networks(catalog: Catalog, cfg: FinetuneConfig, gen: Generator, *, need_d: bool = True):
    ckpt = load_checkpoint(generator_file(gen))
    G = ckpt.build_generator().train()
    D = ckpt.build_discriminator()
    if cfg.d_model is not None:
        D = load_discriminator(cfg.d_model)
    if cfg.from_original:
        if G.cfg.label_size:
            raise UsageError(f"{gen.name} is already conditional (label {G.cfg.label_size})",
                             "Drop --from-original")
        G, D = conditional_from_unconditional(G, D, 7, cfg.seed)
    if D is None and need_d:
        if not cfg.new_d:
            raise CheckpointError(f"{gen.name}'s checkpoint has no discriminator",
                                  "Pass --d-model FILE, or --new-d to start a freshly initialised one")

        torch.manual_seed(cfg.seed)
        D = StyleGANDiscriminator(DiscriminatorConfig(G.cfg.resolution, label_size=G.cfg.label_size,
                                                      fmaps_base=G.cfg.fmaps_base, fmaps_max=G.cfg.fmaps_max))
    if D is not None and (D.cfg.resolution != G.cfg.resolution or D.cfg.label_size != G.cfg.label_size):
        raise CheckpointError(f"the discriminator ({D.cfg.resolution}px, label {D.cfg.label_size}) does not match "
                              f"the generator ({G.cfg.resolution}px, label {G.cfg.label_size})",
                              "Pass the discriminator trained with this generator")
    meta = ckpt.extra.get("meta") or {}
    return G, (D.train() if D is not None else None), (meta if isinstance(meta, dict) else {})


def run(catalog: Catalog, cfg: FinetuneConfig, runs_root: Path, *, log: Callable[[dict], None] | None = None,
        on_start: Callable[[str, int], None] | None = None,
        advance: Callable[[str, int], None] | None = None) -> FinetuneResult:
    """The whole fine-tune; ``on_start(phase, total)`` / ``advance(phase, n)`` drive progress bars for the
    phases ``prepare`` (training images) and ``train`` (steps; total 0 for a ``--time`` run)."""
    t0 = time.perf_counter()
    gen = resolve_generator(catalog, cfg.model)
    root = Path(runs_root) / "finetune"
    with catalog.read() as s:
        taken = s.scalars(select(Generator).where(Generator.name == cfg.out)).first()
    if taken is not None:
        earlier = latest_run_dir(root, cfg.out)
        lineage = json.loads(taken.lineage_json or "{}")
        if "options" in lineage:  # registered with its lineage by this ohlora: a finished run
            diff = [f"{k} {lineage['options'].get(k)} stored, {v} now" for k, v in comparable_options(cfg, gen).items()
                    if lineage["options"].get(k) != v]
            if not diff:  # the same command ran to the end before (perhaps killed before it could say so)
                return FinetuneResult(cfg.out, Path(lineage["run_dir"]), lineage["steps"], time.perf_counter() - t0,
                                      (0, 0), [], lineage.get("selection_images", 0), {}, existing=True)
            if not cfg.resume:
                raise UsageError(f"a generator named {cfg.out!r} already exists, fine-tuned with other options "
                                 f"({'; '.join(diff[:3])})", "Pass another --out")
        unfinished = taken.lineage_json is None and Path(taken.path).parent.parent == root.resolve() \
            and Path(taken.path).parent.name.endswith(f"-{cfg.out}")  # an older ohlora killed before the lineage
        if not unfinished and not (cfg.resume and earlier is not None and lineage.get("run_dir") == str(earlier)):
            raise UsageError(f"a generator named {cfg.out!r} already exists", "Pass another --out")
        with catalog.read() as s:
            used = s.scalar(select(func.count(Image.id)).where(Image.generator_id == taken.id))
        if used:
            raise UsageError(f"generator {cfg.out!r} already has {used} images; training it further would orphan them",
                             "Fine-tune into a new --out")
    ids = check_selection(catalog, cfg.selection, gen)
    steps_for(cfg, max(len(ids) - cfg.holdout, 1))  # a length that is too long fails before any work
    check_stored_pngs(catalog, gen, ids)  # every training image's header, before any work
    ensure_writable_dir(Path(runs_root), "--runs")
    if cfg.resume and latest_run_dir(root, cfg.out) is None:
        raise NotFoundError(f"no earlier run of {cfg.out!r} in {root}", "Drop --resume to start a new run")
    device = pick_device(cfg.device)
    latent = PRESETS[cfg.preset].d_train == "latent"
    G, D_image, parent_meta = _parent_networks(catalog, cfg, gen, need_d=not latent)
    stats = anchor_stats(parent_meta, G, gen.name) if cfg.anchor else None
    if latent:  # a new discriminator on w; the parent's image D is saved with the result as it was
        torch.manual_seed(cfg.seed)
        D = LatentDiscriminator(LatentDiscriminatorConfig(G.cfg.w_dim, G.cfg.label_size)).train()
    else:
        D = D_image
    g_train, d_train = preset_patterns(cfg.preset, D)
    if cfg.train:
        g_train = tuple(p.removeprefix("G:") for p in cfg.train if not p.startswith("D:")) or g_train
        d_train = tuple(p.removeprefix("D:") for p in cfg.train if p.startswith("D:")) or d_train
    freeze = tuple(cfg.freeze) + ((NOISE_STRENGTHS,) if cfg.freeze_noise else ())
    g_names = [n for n in select_parameters(G, g_train) if n not in set(select_parameters(G, freeze))] \
        if freeze else select_parameters(G, g_train)
    d_names = [n for n in select_parameters(D, d_train) if n not in set(select_parameters(D, freeze))] \
        if freeze else select_parameters(D, d_train)
    if not g_names or not d_names:
        which = "generator" if not g_names else "discriminator"
        raise UsageError(f"preset {cfg.preset} with --train/--freeze matches no {which} parameter",
                         "Check the glob patterns against the parameter names (e.g. 'mapping.*')")
    counts = trainable_counts(G, D, g_names, d_names)
    no_grad = no_grad_parameters(G, set(g_names))

    parent_G = load_generator(gen, device)
    label_mode = "zero" if cfg.labels == "zero" or cfg.from_original else "stored"
    if on_start is not None:
        on_start("prepare", len(ids))
    if latent and not cfg.monitor_every:  # the w and labels are all it needs
        images, labels = None, load_labels(catalog, ids, label_mode=label_mode, label_size=G.cfg.label_size)
    else:
        images, labels = load_selection(catalog, ids, gen, parent_G, device, label_mode=label_mode,
                                        label_size=G.cfg.label_size,
                                        advance=(lambda k: advance("prepare", k)) if advance and not latent else None)
        if images.shape[1] != G.cfg.resolution:
            raise UsageError(f"selection images are {images.shape[1]}px, the generator makes {G.cfg.resolution}px",
                             "Fine-tune the generator the selection came from")
    data = load_latents(catalog, ids, G.cfg.w_dim) if latent else images
    if latent and advance is not None:
        advance("prepare", len(ids))
    data, labels, holdout = split_holdout(data, labels, cfg.holdout, cfg.seed)
    if latent:
        D.standardise_to(torch.from_numpy(data))
    steps = steps_for(cfg, len(data))
    tcfg = TrainConfig(steps=steps, batch_size=cfg.batch, lr=cfg.lr, r1_gamma=cfg.r1, r1_every=cfg.r1_every,
                       style_mixing_prob=PRESETS[cfg.preset].style_mixing, ema_decay=cfg.ema, seed=cfg.seed,
                       checkpoint_every=cfg.checkpoint_every, log_every=cfg.log_every,
                       g_train=tuple(g_names), d_train=tuple(d_names), augment=cfg.augment,
                       ada_target=cfg.ada_target, ada_speed_kimg=cfg.ada_speed_kimg, noise_mode=cfg.noise,
                       regulariser=f"warmup-anchor {cfg.anchor:g}" if cfg.anchor else "",
                       space="w" if latent else "image", g_lr_mul=PRESETS[cfg.preset].g_lr_mul)
    if cfg.resume:
        run_dir = latest_run_dir(root, cfg.out)
        if run_dir is None:
            raise NotFoundError(f"no earlier run of {cfg.out!r} in {root}", "Drop --resume to start a new run")
    else:
        run_dir = next_run_dir(root, cfg.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = {"parent": gen.name, "selection": cfg.selection, "selection_images": len(ids), **asdict(cfg),
                "steps_resolved": steps, "trainable": {"G": counts[0], "D": counts[1]}, "no_grad": no_grad,
                "run_dir": str(run_dir)}
    write_text_atomic(run_dir / "finetune_config.json", json.dumps(resolved, indent=2, default=str) + "\n")
    monitor = None
    if cfg.monitor_every:
        sel_rules = json.loads(selection_ids(catalog, cfg.selection)[0].rules_json or "[]")
        monitor = FilterMonitor(catalog, cfg.monitor_n, G.cfg.label_size, G.cfg.z_dim, sel_rules, device=device,
                                reference_images=images if latent else data)
    history: list[dict] = []

    def _log(row: dict) -> None:
        if any(k.startswith("mean_") for k in row):
            history.append(row)
        if log is not None:
            log(row)

    G, D = G.to(device), D.to(device)
    anchor = WarmupAnchor(G, stats, seed=cfg.seed, batch_size=cfg.batch, weight=cfg.anchor,
                          hair_texture=BASE_HAIR_TEXTURE) if stats is not None else None
    trainer = GanTrainer(G, D, SelectionImages(data, labels, cfg.seed), tcfg, run_dir, log=_log,
                         monitor=monitor, monitor_every=cfg.monitor_every, holdout=holdout, g_regulariser=anchor)
    if trainer.G_ema is not None and not (cfg.resume and trainer.checkpoint_path.exists()):
        trainer.G_ema.load_state_dict(G.state_dict())
    limit = cfg.time_limit_s
    if monitor is not None and not (cfg.resume and trainer.checkpoint_path.exists()):
        history.append({"step": 0, **monitor(0, G)})  # the parent's numbers, before any step
    with stage_run(catalog, "finetune", resolved) as run_id:
        if on_start is not None:
            on_start("train", steps if limit is None else 0)
        result = trainer.run(resume=cfg.resume, advance=(lambda k: advance("train", k)) if advance else None,
                             time_limit=limit)
        if monitor is not None:
            final = monitor(trainer.step, trainer.G_ema or G)
            history.append({"step": trainer.step, **final})
        lineage = {"parent": gen.name, "parent_sha256": gen.sha256, "selection": cfg.selection,
                   "preset": cfg.preset, "run_id": run_id, "run_dir": str(run_dir), "steps": trainer.step,
                   "selection_images": len(ids), "options": comparable_options(cfg, gen)}
        path = run_dir / "generator.pt"
        kept = {k: parent_meta[k] for k in SYNTHETIC_META if k in parent_meta}  # a synthetic-world child stays one
        d_saved = D_image if latent else D  # the latent D stays in the run's checkpoint.pt
        save_checkpoint(path, to_cpu(G), D=to_cpu(d_saved) if d_saved is not None else None, G_smooth=to_cpu(trainer.G_ema) if trainer.G_ema is not None else None,
                        lineage=lineage, meta={"finetune": resolved, **kept})
        if taken is None:  # the generator and its lineage in one transaction: registered means finished
            register_generator(catalog, path, cfg.out, kind="ohlora", parent_id=gen.id, lineage=lineage,
                               checked=load_checkpoint(path))  # written just now from the trained networks
        else:
            with catalog.write() as s:  # a resumed, finished run updates its generator row in place
                row = s.get(Generator, taken.id)
                row.sha256, row.lineage_json = sha256_file(path), json.dumps(lineage)
                row.path = str(path.resolve())
    return FinetuneResult(cfg.out, run_dir, trainer.step, time.perf_counter() - t0, counts, no_grad, len(ids),
                          result.last, history)
