"""The original app's expression motion (docs/original.md §11), as pure functions of a seed: frames × (eyes, mouth, pose).

Values are in ohlora's sign (+ increases the property), i.e. the original's values before its
final negation.  Idle: eyes 0.2, mouth 1.0, pose 0.0 with a clipped random-walk jitter; each target
is reached and left along the 70-frame cosine ramp; random blinks queue the original's eye values
(it queues them with the same sign as its "big eyes" labels, so a "blink" widens the eyes briefly).
"""

from __future__ import annotations

import math

import numpy as np

PROPERTIES = ("eyes", "mouth", "pose")
IDLE = np.array([0.2, 1.0, 0.0])
JITTER_STEP = np.array([0.035, 0.025, 0.045])
JITTER_CLIP = np.array([0.25, 0.15, 0.4])
BLINKS = ([0.4, 0.6, 0.8, 0.8, 0.6, 0.4], [0.4, 0.6, 0.8, 0.6, 0.4], [0.4, 0.7, 0.7, 0.4])


def ramp() -> np.ndarray:
    """The 70 factors c: up over 30 frames ((cos((1+i/30)π)+1)/2), 10 frames at 1, down over 30."""
    up = [(math.cos((1 + i / 30) * math.pi) + 1) / 2 for i in range(30)]
    down = [(math.cos((2 + i / 30) * math.pi) + 1) / 2 for i in range(30)]
    return np.array(up + [1.0] * 10 + down)


def expression_track(targets: list[dict[str, float]], *, fps: int = 20, idle_frames: int = 40,
                     seed: int = 0, blinks: bool = True) -> np.ndarray:
    """(T, 3) per-frame (eyes, mouth, pose): idle, then for each target a ramp there and back, then idle."""
    rng = np.random.default_rng(seed)
    c = ramp()
    frames: list[np.ndarray] = []
    jitter = np.zeros(3)
    since_answer, since_blink, blink_queue = 10**9, 10**9, []

    def idle_frame() -> np.ndarray:
        nonlocal jitter, since_blink, blink_queue
        jitter = np.clip(jitter + rng.uniform(-JITTER_STEP, JITTER_STEP), -JITTER_CLIP, JITTER_CLIP)
        value = IDLE + jitter
        if blinks and not blink_queue and since_answer >= 5 * fps and since_blink >= fps and rng.uniform() < 0.025:
            pattern = BLINKS[int(rng.integers(len(BLINKS)))]
            blink_queue = list(np.array(pattern) * rng.uniform(1.1, 1.5))
            since_blink = 0
        if blink_queue:
            value = value.copy()
            value[0] = blink_queue.pop(0)
        since_blink += 1
        return value

    for _ in range(idle_frames):
        frames.append(idle_frame())
        since_answer += 1
    for target in targets:
        start = frames[-1] if frames else IDLE
        goal = np.array([target.get(p, start[k]) for k, p in enumerate(PROPERTIES)])
        for factor in c:
            frames.append(start + (goal - start) * factor)
        since_answer = 0
        for _ in range(idle_frames):
            frames.append(idle_frame())
            since_answer += 1
    return np.stack(frames)
