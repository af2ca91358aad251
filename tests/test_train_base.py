"""The base-generator recipe's pure parts: the (z, label) → attributes mapping and rare-attribute oversampling."""

from __future__ import annotations

import numpy as np

from ohlora_cli.synthetic import renderer
from ohlora_cli.synthetic.train_base import (LATENT_ATTRIBUTES, attribute_stats, attributes_from_latent,
                                             labels_from_attributes, oversample_rare, rare_tails)


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
