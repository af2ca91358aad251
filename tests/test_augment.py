"""D's augmentations (diffaug, ada) and ADA's controller: what each op does, differentiability, determinism,
and a trainer that logs r_t / held-out AUROC and resumes an ada run bit-for-bit."""

from __future__ import annotations

import json

import pytest
import torch

from ohlora_cli.errors import UsageError
from ohlora_cli.models.stylegan import StyleGANDiscriminator, StyleGANGenerator
from ohlora_cli.training import augment as A
from ohlora_cli.training.gan import GanTrainer, TrainConfig
from test_training import D_CFG, G_CFG, source


def test_translation_moves_whole_pixels_and_fills_zeros():
    x = torch.arange(1, 17.).view(1, 1, 4, 4)
    torch.manual_seed(3)
    y = A.translation(x, ratio=0.5)
    nz = y[y != 0]
    assert set(nz.tolist()) <= set(x.flatten().tolist())  # values are moved, never blended
    assert (y == 0).any() or torch.equal(x, y)


def test_cutout_zeros_a_square_of_half_the_side():
    torch.manual_seed(0)
    y = A.cutout(torch.ones(64, 1, 8, 8))
    holes = (y == 0).sum(dim=(1, 2, 3))
    assert holes.max() == 16 and holes.min() >= 4  # 4×4 inside, cut by the edge at most to a 2×2 corner
    assert torch.equal(A.cutout(torch.ones(4, 1, 8, 8), p=0.0), torch.ones(4, 1, 8, 8))


@pytest.mark.parametrize("op", [A.brightness, A.saturation, A.contrast, A.xflip, A.translation, A.cutout])
def test_p_zero_is_the_identity(op):
    x = torch.rand(5, 3, 8, 8) * 2 - 1
    assert torch.equal(op(x, p=0.0), x)


@pytest.mark.parametrize("aug", [A.diffaug, lambda x: A.ada_augment(x, 0.7)], ids=["diffaug", "ada"])
def test_augment_is_differentiable_and_seeded(aug):
    x = (torch.rand(6, 3, 16, 16) * 2 - 1).requires_grad_(True)
    torch.manual_seed(5)
    y = aug(x)
    y.square().sum().backward()
    assert y.shape == x.shape and x.grad is not None and x.grad.abs().sum() > 0
    torch.manual_seed(5)
    assert torch.equal(aug(x.detach()), y.detach())


def test_ada_controller_steers_p_toward_the_target():
    ada = A.AdaController(target=0.6, interval=2, speed_kimg=0.01)  # 10 images move p by 1
    for _ in range(4):
        ada.update(torch.ones(5))  # r_t = 1 > 0.6: D is sure of every real → more augmentation
    assert ada.p == pytest.approx(1.0)
    for _ in range(2):
        ada.update(-torch.ones(5))  # r_t = −1: less
    assert ada.p == pytest.approx(0.0)
    clone = A.AdaController(target=0.6, interval=2, speed_kimg=0.01)
    ada.update(torch.ones(5))
    clone.load(ada.state())
    assert clone.state() == ada.state()
    assert A.overfit_heuristic(torch.tensor([1.0, -2.0, 3.0, 4.0])) == 0.5


def test_unknown_augment_is_refused():
    with pytest.raises(UsageError, match="unknown augmentation 'flip'"):
        TrainConfig(steps=1, augment="flip")


def _trainer(tmp_path, steps, augment="ada", target=-2.0):
    torch.manual_seed(0)
    G, D = StyleGANGenerator(G_CFG), StyleGANDiscriminator(D_CFG)
    held = source(999, 6)
    cfg = TrainConfig(steps=steps, batch_size=4, checkpoint_every=2, log_every=1, augment=augment,
                      ada_speed_kimg=0.02, ada_target=target)  # r_t > −2 always: p rises
    return GanTrainer(G, D, source, cfg, tmp_path / "run", holdout=held)


def test_ada_run_logs_diagnostics_and_resumes_bit_for_bit(tmp_path):
    full = _trainer(tmp_path / "a", 8)
    full.run()
    rows = [json.loads(line) for line in (tmp_path / "a" / "run" / "stats.jsonl").read_text().splitlines()]
    assert all({"r_t", "ada_p", "holdout_auroc", "holdout_r_t"} <= r.keys() for r in rows)
    assert all(-1 <= r["r_t"] <= 1 and 0 <= r["ada_p"] <= 1 and 0 <= r["holdout_auroc"] <= 1 for r in rows)
    assert any(r["ada_p"] != rows[0]["ada_p"] for r in rows)  # the controller moved
    part = _trainer(tmp_path / "b", 8)
    part.cfg = TrainConfig(**{**part.cfg.__dict__, "steps": 4})
    part.run()
    resumed = _trainer(tmp_path / "b", 8)
    resumed.run(resume=True)
    assert resumed.ada.state() == full.ada.state()
    for a, b in zip(full.G.state_dict().values(), resumed.G.state_dict().values()):
        assert torch.equal(a, b)


def test_no_augment_is_the_original_loop(tmp_path):
    """--augment none reproduces the loop as it was: the same weights as a run without the option."""
    a = _trainer(tmp_path / "a", 2, augment="none")
    a.holdout = None
    a.run()
    torch.manual_seed(0)
    G, D = StyleGANGenerator(G_CFG), StyleGANDiscriminator(D_CFG)
    b = GanTrainer(G, D, source, TrainConfig(steps=2, batch_size=4, checkpoint_every=2, log_every=1), tmp_path / "b")
    b.run()
    for x, y in zip(a.G.state_dict().values(), b.G.state_dict().values()):
        assert torch.equal(x, y)
