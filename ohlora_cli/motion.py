"""The app's expression motion (docs/original.md §11), as pure functions of a seed: frames × (eyes, mouth, pose).

Values are raw scales in ohlora's sign (+ increases the property).  Idle: eyes 0.2, mouth 1.0,
pose 0.0 with a clipped random-walk jitter (the original's); each target is reached and left along
the original's 70-frame cosine ramp.  Blinks differ from the original on purpose: it queued eye values
with the sign of its "big eyes" labels, so its "blink" widened the eyes, and it held blinks back for
5 s after each answer, so a short clip often had none.  Here a blink *closes* the eyes by
``blink_depth`` below the idle value over 4–6 frames (0.2–0.3 s at 20 fps), the first within the
first second and then every 2–4 s of idle.  ``synth --animate`` sizes the blink (and the default
mouth target) in population standard deviations when the direction set is calibrated
(:data:`BLINK_SIGMA`, :data:`TARGET_SIGMA`).
"""

from __future__ import annotations

import math

import numpy as np

PROPERTIES = ("eyes", "mouth", "pose")
IDLE = np.array([0.2, 1.0, 0.0])
JITTER_STEP = np.array([0.035, 0.025, 0.045])
JITTER_CLIP = np.array([0.25, 0.15, 0.4])
BLINK_SHAPES = ((0.45, 0.85, 1.0, 1.0, 0.75, 0.35), (0.5, 0.9, 1.0, 0.8, 0.4), (0.6, 1.0, 1.0, 0.5))  # × depth
BLINK_SIGMA = 2.0  # a blink closes the eyes by 2 population standard deviations (calibrated sets)
BLINK_RAW = 2.4  # ... or by twice the original's eyes edit range (±1.2) along an uncalibrated direction
BLINK_EVERY_S = (2.0, 4.0)  # seconds between blinks, drawn uniformly
TARGET_SIGMA = {"mouth": 2.0}  # the animation's target when none is given, in σ units ...
TARGET_RAW = {"mouth": 1.8}  # ... and in raw units (the original's largest mouth edit)


def ramp() -> np.ndarray:
    """The 70 factors c: up over 30 frames ((cos((1+i/30)π)+1)/2), 10 frames at 1, down over 30."""
    up = [(math.cos((1 + i / 30) * math.pi) + 1) / 2 for i in range(30)]
    down = [(math.cos((2 + i / 30) * math.pi) + 1) / 2 for i in range(30)]
    return np.array(up + [1.0] * 10 + down)


def expression_track(targets: list[dict[str, float]], *, fps: int = 20, idle_frames: int = 40,
                     seed: int = 0, blinks: bool = True, blink_depth: float = BLINK_RAW) -> np.ndarray:
    """(T, 3) per-frame (eyes, mouth, pose): idle, then for each target a ramp there and back, then idle.

    ``blink_depth`` (raw units, > 0 closes) is how far a blink lowers the eyes below their idle value.
    """
    rng = np.random.default_rng(seed)
    c = ramp()
    frames: list[np.ndarray] = []
    jitter = np.zeros(3)
    blink_queue: list[float] = []
    next_blink = int(rng.integers(fps // 4, fps))  # frame of the next blink: the first within a second

    rest = IDLE.copy()  # the last idle value without a blink: where a ramp starts

    def idle_frame(left: int) -> np.ndarray:
        """One idle frame, ``left`` idle frames remaining (this one included): a blink starts only if it ends
        before the next ramp."""
        nonlocal jitter, blink_queue, next_blink, rest
        jitter = np.clip(jitter + rng.uniform(-JITTER_STEP, JITTER_STEP), -JITTER_CLIP, JITTER_CLIP)
        rest = IDLE + jitter
        value = rest.copy()
        if blinks and not blink_queue and len(frames) >= next_blink:
            shape = BLINK_SHAPES[int(rng.integers(len(BLINK_SHAPES)))]
            if len(shape) <= left:
                blink_queue = [blink_depth * f for f in shape]
                next_blink = len(frames) + len(shape) + int(rng.uniform(*BLINK_EVERY_S) * fps)
        if blink_queue:
            value[0] -= blink_queue.pop(0)
        return value

    for i in range(idle_frames):
        frames.append(idle_frame(idle_frames - i))
    for target in targets:
        start = rest.copy()
        goal = np.array([target.get(p, start[k]) for k, p in enumerate(PROPERTIES)])
        for factor in c:
            frames.append(start + (goal - start) * factor)
        rest = frames[-1].copy()
        for i in range(idle_frames):
            frames.append(idle_frame(idle_frames - i))
    return np.stack(frames)
