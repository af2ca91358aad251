"""Device placement without a GPU: every stage runs with its networks on PyTorch's meta device, where a
tensor made on the CPU and fed to a network raises exactly as it would on CUDA; and ``--device`` parsing."""

from __future__ import annotations

import pytest
import torch

from ohlora_cli.errors import UsageError
from ohlora_cli.models.devices import pick_device, to_host

SCORED = (["generate", "--n", "60", "--quiet"], ["score", "--quiet"],
          ["vectorfind", "--groups", "2", "--group-by", "hair_color", "--quiet"],
          ["filter", "--name", "all", "--rule", "eyes>=-100", "--quiet"])


@pytest.fixture
def placement_check(monkeypatch, built_catalog):
    monkeypatch.setenv("OHLORA_PLACEMENT_CHECK", "1")
    built_catalog(*SCORED)


@pytest.mark.parametrize("args", [
    ["generate", "--n", "66", "--score", "--save-images", "imgs"],
    ["generate", "--n", "64", "--score", "--scorers", "property-cnn"],
    ["score", "--scorers", "property-cnn"],
    ["synth", "--seed", "3", "--eyes", "1", "--out", "s.png"],
    ["synth", "--seed", "3", "--sweep", "mouth=-1:1:3", "--out", "sweep.png"],
    ["synth", "--image", "1", "--animate", "a.gif", "--out", "a.png"],
    ["eval", "--cases", "2", "--out", "ev"],
    ["filter", "--name", "x", "--rule", "eyes>=-100", "--export", "ex"],
    pytest.param(["finetune", "--selection", "all", "--out", "ft", "--steps", "2", "--new-d", "--monitor-every", "2",
                  "--log-every", "1", "--checkpoint-every", "2"], marks=pytest.mark.slow),
    ["finetune", "--selection", "all", "--out", "ft1", "--steps", "1", "--new-d", "--preset", "v1", "--ema", "0.9",
     "--monitor-every", "0"],
    ["finetune", "--selection", "all", "--out", "ft2", "--steps", "1", "--preset", "latent", "--batch-size", "4",
     "--monitor-every", "0"],
    ["label", "export", "--n", "8", "--out", "lab"],
], ids=lambda a: " ".join(a[:2]))
def test_every_stage_keeps_its_tensors_on_the_models_device(cli, placement_check, args):
    cli(*args, "--device", "meta", "--quiet")


def test_a_cpu_tensor_fed_to_a_model_elsewhere_is_caught(cli, placement_check, monkeypatch):
    """The check can fail: a trainer that draws z on the CPU while G is on the meta device stops."""
    from ohlora_cli.training.gan import GanTrainer

    monkeypatch.setattr(GanTrainer, "device", property(lambda self: torch.device("cpu")))
    r = cli("finetune", "--selection", "all", "--out", "ft", "--steps", "1", "--new-d", "--monitor-every", "0",
            "--device", "meta", "--quiet", ok=False)
    assert r.exit_code == 1 and "meta" in r.stderr.splitlines()[-1] and "Traceback" not in r.stderr


@pytest.mark.parametrize("name, env, message", [
    ("gpu", None, "--device gpu is not a device. Use one of: auto | cpu | cuda | cuda:N"),
    ("cuda:x", None, "--device cuda:x is not a device. Use one of: auto | cpu | cuda | cuda:N"),
    ("meta", None, "--device meta is not a device. Use one of: auto | cpu | cuda | cuda:N"),
    ("cuda", "cuda", "OHLORA_DEVICE=cuda was asked for but no CUDA device is available. Use --device cpu or auto"),
])
def test_bad_devices(monkeypatch, name, env, message):
    monkeypatch.delenv("OHLORA_DEVICE", raising=False)
    monkeypatch.delenv("OHLORA_PLACEMENT_CHECK", raising=False)
    if env is not None:
        monkeypatch.setenv("OHLORA_DEVICE", env)
    if torch.cuda.is_available() and name == "cuda":
        pytest.skip("a CUDA device is present")
    with pytest.raises(UsageError) as err:
        pick_device(name)
    assert err.value.message == message


@pytest.mark.parametrize("args", [["generate", "--n", "2"], ["score"], ["synth", "--seed", "1", "--out", "x.png"],
                                  ["eval"], ["filter", "--name", "x", "--export", "ex"], ["label", "export", "--out", "lab"],
                                  ["finetune", "--selection", "all", "--out", "x", "--steps", "1"]],
                         ids=lambda a: a[0])
def test_cli_names_the_bad_device_before_touching_anything(cli, catalog_path, args):
    r = cli(*args, "--device", "tpu", ok=False)
    assert r.exit_code == 1 and r.stderr == "Error: --device tpu is not a device. Use one of: auto | cpu | cuda | cuda:N\n"
    assert not catalog_path.exists()


def test_good_devices_and_host_copies(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert pick_device("auto") == torch.device("cpu")
    assert to_host(torch.ones(2, 3, device="meta")).tolist() == [[0.0] * 3] * 2
    assert to_host(torch.arange(3)).tolist() == [0, 1, 2]
