"""Procedural faces with ground truth: the renderer of the synthetic face world.

Pure: arrays in, arrays out. Every face is a function of its attribute row and its seed only,
so a face never depends on the batch it is rendered in (STYLE 7).

The rendered image *is* the aligned face crop the property algorithms expect (the seed's MTCNN box
+ 50% margin resized to 224): all shapes are defined in unit coordinates ``x = col / R``,
``y = row / R`` and scale with the resolution R. At 224 scale the eyes lie around row 90, the
nose at the centre, the mouth around row 166; hair frames the face from the top, leaves
background in the upper corners and falls down both sides (to the bottom row for long hair).

Attributes (``ATTRIBUTE_NAMES``, ranges in ``ATTRIBUTE_RANGES``):

- ``eyes``: eye openness (vertical span of the eye classes 4/5).
- ``mouth``: mouth openness (the inner mouth, class 8, grows between the lips).
- ``pose``: head tilt/turn in [-1, 1]: rotates the face by ``pose * 18.3`` degrees (positive =
  the right eye lower, so the eye-centroid slope has the sign of ``pose``) and shifts the face
  and its features horizontally.
- ``hair_color``: hair brightness (mean channel value ~ ``30 + 185 * hair_color``).
- ``hair_length``: how far the hair falls; from chin length to the bottom row, then the hair
  widens at the bottom row.
- ``hairstyle``: 0 = straight (vertical strands) to 1 = curly (isotropic curls).
- ``background_mean`` / ``background_std``: background brightness and texture amplitude.
- ``gender``: 0 female to 1 male (wider, squarer jaw, heavier brows, stubble shade).
- ``age``: 0 young to 1 old (wrinkles, under-eye lines, grey hair at constant brightness).
- ``glasses``: 0 or 1: frames over the eyes. They are drawn in the image only: the parsing map
  keeps skin/eye under the frames.
- ``quality``: 1 clean to 0 degraded; below 0.5 the image is blurred, noised and/or
  JPEG-compressed (strength grows as quality falls).

Parsing map (``CLASS_NAMES``): the 11 FaceXFormer classes. The neck and clothes are background
(0), as in LaPa. Every class is present in a normal face except the inner mouth (8), absent
when the mouth is closed.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

ATTRIBUTE_NAMES: Final = (
    "eyes", "mouth", "pose", "hair_color", "hair_length", "hairstyle",
    "background_mean", "background_std", "gender", "age", "glasses", "quality",
)
ATTRIBUTE_RANGES: Final[dict[str, tuple[float, float]]] = {
    name: ((-1.0, 1.0) if name == "pose" else (0.0, 1.0)) for name in ATTRIBUTE_NAMES
}
BINARY_ATTRIBUTES: Final = ("glasses",)
HAND_LABEL_NAMES: Final = ("gender", "quality", "age", "glass")
CLASS_NAMES: Final = (
    "background", "skin", "left_brow", "right_brow", "left_eye", "right_eye", "nose",
    "upper_lip", "inner_mouth", "lower_lip", "hair",
)
NUM_CLASSES: Final = len(CLASS_NAMES)

# Imbalance of the original hand-labelled data (docs/original.md §3.1: 195/2000 male, 74 low quality,
# 128 old, 103 glasses), rounded.
MALE_RATE: Final = 0.10
LOW_QUALITY_RATE: Final = 0.04
OLD_RATE: Final = 0.06
GLASSES_RATE: Final = 0.05

MAX_TILT_RADIANS: Final = 0.32          # pose = +-1 rotates the face by ~18.3 degrees
_RENDER_STREAM: Final = 0x5EED_F00D     # second SeedSequence word of the per-face texture RNG
_CHUNK_PIXELS: Final = 1 << 18          # faces rendered together: chunk * R * R <= this

_IDX = {name: i for i, name in enumerate(ATTRIBUTE_NAMES)}


# ---------------------------------------------------------------- validation


def check_resolution(resolution: int) -> int:
    """The resolution as int; ``ValueError`` unless it is a power of two >= 32."""
    ok = isinstance(resolution, (int, np.integer)) and not isinstance(resolution, bool)
    r = int(resolution) if ok else 0
    if not ok or r < 32 or r & (r - 1):
        raise ValueError(f"resolution must be a power of two >= 32, got {resolution}")
    return r


def _check_seeds(seeds: np.ndarray, n: int | None = None) -> np.ndarray:
    seeds = np.asarray(seeds)
    if seeds.ndim != 1 or (seeds.size and seeds.dtype.kind not in "iu"):
        raise ValueError(f"seeds must be a 1-D array of integers, got shape {seeds.shape} "
                         f"and dtype {seeds.dtype}")
    if n is not None and len(seeds) != n:
        raise ValueError(f"got {len(seeds)} seeds for {n} attribute rows")
    if seeds.size and int(seeds.min()) < 0:
        raise ValueError(f"seeds must be >= 0, got {int(seeds.min())}")
    return seeds.astype(np.int64)


def validate_attributes(attrs: np.ndarray) -> np.ndarray:
    """``attrs`` as an (N, 12) float32 array; ``ValueError`` naming the first bad attribute."""
    a = np.asarray(attrs, dtype=np.float32)
    if a.ndim != 2 or a.shape[1] != len(ATTRIBUTE_NAMES):
        raise ValueError(f"attributes must have shape (N, {len(ATTRIBUTE_NAMES)}), "
                         f"got {np.shape(attrs)}")
    for j, name in enumerate(ATTRIBUTE_NAMES):
        lo, hi = ATTRIBUTE_RANGES[name]
        col = a[:, j]
        bad = np.flatnonzero(~((col >= lo) & (col <= hi)))  # NaN fails too
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"attribute '{name}' must be in [{lo:g}, {hi:g}], "
                             f"got {float(col[i]):g} (row {i})")
        if name in BINARY_ATTRIBUTES:
            bad = np.flatnonzero((col != lo) & (col != hi))
            if bad.size:
                i = int(bad[0])
                raise ValueError(f"attribute '{name}' must be {lo:g} or {hi:g}, "
                                 f"got {float(col[i]):g} (row {i})")
    return a


# ---------------------------------------------------------------- attributes and labels


def _sample_row(seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    u = rng.random(6)  # class draws first, so rates do not depend on the beta draws
    male = u[0] < MALE_RATE
    low_q = u[1] < LOW_QUALITY_RATE
    old = u[2] < OLD_RATE
    glasses = u[3] < GLASSES_RATE
    return [
        float(rng.beta(1.2, 1.2)),                      # eyes
        float(rng.beta(1.1, 1.3)),                      # mouth
        float(2.0 * rng.beta(1.6, 1.6) - 1.0),          # pose
        float(rng.beta(1.1, 1.1)),                      # hair_color
        float(rng.random()),                            # hair_length
        float(rng.random()),                            # hairstyle
        float(rng.beta(1.1, 1.1)),                      # background_mean
        float(rng.beta(1.1, 1.3)),                      # background_std
        float(0.5 + 0.5 * u[4] if male else 0.5 * u[4]),  # gender
        float(0.5 + 0.5 * u[5] if old else 0.5 * u[5]),   # age
        1.0 if glasses else 0.0,                        # glasses
        float(0.5 * rng.random() if low_q else 0.5 + 0.5 * rng.random()),  # quality
    ]


def sample_attributes(seeds: np.ndarray) -> np.ndarray:
    """(N, 12) float32 attributes, row i drawn from ``np.random.default_rng(seeds[i])`` alone.

    Rates mimic the original hand labels: ~10% male (gender >= 0.5), ~4% low quality
    (quality < 0.5), ~6% old (age >= 0.5), ~5% glasses; all attributes independent.
    """
    seeds = _check_seeds(seeds)
    out = np.array([_sample_row(int(s)) for s in seeds], dtype=np.float32)
    out = out.reshape(len(seeds), len(ATTRIBUTE_NAMES))
    return np.clip(out, [ATTRIBUTE_RANGES[n][0] for n in ATTRIBUTE_NAMES],
                   [ATTRIBUTE_RANGES[n][1] for n in ATTRIBUTE_NAMES]).astype(np.float32)


def hand_labels(attrs: np.ndarray) -> np.ndarray:
    """(N, 4) int64 labels ``gender, quality, age, glass`` with the original's polarity.

    gender 1 = female (gender < 0.5), quality 1 = good (>= 0.5), age 1 = old (>= 0.5),
    glass 1 = glasses.
    """
    a = validate_attributes(attrs)
    return np.stack([
        a[:, _IDX["gender"]] < 0.5,
        a[:, _IDX["quality"]] >= 0.5,
        a[:, _IDX["age"]] >= 0.5,
        a[:, _IDX["glasses"]] >= 0.5,
    ], axis=1).astype(np.int64)


# ---------------------------------------------------------------- per-face parameters

_IRIS = np.array([[55, 35, 22], [95, 60, 32], [110, 88, 48], [70, 108, 150],
                  [75, 110, 80], [105, 115, 125]], dtype=np.float64)


def _ramp(x: float, lo: float, hi: float) -> float:
    t = min(max((x - lo) / (hi - lo), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def _zero_mean_tint(rng: np.random.Generator, strength: float) -> list[float]:
    t = rng.normal(size=3)
    t -= t.mean()
    return list(t / (np.abs(t).max() + 1e-9) * strength)


def _face_params(row: np.ndarray, seed: int, r: int, cv2) -> tuple[dict[str, float], np.ndarray]:
    """Scalar parameters and texture fields (3, R, R) of one face, from its row and seed only.

    Trigonometry happens here, in Python scalars, so the vectorised part uses only exactly
    rounded operations and a face renders bit-identically in any batch.
    """
    eyes, mouth, pose, hair_color, hair_length, hairstyle, bg_mean, bg_std, gender, age, \
        glasses, quality = (float(v) for v in row)
    rng = np.random.default_rng([seed, _RENDER_STREAM])
    male = _ramp(gender, 0.3, 0.7)
    old = _ramp(age, 0.3, 0.7)
    p: dict[str, float] = {"male": male, "old": old, "glasses": glasses}

    theta = pose * MAX_TILT_RADIANS
    p["cos"], p["sin"] = math.cos(theta), math.sin(theta)
    p["cx"] = 0.5 + 0.035 * pose + rng.uniform(-0.012, 0.012)
    p["cy"] = 0.50 + rng.uniform(-0.01, 0.01)
    p["yaw"] = 0.03 * pose
    p["face_a"] = 0.262 + 0.022 * male + rng.uniform(-0.012, 0.012)
    p["face_bt"] = 0.40 + rng.uniform(-0.01, 0.01)
    p["face_bb"] = 0.375 + 0.012 * male + rng.uniform(-0.01, 0.01)
    p["jaw"] = 0.1 + 0.45 * male + rng.uniform(0.0, 0.1)

    # eyes: a symmetric lens between two parabolas; the vertical span grows with openness
    p["eye_dx"] = 0.158 + rng.uniform(-0.008, 0.008)
    p["eye_y"] = -0.10 + rng.uniform(-0.008, 0.008)
    p["eye_a"] = 0.066 + rng.uniform(-0.004, 0.004)
    for side, sgn in (("l", -1.0), ("r", 1.0)):
        p[f"eye_up_{side}"], p[f"eye_lo_{side}"] = _eye_extents(p, sgn, eyes, r)
    gaze = rng.uniform(-0.012, 0.012)
    p["gaze"] = gaze
    iris = _IRIS[rng.integers(len(_IRIS))] * rng.uniform(0.85, 1.15)
    # brows
    p["brow_y"] = -0.192 + rng.uniform(-0.01, 0.01) - 0.006 * male
    p["brow_a"] = 0.074 + rng.uniform(-0.006, 0.006)
    p["brow_arch"] = 0.018 + rng.uniform(-0.006, 0.008) - 0.008 * male
    p["brow_t"] = 0.017 + 0.013 * male + rng.uniform(-0.002, 0.003)
    # nose
    p["nose_w"] = 0.046 + 0.008 * male + rng.uniform(-0.006, 0.006)
    p["nose_tip"] = 0.085 + rng.uniform(-0.01, 0.01)
    # mouth
    p["mouth_y"] = 0.245 + rng.uniform(-0.012, 0.012)
    p["mouth_a"] = 0.098 + 0.01 * male + rng.uniform(-0.01, 0.01)
    p["mouth_h"] = 0.052 * mouth                   # 0 = closed: no inner mouth
    p["smile"] = rng.uniform(-0.25, 0.6)
    p["lip_up"] = 0.028 + rng.uniform(-0.004, 0.004) - 0.006 * male
    p["lip_lo"] = 0.036 + rng.uniform(-0.004, 0.004) - 0.006 * male
    # hair geometry
    p["cap_a"] = p["face_a"] + 0.115 + 0.025 * hairstyle + rng.uniform(-0.01, 0.01)
    p["cap_b"] = 0.43 + 0.02 * hairstyle + rng.uniform(-0.01, 0.01)
    p["win_b"] = 0.445 + rng.uniform(-0.025, 0.015)
    p["win_u"] = rng.uniform(-0.035, 0.035)
    p["hair_end"] = 0.68 + 0.72 * hair_length       # row where the side hair ends (unit)
    p["hair_bottom"] = 0.20 + 0.25 * hair_length    # half-width of the hair at the bottom row
    p["curl"] = hairstyle
    # lighting
    light = rng.uniform(-0.6, 0.6)
    p["light_x"] = light
    p["light_y"] = -0.4 + rng.uniform(-0.2, 0.2)

    # colours (RGB, 0..255)
    t = rng.random() ** 1.4
    skin = np.array([236, 204, 182]) * (1 - t) + np.array([158, 108, 80]) * t
    skin *= 1.0 + np.array(_zero_mean_tint(rng, 0.025))
    lip = skin * np.array([0.92, 0.58, 0.60]) * rng.uniform(0.85, 1.0)
    hair_p = 30.0 + 185.0 * hair_color
    headroom = min(1.0, (245.0 / hair_p - 1.0) / 0.32)
    warmth = rng.uniform(0.2, 1.0) * headroom
    hue = np.array([0.30, 0.02, -0.32]) * warmth + np.array(_zero_mean_tint(rng, 0.03))
    hair = hair_p * (1.0 + hue)
    grey = old * (0.55 + 0.45 * _ramp(age, 0.5, 0.9))
    hair = hair * (1.0 - grey) + hair_p * grey          # desaturate, same brightness
    bg_p = 30.0 + 195.0 * bg_mean
    bg = bg_p * (1.0 + np.array(_zero_mean_tint(rng, rng.uniform(0.05, 0.3))))
    clothes = rng.uniform(25, 220, size=3)
    p["hair_amp"] = 14.0 + 0.06 * hair_p
    p["bg_amp"] = 2.0 + 30.0 * bg_std
    g = rng.uniform(0, 2 * math.pi)
    p["bg_gx"], p["bg_gy"] = math.cos(g), math.sin(g)
    p["blush"] = (1 - male) * rng.uniform(0.0, 1.0)
    for name, col in (("skin", skin), ("lip", lip), ("hair", hair), ("bg", bg),
                      ("clothes", clothes), ("iris", iris)):
        for k in range(3):
            p[f"{name}{k}"] = float(col[k])

    # degradation (quality < 0.5)
    deg = 0.0 if quality >= 0.5 else 0.45 + 0.55 * (0.5 - quality) / 0.5
    use = rng.random(3) < 0.7
    if deg and not use.any():
        use[rng.integers(3)] = True
    p["deg"] = deg
    p["deg_blur"], p["deg_noise"], p["deg_jpeg"] = (float(deg * u) for u in use)

    # textures: hair (anisotropic: straight = long vertical strands, curly = isotropic curls),
    # background, skin grain
    z = rng.standard_normal((3, r, r), dtype=np.float32)
    sx = 0.004 * (0.018 / 0.004) ** hairstyle
    sy = 0.10 * (0.018 / 0.10) ** hairstyle
    tex = np.empty_like(z)
    tex[0] = _blur(cv2, z[0], sx * r, sy * r)
    tex[1] = _blur(cv2, z[1], 0.03 * r, 0.03 * r)
    tex[2] = _blur(cv2, z[2], 0.006 * r, 0.006 * r)
    for k in range(3):
        f = tex[k]
        f -= f.mean()
        f /= f.std() + 1e-6
    if hairstyle > 0.0:  # ridged noise reads as curls; blend in with curliness
        ridge = 1.0 - 2.0 * np.abs(tex[0])
        ridge -= ridge.mean()
        ridge /= ridge.std() + 1e-6
        tex[0] = (1.0 - 0.6 * hairstyle) * tex[0] + 0.6 * hairstyle * ridge
    return p, tex


def _eye_extents(p: dict[str, float], sgn: float, eyes: float, r: int) -> tuple[float, float]:
    """Upper and lower lid extents (unit, face-local) of one eye, snapped to the pixel grid.

    Openness sets a whole number K of pixel rows (K = round(R * (0.012 + 0.085 * eyes)),
    at least 1) covered by the image column through the eye centre: the upper lid is put on a
    pixel edge, the lower lid K rows below it. The per-column span of the rasterised eye is then
    a step function of openness instead of depending on the sub-pixel position of the eye.
    The lens is (nearly) centrally symmetric, so its longest vertical chord passes through the
    centre. Extents are converted from image rows to the rotated face frame exactly.
    """
    c, s, a = p["cos"], p["sin"], p["eye_a"]
    k = max(1, int(math.floor(r * (0.012 + 0.085 * eyes) + 0.5)))
    ex = p["yaw"] + sgn * p["eye_dx"]
    ey_img = (p["cy"] + ex * s + p["eye_y"] * c) * r  # eye centre row, in pixel-edge units
    top = math.floor(ey_img - 0.5 * k + 0.5)
    t_up = (ey_img - top) / r               # image distance centre -> upper lid (unit)
    t_lo = (top + k - ey_img) / r
    # on the vertical through the centre, local u = t * s, w = t * c; lid: |w| = ext * env(u)
    up = t_up * c / (1.0 - (t_up * s / a) ** 2)
    lo = t_lo * c / (1.0 - (t_lo * s / a) ** 2)
    return up, lo


def _blur(cv2, img: np.ndarray, sx: float, sy: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigmaX=max(sx, 0.1), sigmaY=max(sy, 0.1),
                            borderType=cv2.BORDER_REFLECT)


# ---------------------------------------------------------------- vectorised drawing helpers


def _alpha(sd: np.ndarray, r: int) -> np.ndarray:
    """Coverage from an approximate signed distance (unit coords, > 0 inside): 1-pixel ramp."""
    return np.clip(sd * np.float32(r) + np.float32(0.5), 0.0, 1.0)


def _sd_ellipse(du: np.ndarray, dw: np.ndarray, a, b) -> np.ndarray:
    """First-order signed distance to the ellipse (du/a)^2 + (dw/b)^2 = 1, positive inside."""
    xa = du / a
    wb = dw / b
    q = xa * xa + wb * wb
    gu = xa / a
    gw = wb / b
    return (1.0 - q) / (2.0 * np.sqrt(gu * gu + gw * gw) + np.float32(1e-4))


def _paint(img: np.ndarray, alpha: np.ndarray, color) -> None:
    """img <- img + alpha * (color - img), in place; color broadcasts to (N, R, R, 3)."""
    img += alpha[..., None] * (color - img)


def _shade(img: np.ndarray, factor: np.ndarray) -> None:
    img *= factor[..., None]


def _col(p: dict[str, np.ndarray], name: str) -> np.ndarray:
    """(N, 1, 1, 3) colour from per-face scalars name0..name2."""
    return np.stack([p[f"{name}{k}"] for k in range(3)], axis=-1)


# ---------------------------------------------------------------- rendering

_F = np.float32
_SCLERA = np.array([238, 234, 228], dtype=np.float32)
_DARK = np.array([30, 20, 18], dtype=np.float32)
_PUPIL = np.array([18, 12, 12], dtype=np.float32)
_WHITE = np.array([255, 255, 255], dtype=np.float32)
_BLUSH = np.array([220, 110, 110], dtype=np.float32)
_STUBBLE = np.array([70, 70, 78], dtype=np.float32)
_MOUTH = np.array([70, 22, 28], dtype=np.float32)
_TEETH = np.array([165, 190, 185], dtype=np.float32)
_FRAME = np.array([28, 24, 26], dtype=np.float32)
_HIGHLIGHT = np.array([255, 245, 235], dtype=np.float32)


class _Grid:
    """Per-pixel arrays of a chunk of faces; ``rows`` gives a band of rows as views.

    Small features are drawn inside fixed row bands (unit coordinates, so the same at any batch
    size) to save work; every band contains its feature at any pose.
    """

    _ROW_FIELDS = ("Y", "u", "w", "uf", "img", "seg", "hair_tex", "bg_tex", "grain", "face_a")

    def __init__(self, r: int, **fields: np.ndarray) -> None:
        self.r = r
        for k, v in fields.items():
            setattr(self, k, v)

    def rows(self, lo: float, hi: float) -> "_Grid":
        i0, i1 = max(0, int(math.floor(lo * self.r))), min(self.r, int(math.ceil(hi * self.r)))
        out = _Grid(**self.__dict__)
        for k in self._ROW_FIELDS:
            v = getattr(self, k, None)
            if v is not None and v.shape[1] == self.r:
                setattr(out, k, v[:, i0:i1])
        return out


def render(attrs: np.ndarray, seeds: np.ndarray, resolution: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Render faces: (images uint8 (N, R, R, 3) RGB, maps uint8 (N, R, R) class ids).

    Deterministic per (attribute row, seed); identical at any batch size. ``ValueError`` for a
    resolution that is not a power of two >= 32 and for out-of-range attributes.
    """
    import cv2

    r = check_resolution(resolution)
    a = validate_attributes(attrs)
    seeds = _check_seeds(seeds, len(a))
    n = len(a)
    images = np.empty((n, r, r, 3), dtype=np.uint8)
    maps = np.empty((n, r, r), dtype=np.uint8)
    chunk = max(1, _CHUNK_PIXELS // (r * r))
    for s in range(0, n, chunk):
        images[s:s + chunk], maps[s:s + chunk] = _render_chunk(a[s:s + chunk], seeds[s:s + chunk], r, cv2)
    return images, maps


def _render_chunk(a: np.ndarray, seeds: np.ndarray, r: int, cv2) -> tuple[np.ndarray, np.ndarray]:
    n = len(a)
    params, texs = [], np.empty((n, 3, r, r), dtype=np.float32)
    for i in range(n):
        p_i, texs[i] = _face_params(a[i], int(seeds[i]), r, cv2)
        params.append(p_i)
    p = {k: np.array([q[k] for q in params], dtype=np.float32).reshape(n, 1, 1) for k in params[0]}

    coords = (np.arange(r, dtype=np.float32) + _F(0.5)) / _F(r)
    X = coords[None, None, :]
    Y = coords[None, :, None]
    dx = X - p["cx"]                      # (N, 1, R)
    dy = Y - p["cy"]                      # (N, R, 1)
    c, s = p["cos"], p["sin"]
    u = dx * c + dy * s                   # face-local coordinates (rotated with the head)
    w = dy * c - dx * s
    g = _Grid(r, X=X, Y=Y, dx=dx, d=np.abs(dx), u=u, w=w, uf=u - p["yaw"],
              img=np.empty((n, r, r, 3), dtype=np.float32), seg=np.zeros((n, r, r), dtype=np.uint8),
              hair_tex=texs[:, 0], bg_tex=texs[:, 1], grain=texs[:, 2])

    _draw_background(g, p)
    _draw_body(g, p)
    cap_sd, hair_col = _draw_hair_back(g, p)
    face_sd, g.face_a = _draw_face(g, p)
    _draw_skin_details(g, p)
    _draw_fringe(g, p, cap_sd, face_sd, hair_col)
    _draw_nose(g.rows(0.36, 0.72), p)
    _draw_brows(g.rows(0.12, 0.50), p)
    _draw_eyes(g.rows(0.22, 0.60), p)
    _draw_mouth(g.rows(0.58, 0.94), p)
    if float(p["glasses"].max()) > 0:
        _draw_glasses(g.rows(0.18, 0.64), p)
    _ensure_eyes(g, p)

    out = np.clip(g.img + _F(0.5), 0, 255).astype(np.uint8)
    for i in np.flatnonzero(p["deg"][:, 0, 0] > 0):
        out[i] = _degrade(out[i], params[i], int(seeds[i]), r, cv2)
    return out, g.seg


def _draw_background(g: _Grid, p) -> None:
    """Base colour + amplitude * (smooth texture + linear gradient)."""
    grad = (g.X - _F(0.5)) * p["bg_gx"] + (g.Y - _F(0.5)) * p["bg_gy"]
    g.img[:] = _col(p, "bg")
    g.img += (p["bg_amp"] * (g.bg_tex + _F(1.2) * grad))[..., None]


def _draw_body(g: _Grid, p) -> None:
    """Neck and clothes; both stay background (0) in the map."""
    b = g.rows(0.45, 1.0)
    neck_sd = np.minimum(_F(0.095) + _F(0.02) * p["male"] - b.d, b.Y - p["cy"])
    shade = _F(0.72) + _F(0.18) * np.clip((b.Y - p["cy"] - _F(0.36)) / _F(0.12), 0.0, 1.0)
    _paint(b.img, _alpha(neck_sd, b.r), _col(p, "skin") * shade[..., None])
    b = g.rows(0.8, 1.0)
    shoulder = b.Y - (_F(0.87) + _F(1.3) * np.square(np.maximum(b.d - _F(0.08), 0.0)))
    collar = _sd_ellipse(b.dx, b.Y - _F(0.875), _F(0.085), _F(0.06))
    _paint(b.img, _alpha(np.minimum(shoulder, -collar), b.r),
           _col(p, "clothes") * (_F(0.85) + _F(0.1) * b.grain[..., None]))


def _draw_hair_back(g: _Grid, p) -> tuple[np.ndarray, np.ndarray]:
    """Cap (rotates with the head) + side curtains (hang vertically) behind the face: class 10."""
    curl, tex, d, Y = p["curl"], g.hair_tex, g.d, g.Y
    v0 = p["cy"] - _F(0.07)                 # the curtains start at the widest row of the cap
    cap_sd = np.minimum(_sd_ellipse(g.u, g.w + _F(0.07), p["cap_a"], p["cap_b"]),
                        p["cy"] - _F(0.02) - Y) + _F(0.012) * curl * tex
    w_top = p["cap_a"] - _F(0.01)
    w_out = w_top + (p["hair_bottom"] - w_top) * np.clip((Y - _F(0.62)) / _F(0.38), 0.0, 1.0)
    w_in = _F(0.125)
    tip = (d - _F(0.5) * (w_out + w_in)) / (_F(0.5) * (w_out - w_in))
    v_end = p["hair_end"] - _F(0.05) * tip * tip + _F(0.015) * curl * tex
    curtain_sd = np.minimum(np.minimum(w_out - d, d - w_in), np.minimum(Y - v0, v_end - Y)) \
        + _F(0.01) * curl * tex
    hair_a = _alpha(np.maximum(cap_sd, curtain_sd), g.r)
    shade = (_F(0.78) + _F(0.22) * np.clip((d - w_in) / _F(0.12), 0.0, 1.0)) \
        * (_F(1.0) - _F(0.12) * np.clip(g.u * p["light_x"] / _F(0.3), -1.0, 1.0))
    hair_col = _col(p, "hair") * shade[..., None] + (p["hair_amp"] * tex)[..., None]
    _paint(g.img, hair_a, hair_col)
    g.seg[hair_a >= 0.5] = 10
    return cap_sd, hair_col


def _draw_face(g: _Grid, p) -> tuple[np.ndarray, np.ndarray]:
    """Skin oval (class 1): ellipse on top, ellipse/superellipse blend (jaw) below; dome light."""
    u, w = g.u, g.w
    fa = p["face_a"]
    top = w < 0
    fb = np.where(top, p["face_bt"], p["face_bb"])
    jaw = np.where(top, _F(0.0), p["jaw"])
    xa = u / fa
    tb = w / fb
    x2, t2 = xa * xa, tb * tb
    f = (1 - jaw) * (x2 + t2) + jaw * (x2 * x2 + t2 * t2)
    gu = ((1 - jaw) * 2 * xa + jaw * 4 * x2 * xa) / fa
    gw = ((1 - jaw) * 2 * tb + jaw * 4 * t2 * tb) / fb
    face_sd = (1 - f) / (np.sqrt(gu * gu + gw * gw) + _F(1e-4))
    face_a = _alpha(face_sd, g.r)
    nz = np.sqrt(np.clip(1 - f, 0.0, 1.0))
    light = _F(0.80) + _F(0.22) * (nz * _F(0.75) - xa * p["light_x"] * _F(0.5)
                                   + tb * p["light_y"] * _F(0.25))
    skin = _col(p, "skin") * (light * (_F(1.0) + _F(0.012) * g.grain))[..., None]
    _paint(g.img, face_a, skin)
    g.seg[face_a >= 0.5] = 1
    return face_sd, face_a


def _draw_skin_details(g: _Grid, p) -> None:
    """Image only: blush (female), stubble shade (male), wrinkles (old)."""
    if float(p["blush"].max()) > 0:
        b = g.rows(0.40, 0.78)
        cheek = np.maximum(_sd_ellipse(np.abs(b.uf) - _F(0.15), b.w - _F(0.07), _F(0.06), _F(0.04)), 0.0)
        _paint(b.img, b.face_a * np.clip(cheek * _F(25) * p["blush"], 0.0, 0.35), _BLUSH)
    if float(p["male"].max()) > 0:
        b = g.rows(0.5, 1.0)
        beard = np.clip((b.w - _F(0.12)) / _F(0.08), 0.0, 1.0) \
            * np.clip(_F(0.9) - np.abs(b.uf) / (p["face_a"] * _F(1.05)), 0.0, 1.0)
        _paint(b.img, b.face_a * p["male"] * _F(0.55) * beard * (_F(0.75) + _F(0.25) * b.grain), _STUBBLE)
    if float(p["old"].max()) > 0:
        b = g.rows(0.12, 0.90)
        eye_dx, eye_y, r = p["eye_dx"], p["eye_y"], _F(g.r)
        au, w = np.abs(b.uf), b.w
        # nasolabial folds: from the nose wings down to the mouth corners
        fold_u = _F(0.065) + _F(0.06) * np.clip((w - _F(0.07)) / _F(0.18), 0.0, 1.0)
        lines = np.clip(_F(1) - np.abs(au - fold_u) * r / _F(0.9), 0, 1) * ((w > _F(0.07)) & (w < _F(0.27)))
        for k in range(2):  # forehead lines
            y_line = p["brow_y"] - _F(0.05) - _F(0.035) * k
            lines += np.clip(_F(1) - np.abs(w - y_line) * r / _F(0.8), 0, 1) \
                * np.clip(_F(0.16) - au, 0, _F(0.05)) * _F(20)
        under = np.abs(w - eye_y - p["eye_lo_l"] - _F(0.022) - _F(2.5) * np.square(au - eye_dx))
        lines += np.clip(_F(1) - under * r / _F(0.8), 0, 1) * (np.abs(au - eye_dx) < _F(0.045))
        crow = np.abs(w - eye_y - (au - eye_dx - p["eye_a"]) * _F(0.4))
        lines += np.clip(_F(1) - crow * r / _F(0.8), 0, 1) \
            * ((au > eye_dx + p["eye_a"] + _F(0.006)) & (au < eye_dx + p["eye_a"] + _F(0.04)))
        _paint(b.img, b.face_a * np.clip(lines, 0, 1) * p["old"] * _F(0.45), _col(p, "skin") * _F(0.55))


def _draw_fringe(g: _Grid, p, cap_sd: np.ndarray, face_sd: np.ndarray, hair_col: np.ndarray) -> None:
    """Front hair: the head outline (cap or face) outside the face window, over the forehead."""
    win = _sd_ellipse(g.u - p["win_u"], g.w - _F(0.11), _F(0.355), p["win_b"])
    front_sd = np.minimum(np.maximum(cap_sd, face_sd), -win) + _F(0.006) * p["curl"] * g.hair_tex
    front_a = _alpha(front_sd, g.r)
    _paint(g.img, front_a, hair_col)
    g.seg[front_a >= 0.5] = 10


def _draw_nose(g: _Grid, p) -> None:
    """Nose (class 6): trapezoid bridge + round tip; side shade, ridge highlight, nostrils."""
    uf, w, r = g.uf, g.w, g.r
    tip_y = p["nose_tip"]
    n_top = _F(-0.075)
    tn = np.clip((w - n_top) / (tip_y - n_top), 0.0, 1.0)
    nose_hw = _F(0.018) + (p["nose_w"] - _F(0.025)) * tn
    bridge_sd = np.minimum(nose_hw - np.abs(uf), np.minimum(w - n_top, tip_y - w))
    tip_sd = _sd_ellipse(uf, w - tip_y, p["nose_w"], _F(0.032))
    nose_sd = np.maximum(bridge_sd, tip_sd)
    nose_a = _alpha(nose_sd, r)
    side = np.clip(uf * p["light_x"] / (nose_hw + _F(0.01)), -1.0, 1.0)
    shade = _F(0.10) * side + _F(0.07) * np.clip(np.abs(uf) / nose_hw - _F(0.6), 0, 1)
    _shade(g.img, _F(1.0) - nose_a * shade)
    ridge = np.clip(_F(1) - np.abs(uf + _F(0.01) * p["light_x"]) * _F(r) / _F(0.9), 0, 1) * (w < tip_y)
    _paint(g.img, nose_a * ridge * _F(0.18), _HIGHLIGHT)
    under = _alpha(np.minimum(_sd_ellipse(uf, w - tip_y - _F(0.03), p["nose_w"] * _F(0.9), _F(0.012)),
                              -nose_sd), r)
    _shade(g.img, _F(1.0) - _F(0.12) * under)
    for sgn in (-1, 1):
        nost = _alpha(_sd_ellipse(uf - _F(sgn) * _F(0.45) * p["nose_w"], w - tip_y - _F(0.014),
                                  _F(0.012), _F(0.0075)), r)
        _shade(g.img, _F(1.0) - _F(0.5) * nost)
    g.seg[nose_a >= 0.5] = 6


def _draw_brows(g: _Grid, p) -> None:
    """Brows (2 left, 3 right): arched bands, thinner towards the outer end."""
    col = _col(p, "hair") * _F(0.55) * (_F(1) - _F(0.25) * p["male"])[..., None]
    ba = p["brow_a"]
    for cls, sgn in ((2, -1), (3, 1)):
        bu = (g.uf - _F(sgn) * p["eye_dx"]) * _F(sgn)        # positive outwards
        env = np.clip(_F(1) - np.square(bu / ba), 0.0, 1.0)
        centre = p["brow_y"] - p["brow_arch"] * env + _F(0.15) * p["brow_arch"] * bu / ba
        thick = np.maximum(p["brow_t"] * (_F(0.8) - _F(0.35) * np.clip(bu / ba, -1, 1)),
                           _F(1.3 / g.r))  # at least ~1 pixel, so brows survive at R = 32
        brow_a = _alpha(np.minimum(_F(0.5) * thick - np.abs(g.w - centre), ba - np.abs(bu)), g.r)
        _paint(g.img, brow_a * _F(0.9), col)
        g.seg[brow_a >= 0.5] = cls


def _draw_eyes(g: _Grid, p) -> None:
    """Eyes (4 left, 5 right): lens; sclera, iris, pupil, glint, lid line and lashes."""
    r = g.r
    ea = p["eye_a"]
    ew = g.w - p["eye_y"]
    for cls, sgn, side in ((4, -1, "l"), (5, 1, "r")):
        eu = g.uf - _F(sgn) * p["eye_dx"]
        env = _F(1) - np.square(eu / ea)
        upper = -p[f"eye_up_{side}"] * env
        lower = p[f"eye_lo_{side}"] * env
        eye_a = _alpha(np.minimum(ew - upper, lower - ew), r)
        socket = _alpha(_sd_ellipse(eu, ew + _F(0.005), ea * _F(1.35), _F(0.05)), r)
        _shade(g.img, _F(1) - _F(0.06) * socket)
        _paint(g.img, eye_a, _SCLERA * (_F(0.92) + _F(0.08) * np.clip(env, 0, 1))[..., None])
        iu = eu - p["gaze"]
        _paint(g.img, eye_a * _alpha(_sd_ellipse(iu, ew, _F(0.027), _F(0.027)), r), _col(p, "iris"))
        _paint(g.img, eye_a * _alpha(_sd_ellipse(iu, ew, _F(0.012), _F(0.012)), r), _PUPIL)
        glint = _alpha(_sd_ellipse(iu + _F(0.009), ew + _F(0.008), _F(0.0065), _F(0.0065)), r)
        lid = np.clip(_F(1) - (ew - upper) * _F(r) / _F(1.2), 0, 1)
        _paint(g.img, eye_a * (glint * _F(0.85)), _WHITE)
        _paint(g.img, eye_a * (lid * _F(0.85)), _DARK)
        band = (upper - ew) * _F(r)
        lash = np.clip(_F(1.5) - band, 0, 1) * (band > -0.5) * (env > -0.25)
        _paint(g.img, lash * (_F(1) - eye_a) * _F(0.8), _DARK)
        g.seg[eye_a >= 0.5] = cls


def _draw_mouth(g: _Grid, p) -> None:
    """Upper lip (7), inner mouth (8, grows with openness, teeth when wide open), lower lip (9)."""
    uf, r = g.uf, g.r
    ma = p["mouth_a"]
    pu = uf / ma
    env = np.clip(_F(1) - pu * pu, 0.0, 1.0)
    root = np.sqrt(env)
    line = p["mouth_y"] + p["smile"] * _F(0.022) * env
    h = p["mouth_h"] * env
    bow = _F(1) - _F(0.3) * np.clip(_F(1) - np.square(pu / _F(0.22)), 0, 1)
    t_up = p["lip_up"] * root * bow
    t_lo = p["lip_lo"] * root
    rel = g.w - line
    edge = ma - np.abs(uf)
    in_a = _alpha(np.minimum(h - np.abs(rel), edge), r)
    up_a = _alpha(np.minimum(np.minimum(rel + h + t_up, -h - rel), edge), r)
    lo_a = _alpha(np.minimum(np.minimum(rel - h, h + t_lo - rel), edge), r)
    lip = _col(p, "lip")
    _paint(g.img, up_a, lip * _F(0.88))
    shine = _F(1.0) + _F(0.12) * np.clip(_F(1) - np.abs(rel - h - _F(0.4) * t_lo)
                                         / (_F(0.3) * t_lo + _F(1e-3)), 0, 1)
    _paint(g.img, lo_a, lip * shine[..., None])
    teeth = np.clip((h * _F(0.3) - np.abs(rel + h * _F(0.62))) * _F(r), 0, 1) * (p["mouth_h"] > 0.02)
    _paint(g.img, in_a, _MOUTH + teeth[..., None] * _TEETH)
    corner = np.clip(_F(1) - np.abs(rel) * _F(r) / _F(0.8), 0, 1) * (h < _F(2) / _F(r)) \
        * (env > 0) * (_F(1) - in_a)
    _paint(g.img, corner * _F(0.35), lip * _F(0.45))
    g.seg[up_a >= 0.5] = 7
    g.seg[lo_a >= 0.5] = 9
    g.seg[in_a > 0.5] = 8  # strict: a closed mouth (h = 0) has no inner-mouth pixel


def _draw_glasses(g: _Grid, p) -> None:
    """Frames, bridge and temple arms over the eyes; image only (the map keeps skin/eye)."""
    uf, w = g.uf, g.w
    frame = np.full_like(uf, -1.0)
    for sgn in (-1, 1):
        gu = uf - _F(sgn) * p["eye_dx"]
        gw = w - p["eye_y"] - _F(0.008)
        ring = np.minimum(_sd_ellipse(gu, gw, _F(0.092), _F(0.066)),
                          -_sd_ellipse(gu, gw, _F(0.078), _F(0.053)))
        arm = np.minimum(_F(0.006) - np.abs(gw + _F(0.02)),
                         np.minimum(gu * _F(sgn) - _F(0.08), p["face_a"] - np.abs(g.u)))
        frame = np.maximum(frame, np.maximum(ring, arm))
    bridge = np.minimum(_F(0.006) - np.abs(w - p["eye_y"] + _F(0.012)),
                        p["eye_dx"] - _F(0.085) - np.abs(uf))
    frame = np.maximum(frame, bridge)
    _paint(g.img, _alpha(frame, g.r) * p["glasses"], _FRAME)


def _ensure_eyes(g: _Grid, p) -> None:
    """A fully closed eye still owns the pixel at its centre (both eye classes always present)."""
    r = g.r
    for cls, sgn in ((4, -1.0), (5, 1.0)):
        for i in np.flatnonzero(~(g.seg == cls).any(axis=(1, 2))):
            q = {k: float(v[i, 0, 0]) for k, v in p.items()}
            ex = q["yaw"] + sgn * q["eye_dx"]
            col = q["cx"] + ex * q["cos"] - q["eye_y"] * q["sin"]
            row = q["cy"] + ex * q["sin"] + q["eye_y"] * q["cos"]
            g.seg[i, min(max(int(row * r), 0), r - 1), min(max(int(col * r), 0), r - 1)] = cls


def _degrade(im: np.ndarray, p: dict[str, float], seed: int, r: int, cv2) -> np.ndarray:
    """Low quality: blur, sensor noise and/or JPEG blocking, stronger as quality falls."""
    rng = np.random.default_rng([seed, _RENDER_STREAM, 1])
    x = im.astype(np.float32)
    if p["deg_blur"] > 0:
        sigma = (0.4 + 1.0 * p["deg_blur"]) * r / 64
        x = cv2.GaussianBlur(x, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    if p["deg_noise"] > 0:
        x += rng.normal(0.0, 3.0 + 12.0 * p["deg_noise"], size=x.shape).astype(np.float32)
    out = np.clip(x + 0.5, 0, 255).astype(np.uint8)
    if p["deg_jpeg"] > 0:
        q = int(round(50 - 30 * p["deg_jpeg"]))
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(out[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out)
