"""``finetune --anchor`` (the synthetic base recipe's warm-up loss as a G regulariser), ``--freeze-noise`` and
``--noise``: on a small generator of the synthetic world, refused for any other."""

from __future__ import annotations

import json

import pytest
import torch

from ohlora_cli.models.checkpoints import load_checkpoint, save_checkpoint
from ohlora_cli.models.stylegan import (
    DiscriminatorConfig,
    GeneratorConfig,
    StyleGANDiscriminator,
    StyleGANGenerator,
)
from ohlora_cli.synthetic.latent_code import LABEL_ATTRIBUTES, attribute_stats
from tests.conftest import assert_one_line_error

G_CFG = GeneratorConfig(32, label_size=7, fmaps_base=128, fmaps_max=16, mapping_layers=2)
D_CFG = DiscriminatorConfig(32, label_size=7, fmaps_base=128, fmaps_max=16)
FT = ("finetune", "--selection", "all", "--monitor-every", "0", "--log-every", "1", "--checkpoint-every", "1",
      "--quiet")


@pytest.fixture(scope="module")
def synth_file(tmp_path_factory):
    """A 32 px conditional G + D with the synthetic world's latent layout and attribute statistics."""
    path = tmp_path_factory.mktemp("synth") / "synth32.pt"
    torch.manual_seed(0)
    save_checkpoint(path, StyleGANGenerator(G_CFG), D=StyleGANDiscriminator(D_CFG),
                    meta={"attribute_stats": attribute_stats().to_dict(), "label_attributes": list(LABEL_ATTRIBUTES)})
    return path


@pytest.fixture
def synth_selection(cli, synth_file):
    model = str(synth_file)
    cli("generate", "--model", model, "--n", "8", "--quiet")
    cli("score", "--model", "synth32", "--scorers", "parser", "--quiet")
    cli("filter", "--model", "synth32", "--name", "all", "--rule", "eyes>=-100", "--quiet")
    return "synth32"


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def test_anchor_regularises_g_and_freeze_noise_keeps_the_noise_strengths(cli, synth_selection, synth_file, tmp_path):
    cli(*FT, "--model", synth_selection, "--out", "anch", "--steps", "2", "--anchor", "1", "--freeze-noise",
        "--preset", "all", "--noise", "const")
    run_dir = tmp_path / "runs" / "finetune" / "00000-anch"
    rows = _rows(run_dir)
    assert [r["step"] for r in rows] == [1, 2] and all(r["g_reg"] > 0 for r in rows)
    options = json.loads((run_dir / "training_options.json").read_text())
    assert options["regulariser"] == "warmup-anchor 1" and options["noise_mode"] == "const"
    assert not any(".apply_noise." in n for n in options["g_train"])
    parent = load_checkpoint(synth_file).generator_state
    child = load_checkpoint(run_dir / "generator.pt")
    noise = [k for k in parent if k.endswith("apply_noise.weight")]
    assert noise and all(torch.equal(parent[k], child.generator_state[k]) for k in noise)
    assert not torch.equal(parent["mapping.dense0.weight"], child.generator_state["mapping.dense0.weight"])
    # the fine-tune stays a synthetic-world generator: it can be anchored again
    assert child.extra["meta"]["label_attributes"] == list(LABEL_ATTRIBUTES)
    assert "attribute_stats" in child.extra["meta"]
    # a resume with another anchor weight is refused
    r = cli(*FT, "--model", synth_selection, "--out", "anch", "--steps", "3", "--anchor", "2", "--freeze-noise",
            "--preset", "all", "--noise", "const", "--resume", ok=False)
    assert_one_line_error(r, "Error: cannot resume: the run was started with a different regulariser. "
                             "Resume with the same options, or start a new run")


def test_without_anchor_nothing_is_added(cli, synth_selection, tmp_path):
    cli(*FT, "--model", synth_selection, "--out", "plain", "--steps", "1")
    rows = _rows(tmp_path / "runs" / "finetune" / "00000-plain")
    assert "g_reg" not in rows[0]


def test_anchor_needs_a_synthetic_world_generator(cli, built_catalog, catalog_path):
    built_catalog(["generate", "--n", "12", "--quiet"], ["score", "--scorers", "parser", "--quiet"],
                  ["filter", "--name", "all", "--rule", "eyes>=-100", "--quiet"])
    r = cli(*FT, "--out", "x", "--steps", "1", "--new-d", "--anchor", "1", ok=False)
    assert_one_line_error(r, "Error: --anchor needs a generator of the synthetic world (the renderer's attribute "
                             "statistics in its file); tiny has none. Fine-tune synthetic-base (or a fine-tune of "
                             "it) with --anchor, or drop --anchor")


def test_anchor_tensors_follow_g_to_its_device():
    """The anchor's batch is drawn on the CPU and moved to G's device: on the meta device (where a CPU
    tensor fed to a network raises as on CUDA) the loss is computed there."""
    from ohlora_cli.training.anchor import WarmupAnchor

    G = StyleGANGenerator(G_CFG).to("meta")
    loss = WarmupAnchor(G, attribute_stats(), seed=0, batch_size=2, weight=1.0, hair_texture=1.0)(0)
    assert loss.device.type == "meta" and loss.shape == ()
