"""The StyleGAN classes: GenForce names/shapes/counts, semantics, determinism, bf16."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ohlora_cli.models.inference import latents_for_seeds, map_to_w, render, synthesize
from ohlora_cli.models.stylegan import (DiscriminatorConfig, GeneratorConfig, StyleGANDiscriminator,
                                        StyleGANGenerator, count_parameters)

TINY = GeneratorConfig(32, label_size=7, fmaps_base=256, fmaps_max=32)


def documented_generator_keys(resolution=256, z_dim=512, label_size=7, label_dim=16):
    """The GenForce / Oh-LoRA key list and shapes (docs/original.md §1.2), written out independently of the model."""
    nf = lambda res: min(16384 // res, 512)  # noqa: E731
    keys = {}
    if label_size:
        keys["mapping.label_weight"] = (label_size, label_dim)
    for i in range(8):
        keys[f"mapping.dense{i}.weight"] = (512, z_dim + (label_dim if label_size else 0) if i == 0 else 512)
        keys[f"mapping.dense{i}.bias"] = (512,)
    keys["truncation.w_avg"] = (512,)
    keys["synthesis.lod"] = ()
    n_blocks = int(np.log2(resolution)) - 1
    for b in range(n_blocks):
        res = 4 * 2**b
        for layer in (2 * b, 2 * b + 1):
            p = f"synthesis.layer{layer}"
            if layer == 0:
                keys[f"{p}.const"] = (1, 512, 4, 4)
            else:
                cin = nf(res // 2) if layer == 2 * b else nf(res)
                keys[f"{p}.weight"] = (nf(res), cin, 3, 3)
            if layer == 2 * b and b > 0:
                keys[f"{p}.blur.kernel"] = (nf(res), 1, 3, 3)
            keys[f"{p}.bias"] = (nf(res),)
            keys[f"{p}.apply_noise.weight"] = (nf(res),)
            keys[f"{p}.apply_noise.noise"] = (1, 1, res, res)
            keys[f"{p}.style.weight"] = (2 * nf(res), 512)
            keys[f"{p}.style.bias"] = (2 * nf(res),)
        keys[f"synthesis.output{b}.weight"] = (3, nf(res), 1, 1)
        keys[f"synthesis.output{b}.bias"] = (3,)
    return keys


@pytest.fixture(scope="module")
def g256():
    return StyleGANGenerator(GeneratorConfig(256, label_size=7))


def test_parameter_counts_match_genforce_256(g256):
    assert count_parameters(StyleGANGenerator(GeneratorConfig(256))) == 26_086_229
    assert count_parameters(g256) == 26_094_533
    assert count_parameters(g256.mapping) == 2_109_552


def test_v8_trainable_counts_from_spec(g256):
    g_train = [p for n, p in g256.named_parameters()
               if n.startswith(("mapping.", "synthesis.layer0.", "synthesis.layer1.", "synthesis.output0."))]
    assert sum(p.numel() for p in g_train) == 5_531_251
    D = StyleGANDiscriminator(DiscriminatorConfig(256, label_size=7, mbstd_group_size=16))
    d_train = [p for n, p in D.named_parameters() if n.startswith(("layer12.", "layer13.", "layer14."))]
    assert sum(p.numel() for p in d_train) == 6_559_752
    sd = D.state_dict()
    assert sd["layer12.weight"].shape == (512, 513, 3, 3)
    assert sd["layer13.weight"].shape == (512, 8192)
    assert sd["layer14.weight"].shape == (1, 519)


def test_documented_state_dict_loads_strict(g256):
    keys = documented_generator_keys()
    own = {k: tuple(v.shape) for k, v in g256.state_dict().items()}
    assert own == keys
    G = StyleGANGenerator(GeneratorConfig(256, label_size=7))
    G.load_state_dict({k: torch.randn(shape) for k, shape in keys.items()}, strict=True)


def test_fused_upsample_is_genforce_four_tap_transposed_conv():
    """Layer at 128 px is fused: conv_transpose2d with the 4-tap-summed kernel, then blur."""
    cfg = GeneratorConfig(128, fmaps_base=512, fmaps_max=8)
    G = StyleGANGenerator(cfg).eval()
    layer = G.synthesis.layer10
    assert layer.fused and layer.weight.shape == (4, 8, 3, 3)
    x = torch.randn(2, 8, 64, 64)
    w = layer.weight * layer.wscale
    k = F.pad(w, (1, 1, 1, 1))
    k = (k[:, :, 1:, 1:] + k[:, :, :-1, 1:] + k[:, :, 1:, :-1] + k[:, :, :-1, :-1]).permute(1, 0, 2, 3)
    expected = F.conv_transpose2d(x, k, stride=2, padding=1)
    expected = F.conv2d(expected, layer.blur.kernel, padding=1, groups=4)
    with torch.no_grad():
        wvec = torch.zeros(2, cfg.w_dim)
        style = F.linear(wvec, layer.style.weight * layer.style.wscale, layer.style.bias).view(2, 2, 4, 1, 1)
        ref = F.instance_norm(F.leaky_relu(expected + layer.apply_noise.noise * layer.apply_noise.weight.view(1, -1, 1, 1)
                                           + layer.bias.view(1, -1, 1, 1), 0.2), eps=1e-8)
        ref = ref * (style[:, 0] + 1) + style[:, 1]
        out = layer(x, wvec, "const")
    assert out.shape == (2, 4, 128, 128)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_mapping_is_pixelnorm_of_z_and_label_embedding():
    G = StyleGANGenerator(TINY).eval()
    z, label = torch.randn(3, 512), torch.randn(3, 7)
    x = torch.cat([z, label @ G.mapping.label_weight], 1)
    x = x / torch.sqrt((x**2).mean(1, keepdim=True) + 1e-8)
    for i in range(8):
        d = getattr(G.mapping, f"dense{i}")
        x = F.leaky_relu(F.linear(x, d.weight * (2**0.5 / d.weight.shape[1] ** 0.5) * 0.01, d.bias * 0.01), 0.2)
    with torch.no_grad():
        torch.testing.assert_close(G.mapping(z, label), x, rtol=1e-5, atol=1e-5)


def test_truncation_only_touches_first_layers():
    G = StyleGANGenerator(TINY).eval()
    G.truncation.w_avg.fill_(0.5)
    w = torch.randn(2, 512)
    wp = G.truncation(w, psi=0.5, layers=3)
    torch.testing.assert_close(wp[:, :3], 0.5 + 0.5 * (w[:, None] - 0.5).expand(-1, 3, -1))
    torch.testing.assert_close(wp[:, 3:], w[:, None].expand(-1, G.num_layers - 3, -1))
    assert torch.equal(G.truncation(w, psi=1.0, layers=3), w[:, None].expand(-1, G.num_layers, -1))


def test_batch_size_independence_is_bitwise():
    G = StyleGANGenerator(TINY).eval()
    z, label = latents_for_seeds(range(7), 512, 7)
    w_all = map_to_w(G, z, label)
    w_one = np.concatenate([map_to_w(G, z[i:i + 1], label[i:i + 1]) for i in range(7)])
    assert np.array_equal(w_all, w_one)
    assert np.array_equal(render(G, w_all), np.concatenate([render(G, w_all[i:i + 1]) for i in range(7)]))


def test_latents_depend_only_on_seed():
    z1, l1 = latents_for_seeds([5, 9], 512, 7)
    z2, l2 = latents_for_seeds([9], 512, 7)
    assert np.array_equal(z1[1], z2[0]) and np.array_equal(l1[1], l2[0])
    draw = np.random.RandomState(9).randn(519).astype(np.float32)
    assert np.array_equal(z2[0], draw[:512]) and np.array_equal(l2[0], draw[512:])
    z3, l3 = latents_for_seeds([9], 512, 7, "zero")
    assert np.array_equal(z3[0], z2[0]) and not l3.any()


def test_noise_modes_and_eval_determinism():
    G = StyleGANGenerator(TINY).eval()
    for p in G.synthesis.parameters():
        p.data.normal_()
    w = torch.randn(2, 512)
    a, b = synthesize(G, w), synthesize(G, w)
    assert torch.equal(a, b)
    torch.manual_seed(0)
    assert not torch.equal(a, synthesize(G, w, noise_mode="random"))


def test_bf16_autocast_runs_and_tracks_fp32():
    G = StyleGANGenerator(TINY).eval()
    w = map_to_w(G, *latents_for_seeds(range(2), 512, 7))
    fp32 = synthesize(G, w)
    bf16 = synthesize(G, w, dtype="bf16")
    assert bf16.dtype == torch.float32 and bf16.shape == fp32.shape
    assert (bf16 - fp32).abs().mean() < 0.05 * fp32.abs().mean() + 1e-3


def test_wp_input_allows_layerwise_codes():
    G = StyleGANGenerator(TINY).eval()
    w = torch.randn(1, 512)
    wp = G.truncation(w).clone()
    assert torch.equal(synthesize(G, w), synthesize(G, wp))
    wp[:, -2:] += 3.0
    assert not torch.equal(synthesize(G, w), synthesize(G, wp))
    with pytest.raises(ValueError, match="wp must have shape"):
        G.synthesis(torch.randn(1, 3, 512))


@pytest.mark.parametrize("mode,shape", [("concat", (1, 32 + 7)), ("project", (7, 32))])
def test_discriminator_label_modes(mode, shape):
    D = StyleGANDiscriminator(DiscriminatorConfig(32, label_size=7, label_mode=mode, fmaps_base=256, fmaps_max=32))
    assert D.state_dict()["layer8.weight"].shape == shape
    out = D(torch.randn(6, 3, 32, 32), torch.randn(6, 7))
    assert out.shape == (6, 1)
    with pytest.raises(ValueError, match="needs a label"):
        D(torch.randn(2, 3, 32, 32))


def test_minibatch_std_group_falls_back_to_divisor():
    D = StyleGANDiscriminator(DiscriminatorConfig(16, mbstd_group_size=4, fmaps_base=64, fmaps_max=16))
    assert D(torch.randn(6, 3, 16, 16)).shape == (6, 1)  # 6 is not divisible by 4: groups of 3


@pytest.mark.parametrize("fused", [False, True])
def test_matches_genforce_op_sequence_on_the_same_state_dict(fused):
    """bench/genforce_ops.py re-does GenForce's forward op by op from the state dict alone."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from genforce_ops import genforce_synthesis

    torch.manual_seed(3)
    G = StyleGANGenerator(GeneratorConfig(32, label_size=7, fmaps_base=256, fmaps_max=32, fused_scale=fused)).eval()
    for name, p in G.named_parameters():
        if name.endswith(("apply_noise.weight", "bias")):
            p.data.normal_()
    wp = G.truncation(G.mapping(torch.randn(3, 512), torch.randn(3, 7)))
    with torch.no_grad():
        ref = genforce_synthesis(G.state_dict(), wp, resolution=32, fused_min_res=8 if fused else 128)
        torch.testing.assert_close(G.synthesis(wp), ref, rtol=1e-4, atol=1e-4)
