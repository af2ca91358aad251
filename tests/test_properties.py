"""Property algorithms (seed "algorithm 2" + hairstyle) and their normalisation."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from ohlora_cli.properties import algorithms as alg
from ohlora_cli.properties.algorithms import (
    BACKGROUND, HAIR, INNER_MOUTH, LEFT_EYE, LOWER_LIP, NOSE, PROPERTY_NAMES, RIGHT_EYE, SKIN,
    UPPER_LIP, background_scores, compute_properties, compute_properties_batch, eyes_score,
    farthest_pair_cos, hair_color_score, hair_length_score, hairstyle_cases, hairstyle_score,
    mouth_score, pose_score,
)
from ohlora_cli.properties.normalise import apply_normalisation, fit_normalisation

N = 224


def blank(n: int = N, cls: int = SKIN) -> np.ndarray:
    return np.full((n, n), cls, dtype=np.uint8)


def grey(n: int = N, value: int = 100) -> np.ndarray:
    return np.full((n, n, 3), value, dtype=np.uint8)


def draw_face(rng: np.random.Generator, n: int = N, flip: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """A random face-like parsing map and a matching colour crop."""
    k = n / N

    def pt(x: float, y: float) -> tuple[int, int]:
        return int(round(x * k)), int(round(y * k))

    def ax(a: float, b: float) -> tuple[int, int]:
        return max(1, int(round(a * k))), max(1, int(round(b * k)))

    j = lambda s: float(rng.uniform(-s, s))  # noqa: E731
    seg = np.zeros((n, n), np.uint8)
    cv2.ellipse(seg, pt(112 + j(6), 100 + j(6)), ax(100 + j(10), 125 + j(20)), 0, 0, 360, HAIR, -1)
    cv2.rectangle(seg, pt(0, 120 + j(10)), pt(60 + j(20), 223), HAIR, -1)
    cv2.rectangle(seg, pt(164 + j(20), 120 + j(10)), pt(223, 223), HAIR, -1)
    cv2.ellipse(seg, pt(112 + j(4), 120 + j(4)), ax(58 + j(5), 75 + j(5)), 0, 0, 360, SKIN, -1)
    eye_h = 4 + j(2)
    tilt = j(15)
    cv2.ellipse(seg, pt(85 + j(3), 100 + j(3)), ax(13 + j(2), eye_h), tilt, 0, 360, LEFT_EYE, -1)
    cv2.ellipse(seg, pt(139 + j(3), 100 + j(3)), ax(13 + j(2), eye_h + j(1)), tilt, 0, 360, RIGHT_EYE, -1)
    cv2.ellipse(seg, pt(112 + j(3), 125 + j(3)), ax(7, 14), j(20), 0, 360, NOSE, -1)
    cv2.ellipse(seg, pt(112, 148 + j(2)), ax(20 + j(3), 5), 0, 0, 360, UPPER_LIP, -1)
    cv2.ellipse(seg, pt(112, 160 + j(2)), ax(20 + j(3), 6), 0, 0, 360, LOWER_LIP, -1)
    cv2.ellipse(seg, pt(112, 154 + j(1)), ax(14 + j(3), 1 + abs(j(4))), 0, 0, 360, INNER_MOUTH, -1)
    if flip:
        noise = (rng.random((n, n)) < flip) & (seg == HAIR)
        seg[noise] = SKIN
    yy = np.mgrid[0:n, 0:n][0] / k
    base = np.where(seg == HAIR, 60 + 30 * np.sin(yy / rng.uniform(3, 9)),
                    np.where(seg == BACKGROUND, 200.0, 170.0))
    image = np.clip(base[..., None] + rng.normal(0, 12, (n, n, 3)), 0, 255).astype(np.uint8)
    return seg, image


# --------------------------------------------------------------- literal seed reference (slow)


def seed_reference(seg: np.ndarray, image: np.ndarray) -> dict[str, float]:
    """The 224x224 seed algorithms as loops, written from docs/original.md §2.3-2.5."""
    s = seg
    left, right = s[56:168, 0:168], s[56:168, 56:224]
    spans, pts = [0, 0], [[], []]
    for x in range(168):
        ext: list[list[int]] = [[], []]
        for y in range(112):
            if left[y][x] == 4:
                pts[0].append([y + 56, x])
                ext[0].append(y)
            if right[y][x] == 5:
                pts[1].append([y + 56, x + 56])
                ext[1].append(y)
        for e in range(2):
            if ext[e]:
                spans[e] = max(spans[e], max(ext[e]) - min(ext[e]))
    scores = []
    for e in range(2):
        best, pair, cos = 0, None, 1.0
        p = pts[e]
        for i in range(len(p)):
            for jj in range(i):
                sq = (p[i][0] - p[jj][0]) ** 2 + (p[i][1] - p[jj][1]) ** 2
                if sq > best:
                    best, pair = sq, (p[i], p[jj])
        if pair is not None:
            dy, dx = abs(pair[0][0] - pair[1][0]), abs(pair[0][1] - pair[1][1])
            cos = dx / math.sqrt(dy**2 + dx**2)
        scores.append(spans[e] * cos)
    eyes = max(scores)
    if not pts[0] or not pts[1]:
        pose = 0.0
    else:
        ml, mr = np.mean(np.array(pts[0]), axis=0), np.mean(np.array(pts[1]), axis=0)
        pose = (mr[0] - ml[0]) / (mr[1] - ml[1])

    hair = [image[y][x] for y in range(N) for x in range(N) if s[y][x] == 10]
    if not hair:
        hair_color = 127.5
    else:
        v = np.sort(np.mean(np.array(hair), axis=1))[int(0.1 * len(hair)):int(0.9 * len(hair))]
        hair_color = 127.5 if len(v) == 0 else np.mean(v)

    rows = sum(1 for y in range(56, N) if np.count_nonzero(s[y] == 10) >= 20)
    bonus = 0.0
    if np.count_nonzero(s[N - 1] == 10) >= 20:
        lc, rc = np.count_nonzero(s[N - 1][:112] == 10), np.count_nonzero(s[N - 1][112:] == 10)
        bonus = max(lc - 10, 0) / 2.0 + max(rc - 10, 0) / 2.0
    hair_length = rows + bonus

    lips = sum(np.count_nonzero(s[y] == 7) + np.count_nonzero(s[y] == 9) for y in range(N))
    inner = sum(np.count_nonzero(s[y] == 8) for y in range(N))
    mouth = 0 if lips + inner == 0 else inner / (lips + inner)

    bg = [np.mean(image[y][x]) for y in range(112) for x in range(N) if s[y][x] == 0]
    if not bg:
        bg_mean, bg_std = 192, 0
    elif len(bg) == 1:
        bg_mean, bg_std = bg[0], 0
    else:
        v = np.sort(np.array(bg))[int(0.05 * len(bg)):int(0.95 * len(bg))]
        bg_mean, bg_std = np.mean(v), np.std(v)

    ratios = []
    for x in range(8, N - 11):
        for y in range(112, N - 11):
            ok = (s[y][x] == 10 and s[y + 8][x] == 10 and s[y][x - 8] == 10 and s[y][x + 8] == 10
                  and s[y + 3][x + 3] == 10 and s[y + 11][x + 3] == 10
                  and s[y + 3][x - 11] == 10 and s[y + 3][x + 11] == 10)
            if ok:
                m0 = np.mean(image[y:y + 4, x:x + 4])
                mb = np.mean(image[y + 8:y + 12, x:x + 4])
                ml_ = np.mean(image[y:y + 4, x - 8:x - 4])
                mr_ = np.mean(image[y:y + 4, x + 8:x + 12])
                ratios.append(abs(m0 - mb) / (max(abs(m0 - ml_), abs(m0 - mr_)) + 5.0))
    hairstyle = np.mean(ratios) if ratios else 0.45
    return dict(zip(PROPERTY_NAMES, map(float, (eyes, hair_color, hair_length, mouth, pose,
                                                 bg_mean, bg_std, hairstyle))))


def brute_cos(mask: np.ndarray) -> float:
    """The seed's O(n^2) farthest-pair loop on the True pixels, column by column."""
    xs, ys = np.nonzero(mask.T)
    pts = list(zip(ys.tolist(), xs.tolist()))
    best, pair = 0, None
    for i in range(len(pts)):
        for j in range(i):
            sq = (pts[i][0] - pts[j][0]) ** 2 + (pts[i][1] - pts[j][1]) ** 2
            if sq > best:
                best, pair = sq, (pts[i], pts[j])
    if pair is None:
        return 1.0
    dy, dx = abs(pair[0][0] - pair[1][0]), abs(pair[0][1] - pair[1][1])
    return dx / math.sqrt(dy**2 + dx**2)


# --------------------------------------------------------------- seed == original, bit for bit


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_seed_mode_matches_literal_reference_bit_for_bit(seed: int) -> None:
    seg, image = draw_face(np.random.default_rng(seed))
    got = compute_properties(seg, image, mode="seed")
    want = seed_reference(seg, image)
    assert got == want  # exact float equality, all 8 properties


def test_fixed_equals_seed_except_hairstyle_on_faces() -> None:
    seg, image = draw_face(np.random.default_rng(5))
    fixed, seed = compute_properties(seg, image), compute_properties(seg, image, mode="seed")
    assert {k: v for k, v in fixed.items() if k != "hairstyle"} == \
           {k: v for k, v in seed.items() if k != "hairstyle"}
    assert fixed["hairstyle"] != seed["hairstyle"]  # noisy hair: corners pass, full blocks do not


# --------------------------------------------------------------- eyes and pose


def two_eyes() -> np.ndarray:
    seg = blank()
    seg[90:100, 60:80] = LEFT_EYE    # 10 x 20: span 9, farthest pair dx 19, dy 9
    seg[100:106, 140:170] = RIGHT_EYE  # 6 x 30: span 5, dx 29, dy 5
    return seg


def test_eyes_rectangles() -> None:
    left = 9 * 19 / math.sqrt(19**2 + 9**2)
    right = 5 * 29 / math.sqrt(29**2 + 5**2)
    assert eyes_score(two_eyes()) == pytest.approx(max(left, right), rel=1e-12)


def test_eyes_per_column_span_is_max_minus_min_of_rows() -> None:
    seg = blank()
    seg[80, 50] = seg[95, 50] = LEFT_EYE  # one column, gap inside: span 15, farthest pair vertical
    assert eyes_score(seg) == 0.0  # cos = 0 / 15
    seg[88, 30:71] = LEFT_EYE  # a 41 px horizontal bar becomes the farthest pair: cos = 1
    assert eyes_score(seg) == 15.0


def test_eyes_outside_window_is_ignored() -> None:
    seg = blank()
    seg[20:30, 60:80] = LEFT_EYE  # above the window rows 56..167
    seg[90:100, 180:200] = LEFT_EYE  # left window is columns 0..167
    assert eyes_score(seg) == 0.0 and pose_score(seg) == 0.0


def test_farthest_pair_tie_follows_seed_loop_order() -> None:
    mask = np.zeros((10, 10), bool)
    # A=(y0,x0), C=(y4,x3), B=(y0,x5): |AB|^2 = |AC|^2 = 25. Column order A, C, B: the loop
    # meets (C, A) first and keeps it (strict >), so cos = 3/5, not 5/5.
    mask[0, 0] = mask[4, 3] = mask[0, 5] = True
    assert farthest_pair_cos(mask) == 0.6 == brute_cos(mask)


def test_farthest_pair_cos_single_and_empty() -> None:
    mask = np.zeros((5, 5), bool)
    assert farthest_pair_cos(mask) == 1.0
    mask[2, 2] = True
    assert farthest_pair_cos(mask) == 1.0


def test_farthest_pair_fast_equals_brute_force_on_random_blobs() -> None:
    rng = np.random.default_rng(7)
    for trial in range(60):
        mask = np.zeros((40, 60), np.uint8)
        if trial % 3 == 0:  # sparse points on a small grid: many ties
            ys, xs = rng.integers(0, 12, 25), rng.integers(0, 12, 25)
            mask[ys, xs] = 1
        else:
            centre = (int(rng.integers(15, 45)), int(rng.integers(12, 28)))
            axes = (int(rng.integers(1, 14)), int(rng.integers(1, 8)))
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            mask[rng.random(mask.shape) < 0.01] = 1
            if trial % 3 == 2:
                mask[rng.random(mask.shape) < 0.3] = 0
        m = mask.astype(bool)
        assert farthest_pair_cos(m) == brute_cos(m), trial


def test_pose_is_slope_between_eye_centroids() -> None:
    seg = blank()
    seg[90:100, 60:80] = LEFT_EYE     # centroid (94.5, 69.5)
    seg[100:110, 140:160] = RIGHT_EYE  # centroid (104.5, 149.5)
    assert pose_score(seg) == pytest.approx(10 / 80)


def test_no_eyes_and_one_eye() -> None:
    seg = blank()
    assert eyes_score(seg) == 0.0 and pose_score(seg) == 0.0
    seg[90:100, 60:80] = LEFT_EYE
    assert pose_score(seg) == 0.0
    assert eyes_score(seg) == pytest.approx(9 * 19 / math.sqrt(19**2 + 9**2))


def test_pose_vertical_eyes_seed_divides_by_zero_fixed_returns_zero() -> None:
    seg = blank()
    seg[80, 100] = LEFT_EYE
    seg[90, 100] = RIGHT_EYE  # same centroid x
    assert pose_score(seg, mode="seed") == math.inf
    assert pose_score(seg, mode="fixed") == 0.0


# --------------------------------------------------------------- mouth


def test_mouth_ratio_and_empty() -> None:
    seg = blank()
    assert mouth_score(seg) == 0.0
    seg[150, 0:30] = UPPER_LIP
    seg[160, 0:50] = LOWER_LIP
    seg[155, 0:20] = INNER_MOUTH
    assert mouth_score(seg) == 20 / 100
    seg[seg != SKIN] = SKIN
    seg[155, 0:20] = INNER_MOUTH
    assert mouth_score(seg) == 1.0


# --------------------------------------------------------------- hair colour and length


def test_hair_color_middle_80_percent_mean() -> None:
    seg, image = blank(), grey()
    seg[200, 0:100] = HAIR
    image[200, 0:100, :] = np.arange(100)[::-1, None]  # P = 99..0
    image[200, 0:100, 0] += 3  # P is the mean of the 3 channels: + 1
    assert hair_color_score(seg, image) == pytest.approx(np.mean(np.arange(10, 90)) + 1)


def test_hair_color_fallbacks() -> None:
    seg, image = blank(), grey()
    assert hair_color_score(seg, image) == 127.5  # no hair
    seg[5, 5] = HAIR
    assert hair_color_score(seg, image) == 127.5  # one pixel: [int(.1):int(.9)] is empty
    seg[5, 6] = HAIR
    assert hair_color_score(seg, image) == 100.0


def test_hair_length_rows_threshold_and_bonus() -> None:
    seg = blank()
    assert hair_length_score(seg) == 0.0
    seg[40:150, 0:30] = HAIR   # rows 56..149 count (30 >= 20 pixels), rows 40..55 are above
    seg[150:160, 0:19] = HAIR  # 19 < 20 pixels: not counted
    assert hair_length_score(seg) == 94.0
    seg[150:224, 0:30] = HAIR  # now down to the last row: 56..223 = 168 rows
    seg[223, 200:205] = HAIR   # last row: left 30, right 5 -> bonus (30-10)/2 + 0 = 10
    assert hair_length_score(seg) == 168 + 10.0
    seg[223, :] = SKIN
    seg[223, 0:15] = HAIR      # last row below threshold: no bonus, row not counted
    assert hair_length_score(seg) == 167.0


# --------------------------------------------------------------- background


def test_background_trimmed_mean_and_std() -> None:
    seg, image = blank(), grey(value=50)
    seg[10, 0:100] = BACKGROUND
    image[10, 0:100, :] = np.arange(100)[:, None]
    seg[150, :] = BACKGROUND  # below row 112: ignored
    kept = np.arange(5, 95, dtype=float)
    mean, std = background_scores(seg, image)
    assert mean == pytest.approx(kept.mean()) and std == pytest.approx(kept.std())


def test_background_fallbacks() -> None:
    seg, image = blank(), grey(value=50)
    assert background_scores(seg, image) == (192.0, 0.0)
    seg[3, 7] = BACKGROUND
    image[3, 7] = (10, 20, 60)
    assert background_scores(seg, image) == (30.0, 0.0)


# --------------------------------------------------------------- hairstyle


def y_ramp(n: int = N, scale: float = 1.0) -> np.ndarray:
    rows = np.round(np.arange(n) * scale).astype(np.uint8)
    return np.repeat(np.repeat(rows[:, None, None], n, axis=1), 3, axis=2)


def test_hairstyle_horizontal_stripes_and_vertical_stripes() -> None:
    seg = blank(cls=HAIR)
    # P = y: V = |m0 - m_bottom| = 8, H = 0 -> ratio 8 / 5 everywhere
    for mode in ("fixed", "seed"):
        assert hairstyle_score(seg, y_ramp(), mode) == pytest.approx(1.6)
        assert hairstyle_cases(seg, mode).sum() == 205 * 101  # x in [8, 212], y in [112, 212]
    # P = x: V = 0 -> straight hair scores 0
    assert hairstyle_score(seg, y_ramp().transpose(1, 0, 2).copy()) == 0.0


def test_hairstyle_k_zero_and_no_hair() -> None:
    image = y_ramp()
    assert hairstyle_score(blank(), image) == 0.45
    assert hairstyle_score(blank(), image, mode="seed") == 0.45
    seg = blank()
    seg[112:, 0:19] = HAIR  # hair, but too narrow for left + centre + right blocks (needs 20)
    for mode in ("fixed", "seed"):
        assert hairstyle_score(seg, image, mode) == 0.45


def test_hairstyle_seed_checks_only_corners() -> None:
    seg = blank(cls=HAIR)
    yy, xx = np.mgrid[0:N, 0:N]
    seg[(yy % 4 == 1) & (xx % 4 == 1)] = SKIN  # every 4x4 block has one hole, corners may not
    image = y_ramp()
    assert hairstyle_score(seg, image, mode="fixed") == 0.45  # K = 0
    assert hairstyle_cases(seg, "seed").sum() > 0
    assert hairstyle_score(seg, image, mode="seed") == pytest.approx(1.6)


def test_hairstyle_seed_left_corner_wraps_around() -> None:
    seg = blank()
    seg[112:, 0:31] = HAIR  # columns 0..30; x valid for 8 <= x <= 19 with full blocks
    fixed_x = np.flatnonzero(hairstyle_cases(seg, "fixed").any(axis=0)) + 8
    seed_x = np.flatnonzero(hairstyle_cases(seg, "seed").any(axis=0)) + 8
    assert fixed_x.tolist() == list(range(8, 20))
    # seed checks (y+3, x-11): x = 8, 9, 10 look at columns 221..223 (Python negative index)
    assert seed_x.tolist() == list(range(11, 20))
    seg[112:, 221:224] = HAIR
    seed_x = np.flatnonzero(hairstyle_cases(seg, "seed").any(axis=0)) + 8
    assert seed_x.tolist() == list(range(8, 20))


# --------------------------------------------------------------- resolution


def block_face(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The same drawing at any n dividing 224 by a multiple of 14 px units."""
    u = n // 16  # 14 px at 224

    def box(seg: np.ndarray, r0: int, r1: int, c0: int, c1: int, cls: int) -> None:
        seg[r0 * u:r1 * u, c0 * u:c1 * u] = cls

    seg = blank(n, BACKGROUND)
    box(seg, 2, 16, 0, 4, HAIR)
    box(seg, 2, 16, 12, 16, HAIR)
    box(seg, 2, 16, 4, 12, SKIN)
    box(seg, 6, 7, 5, 7, LEFT_EYE)
    box(seg, 7, 8, 9, 11, RIGHT_EYE)
    box(seg, 10, 11, 6, 10, UPPER_LIP)
    box(seg, 11, 12, 7, 9, INNER_MOUTH)
    box(seg, 12, 13, 6, 10, LOWER_LIP)
    return seg, y_ramp(n, 224 / n)


@pytest.mark.parametrize("n", [112, 64])
def test_same_drawing_at_lower_resolution_gives_consistent_scores(n: int) -> None:
    ref = compute_properties(*block_face(N))
    got = compute_properties(*block_face(n))
    px = N / n  # one pixel of the smaller map, in 224-map units
    for name in ("mouth", "pose"):  # area ratio and slope: exact
        assert got[name] == pytest.approx(ref[name], rel=1e-12), name
    for name in ("eyes", "hair_length", "hair_color", "background_mean", "background_std"):
        assert abs(got[name] - ref[name]) <= px, name
    assert got["hairstyle"] == pytest.approx(ref["hairstyle"], rel=0.0 if n == 112 else 0.15)


def test_scaled_constants() -> None:
    assert alg.hairstyle_geometry(224) == (8, 4, range(8, 213), range(112, 213))
    assert alg.hairstyle_geometry(112)[:2] == (4, 2)
    assert alg.hairstyle_geometry(64)[:2] == (2, 1)
    assert alg.hairstyle_geometry(256)[:2] == (9, 5)
    assert [alg.scale_length(20, n, 1) for n in (64, 128, 224, 256)] == [6, 11, 20, 23]


@pytest.mark.parametrize("n", [64, 128, 224, 256])
def test_all_sizes_run_and_are_finite(n: int) -> None:
    seg, image = draw_face(np.random.default_rng(n), n)
    for mode in ("fixed", "seed"):
        props = compute_properties(seg, image, mode)
        assert list(props) == list(PROPERTY_NAMES)
        assert all(math.isfinite(v) for v in props.values())
        assert props["eyes"] > 0 and props["hair_length"] > 0 and props["mouth"] > 0


# --------------------------------------------------------------- batch and validation


def test_batch_equals_per_item() -> None:
    rng = np.random.default_rng(11)
    faces = [draw_face(rng) for _ in range(3)]
    segs = np.stack([f[0] for f in faces])
    images = np.stack([f[1] for f in faces])
    for mode in ("fixed", "seed"):
        batch = compute_properties_batch(segs, images, mode)
        assert batch.shape == (3, 8) and batch.dtype == np.float64
        for k, (seg, image) in enumerate(faces):
            assert batch[k].tolist() == list(compute_properties(seg, image, mode).values())


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="square"):
        compute_properties(np.zeros((10, 12), np.uint8), np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(ValueError, match="image must have shape"):
        compute_properties(blank(), grey(n=100))
    with pytest.raises(ValueError, match="mode"):
        compute_properties(blank(), grey(), mode="original")


# --------------------------------------------------------------- normalisation


def test_fit_normalisation_uses_sample_std() -> None:
    mean, std = fit_normalisation(np.array([1.0, 2.0, 3.0, 4.0]))
    assert mean == 2.5 and std == pytest.approx(math.sqrt(5 / 3))
    means, stds = fit_normalisation(np.array([[1.0, 10.0], [3.0, 10.0]]))
    assert means.tolist() == [2.0, 10.0] and stds.tolist() == [math.sqrt(2), 0.0]


def test_apply_normalisation_rounds_like_python_round() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0])
    mean, std = fit_normalisation(values)
    out = apply_normalisation(values, mean, std)
    assert out.tolist() == [round((v - mean) / std, 4) for v in values.tolist()]
    # Python round is correctly rounded; np.round(x, 4) gives 0.1234, 0.0002 and 0.1 here
    assert apply_normalisation(np.array([0.12345, 0.00025, 0.10005]), 0.0, 1.0).tolist() == \
        [0.1235, 0.0003, 0.1001]
    raw = apply_normalisation(values, mean, std, decimals=None)
    assert raw.tolist() == [(v - mean) / std for v in values.tolist()]


def test_apply_normalisation_zero_std_gives_zeros() -> None:
    values = np.array([[1.0, 5.0], [3.0, 5.0]])
    mean, std = fit_normalisation(values)
    with np.errstate(all="raise"):
        out = apply_normalisation(values, mean, std)
    assert out.tolist() == [[-0.7071, 0.0], [0.7071, 0.0]]
    assert apply_normalisation(np.array([7.0]), *fit_normalisation(np.array([7.0]))).tolist() == [0.0]
