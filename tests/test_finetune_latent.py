"""``finetune --preset latent``: the mapping network against a discriminator on the selection's stored w;
the synthesis network and the parent's image discriminator come out unchanged."""

from __future__ import annotations

import json

import pytest
import torch

from ohlora_cli.catalog.registry import ASSETS_DIR
from ohlora_cli.models.checkpoints import load_checkpoint
from ohlora_cli.models.latent import LatentDiscriminator, LatentDiscriminatorConfig

FT = ("finetune", "--selection", "all", "--preset", "latent", "--monitor-every", "0", "--log-every", "1",
      "--checkpoint-every", "1", "--batch-size", "4", "--quiet")


@pytest.fixture
def selection(built_catalog):
    built_catalog(["generate", "--n", "12", "--quiet"], ["score", "--scorers", "parser", "--quiet"],
                  ["filter", "--name", "all", "--rule", "eyes>=-100", "--quiet"])


def _rows(path):
    return [{k: v for k, v in json.loads(line).items() if k != "sec_per_kimg"} for line in path.read_text().splitlines()]


def test_latent_trains_the_mapping_only_and_resumes_bit_for_bit(cli, selection, tmp_path):
    r = cli(*FT, "--out", "lat", "--steps", "4")
    assert "trainable parameters: G 533,616  D 199,169" in r.stdout  # the tiny mapping; the w-space MLP
    run_dir = tmp_path / "runs" / "finetune" / "00000-lat"
    assert json.loads((run_dir / "training_options.json").read_text())["space"] == "w"
    parent = load_checkpoint(ASSETS_DIR / "tiny-g32.pt")
    child = load_checkpoint(run_dir / "generator.pt")
    changed = {k for k, v in parent.generator_state.items() if not torch.equal(v, child.generator_state[k])}
    assert changed and all(k.startswith("mapping.") or k == "truncation.w_avg" for k in changed)
    assert child.discriminator_state is None  # tiny has no image D; the latent D stays in checkpoint.pt
    # an interrupted run resumed equals the whole one
    cli(*FT, "--out", "cut", "--steps", "2")
    cli(*FT, "--out", "cut", "--steps", "4", "--resume")
    assert _rows(run_dir / "stats.jsonl") == _rows(tmp_path / "runs" / "finetune" / "00001-cut" / "stats.jsonl")


def test_latent_discriminator_scores_standardised_w_and_labels():
    D = LatentDiscriminator(LatentDiscriminatorConfig(w_dim=8, label_size=2, width=16))
    w = torch.randn(32, 8) * 5 + 3
    D.standardise_to(w)
    assert torch.allclose(D.mean, w.mean(0)) and D(w, torch.zeros(32, 2)).shape == (32, 1)
    with pytest.raises(ValueError, match="needs a label of shape"):
        D(w)
    with pytest.raises(ValueError, match=r"w must have shape \(N, 8\)"):
        D(torch.zeros(3, 9), torch.zeros(3, 2))
