"""Property scores on an 11-class face-parsing map (seed "algorithm 2" and the hairstyle score).

Pure numpy, no I/O. ``seg`` is an (N, N) class map, ``image`` the aligned (N, N, 3) uint8 face crop.
Every geometric constant is written for N = 224 and scaled by N / 224 for other sizes (see
``docs/properties.md``). Two modes:

- ``"seed"``: what the original code computes (bit-for-bit at N = 224), defects included;
- ``"fixed"`` (default): the documented intent where the original has a defect.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

import numpy as np

# Class ids of the FaceXFormer parsing map.
BACKGROUND: Final = 0
SKIN: Final = 1
LEFT_BROW: Final = 2
RIGHT_BROW: Final = 3
LEFT_EYE: Final = 4
RIGHT_EYE: Final = 5
NOSE: Final = 6
UPPER_LIP: Final = 7
INNER_MOUTH: Final = 8
LOWER_LIP: Final = 9
HAIR: Final = 10

# Property-Score-CNN output order of the seed.
PROPERTY_NAMES: Final = (
    "eyes", "hair_color", "hair_length", "mouth", "pose",
    "background_mean", "background_std", "hairstyle",
)
MODES: Final = ("fixed", "seed")
REFERENCE_SIZE: Final = 224

# Constants of the original, in pixels of a 224 x 224 map unless noted.
EYE_ROWS: Final = (56, 168)            # both eye windows: S[56:168, ...]
LEFT_EYE_COLS: Final = (0, 168)        # left window  S[56:168, 0:168], class 4
RIGHT_EYE_COLS: Final = (56, 224)      # right window S[56:168, 56:224], class 5
HAIR_ROW_START: Final = 56             # hair_length counts rows [56, 224)
HAIR_ROW_THRESHOLD: Final = 20         # MIN_HAIR_PIXEL_THRESHOLD (pixels per row)
HAIR_BONUS_OFFSET: Final = 10          # MIN_HAIR_PIXEL_THRESHOLD // 2
BACKGROUND_ROWS: Final = 112           # background uses rows [0, 112)
HAIRSTYLE_ROW_START: Final = 112       # hairstyle scans y from 112
HAIRSTYLE_OFFSET: Final = 8            # dx = dy
HAIRSTYLE_BLOCK: Final = 4             # sx = sy
HAIRSTYLE_DENOM_BIAS: Final = 5.0      # ratio = V / (H + 5); brightness units, not scaled
HAIRSTYLE_FALLBACK: Final = 0.45       # score when no valid case (K = 0)
HAIR_COLOR_FALLBACK: Final = 127.5
BACKGROUND_FALLBACK: Final = (192.0, 0.0)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def _map_size(seg: np.ndarray) -> int:
    """Side N of a square 2-D class map."""
    if seg.ndim != 2 or seg.shape[0] != seg.shape[1]:
        raise ValueError(f"seg must be a square (N, N) class map, got shape {seg.shape}")
    return int(seg.shape[0])


def _check_image(image: np.ndarray, n: int) -> None:
    if image.shape != (n, n, 3):
        raise ValueError(f"image must have shape ({n}, {n}, 3) to match seg, got {image.shape}")


def scale_length(value: int, n: int, minimum: int = 0) -> int:
    """A 224-map length in pixels of an N-map: round(value * N / 224), at least ``minimum``."""
    return max(minimum, int(math.floor(value * n / REFERENCE_SIZE + 0.5)))


def _to_reference_units(value: float, n: int) -> float:
    """A length measured on an N-map expressed in 224-map pixels (identity at N = 224)."""
    return float(value) if n == REFERENCE_SIZE else float(value) * REFERENCE_SIZE / n


def channel_sum(image: np.ndarray) -> np.ndarray:
    """Per-pixel sum of the 3 channels: exact uint16 for uint8 images, else float64."""
    if image.dtype == np.uint8:
        return image[..., 0].astype(np.uint16) + image[..., 1] + image[..., 2]
    return image.astype(np.float64).sum(axis=2)


def brightness(image: np.ndarray) -> np.ndarray:
    """P: per-pixel mean of the 3 colour channels, float64 (same bits as ``np.mean(px)``)."""
    return channel_sum(image) / 3.0


# ---------------------------------------------------------------- eyes and pose


class EyeStats(NamedTuple):
    """What one eye window yields: column span, farthest-pair cos, pixel count, coordinate sums."""

    span: int
    cos: float
    count: int
    y_sum: int
    x_sum: int


def _column_extents(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: has-pixel flag, first row and last row of a boolean mask."""
    present = mask.any(axis=0)
    first = mask.argmax(axis=0)
    last = mask.shape[0] - 1 - mask[::-1].argmax(axis=0)
    return present, first, last


def max_column_span(mask: np.ndarray) -> int:
    """Max over columns of (last row - first row) of a boolean mask; 0 if empty."""
    present, first, last = _column_extents(mask)
    if not present.any():
        return 0
    return int((last - first)[present].max())


def _hull_candidates(mask: np.ndarray) -> np.ndarray:
    """Pixels extreme in both their column and their row (a superset of the convex-hull vertices)."""
    col_present, top, bottom = _column_extents(mask)
    row_present, left, right = _column_extents(mask.T)
    cols = np.flatnonzero(col_present)
    rows = np.flatnonzero(row_present)
    col_ext = np.zeros_like(mask)
    col_ext[top[cols], cols] = True
    col_ext[bottom[cols], cols] = True
    row_ext = np.zeros_like(mask)
    row_ext[rows, left[rows]] = True
    row_ext[rows, right[rows]] = True
    return col_ext & row_ext


def farthest_pair_cos(mask: np.ndarray) -> float:
    """|dx| / dist of the farthest pair of True pixels; 1.0 with fewer than 2 pixels.

    Exact equivalent of the seed's O(n^2) search: points are ordered column by column, top to
    bottom; the pair kept is the first (i, j), j < i, in loop order reaching the maximum.
    A farthest pair always joins two hull vertices, and every hull vertex is extreme in its row
    and in its column, so the brute force runs only over those few candidates.
    """
    mask = np.asarray(mask, dtype=bool)
    xs, ys = np.nonzero(_hull_candidates(mask).T)  # x-major order, like the seed's loops
    if xs.size < 2:
        return 1.0
    xs = xs.astype(np.int64)
    ys = ys.astype(np.int64)
    dx = xs[:, None] - xs[None, :]
    dy = ys[:, None] - ys[None, :]
    d2 = np.tril(dx * dx + dy * dy, k=-1)  # pairs (i, j) with j < i
    i, j = np.argwhere(d2 == d2.max())[0]  # row-major: smallest i, then smallest j
    adx = abs(int(dx[i, j]))
    ady = abs(int(dy[i, j]))
    return adx / math.sqrt(ady**2 + adx**2)


def eye_stats(seg: np.ndarray, eye_class: int) -> EyeStats:
    """Statistics of one eye (``LEFT_EYE`` or ``RIGHT_EYE``) inside its window."""
    n = _map_size(seg)
    r0, r1 = (scale_length(v, n) for v in EYE_ROWS)
    cols = LEFT_EYE_COLS if eye_class == LEFT_EYE else RIGHT_EYE_COLS
    c0, c1 = (scale_length(v, n) for v in cols)
    mask = seg[r0:r1, c0:c1] == eye_class
    ys, xs = np.nonzero(mask)
    count = int(ys.size)
    return EyeStats(
        span=max_column_span(mask),
        cos=farthest_pair_cos(mask),
        count=count,
        y_sum=int(ys.sum()) + r0 * count,
        x_sum=int(xs.sum()) + c0 * count,
    )


def _eyes_from_stats(left: EyeStats, right: EyeStats, n: int) -> float:
    score = max(left.span * left.cos, right.span * right.cos)
    return _to_reference_units(score, n)


def _pose_from_stats(left: EyeStats, right: EyeStats, mode: str) -> float:
    if left.count == 0 or right.count == 0:
        return 0.0
    y_l = np.float64(left.y_sum) / left.count
    x_l = np.float64(left.x_sum) / left.count
    y_r = np.float64(right.y_sum) / right.count
    x_r = np.float64(right.x_sum) / right.count
    if mode == "fixed" and x_r == x_l:
        return 0.0  # seed divides by zero here (inf or nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((y_r - y_l) / (x_r - x_l))


def eyes_score(seg: np.ndarray, mode: str = "fixed") -> float:
    """max over eyes of (max per-column span) * cos(theta of farthest pair), in 224-map pixels."""
    _check_mode(mode)
    n = _map_size(seg)
    return _eyes_from_stats(eye_stats(seg, LEFT_EYE), eye_stats(seg, RIGHT_EYE), n)


def pose_score(seg: np.ndarray, mode: str = "fixed") -> float:
    """Slope (yR - yL) / (xR - xL) between the eye centroids; 0 if an eye is missing."""
    _check_mode(mode)
    return _pose_from_stats(eye_stats(seg, LEFT_EYE), eye_stats(seg, RIGHT_EYE), mode)


# ---------------------------------------------------------------- mouth


def mouth_score(seg: np.ndarray) -> float:
    """#inner mouth / (#upper lip + #lower lip + #inner mouth); 0 if none."""
    counts = np.bincount(np.asarray(seg).ravel(), minlength=HAIR + 1)
    lips = int(counts[UPPER_LIP]) + int(counts[LOWER_LIP])
    inner = int(counts[INNER_MOUTH])
    return 0.0 if lips + inner == 0 else inner / (lips + inner)


# ---------------------------------------------------------------- hair


def _hair_color_from_p(seg: np.ndarray, p: np.ndarray) -> float:
    values = np.sort(p[seg == HAIR])
    n = values.size
    kept = values[int(0.1 * n):int(0.9 * n)]
    return HAIR_COLOR_FALLBACK if kept.size == 0 else float(np.mean(kept))


def hair_color_score(seg: np.ndarray, image: np.ndarray) -> float:
    """Mean P of hair pixels after dropping the lowest and highest 10%; 127.5 if none left."""
    _check_image(image, _map_size(seg))
    return _hair_color_from_p(seg, brightness(image))


def hair_length_score(seg: np.ndarray, mode: str = "fixed") -> float:
    """Rows in [56, N) with >= 20 hair pixels, plus the last-row bonus; in 224-map rows.

    Bonus when the last row has >= 20 hair pixels: max(left - 10, 0)/2 + max(right - 10, 0)/2,
    left/right = hair pixels in each half of that row. Same in both modes.
    """
    _check_mode(mode)
    n = _map_size(seg)
    per_row = np.count_nonzero(seg == HAIR, axis=1)
    threshold = scale_length(HAIR_ROW_THRESHOLD, n, minimum=1)
    rows = int(np.count_nonzero(per_row[scale_length(HAIR_ROW_START, n):] >= threshold))
    bonus = 0.0
    if per_row[-1] >= threshold:
        half = n // 2
        offset = scale_length(HAIR_BONUS_OFFSET, n)
        left = int(np.count_nonzero(seg[-1, :half] == HAIR))
        right = int(np.count_nonzero(seg[-1, half:] == HAIR))
        bonus = max(left - offset, 0) / 2.0 + max(right - offset, 0) / 2.0
    return _to_reference_units(rows + bonus, n)


# ---------------------------------------------------------------- background


def _background_from_p(seg: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    rows = scale_length(BACKGROUND_ROWS, seg.shape[0])
    values = p[:rows][seg[:rows] == BACKGROUND]
    n = values.size
    if n == 0:
        return BACKGROUND_FALLBACK
    if n == 1:
        return float(values[0]), 0.0
    kept = np.sort(values)[int(0.05 * n):int(0.95 * n)]
    return float(np.mean(kept)), float(np.std(kept))


def background_scores(seg: np.ndarray, image: np.ndarray) -> tuple[float, float]:
    """(mean, std) of P over background pixels of the top half, middle 90% kept."""
    _check_image(image, _map_size(seg))
    return _background_from_p(seg, brightness(image))


# ---------------------------------------------------------------- hairstyle


def hairstyle_geometry(n: int) -> tuple[int, int, range, range]:
    """(offset d, block size s, x range, y range) of the hairstyle scan on an N-map.

    At N = 224: d = 8, s = 4, x in range(8, 213), y in range(112, 213), i.e. the seed's
    ``range(dx, N - (dx + sx - 1))`` and ``range(N // 2, N - (dy + sy - 1))``.
    """
    d = scale_length(HAIRSTYLE_OFFSET, n, minimum=1)
    s = scale_length(HAIRSTYLE_BLOCK, n, minimum=1)
    stop = n - (d + s - 1)
    return d, s, range(d, stop), range(scale_length(HAIRSTYLE_ROW_START, n), stop)


def _box_sums(values: np.ndarray, s: int) -> np.ndarray:
    """Sums over every s x s window of a uint8/uint16/float64 map; [y, x] covers [y:y+s, x:x+s].

    Integral image in float64 (int32 for uint8): integer inputs give exact sums.
    """
    import cv2

    c = cv2.integral(values) if values.dtype == np.uint8 else cv2.integral(values, sdepth=cv2.CV_64F)
    return c[s:, s:] - c[:-s, s:] - c[s:, :-s] + c[:-s, :-s]


def hairstyle_cases(seg: np.ndarray, mode: str = "fixed") -> np.ndarray:
    """Boolean grid [y - y0, x - x0] of valid cases over the scan ranges.

    ``fixed``: all 16 pixels of the centre block and of its bottom, left and right neighbours are
    hair. ``seed``: only the 8 corners the original checks, including (y+3, x-11), whose negative
    column for x < 11 wraps around to the right edge as Python indexing does.
    """
    _check_mode(mode)
    n = _map_size(seg)
    d, s, xr, yr = hairstyle_geometry(n)
    if len(xr) == 0 or len(yr) == 0:
        return np.zeros((len(yr), len(xr)), dtype=bool)
    hair = seg == HAIR
    y0, y1, x0, x1 = yr.start, yr.stop, xr.start, xr.stop
    if mode == "fixed":
        full = _box_sums(hair.view(np.uint8), s) == s * s  # [y, x]: hair[y:y+s, x:x+s] all hair
        return (full[y0:y1, x0:x1] & full[y0 + d:y1 + d, x0:x1]
                & full[y0:y1, x0 - d:x1 - d] & full[y0:y1, x0 + d:x1 + d])
    xs = np.arange(x0, x1)
    e = s - 1
    checks = ((0, 0), (d, 0), (0, -d), (0, d), (e, e), (d + e, e), (e, -d - e), (e, d + e))
    valid = np.ones((len(yr), len(xr)), dtype=bool)
    for dy, dx in checks:
        valid &= hair[y0 + dy:y1 + dy][:, (xs + dx) % n]
    return valid


def hairstyle_score(seg: np.ndarray, image: np.ndarray, mode: str = "fixed") -> float:
    """Mean over valid cases of V / (H + 5) on 4x4 block means of the crop; 0.45 if K = 0.

    V = |m0 - m_bottom|, H = max(|m0 - m_left|, |m0 - m_right|); higher = curlier.
    """
    _check_image(image, _map_size(seg))
    return _hairstyle_from_sum(seg, channel_sum(image), mode)


def _hairstyle_from_sum(seg: np.ndarray, csum: np.ndarray, mode: str) -> float:
    valid = hairstyle_cases(seg, mode)
    if not valid.any():
        return HAIRSTYLE_FALLBACK
    d, s, xr, yr = hairstyle_geometry(seg.shape[0])
    means = _box_sums(csum, s) / (3 * s * s)  # == np.mean over the s x s x 3 block
    y0, y1, x0, x1 = yr.start, yr.stop, xr.start, xr.stop
    m0 = means[y0:y1, x0:x1]
    diff_h = np.maximum(np.abs(m0 - means[y0:y1, x0 - d:x1 - d]),
                        np.abs(m0 - means[y0:y1, x0 + d:x1 + d]))
    diff_v = np.abs(m0 - means[y0 + d:y1 + d, x0:x1])
    ratios = diff_v / (diff_h + HAIRSTYLE_DENOM_BIAS)
    return float(np.mean(ratios.T[valid.T]))  # x-major order, as the seed appends them


# ---------------------------------------------------------------- all properties


def compute_properties(seg: np.ndarray, image: np.ndarray, mode: str = "fixed") -> dict[str, float]:
    """All 8 raw (un-normalised) property values, keyed by ``PROPERTY_NAMES``."""
    _check_mode(mode)
    seg = np.asarray(seg)
    image = np.asarray(image)
    n = _map_size(seg)
    _check_image(image, n)
    csum = channel_sum(image)
    p = csum / 3.0
    left, right = eye_stats(seg, LEFT_EYE), eye_stats(seg, RIGHT_EYE)
    bg_mean, bg_std = _background_from_p(seg, p)
    return {
        "eyes": _eyes_from_stats(left, right, n),
        "hair_color": _hair_color_from_p(seg, p),
        "hair_length": hair_length_score(seg, mode),
        "mouth": mouth_score(seg),
        "pose": _pose_from_stats(left, right, mode),
        "background_mean": bg_mean,
        "background_std": bg_std,
        "hairstyle": _hairstyle_from_sum(seg, csum, mode),
    }


def compute_properties_batch(segs: np.ndarray, images: np.ndarray, mode: str = "fixed") -> np.ndarray:
    """(N, 8) float64 array of raw properties in ``PROPERTY_NAMES`` order."""
    segs = np.asarray(segs)
    images = np.asarray(images)
    if segs.ndim != 3 or images.ndim != 4 or len(segs) != len(images):
        raise ValueError(f"expected segs (N, H, W) and images (N, H, W, 3), got {segs.shape} and {images.shape}")
    out = np.empty((len(segs), len(PROPERTY_NAMES)), dtype=np.float64)
    for k in range(len(segs)):
        props = compute_properties(segs[k], images[k], mode)
        out[k] = [props[name] for name in PROPERTY_NAMES]
    return out
