"""The base-generator recipe's pure parts: the (z, label) → attributes mapping and rare-attribute oversampling."""

from __future__ import annotations

import numpy as np
import pytest

from ohlora_cli.synthetic import renderer
from ohlora_cli.synthetic.latent_code import (
    LATENT_ATTRIBUTES,
    attribute_stats,
    attributes_from_latent,
    labels_from_attributes,
)
from ohlora_cli.training.anchor import oversample_rare, rare_tails


def test_natural_rates_and_oversampling():
    stats = attribute_stats()
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6000, 512)).astype(np.float32)
    label = rng.standard_normal((6000, 7)).astype(np.float32)
    natural = renderer.hand_labels(attributes_from_latent(z, label, stats)[0]).mean(0)
    # z ~ N(0, I) gives the renderer's own imbalance: ~10% male, ~4% low quality, ~6% old, ~5% glasses
    assert abs(natural[0] - 0.9) < 0.02 and abs(natural[1] - 0.96) < 0.015
    assert abs(natural[2] - 0.06) < 0.015 and abs(natural[3] - 0.05) < 0.015
    tails = rare_tails(stats)
    assert tails["quality"][1] is False and all(tails[a][1] for a in ("gender", "age", "glasses"))
    z2 = oversample_rare(z.copy(), np.random.default_rng(1), tails, 0.3)
    boosted = renderer.hand_labels(attributes_from_latent(z2, label, stats)[0]).mean(0)
    # each rare class now ~ natural + 30% of the rest
    for k, rare_is_one in enumerate((False, False, True, True)):
        rare = boosted[k] if rare_is_one else 1 - boosted[k]
        nat = natural[k] if rare_is_one else 1 - natural[k]
        assert abs(rare - (nat + 0.3 * (1 - nat))) < 0.03, (k, rare, nat)
    untouched = [j for j in range(512) if j not in [LATENT_ATTRIBUTES.index(a) for a in tails]]
    assert np.array_equal(z2[:, untouched], z[:, untouched])


def test_labels_are_normalised_attributes():
    stats = attribute_stats()
    seeds = np.arange(2000)
    labels = labels_from_attributes(renderer.sample_attributes(seeds), stats)
    assert labels.shape == (2000, 7)
    assert np.abs(labels.mean(0)).max() < 0.1 and np.abs(labels.std(0) - 1).max() < 0.1


@pytest.mark.slow
def test_latent_probe_is_trained_and_resumed(tmp_path):
    """The warm-up's linear probe (w → z[:, :5] and the labels) is trained with G, logged and saved in the
    resumable state; without it the row has no probe figure.  (Its effect — z[:, :5] decodable from w,
    held-out R² .6–.8 instead of ≤ 0 — shows after ~1,000 steps; ``synthetic info`` reports it.)"""
    import torch

    from ohlora_cli.models.stylegan import GeneratorConfig, StyleGANGenerator
    from ohlora_cli.synthetic.train_base import supervised_warmup

    stats = attribute_stats()
    cfg = GeneratorConfig(32, label_size=7, fmaps_base=128, fmaps_max=16, mapping_layers=2)
    torch.manual_seed(0)
    G = StyleGANGenerator(cfg)
    rows = supervised_warmup(G, stats, steps=60, batch_size=8, seed=0, mapping_boost=100, latent_probe=1.0,
                             log=lambda row: None, log_every=10, state_path=tmp_path / "s.pt", save_every=30)
    mse = [r["probe_mse"] for r in rows]
    assert len(mse) == 6 and np.mean(mse[-2:]) < 0.8 * mse[0], mse
    state = torch.load(tmp_path / "s.pt", weights_only=True)
    assert state["step"] == 60 and set(state["probe"]) == {"weight", "bias"}
    # resuming a finished state trains nothing more and keeps the history
    again = supervised_warmup(StyleGANGenerator(cfg), stats, steps=60, batch_size=8, seed=0, mapping_boost=100,
                              latent_probe=1.0, log=lambda row: None, state_path=tmp_path / "s.pt")
    assert again == rows
    plain = supervised_warmup(StyleGANGenerator(cfg), stats, steps=10, batch_size=8, seed=0, log=lambda row: None,
                              log_every=10)
    assert "probe_mse" not in plain[0]


def test_decodability_is_held_out_r2():
    from ohlora_cli.synthetic.acceptance import decodability

    rng = np.random.default_rng(0)
    w = rng.standard_normal((3000, 64))
    x = np.c_[w[:, :3] @ np.array([1.0, -2.0, 0.5]), rng.standard_normal(3000)]
    r2 = decodability(w, x, 2000)
    assert r2[0] > 0.999 and abs(r2[1]) < 0.05


def test_generated_faces_for_the_filter_cnns_carry_their_intended_labels():
    """``train_synthetic --generator``: generated faces (resized to the CNNs' 64 px) with the hand labels
    their z asks for under the base recipe's fixed map; the same seeds give the same faces and labels."""
    from ohlora_cli.catalog.registry import embedded_generators
    from ohlora_cli.models.inference import latents_for_seeds
    from ohlora_cli.synthetic.train_cnns import generated_set

    tiny = embedded_generators()["tiny"].path  # 32 px, label 7
    images, labels = generated_set(tiny, 100, 12)
    assert images.shape == (12, 64, 64, 3) and images.dtype == np.uint8 and labels.shape == (12, 4)
    z, label = latents_for_seeds(np.arange(100, 112), 512, 7)
    expected = renderer.hand_labels(attributes_from_latent(z, label, attribute_stats())[0])
    assert np.array_equal(labels, expected)
    again, _ = generated_set(tiny, 106, 6)
    assert np.array_equal(again, images[6:])


def test_texture_seeds_of_the_warmup():
    stats = attribute_stats()
    z = np.random.default_rng(2).standard_normal((4000, 512)).astype(np.float32)
    label = np.zeros((4000, 7), np.float32)
    attrs, any_seed = attributes_from_latent(z, label, stats)
    assert len(np.unique(any_seed)) > 3990  # a chaotic function of z[:, 5]
    a1, one = attributes_from_latent(z, label, stats, texture_seeds=1)
    assert np.array_equal(a1, attrs) and set(one.tolist()) == {0}
    _, four = attributes_from_latent(z, label, stats, texture_seeds=4)
    counts = np.bincount(four, minlength=4)
    assert len(counts) == 4 and counts.min() > 900  # quantiles of z[:, 5]: ~1000 each
    assert np.array_equal(four, np.minimum((renderer_phi(z[:, 5]) * 4).astype(int), 3))


def renderer_phi(x: np.ndarray) -> np.ndarray:
    from math import erf, sqrt

    return np.array([0.5 * (1 + erf(float(v) / sqrt(2))) for v in x])


def test_hair_texture_stats_are_the_seeds_hairstyle_score():
    """The warm-up's hair-texture term measures exactly what the seed's hairstyle score measures (on the
    renderer's true maps), and it does not care where the strands lie: a shifted texture keeps it."""
    import torch

    from ohlora_cli.properties.algorithms import (
        PROPERTY_NAMES,
        compute_properties_batch,
    )
    from ohlora_cli.training.anchor import hair_texture_stats, to_tensor

    seeds = np.arange(40)
    images, maps = renderer.render(renderer.sample_attributes(seeds), seeds, 64)
    stats = hair_texture_stats(to_tensor(images), torch.from_numpy(maps)).numpy()
    score = compute_properties_batch(maps, images)[:, PROPERTY_NAMES.index("hairstyle")]
    assert stats.shape == (40, 3) and np.abs(stats[:, 2] - score).max() < 1e-5
    # flat hair (every hair pixel the hair's mean colour) scores 0; stripes are straight, a checkerboard curly
    flat = images.copy()
    hair = maps == 10
    for i in range(len(flat)):
        flat[i][hair[i]] = flat[i][hair[i]].mean(0).astype(np.uint8)
    assert np.abs(hair_texture_stats(to_tensor(flat), torch.from_numpy(maps)).numpy()).max() < 1e-6
    y, x = np.mgrid[:64, :64]
    full = torch.full((1, 64, 64), 10)
    stripes = torch.from_numpy(np.where((x // 2) % 2 == 0, 0.5, -0.5)[None, None].repeat(3, 1)).float()
    checks = torch.from_numpy(np.where(((x // 2) + (y // 2)) % 2 == 0, 0.5, -0.5)[None, None].repeat(3, 1)).float()
    assert hair_texture_stats(stripes, full)[0, 2] == 0.0 and hair_texture_stats(checks, full)[0, 2] > 0.8
    shifted = torch.roll(checks, 2, dims=3)
    assert torch.allclose(hair_texture_stats(shifted, full), hair_texture_stats(checks, full))


def test_warmup_anchor_regularises_every_g_update_and_resumes(tmp_path):
    """The adversarial phase's anchor (the warm-up loss, hair texture included) is added to G's loss, logged
    as ``g_reg``, and drawn from the step alone: a resumed run equals an uninterrupted one."""
    import json

    import torch

    from ohlora_cli.models.stylegan import (
        DiscriminatorConfig,
        GeneratorConfig,
        StyleGANDiscriminator,
        StyleGANGenerator,
    )
    from ohlora_cli.synthetic.train_base import RenderedFaces
    from ohlora_cli.training.anchor import WarmupAnchor
    from ohlora_cli.training.gan import GanTrainer, TrainConfig

    stats = attribute_stats()
    g_cfg = GeneratorConfig(32, label_size=7, fmaps_base=128, fmaps_max=16, mapping_layers=2)
    d_cfg = DiscriminatorConfig(32, label_size=7, fmaps_base=128, fmaps_max=16)

    def trainer(run, steps):
        torch.manual_seed(0)
        G, D = StyleGANGenerator(g_cfg), StyleGANDiscriminator(d_cfg)
        cfg = TrainConfig(steps=steps, batch_size=4, checkpoint_every=2, log_every=1)
        reg = WarmupAnchor(G, stats, seed=0, batch_size=4, weight=2.0, hair_texture=1.0)
        return GanTrainer(G, D, RenderedFaces(stats, 0, 32), cfg, tmp_path / run, g_regulariser=reg)

    full = trainer("a", 4)
    full.run()
    rows = [json.loads(line) for line in (tmp_path / "a" / "stats.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["g_reg"] > 0 for r in rows)
    trainer("b", 2).run()
    resumed = trainer("b", 4)
    resumed.run(resume=True)
    for a, b in zip(full.G.state_dict().values(), resumed.G.state_dict().values()):
        assert torch.equal(a, b)
