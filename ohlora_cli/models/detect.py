"""Face boxes for the parser's crop (docs/original.md §2.1): the original's detector, facenet-pytorch's MTCNN.

Optional: its wheel carries the MTCNN weights, but it pins torch/torchvision versions that would
replace ohlora's torch, so it is installed **without its dependencies**::

    pip install --no-deps facenet-pytorch

(its MTCNN needs only torch, numpy and Pillow at run time).  Without it, ``score --detector mtcnn``
says so in one line; the default for generator output is the fixed full-frame crop.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ohlora_cli.errors import UsageError

DETECTORS = ("fixed", "mtcnn")
INSTALL_HINT = "Install it without its dependencies: pip install --no-deps facenet-pytorch"


def mtcnn_available() -> bool:
    try:
        import facenet_pytorch  # noqa: F401
    except Exception:  # noqa: BLE001 — a broken install counts as absent
        return False
    return True


def require_mtcnn() -> None:
    """Raise the one-line install hint unless the optional detector can be used."""
    _mtcnn()


@lru_cache(maxsize=1)
def _mtcnn():
    if not mtcnn_available():
        raise UsageError("the MTCNN face detector (facenet-pytorch) is not installed", INSTALL_HINT)
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, device="cpu")


def largest_face_boxes(images: np.ndarray) -> np.ndarray:
    """(N, 4) float boxes ``x0, y0, x1, y1`` of the largest face per image; the full frame where none is found."""
    from PIL import Image

    detector = _mtcnn()
    n, h, w = images.shape[:3]
    out = np.tile(np.array([0, 0, w, h], np.float64), (n, 1))
    for i, img in enumerate(images):
        boxes, _ = detector.detect(Image.fromarray(img))
        if boxes is not None and len(boxes):
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            out[i] = boxes[int(np.argmax(areas))]
    return out
