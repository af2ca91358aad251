"""The GAN loop: losses run, presets select the right layers, resume is bit-for-bit, checkpoints are atomic."""

from __future__ import annotations

import json

import pytest
import torch

from ohlora_cli.errors import OutputError, UsageError
from ohlora_cli.models.stylegan import DiscriminatorConfig, GeneratorConfig, StyleGANDiscriminator, StyleGANGenerator
from ohlora_cli.training.gan import GanTrainer, TrainConfig, auroc, preset_patterns, select_parameters, trainable_counts

G_CFG = GeneratorConfig(16, z_dim=16, w_dim=16, label_size=3, mapping_layers=2, mapping_fmaps=16, fmaps_base=64,
                        fmaps_max=16)
D_CFG = DiscriminatorConfig(16, label_size=3, fmaps_base=64, fmaps_max=16)


def source(step, n):
    g = torch.Generator().manual_seed(1000 + step)
    return torch.rand(n, 3, 16, 16, generator=g) * 2 - 1, torch.randn(n, 3, generator=g)


def make(tmp_path, steps, **kw):
    torch.manual_seed(0)
    G, D = StyleGANGenerator(G_CFG), StyleGANDiscriminator(D_CFG)
    cfg = TrainConfig(steps=steps, batch_size=4, checkpoint_every=2, log_every=1, ema_decay=0.9,
                      style_mixing_prob=0.5, **kw)
    return GanTrainer(G, D, source, cfg, tmp_path / "run")


def test_auroc():
    assert auroc([2, 3], [0, 1]) == 1.0 and auroc([0], [1]) == 0.0 and auroc([1, 1], [1, 1]) == 0.5


def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    full = make(tmp_path / "a", 6)
    full.run()
    straight = (tmp_path / "a" / "run" / "stats.jsonl").read_text()
    part = make(tmp_path / "b", 6)
    part.cfg = TrainConfig(**{**part.cfg.__dict__, "steps": 4})  # "killed" after step 4 (last checkpoint: 4)
    part.run()
    with open(tmp_path / "b" / "run" / "stats.jsonl", "a") as f:  # a line logged after the checkpoint, then kill -9
        f.write(json.dumps({"step": 5, "d_loss": 123}) + "\n")
    resumed = make(tmp_path / "b", 6)
    resumed.run(resume=True)
    strip = lambda text: [{k: v for k, v in json.loads(line).items() if k != "sec_per_kimg"}  # noqa: E731
                          for line in text.splitlines()]
    assert strip((tmp_path / "b" / "run" / "stats.jsonl").read_text()) == strip(straight)
    for a, b in zip(full.G.state_dict().values(), resumed.G.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(full.G_ema.state_dict().values(), resumed.G_ema.state_dict().values()):
        assert torch.equal(a, b)
    lines = strip(straight)
    assert [r["step"] for r in lines] == [1, 2, 3, 4, 5, 6]
    assert all(1 <= r["g_repeats"] <= 4 and 0 <= r["d_auroc"] <= 1 for r in lines)


def test_resume_refuses_other_options(tmp_path):
    make(tmp_path, 2).run()
    other = make(tmp_path, 4, lr=5e-4)
    with pytest.raises(UsageError, match="cannot resume: the run was started with a different lr"):
        other.run(resume=True)


def test_frozen_parameters_do_not_move(tmp_path):
    torch.manual_seed(0)
    G, D = StyleGANGenerator(G_CFG), StyleGANDiscriminator(D_CFG)
    g_pat, d_pat = preset_patterns("v8", D)
    assert d_pat == ("layer4.*", "layer5.*", "layer6.*")
    before = {k: v.clone() for k, v in G.state_dict().items()}
    GanTrainer(G, D, source, TrainConfig(steps=2, batch_size=4, g_train=g_pat, d_train=d_pat), tmp_path).run()
    after = G.state_dict()
    assert not torch.equal(before["mapping.dense0.weight"], after["mapping.dense0.weight"])
    assert not torch.equal(before["synthesis.layer1.weight"], after["synthesis.layer1.weight"])
    assert torch.equal(before["synthesis.layer2.weight"], after["synthesis.layer2.weight"])
    assert torch.equal(before["synthesis.output2.weight"], after["synthesis.output2.weight"])


def test_presets_and_counts():
    G = StyleGANGenerator(GeneratorConfig(256, label_size=7))
    D = StyleGANDiscriminator(DiscriminatorConfig(256, label_size=7, mbstd_group_size=16))
    assert trainable_counts(G, D, *preset_patterns("v8", D)) == (5_531_251, 6_559_752)
    assert trainable_counts(G, D, *preset_patterns("v1", D))[0] == 2_109_552
    assert select_parameters(G, ["synthesis.nothing*"]) == []
    with pytest.raises(UsageError, match="unknown preset 'v9'"):
        preset_patterns("v9", D)


def test_patterns_matching_nothing_are_refused(tmp_path):
    G, D = StyleGANGenerator(G_CFG), StyleGANDiscriminator(D_CFG)
    with pytest.raises(UsageError, match="the trainable patterns match no generator parameter"):
        GanTrainer(G, D, source, TrainConfig(steps=1, g_train=("nope.*",)), tmp_path)


def test_failed_checkpoint_write_keeps_previous(tmp_path, monkeypatch):
    trainer = make(tmp_path, 2)
    trainer.run()
    good = (tmp_path / "run" / "checkpoint.pt").read_bytes()

    def full_disk(obj, path):  # writes part of the file, as a full disk would
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    trainer.cfg = TrainConfig(**{**trainer.cfg.__dict__, "steps": 4})
    with pytest.raises(OutputError, match="No space left on device.*the previous checkpoint \\(step 2\\) is intact"):
        trainer.run(resume=True)
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == good
    assert not list((tmp_path / "run").glob("*.tmp"))  # the temporary file is gone
