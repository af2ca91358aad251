"""``ohlora finetune``: presets, numbered run folders, lineage, bit-for-bit resume, bad input."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import torch

from ohlora_cli.models.stylegan import DiscriminatorConfig, GeneratorConfig, StyleGANDiscriminator, StyleGANGenerator
from ohlora_cli.stages.finetune import (SelectionImages, conditional_from_unconditional, next_run_dir, no_grad_parameters,
                                        parse_duration, steps_for, FinetuneConfig)
from tests.conftest import dump

FT = ("finetune", "--selection", "all", "--new-d", "--monitor-every", "0", "--quiet")


@pytest.fixture
def selection(built_catalog):
    built_catalog(["generate", "--n", "12", "--quiet"], ["score", "--scorers", "parser", "--quiet"],
                  ["filter", "--name", "all", "--rule", "eyes>=-100", "--quiet"])


def _stats(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_finetune_registers_lineage_and_numbers_runs(cli, selection, tmp_path, catalog_path):
    r = cli(*FT, "--out", "ft1", "--steps", "2", "--checkpoint-every", "1", "--log-every", "1")
    assert "trainable parameters: G 609,235  D 25,992" in r.stdout
    assert "synthesis.output0.weight is trainable but receives no gradient" in r.stderr
    run_dir = tmp_path / "runs" / "finetune" / "00000-ft1"
    assert {p.name for p in run_dir.iterdir()} >= {"checkpoint.pt", "generator.pt", "stats.jsonl",
                                                   "finetune_config.json", "training_options.json"}
    rows = _stats(run_dir / "stats.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    assert {"d_loss", "g_loss", "g_repeats", "real_score", "fake_score", "d_auroc", "sec_per_kimg", "kimg"} <= set(rows[0])
    cli(*FT, "--out", "ft2", "--steps", "1")
    assert (tmp_path / "runs" / "finetune" / "00001-ft2").is_dir()
    with sqlite3.connect(catalog_path) as conn:
        parent, lineage = conn.execute("select p.name, g.lineage_json from generators g join generators p "
                                       "on p.id = g.parent_id where g.name = 'ft1'").fetchone()
        stages = [s for (s,) in conn.execute("select stage from runs where status = 'done'")]
    assert parent == "tiny" and stages.count("finetune") == 2
    lineage = json.loads(lineage)
    assert lineage["selection"] == "all" and lineage["preset"] == "v8" and lineage["run_dir"] == str(run_dir)
    # the new generator works downstream
    cli("generate", "--model", "ft1", "--n", "2", "--quiet")


def test_resume_continues_bit_for_bit(cli, selection, tmp_path):
    common = ("--steps", "4", "--checkpoint-every", "1", "--log-every", "1", "--preset", "all")
    cli(*FT, "--out", "whole", *common)
    # an interrupted run: it stopped after step 2 (its last checkpoint), then --resume finishes it
    cli(*FT, "--out", "split", "--steps", "2", "--checkpoint-every", "1", "--log-every", "1", "--preset", "all")
    cli(*FT, "--out", "split", *common, "--resume")
    whole = _stats(tmp_path / "runs" / "finetune" / "00000-whole" / "stats.jsonl")
    split = _stats(tmp_path / "runs" / "finetune" / "00001-split" / "stats.jsonl")
    drop = ("sec_per_kimg",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in whole] == \
           [{k: v for k, v in r.items() if k not in drop} for r in split]
    # a resume with other settings is refused
    r = cli(*FT, "--out", "split", *common[:-2], "--preset", "v8", "--resume", ok=False)
    assert r.exit_code == 1
    assert "Error: cannot resume: the run was started with a different" in r.stderr


@pytest.mark.parametrize("args, message", [
    (("--selection", "nope", "--steps", "1"), "Error: no selection named 'nope'. Known: all"),
    (("--selection", "all"), "Error: the run has no length. Pass e.g. --steps 500 or --time 20m"),
    (("--selection", "all", "--steps", "1", "--kimg", "1"),
     "Error: give exactly one of --steps, --kimg, --epochs, --time. Pass e.g. --steps 500 or --time 20m"),
    (("--selection", "all", "--time", "soon"), "Error: --time 'soon' is not a duration. Write e.g. --time 20m"),
    (("--selection", "all", "--steps", "1", "--preset", "v9"), "Error: unknown preset 'v9'. Use --preset v1, v8, all or latent"),
    (("--selection", "all", "--steps", "1", "--new-d", "--train", "nothing*"),
     "Error: preset v8 with --train/--freeze matches no generator parameter."),
    (("--selection", "all", "--steps", "1", "--new-d", "--resume"), "Error: no earlier run of 'x'"),
])
def test_bad_input(cli, selection, catalog_path, args, message):
    before = dump(catalog_path)
    r = cli("finetune", "--out", "x", "--monitor-every", "0", *args, ok=False)
    assert r.exit_code == 1 and r.stderr.startswith(message), r.stderr
    assert "Traceback" not in r.stderr
    assert dump(catalog_path) == before


def test_missing_discriminator_and_empty_or_foreign_selection(cli, selection):
    r = cli("finetune", "--selection", "all", "--out", "x", "--steps", "1", ok=False)
    assert r.stderr.strip() == ("Error: tiny's checkpoint has no discriminator. Pass --d-model FILE, or --new-d to "
                                "start a freshly initialised one")
    cli("filter", "--name", "none", "--rule", "eyes>=100", "--quiet")
    r = cli(*FT, "--selection", "none", "--out", "x", "--steps", "1", ok=False)
    assert "Error: selection 'none' is empty" in r.stderr
    cli(*FT, "--out", "child", "--steps", "1")
    r = cli(*FT, "--model", "child", "--out", "x", "--steps", "1", ok=False)
    assert "Error: selection 'all' holds images of tiny, not of child" in r.stderr
    r = cli(*FT, "--out", "child", "--steps", "2", ok=False)
    assert r.stderr.splitlines()[-1] == ("Error: a generator named 'child' already exists, fine-tuned with other "
                                         "options (steps 1 stored, 2 now). Pass another --out")


def test_pure_helpers(tmp_path):
    assert parse_duration("90s") == 90 and parse_duration("20m") == 1200 and parse_duration("1.5h") == 5400
    cfg = FinetuneConfig(model=None, selection="s", out="o", epochs=2, batch_size=8)
    assert steps_for(cfg, 100) == 25
    assert steps_for(FinetuneConfig(model=None, selection="s", out="o", kimg=1, preset="v1"), 0) == 63
    (tmp_path / "00003-a").mkdir()
    assert next_run_dir(tmp_path, "b").name == "00004-b"
    # batches depend on (seed, step) only: every epoch is a permutation of the images
    src = SelectionImages(np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1).repeat(3, 3), None, seed=1)
    seen = torch.cat([src(step, 5)[0][:, 0, 0, 0] for step in range(2)])
    assert sorted(((seen + 1) * 127.5).round().int().tolist()) == list(range(10))
    assert torch.equal(src(3, 5)[0], SelectionImages(src.images, None, seed=1)(3, 5)[0])


def test_conditional_from_unconditional_keeps_every_other_weight():
    g_cfg = GeneratorConfig(32, label_size=0, fmaps_base=256, fmaps_max=32, mapping_layers=2)
    G0 = StyleGANGenerator(g_cfg)
    D0 = StyleGANDiscriminator(DiscriminatorConfig(32, label_size=0, fmaps_base=256, fmaps_max=32))
    G, D = conditional_from_unconditional(G0, D0, 7, seed=0)
    assert G.mapping.label_weight.shape == (7, G.cfg.label_dim)
    assert G.mapping.dense0.weight.shape[1] == 512 + G.cfg.label_dim
    for k, v in G0.state_dict().items():
        if k != "mapping.dense0.weight":
            assert torch.equal(G.state_dict()[k], v), k
    last = f"layer{D.num_blocks * 2}."
    assert D.state_dict()[last + "weight"].shape[1] == D0.state_dict()[last + "weight"].shape[1] + 7
    for k, v in D0.state_dict().items():
        if not k.startswith(last):
            assert torch.equal(D.state_dict()[k], v), k
    missing = no_grad_parameters(G, {n for n, _ in G.named_parameters()})
    assert "synthesis.output0.weight" in missing and all(n.startswith("synthesis.output") for n in missing)


def test_discriminator_from_its_own_file(cli, selection, tmp_path):
    from ohlora_cli.models.checkpoints import load_checkpoint
    from ohlora_cli.catalog.registry import embedded_generators

    G = load_checkpoint(embedded_generators()["tiny"].path).build_generator()
    torch.manual_seed(0)
    D = StyleGANDiscriminator(DiscriminatorConfig(32, label_size=7, fmaps_base=G.cfg.fmaps_base,
                                                  fmaps_max=G.cfg.fmaps_max))
    torch.save(D.state_dict(), tmp_path / "dis.pth")  # the original keeps D in a bare state-dict file
    r = cli("finetune", "--selection", "all", "--out", "withd", "--steps", "1", "--monitor-every", "0",
            "--d-model", tmp_path / "dis.pth")
    assert "fine-tuned withd for 1 steps" in r.stdout
    torch.save(G.state_dict(), tmp_path / "gen.pth")
    r = cli("finetune", "--selection", "all", "--out", "x", "--steps", "1", "--d-model", tmp_path / "gen.pth", ok=False)
    assert r.exit_code == 1 and "holds no discriminator weights" in r.stderr and "Traceback" not in r.stderr
