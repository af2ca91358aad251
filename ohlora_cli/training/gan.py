"""The GAN training loop (docs/original.md §5), written once: base models, fine-tunes and their presets use it.

Losses: D ``softplus(D(G(z))) + softplus(−D(x)) + γ/2·E‖∇ₓD(x)‖²``; G ``softplus(−D(G(z)))``.
Schedule: per batch one D step, then G steps repeated (new z each) up to ``g_repeat_max`` times
while ``g_loss ≥ g_repeat_ratio·d_loss``.  AdamW (lr 1e-4) for both; the original created a cosine
scheduler and never stepped it, so the lr was constant — ohlora keeps the constant lr and creates
no scheduler.  Optional EMA generator (``generator_smooth``); w_avg tracked as GenForce does.
Optional ``g_regulariser`` (step → loss) added to every G update (the base recipe's warm-up anchor).
``space="w"``: D judges the mapping network's output instead of images (reals are stored w; the
fine-tune's ``latent`` preset), everything else the same.

Determinism: the randomness of step ``s`` (z, noise, style mixing, the data source) is seeded from
(seed, s) alone, so a run resumed from its last full-state checkpoint continues bit-for-bit.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from ohlora_cli.errors import OutputError, UsageError
from ohlora_cli.files import write_atomic, write_text_atomic
from ohlora_cli.models.checkpoints import read_file
from ohlora_cli.models.devices import to_host
from ohlora_cli.models.stylegan import StyleGANDiscriminator, StyleGANGenerator
from ohlora_cli.processes import kill_point
from ohlora_cli.training.augment import (
    AUGMENTS,
    AdaController,
    ada_augment,
    diffaug,
    overfit_heuristic,
)
from ohlora_cli.training.presets import PRESETS

BatchSource = Callable[[int, int], tuple[torch.Tensor, torch.Tensor | None]]
"""(step, batch_size) → (real images in [-1, 1], N×3×R×R — or N×w_dim w when ``space`` is w; labels N×k or None)."""

GRegulariser = Callable[[int], torch.Tensor]
"""step → a scalar loss added to every G update of that step (differentiable in G's parameters);
it must draw its randomness from the step alone, so resumed runs stay bit-for-bit."""


def d_final_layers(D: StyleGANDiscriminator) -> tuple[str, ...]:
    """The 4×4 block and the last dense layer (``layer12..14`` at 256 px)."""
    n = D.num_blocks
    return (f"layer{2 * n - 2}.*", f"layer{2 * n - 1}.*", f"layer{2 * n}.*")


def preset_patterns(preset: str, D: StyleGANDiscriminator) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(G trainable patterns, D trainable patterns) of a freeze preset (docs/original.md §1.5)."""
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}", f"Use one of: {', '.join(PRESETS)}")
    p = PRESETS[preset]
    return p.g_train, (d_final_layers(D) if p.d_train == "final" else ("*",))


def select_parameters(module: torch.nn.Module, train: Iterable[str], freeze: Iterable[str] = ()) -> list[str]:
    """Names of parameters matching any ``train`` glob and no ``freeze`` glob."""
    train, freeze = list(train), list(freeze)
    return [n for n, _ in module.named_parameters()
            if any(fnmatch.fnmatch(n, p) for p in train) and not any(fnmatch.fnmatch(n, p) for p in freeze)]


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """Area under the ROC curve of scores ``pos`` (label 1) vs ``neg`` (label 0), ties counted half."""
    pos, neg = np.asarray(pos, np.float64), np.asarray(neg, np.float64)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    scores = np.concatenate([pos, neg])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run's numbers (saved with every checkpoint)."""

    steps: int
    batch_size: int = 8
    lr: float = 1e-4
    r1_gamma: float = 10.0
    r1_every: int = 1
    style_mixing_prob: float = 0.0
    g_repeat_max: int = 4
    g_repeat_ratio: float = 2.0
    ema_decay: float = 0.0
    w_avg_decay: float = 0.995
    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 25
    g_train: tuple[str, ...] = ("*",)
    d_train: tuple[str, ...] = ("*",)
    noise_mode: str = "random"
    augment: str = "none"  # none | diffaug | ada (training.augment), applied to D's inputs, reals and fakes alike
    ada_target: float = 0.6
    ada_speed_kimg: float = 2.0
    regulariser: str = ""  # what g_regulariser is (e.g. "warmup-anchor 1"): part of the resume key, not used otherwise
    space: str = "image"  # what D judges: image (G's renders) | w (the mapping's output; reals are stored w)
    g_lr_mul: float = 1.0  # G's lr = lr × this (the latent preset undoes GenForce's mapping lr_mul)

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.batch_size <= 0:
            raise UsageError("training needs a positive number of steps and batch size",
                             "Pass e.g. --steps 1000 --batch-size 8")
        if self.augment not in AUGMENTS:
            raise UsageError(f"unknown augmentation {self.augment!r}", f"Use one of: {', '.join(AUGMENTS)}")
        if self.noise_mode not in ("random", "const"):
            raise UsageError(f"unknown noise mode {self.noise_mode!r}", "Use random or const")
        if self.space not in ("image", "w"):
            raise UsageError(f"unknown training space {self.space!r}", "Use image or w")
        if self.space == "w" and self.augment != "none":
            raise UsageError("augmentations work on images, not on w", "Train on w without --augment")

    def resume_key(self) -> dict:
        """The fields a resumed run must share with the interrupted one (all but ``steps``)."""
        return {k: v for k, v in asdict(self).items() if k not in ("steps", "checkpoint_every", "log_every")}


@dataclass
class TrainResult:
    steps_done: int
    seconds: float
    last: dict
    run_dir: Path


def _step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step * 7_919 + 17) % (2**63 - 1)


def _set_trainable(module: torch.nn.Module, names: set[str], on: bool) -> None:
    for n, p in module.named_parameters():
        p.requires_grad_(on and n in names)


class GanTrainer:
    """Holds G, D, optimisers and state; ``run()`` trains to ``cfg.steps`` with checkpoints and stats."""

    def __init__(self, G: StyleGANGenerator, D: StyleGANDiscriminator, source: BatchSource, cfg: TrainConfig,
                 run_dir: Path, *, log: Callable[[dict], None] | None = None,
                 monitor: Callable[[int, StyleGANGenerator], dict] | None = None, monitor_every: int = 0,
                 g_regulariser: GRegulariser | None = None,
                 holdout: tuple[torch.Tensor, torch.Tensor | None] | None = None) -> None:
        self.G, self.D, self.source, self.cfg, self.run_dir = G, D, source, cfg, Path(run_dir)
        self.holdout = holdout  # real images (and labels) D never trains on: its held-out AUROC at each log line
        self.ada = AdaController(target=cfg.ada_target, speed_kimg=cfg.ada_speed_kimg) if cfg.augment == "ada" else None
        self.g_regulariser = g_regulariser
        self.log, self.monitor, self.monitor_every = log, monitor, monitor_every
        self.g_names = set(select_parameters(G, cfg.g_train))
        self.d_names = set(select_parameters(D, cfg.d_train))
        if not self.g_names or not self.d_names:
            which = "generator" if not self.g_names else "discriminator"
            raise UsageError(f"the trainable patterns match no {which} parameter",
                             "Check --preset / --train / --freeze")
        g_params = [p for n, p in G.named_parameters() if n in self.g_names]
        d_params = [p for n, p in D.named_parameters() if n in self.d_names]
        self.opt_g = torch.optim.AdamW(g_params, lr=cfg.lr * cfg.g_lr_mul)
        self.opt_d = torch.optim.AdamW(d_params, lr=cfg.lr)
        self.G_ema = copy.deepcopy(G).eval() if cfg.ema_decay > 0 else None
        self.step = 0
        self.label_size = G.cfg.label_size

    # -- state -------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def state(self) -> dict:
        return {"format": "ohlora-train-state", "step": self.step, "config": asdict(self.cfg),
                "g_config": self.G.cfg.to_dict(), "d_config": self.D.cfg.to_dict(),
                "generator": self.G.state_dict(), "discriminator": self.D.state_dict(),
                "generator_smooth": self.G_ema.state_dict() if self.G_ema is not None else None,
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "ada": self.ada.state() if self.ada is not None else None}

    def save(self) -> None:
        state = self.state()
        kept = (f"; the previous checkpoint (step {self._saved_step}) is intact" if self.checkpoint_path.exists()
                else "; no checkpoint was written yet")
        write_atomic(self.checkpoint_path, lambda tmp: torch.save(state, tmp), what=f"checkpoint in {self.run_dir}",
                     after=kept, fix="Free disk space and rerun with --resume" if self.checkpoint_path.exists()
                     else "Free disk space and run it again")
        self._saved_step = self.step
        kill_point("train:checkpoint")

    _saved_step = 0

    def load(self, state: dict) -> None:
        """Continue from a full-state checkpoint; a damaged or foreign one is a one-line error."""
        if not isinstance(state, dict) or state.get("format") != "ohlora-train-state":
            raise UsageError(f"{self.checkpoint_path} does not hold an ohlora training state", "Start a new run")
        try:
            self._load(state)
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as err:
            raise UsageError(f"cannot resume: {self.checkpoint_path} is incomplete or damaged "
                             f"({type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''})",
                             "Start a new run (drop --resume)") from None

    def _load(self, state: dict) -> None:
        mismatch = [k for k, v in TrainConfig(**_config_fields(state["config"])).resume_key().items()
                    if self.cfg.resume_key()[k] != v]
        if mismatch or state["g_config"] != self.G.cfg.to_dict() or state["d_config"] != self.D.cfg.to_dict():
            what = ", ".join(mismatch) if mismatch else "the network architecture"
            raise UsageError(f"cannot resume: the run was started with a different {what}",
                             "Resume with the same options, or start a new run")
        self.G.load_state_dict(state["generator"])
        self.D.load_state_dict(state["discriminator"])
        if self.G_ema is not None and state.get("generator_smooth") is not None:
            self.G_ema.load_state_dict(state["generator_smooth"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ada is not None and state.get("ada") is not None:
            self.ada.load(state["ada"])
        self.step = self._saved_step = int(state["step"])

    # -- one step ----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Where G and D are; every tensor of a step is made there (z is drawn on the CPU, so a run gives
        the same z on any device, and moved)."""
        return next(self.G.parameters()).device

    def _fake(self, n: int, labels: torch.Tensor | None, rng: np.random.Generator, *,
              track: bool = True) -> torch.Tensor:
        G, cfg = self.G, self.cfg
        z = torch.randn(n, G.cfg.z_dim).to(self.device)
        w = G.mapping(z, labels)
        if track and cfg.w_avg_decay < 1:
            G.truncation.update_w_avg(w, cfg.w_avg_decay)
        if cfg.space == "w":  # D judges w itself
            return w
        wp = G.truncation(w)
        if cfg.style_mixing_prob > 0 and rng.uniform() < cfg.style_mixing_prob:
            cut = int(rng.integers(1, G.num_layers))
            wp2 = G.truncation(G.mapping(torch.randn(n, G.cfg.z_dim).to(self.device), labels))
            wp = torch.cat([wp[:, :cut], wp2[:, cut:]], dim=1)
        return G.synthesis(wp, cfg.noise_mode)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        """What D sees: ``x`` through the run's augmentation (differentiable in ``x``)."""
        if self.cfg.augment == "diffaug":
            return diffaug(x)
        if self.ada is not None:
            return ada_augment(x, self.ada.p)
        return x

    def holdout_metrics(self) -> dict:
        """D on held-out reals vs as many fresh fakes (no augmentation): AUROC and r_t of the held-out set.
        Near 0.5 / 0: D cannot tell them apart; held-out AUROC far below the training batch's: D memorises."""
        if self.holdout is None:
            return {}
        real, labels = self.holdout
        real = real.to(self.device)
        labels = labels.to(self.device) if labels is not None else None
        was_training = self.D.training
        self.D.eval()
        with torch.no_grad():
            state = torch.random.get_rng_state()
            torch.manual_seed(_step_seed(self.cfg.seed + 1, self.step))
            rs, fs = [], []
            for i in range(0, real.shape[0], self.cfg.batch_size):
                r = real[i:i + self.cfg.batch_size]
                lab = labels[i:i + self.cfg.batch_size] if labels is not None else None
                rs.append(to_host(self.D(r, lab).flatten()))
                fs.append(to_host(self.D(self._fake(r.shape[0], lab, np.random.default_rng(0), track=False),
                                         lab).flatten()))
            torch.random.set_rng_state(state)
        self.D.train(was_training)
        rs, fs = np.concatenate(rs), np.concatenate(fs)
        return {"holdout_auroc": round(auroc(rs, fs), 4), "holdout_r_t": round(float(np.sign(rs).mean()), 4)}

    def train_step(self) -> dict:
        cfg, G, D = self.cfg, self.G, self.D
        torch.manual_seed(_step_seed(cfg.seed, self.step))
        rng = np.random.default_rng([cfg.seed, self.step])
        real, labels = self.source(self.step, cfg.batch_size)
        real = real.to(self.device)
        labels = labels.to(self.device) if labels is not None else None
        n = real.shape[0]
        # D step
        _set_trainable(G, self.g_names, False)
        _set_trainable(D, self.d_names, True)
        with torch.no_grad():
            fake = self._fake(n, labels, rng)
        do_r1 = cfg.r1_gamma > 0 and self.step % cfg.r1_every == 0
        real_in = real.detach().requires_grad_(do_r1)
        real_score = D(self._augment(real_in), labels)
        fake_score = D(self._augment(fake), labels)
        d_loss = F.softplus(fake_score).mean() + F.softplus(-real_score).mean()
        if do_r1:
            grad, = torch.autograd.grad(real_score.sum(), real_in, create_graph=True)
            d_loss = d_loss + (cfg.r1_gamma * 0.5 * cfg.r1_every) * grad.square().flatten(1).sum(dim=1).mean()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        r_t = overfit_heuristic(real_score)
        ada_p = self.ada.update(real_score) if self.ada is not None else None
        # G steps
        _set_trainable(D, self.d_names, False)
        _set_trainable(G, self.g_names, True)
        repeats, reg = 0, None
        while True:
            g_loss = F.softplus(-D(self._augment(self._fake(n, labels, rng)), labels)).mean()
            total = g_loss
            if self.g_regulariser is not None:
                reg = self.g_regulariser(self.step)
                total = g_loss + reg
            self.opt_g.zero_grad(set_to_none=True)
            total.backward()
            self.opt_g.step()
            repeats += 1
            if repeats >= cfg.g_repeat_max or float(to_host(g_loss)) < cfg.g_repeat_ratio * float(to_host(d_loss)):
                break
        if self.G_ema is not None:
            with torch.no_grad():
                for pe, p in zip(self.G_ema.parameters(), G.parameters()):
                    pe.lerp_(p, 1 - cfg.ema_decay)
                for be, b in zip(self.G_ema.buffers(), G.buffers()):
                    be.copy_(b)
        self.step += 1
        rs, fs = to_host(real_score.flatten()), to_host(fake_score.flatten())
        return {"step": self.step, "kimg": round(self.step * n / 1000, 4), "d_loss": round(float(to_host(d_loss)), 5),
                "g_loss": round(float(to_host(g_loss)), 5), "g_repeats": repeats, "real_score": round(float(rs.mean()), 5),
                "fake_score": round(float(fs.mean()), 5), "d_auroc": round(auroc(rs, fs), 4), "r_t": round(r_t, 4),
                **({"ada_p": round(ada_p, 4)} if ada_p is not None else {}),
                **({"g_reg": round(float(to_host(reg)), 5)} if reg is not None else {})}

    # -- the loop ------------------------------------------------------------------------------
    def run(self, *, resume: bool = False, advance: Callable[[int], None] | None = None,
            time_limit: float | None = None) -> TrainResult:
        """Train to ``cfg.steps`` (or until ``time_limit`` seconds have passed: the step then ends the
        run and is checkpointed)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        stats_path = self.run_dir / "stats.jsonl"
        if resume and self.checkpoint_path.exists():
            self.load(read_file(self.checkpoint_path))
            _truncate_stats(stats_path, self.step)
        elif stats_path.exists():
            stats_path.unlink()
        write_text_atomic(self.run_dir / "training_options.json", json.dumps(asdict(self.cfg), indent=2) + "\n")
        self.G.train()
        self.D.train()
        if advance is not None and self.step:
            advance(self.step)
        t0, last, tick_t, tick_step = time.perf_counter(), {}, time.perf_counter(), self.step
        while self.step < self.cfg.steps:
            last = self.train_step()
            out_of_time = time_limit is not None and time.perf_counter() - t0 >= time_limit
            if advance is not None:
                advance(1)
            if self.step % self.cfg.log_every == 0 or self.step == self.cfg.steps or out_of_time:
                now = time.perf_counter()
                kimg = (self.step - tick_step) * self.cfg.batch_size / 1000
                last["sec_per_kimg"] = round((now - tick_t) / kimg, 2) if kimg else None
                tick_t, tick_step = now, self.step
                last.update(self.holdout_metrics())
                if self.monitor is not None and self.monitor_every and self.step % self.monitor_every == 0:
                    last.update(self.monitor(self.step, self.G_ema or self.G))
                _append_line(stats_path, json.dumps(last), resumable=self.checkpoint_path.exists())
                if self.log is not None:
                    self.log(last)
            if self.step % self.cfg.checkpoint_every == 0 or self.step == self.cfg.steps or out_of_time:
                self.save()
            if out_of_time:
                break
        self.G.eval()
        self.D.eval()
        return TrainResult(self.step, time.perf_counter() - t0, last, self.run_dir)


def _config_fields(data: dict) -> dict:
    names = {f.name for f in fields(TrainConfig)}
    out = {k: v for k, v in data.items() if k in names}
    for key in ("g_train", "d_train"):
        if key in out:
            out[key] = tuple(out[key])
    return out


def _append_line(path: Path, line: str, *, resumable: bool) -> None:
    """One stats line; a failed write (a full disk) is a one-line error saying what can be resumed."""
    try:
        with open(path, "a") as f:
            f.write(line + "\n")
    except OSError as err:
        raise OutputError(f"cannot write {path} ({err.strerror or err})"
                          + ("; the last checkpoint is intact" if resumable else "; no checkpoint was written yet"),
                          "Free disk space and rerun with --resume" if resumable
                          else "Free disk space and run it again") from None


def _truncate_stats(path: Path, step: int) -> None:
    """Drop stats lines logged after the checkpoint we resume from (they will be logged again)."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    write_text_atomic(path, "".join(line + "\n" for line in keep))


def trainable_counts(G: torch.nn.Module, D: torch.nn.Module, g_train, d_train) -> tuple[int, int]:
    g = set(select_parameters(G, g_train))
    d = set(select_parameters(D, d_train))
    return (sum(p.numel() for n, p in G.named_parameters() if n in g),
            sum(p.numel() for n, p in D.named_parameters() if n in d))


__all__ = ["GanTrainer", "TrainConfig", "TrainResult", "auroc", "preset_patterns", "select_parameters",
           "trainable_counts", "d_final_layers", "math"]
