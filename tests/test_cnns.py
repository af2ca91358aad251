"""The CNNs of docs/original.md §3: exact 256-px architectures and original key names, the resolution rule, training,
soft voting, the ohlora-cnn file format and original bare state dicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ohlora_cli.errors import CheckpointError, UsageError
from ohlora_cli.models.checkpoints import read_file
from ohlora_cli.models.cnns import (FILTER_FLATTEN_256, FILTER_PROPS, PROPERTY_FLATTEN_256, FilterCNN,
                                    PropertyScoreCNN, expected_state_keys, plan_layers, predict)
from ohlora_cli.models.cnn_files import (CNN_FORMAT, Ensemble, detect_cnn_kind, load_filter_ensemble, load_property_cnn, save_filter_ensemble, save_property_cnn)
from ohlora_cli.training.cnns import train_filter_ensemble, train_property_cnn

# Conv (in, out) pairs and fc1 inputs, written out from the original classes (docs/original.md §3.1 / §3.2).
FILTER_CONVS_256 = {
    "gender": [(3, 32), (32, 64), (64, 128), (128, 128), (128, 256), (256, 256)],
    "quality": [(3, 32), (32, 64), (64, 128), (128, 128), (128, 256)],
    "age": [(3, 32), (32, 64), (64, 128), (128, 128), (128, 256), (256, 256)],
    "glass": [(3, 32), (32, 64), (64, 128), (128, 128), (128, 256)],
}
SPEC_FILTER_FLATTEN = {"gender": 256 * 6 * 6, "quality": 256 * 4 * 12, "age": 256 * 4 * 12, "glass": 256 * 2 * 12}
SPEC_PROPERTY_FLATTEN = {"eyes_score_cnn": 7168, "mouth_score_cnn": 3072, "pose_score_cnn": 10752,
                         "hair_color_score_cnn": 4608, "hair_length_score_cnn": 6144,
                         "background_score_cnn": 6144, "hairstyle_score_cnn": 15360}
GENDER_KEYS = ["conv1.0.weight", "conv1.0.bias", "conv2.0.weight", "conv2.0.bias", "conv3.0.weight",
               "conv3.0.bias", "conv4.0.weight", "conv4.0.bias", "conv5.0.weight", "conv5.0.bias",
               "conv6.0.weight", "conv6.0.bias", "fc1.0.weight", "fc1.0.bias", "fc_final.0.weight",
               "fc_final.0.bias"]


def _conv_params(pairs):
    return sum(9 * a * b + b for a, b in pairs)


def _features(module, x):
    return module._features(x).shape[1]


# ---------------------------------------------------------------- architecture at 256


@pytest.mark.parametrize("prop", FILTER_PROPS)
def test_filter_cnn_256_matches_spec(prop):
    model = FilterCNN(prop, 256).eval()
    assert model.flatten_size == SPEC_FILTER_FLATTEN[prop] == FILTER_FLATTEN_256[prop]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == FILTER_CONVS_256[prop]
    assert all(c.kernel_size == (3, 3) and c.padding == (0, 0) for c in convs)
    flat = SPEC_FILTER_FLATTEN[prop]
    n_params = _conv_params(FILTER_CONVS_256[prop]) + flat * 512 + 512 + 512 + 1
    assert sum(p.numel() for p in model.parameters()) == n_params
    with torch.no_grad():
        x = torch.rand(1, 3, 256, 256)
        assert _features(model, x) == flat  # the real forward agrees with the shape rule
        y = model(x)
    assert y.shape == (1, 1) and 0 < float(y) < 1


def test_property_cnn_256_matches_spec():
    model = PropertyScoreCNN(256).eval()
    assert model.flatten_sizes() == SPEC_PROPERTY_FLATTEN == PROPERTY_FLATTEN_256
    eyes = [(3, 32), (32, 64), (64, 64), (64, 128)]
    length = [(3, 32), (32, 64), (64, 64), (64, 128), (128, 128), (128, 128)]
    tower = [(3, 32), (32, 64), (64, 64), (64, 96), (96, 128), (128, 128)]
    expected = {"eyes_score_cnn": (eyes, 1), "mouth_score_cnn": (eyes, 1), "pose_score_cnn": (eyes + [(128, 128)], 1),
                "hair_color_score_cnn": (length, 1), "hair_length_score_cnn": (length, 1),
                "background_score_cnn": (length, 2)}
    total = 0
    for name, (pairs, outs) in expected.items():
        sub = getattr(model, name)
        assert [(c.in_channels, c.out_channels) for c in sub.modules() if isinstance(c, torch.nn.Conv2d)] == pairs
        n = _conv_params(pairs) + SPEC_PROPERTY_FLATTEN[name] * 256 + 256 + 256 * outs + outs
        assert sum(p.numel() for p in sub.parameters()) == n
        total += n
    total += 2 * _conv_params(tower) + 15360 * 512 + 512 + 512 + 1
    assert sum(p.numel() for p in model.parameters()) == total
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        for name in expected:
            assert _features(getattr(model, name), x) == SPEC_PROPERTY_FLATTEN[name]
        hs = model.hairstyle_score_cnn
        assert hs.bottom_left_cnn(x).shape[1] + hs.bottom_right_cnn(x).shape[1] == 15360
        assert model(x).shape == (1, 8)


def test_state_dict_keys_match_the_original_names():
    assert list(FilterCNN("gender").state_dict()) == GENDER_KEYS == expected_state_keys("gender")
    for prop in FILTER_PROPS:
        assert list(FilterCNN(prop).state_dict()) == expected_state_keys(prop)
    keys = list(PropertyScoreCNN().state_dict())
    assert keys == expected_state_keys("property")
    assert len(keys) == (4 + 4 + 5 + 6 + 6 + 6) * 2 + 6 * 4 + 2 * 6 * 2 + 4  # 114: convs, heads, hairstyle
    for key in ("eyes_score_cnn.conv4.0.weight", "eyes_score_cnn.fc_final.weight", "pose_score_cnn.conv5.0.bias",
                "hair_color_score_cnn.conv6.0.weight", "background_score_cnn.fc_final.bias",
                "hairstyle_score_cnn.bottom_left_cnn.conv6.0.weight",
                "hairstyle_score_cnn.bottom_right_cnn.conv1.0.bias", "hairstyle_score_cnn.fc1.0.weight",
                "hairstyle_score_cnn.fc_final.weight"):
        assert key in keys


# ---------------------------------------------------------------- other resolutions


def test_layer_plan_drops_trailing_layers_under_two_pixels():
    assert plan_layers((32, 64, "P", 128, "P", 128, "P", 256), (48, 128))[1] == (256, 2, 12)  # glass at 256: all kept
    kept, out = plan_layers((32, 64, "P", 128, "P", 128, "P", 256), (12, 32))  # glass at 64
    assert kept == (32, 64, "P", 128) and out == (128, 2, 12)


@pytest.mark.parametrize("resolution", [64, 128])
def test_scaled_models_forward(resolution):
    x = torch.rand(2, 3, resolution, resolution)
    with torch.no_grad():
        for prop in FILTER_PROPS:
            model = FilterCNN(prop, resolution).eval()
            assert _features(model, x) == model.flatten_size
            assert model(x).shape == (2, 1)
            assert list(model.state_dict()) == expected_state_keys(prop, resolution)
        model = PropertyScoreCNN(resolution).eval()
        assert model(x * 2 - 1).shape == (2, 8)
        assert list(model.state_dict()) == expected_state_keys("property", resolution)
    assert FilterCNN("gender", 64).layers == (32, 64, "P", 128, "P", 128, "P", 256, "P")
    if resolution == 128:
        assert FilterCNN("glass", 128).crop == (40, 64, 32, 96)


def test_predict_is_eval_and_independent_of_call_size():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    model = PropertyScoreCNN(32).train()
    full = predict(model, images)
    assert full.shape == (20, 8) and not model.training
    np.testing.assert_array_equal(predict(model, images[:3]), full[:3])
    np.testing.assert_array_equal(predict(model, images), full)
    scores = predict(FilterCNN("age", 32), images)
    assert scores.shape == (20,) and ((scores > 0) & (scores < 1)).all()
    with pytest.raises(ValueError, match="uint8"):
        predict(model, images.astype(np.float32))


# ---------------------------------------------------------------- training


def _patch_problem(n=40, resolution=32, seed=0):
    """Label 1 = a bright bar inside the glass crop (rows 10:16, cols 8:24 at 32 px)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 90, (n, resolution, resolution, 3), dtype=np.uint8)
    labels = np.arange(n) % 2
    images[labels == 1, 11:15, 10:22] = 255
    return images, labels


@pytest.fixture(scope="module")
def glass_ensemble():
    images, labels = _patch_problem()
    ens = train_filter_ensemble(images, labels, prop="glass", folds=2, seed=1, max_epochs=3, lr=1e-3,
                                batch_size=8, max_retries=0)
    return ens, images, labels


def test_filter_ensemble_learns_a_separable_problem(glass_ensemble):
    from sklearn.metrics import roc_auc_score

    ens, images, labels = glass_ensemble
    assert len(ens.models) == 2 and ens.resolution == 32
    folds = ens.metrics["folds"]
    assert [f["fold"] for f in folds] == [0, 1] and all(f["n_val"] == 20 for f in folds)
    assert all(f["auroc"] > 0.9 for f in folds)
    assert all(f["epochs"] == 3 and len(f["val_loss_history"]) == 3 for f in folds)
    assert all(f["min_val_loss"] == min(f["val_loss_history"]) for f in folds)
    assert ens.metrics["options"]["lr"] == 1e-3 and ens.metrics["options"]["metric_threshold"] == 0.1
    per_fold = ens.predict_folds(images)
    vote = ens.predict(images)
    assert per_fold.shape == (40, 2) and vote.shape == (40,) and vote.dtype == np.float32
    np.testing.assert_allclose(vote, per_fold.mean(axis=1), rtol=1e-6)
    assert roc_auc_score(labels, vote) > 0.9


def test_filter_training_is_deterministic():
    images, labels = _patch_problem(n=20)
    kw = dict(prop="quality", folds=2, max_epochs=1, lr=1e-3, batch_size=8, max_retries=0)
    a = train_filter_ensemble(images, labels, seed=7, **kw)
    b = train_filter_ensemble(images, labels, seed=7, **kw)
    c = train_filter_ensemble(images, labels, seed=8, **kw)
    for ma, mb in zip(a.models, b.models):
        for (k, va), vb in zip(ma.state_dict().items(), mb.state_dict().values()):
            assert torch.equal(va, vb), k
    assert a.metrics == b.metrics
    assert not torch.equal(a.models[0].fc1[0].weight, c.models[0].fc1[0].weight)


def test_failed_folds_are_retried_then_kept_and_flagged():
    images, labels = _patch_problem(n=20)
    ens = train_filter_ensemble(images, labels, prop="glass", folds=2, seed=3, max_epochs=1, lr=1e-6,
                                batch_size=8, max_retries=1, retry_threshold=0.0)
    assert all(f["attempts"] == 2 and f["success"] is False for f in ens.metrics["folds"])
    assert ens.metrics["all_succeeded"] is False


def test_bad_labels_are_usage_errors():
    images, labels = _patch_problem(n=20)
    with pytest.raises(UsageError, match="every fold needs both"):
        train_filter_ensemble(images, np.zeros(20, int), prop="glass", seed=0, max_epochs=1)
    with pytest.raises(UsageError, match="0/1"):
        train_filter_ensemble(images, labels * 2, prop="glass", seed=0, max_epochs=1)
    with pytest.raises(UsageError, match="unknown filter property"):
        train_filter_ensemble(images, labels, prop="smile", seed=0, max_epochs=1)


def test_property_cnn_smoke():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    targets = np.repeat(((images.mean(axis=(1, 2, 3)) - 127.5) / 30.0)[:, None], 8, axis=1).astype(np.float32)
    model, metrics = train_property_cnn(images, targets, seed=0, max_epochs=4, patience=5, batch_size=8, lr=1e-3,
                                        val_fraction=0.25)
    losses = [h["train_loss"] for h in metrics["history"]]
    assert losses[-1] < losses[0]
    assert metrics["n_val"] == 4 and set(metrics["per_property"]) == {
        "eyes", "hair_color", "hair_length", "mouth", "pose", "background_mean", "background_std", "hairstyle"}
    assert set(metrics["per_property"]["pose"]) == {"mse", "mae", "corr"}
    assert not model.training and predict(model, images).shape == (16, 8)
    with pytest.raises(UsageError, match=r"\(N, 8\)"):
        train_property_cnn(images, targets[:, :7], seed=0, max_epochs=1)


# ---------------------------------------------------------------- files


def test_ensemble_file_round_trip(glass_ensemble, tmp_path):
    ens, images, _ = glass_ensemble
    path = tmp_path / "glass.pt"
    save_filter_ensemble(path, ens)
    assert not list(tmp_path.glob("*.tmp"))
    raw = read_file(path)  # weights_only: only tensors and plain values inside
    assert raw["format"] == CNN_FORMAT and raw["kind"] == "cnn-glass" and raw["resolution"] == 32
    assert len(raw["state_dicts"]) == 2 and raw["metrics"] == ens.metrics
    loaded = load_filter_ensemble(path, prop="glass")
    assert isinstance(loaded, Ensemble) and loaded.prop == "glass"
    np.testing.assert_array_equal(loaded.predict(images), ens.predict(images))
    assert detect_cnn_kind(path) == "cnn-glass"
    with pytest.raises(CheckpointError, match="not the age CNN"):
        load_filter_ensemble(path, prop="age")
    with pytest.raises(CheckpointError, match="not a Property Score CNN"):
        load_property_cnn(path)
    raw["resolution"] = 64
    torch.save(raw, tmp_path / "tampered.pt")
    with pytest.raises(CheckpointError, match="fold 0 does not fit the FilterCNN at 64 px: missing conv3.0.weight"):
        load_filter_ensemble(tmp_path / "tampered.pt")


def test_property_file_round_trip(tmp_path):
    torch.manual_seed(0)
    model = PropertyScoreCNN(32)
    metrics = {"per_property": {"eyes": {"mse": np.float32(0.5), "corr": float("nan")}}, "sizes": (1, 2)}
    save_property_cnn(tmp_path / "p.pt", model, metrics)
    loaded, meta = load_property_cnn(tmp_path / "p.pt")
    assert meta == {"per_property": {"eyes": {"mse": 0.5, "corr": None}}, "sizes": [1, 2]}
    assert type(meta["per_property"]["eyes"]["mse"]) is float
    images = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(predict(loaded, images), predict(model, images))


def test_original_bare_state_dicts_load(tmp_path):
    torch.manual_seed(0)
    for prop in ("quality", "age"):  # same fc1 size (12288): told apart by their conv6
        torch.save(FilterCNN(prop).state_dict(), tmp_path / f"cnn_ohlora_v3_{prop}_model_0.pt")
        assert detect_cnn_kind(tmp_path / f"cnn_ohlora_v3_{prop}_model_0.pt") == f"cnn-{prop}"
    ens = load_filter_ensemble(tmp_path / "cnn_ohlora_v3_age_model_0.pt")
    assert ens.prop == "age" and ens.resolution == 256 and len(ens.models) == 1
    with pytest.raises(CheckpointError, match="architecture of the quality CNN"):
        load_filter_ensemble(tmp_path / "cnn_ohlora_v3_quality_model_0.pt", prop="age")
    merged = PropertyScoreCNN()
    torch.save(merged.state_dict(), tmp_path / "ohlora_v3_merged_property_cnn.pth")
    loaded, meta = load_property_cnn(tmp_path / "ohlora_v3_merged_property_cnn.pth")
    assert meta == {"source": "original"}
    assert torch.equal(loaded.hairstyle_score_cnn.fc_final.weight, merged.hairstyle_score_cnn.fc_final.weight)
    with pytest.raises(CheckpointError, match="Register it with --kind cnn-property"):
        load_filter_ensemble(tmp_path / "ohlora_v3_merged_property_cnn.pth")
    torch.save({"conv1.0.weight": torch.zeros(1)}, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match="does not match any of the original's CNNs"):
        detect_cnn_kind(tmp_path / "odd.pt")
