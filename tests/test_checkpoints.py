"""The one loader: layouts, inferred architecture, safety, and one-line errors."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from conftest import dump
from ohlora_cli.errors import CheckpointError
from ohlora_cli.models.checkpoints import infer_generator_config, load_checkpoint, save_checkpoint
from ohlora_cli.models.stylegan import DiscriminatorConfig, GeneratorConfig, StyleGANDiscriminator, StyleGANGenerator

CFG = GeneratorConfig(32, label_size=7, fmaps_base=256, fmaps_max=32)


def _gen(cfg=CFG, seed=0):
    torch.manual_seed(seed)
    return StyleGANGenerator(cfg)


def test_ohlora_roundtrip_keeps_config_and_lineage(tmp_path):
    G = _gen()
    D = StyleGANDiscriminator(DiscriminatorConfig(32, label_size=7, fmaps_base=256, fmaps_max=32))
    save_checkpoint(tmp_path / "g.pt", G, D=D, lineage={"parent": "x"})
    ck = load_checkpoint(tmp_path / "g.pt")
    assert ck.kind == "ohlora" and ck.g_config == CFG and ck.lineage == {"parent": "x"}
    G2 = ck.build_generator()
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), G2.state_dict().values()))
    assert ck.build_discriminator() is not None
    assert not list(tmp_path.glob("*.tmp"))


def test_genforce_layout_prefers_generator_smooth(tmp_path):
    G, Gs = _gen(seed=1), _gen(seed=2)
    D = StyleGANDiscriminator(DiscriminatorConfig(32, label_size=7, fmaps_base=256, fmaps_max=32))
    torch.save({"generator": G.state_dict(), "generator_smooth": Gs.state_dict(),
                "discriminator": D.state_dict()}, tmp_path / "gf.pth")
    ck = load_checkpoint(tmp_path / "gf.pth")
    assert ck.kind == "genforce"
    assert torch.equal(ck.generator_state["mapping.dense0.weight"], Gs.state_dict()["mapping.dense0.weight"])
    assert ck.d_config.label_size == 7 and ck.d_config.label_mode == "concat"


def test_bare_seed_style_state_dict_infers_architecture(tmp_path):
    cfg = GeneratorConfig(64, label_size=7, fmaps_base=1024, fmaps_max=64)
    torch.save(_gen(cfg).state_dict(), tmp_path / "stylegan_gen_vector_find_v8.pth")
    ck = load_checkpoint(tmp_path / "stylegan_gen_vector_find_v8.pth")
    assert ck.kind == "bare" and ck.g_config == cfg


def test_original_256_shapes_infer_the_original_config():
    sd = {k: torch.empty(v.shape) for k, v in StyleGANGenerator(GeneratorConfig(256, label_size=7)).state_dict().items()}
    cfg = infer_generator_config(sd)
    assert (cfg.resolution, cfg.z_dim, cfg.label_size, cfg.label_dim, cfg.fmaps_base, cfg.fmaps_max) == \
        (256, 512, 7, 16, 16384, 512)


def test_malicious_pickle_is_refused_not_executed(tmp_path, cli, catalog_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"generator": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="contains Python objects other than tensors"):
        load_checkpoint(tmp_path / "evil.pth")
    result = cli("model", "register", tmp_path / "evil.pth", ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: checkpoint {tmp_path / 'evil.pth'} contains Python objects other than")
    assert "Traceback" not in result.stderr
    assert not marker.exists()
    with open(tmp_path / "evil.pkl", "wb") as f:  # a plain pickle too
        pickle.dump(Evil(), f)
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pkl")
    assert not marker.exists()


def test_corrupt_missing_and_wrong_files(tmp_path, cli, catalog_path):
    (tmp_path / "junk.pt").write_bytes(b"\x00not a checkpoint" * 10)
    r = cli("model", "register", tmp_path / "junk.pt", ok=False)
    assert r.exit_code == 1
    assert r.stderr == f"Error: checkpoint {tmp_path / 'junk.pt'} is not a readable PyTorch file (UnpicklingError). " \
                       "Check the file is complete and was written by torch.save\n"
    r = cli("model", "register", tmp_path / "nope.pt", ok=False)
    assert r.stderr == f"Error: checkpoint {tmp_path / 'nope.pt'} does not exist. Check the path of the file to register\n"
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    r = cli("model", "register", tmp_path / "other.pt", ok=False)
    assert r.stderr == f"Error: checkpoint {tmp_path / 'other.pt'} has no generator weights (keys: weights). " \
                       "Pass a GenForce, Oh-LoRA or ohlora generator file\n"
    assert dump(catalog_path) == []  # a bad file never creates or touches the catalog


def test_missing_and_mismatched_keys_are_named(tmp_path):
    sd = _gen().state_dict()
    del sd["synthesis.layer3.style.weight"]
    torch.save(sd, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="missing synthesis.layer3.style.weight"):
        load_checkpoint(tmp_path / "partial.pth").build_generator()
    sd = _gen().state_dict()
    sd["synthesis.layer3.bias"] = torch.zeros(5)
    torch.save(sd, tmp_path / "wrong.pth")
    with pytest.raises(CheckpointError, match=r"synthesis.layer3.bias has shape \(5,\), expected \(32,\)"):
        load_checkpoint(tmp_path / "wrong.pth").build_generator()


def test_register_cli_records_sha_and_architecture(tmp_path, cli, catalog_path):
    save_checkpoint(tmp_path / "mine.pt", _gen())
    r = cli("model", "register", tmp_path / "mine.pt", "--name", "mine")
    assert r.stdout.startswith("registered mine (ohlora, 32px z512+7 w512, 8 layers) sha256 ")
    import sqlite3
    row = sqlite3.connect(catalog_path).execute(
        "select name, kind, resolution, z_dim, label_size, num_layers, length(sha256) from generators").fetchone()
    assert row == ("mine", "ohlora", 32, 512, 7, 8, 64)
    cli("model", "register", tmp_path / "mine.pt", "--name", "mine")  # idempotent
    save_checkpoint(tmp_path / "other.pt", _gen(seed=5))
    r = cli("model", "register", tmp_path / "other.pt", "--name", "mine", ok=False)
    assert r.stderr == "Error: a generator named 'mine' is already registered with another file. Pass a different --name\n"
    assert "mine" in cli("model", "list").stdout


@pytest.mark.parametrize("label_size, group", [(3, 16), (0, 4)], ids=["conditional-original-v3", "unconditional-v1"])
def test_bare_discriminator_files_get_the_originals_mbstd_group(tmp_path, label_size, group):
    """The original V3's conditional D uses minibatch-std groups of 16, which its state dict does not record."""
    from ohlora_cli.models.checkpoints import load_discriminator
    from ohlora_cli.models.stylegan import DiscriminatorConfig, StyleGANDiscriminator

    torch.manual_seed(0)
    D = StyleGANDiscriminator(DiscriminatorConfig(16, label_size=label_size, mbstd_group_size=group, fmaps_base=64,
                                                  fmaps_max=16)).eval()
    torch.save(D.state_dict(), tmp_path / "d.pth")
    loaded = load_discriminator(tmp_path / "d.pth").eval()
    assert loaded.cfg.mbstd_group_size == group
    x = torch.randn(16, 3, 16, 16)
    y = torch.randn(16, label_size) if label_size else None
    assert torch.equal(loaded(x, y), D(x, y))


def test_an_ohlora_files_discriminator_keeps_its_recorded_config(tmp_path):
    from ohlora_cli.models.checkpoints import load_discriminator, save_checkpoint
    from ohlora_cli.models.stylegan import DiscriminatorConfig, GeneratorConfig, StyleGANDiscriminator, StyleGANGenerator

    G = StyleGANGenerator(GeneratorConfig(16, z_dim=16, w_dim=16, label_size=3, mapping_layers=2, mapping_fmaps=16,
                                          fmaps_base=64, fmaps_max=16))
    D = StyleGANDiscriminator(DiscriminatorConfig(16, label_size=3, mbstd_group_size=2, fmaps_base=64, fmaps_max=16))
    save_checkpoint(tmp_path / "g.pt", G, D=D)
    assert load_discriminator(tmp_path / "g.pt").cfg.mbstd_group_size == 2
