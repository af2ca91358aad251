"""Write a synthetic face data set to a folder: images, true parsing maps, attributes, hand labels.

Layout of ``out_dir``::

    images/000000.png     RGB face crop (R x R)
    maps/000000.png       uint8 class map (0..10, FaceXFormer order), greyscale PNG
    attributes.csv        seed, <the 12 renderer attributes>
    hand_labels.csv       image, gender, quality, age, glass  (original polarity, 0/1)
    contact_sheet.png     the first 64 faces, 8 per row

Face ``i`` uses seed ``seed_start + i``; every file can be re-rendered from its seed alone.
I/O errors (an unwritable folder) propagate as ``OSError``/``PermissionError``; the CLI wraps them.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

import numpy as np

from ohlora_cli.files import atomic_path
from ohlora_cli.images import contact_sheet
from ohlora_cli.images import save_png as _write_png
from ohlora_cli.processes import kill_point
from ohlora_cli.synthetic.renderer import (
    ATTRIBUTE_NAMES,
    HAND_LABEL_NAMES,
    check_resolution,
    hand_labels,
    render,
    sample_attributes,
    validate_attributes,
)

SHEET_FACES = 64
SHEET_COLUMNS = 8


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def apply_overrides(attrs: np.ndarray, overrides: dict[str, float] | None) -> np.ndarray:
    """Fix some attributes for every face (``{"glasses": 1.0}``); names and ranges are validated."""
    if not overrides:
        return attrs
    attrs = attrs.copy()
    for name, value in overrides.items():
        if name not in ATTRIBUTE_NAMES:
            raise ValueError(f"unknown attribute {name!r}; attributes are {', '.join(ATTRIBUTE_NAMES)}")
        attrs[:, ATTRIBUTE_NAMES.index(name)] = value
    return validate_attributes(attrs)


def render_to_dir(out_dir: Path, n: int, resolution: int = 64, seed_start: int = 0, batch_size: int = 256,
                  progress: Callable[[int], None] | None = None,
                  overrides: dict[str, float] | None = None) -> Path:
    """Render ``n`` faces (seeds ``seed_start..seed_start+n-1``) into ``out_dir``; return ``out_dir``.

    ``progress(k)`` is called after each batch with the number of faces just written; ``overrides``
    fixes attributes for every face.
    """
    apply_overrides(sample_attributes(np.array([seed_start])), overrides)  # validate before writing anything
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if seed_start < 0:
        raise ValueError(f"seed_start must be >= 0, got {seed_start}")
    r = check_resolution(resolution)
    out_dir = Path(out_dir)
    image_dir, map_dir = out_dir / "images", out_dir / "maps"
    image_dir.mkdir(parents=True, exist_ok=True)
    map_dir.mkdir(parents=True, exist_ok=True)

    attr_rows: list[list] = []
    label_rows: list[list] = []
    sheet_faces: list[np.ndarray] = []
    for start in range(0, n, batch_size):
        seeds = np.arange(seed_start + start, seed_start + min(start + batch_size, n), dtype=np.int64)
        attrs = apply_overrides(sample_attributes(seeds), overrides)
        images, maps = render(attrs, seeds, r)
        labels = hand_labels(attrs)
        for k, seed in enumerate(seeds.tolist()):
            name = f"{seed:06d}.png"
            _write_png(image_dir / name, images[k])
            _write_png(map_dir / name, maps[k])
            attr_rows.append([seed, *(repr(float(v)) for v in attrs[k])])
            label_rows.append([f"images/{name}", *labels[k].tolist()])
        if len(sheet_faces) < SHEET_FACES:
            sheet_faces.extend(images[:SHEET_FACES - len(sheet_faces)])
        kill_point("synthetic:batch")
        if progress is not None:
            progress(len(seeds))

    _write_csv(out_dir / "attributes.csv", ["seed", *ATTRIBUTE_NAMES], attr_rows)
    _write_csv(out_dir / "hand_labels.csv", ["image", *HAND_LABEL_NAMES], label_rows)
    if sheet_faces:
        _write_png(out_dir / "contact_sheet.png", contact_sheet(np.stack(sheet_faces), SHEET_COLUMNS))
    return out_dir
