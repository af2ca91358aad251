"""PNG writing (atomic) and contact sheets: uint8 RGB arrays in, files out."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np

from ohlora_cli.errors import InputFileError, OutputError
from ohlora_cli.files import input_file, write_atomic

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_PIXELS = 4096 * 4096  # larger images are refused from their header, before a pixel is decoded


def ensure_writable_dir(path: Path, flag: str) -> Path:
    """Create ``path`` if needed and prove we can write there, or raise :class:`OutputError`."""
    path = Path(path)
    blocker = next((p for p in (path, *path.parents) if p.exists() or p.is_symlink()), None)
    if blocker is not None and not blocker.is_dir():
        where = "it is" if blocker == path else f"{blocker} is"
        raise OutputError(f"cannot write to {path}: {where} a file, not a folder", f"Pass a writable folder with {flag}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".ohlora-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise OutputError(f"cannot write to {path} ({err.strerror or err})",
                          f"Pass a writable folder with {flag}") from None
    return path


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB (H, W, 3) or grey (H, W) uint8 array as PNG bytes (what :func:`save_png` writes)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: np.ndarray, resolution: int, fps: int = 20) -> bytes:
    """(N, R, R, 3) uint8 frames as a looping GIF, enlarged to at least 128 px.  Each frame gets its own
    256-colour palette by fast octree quantisation (28x faster than Pillow's default median cut on 160
    frames, the file the same size)."""
    from PIL import Image

    scale = max(1, 128 // resolution)
    images = [Image.fromarray(f.repeat(scale, 0).repeat(scale, 1)).quantize(256, Image.Quantize.FASTOCTREE)
              for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=1000 // fps, loop=0)
    return buf.getvalue()


def save_png(path: Path, image: np.ndarray) -> Path:
    """Write an RGB (H, W, 3) or grey (H, W) uint8 array as PNG (atomically, :mod:`ohlora_cli.files`)."""
    data = png_bytes(image)
    return write_atomic(path, lambda tmp: tmp.write_bytes(data))


def png_size(path: Path, what: str | None = None, fix: str = "Check the file") -> tuple[int, int]:
    """(width, height) from a PNG's header (its first 24 bytes; nothing is decoded), or
    :class:`InputFileError` for a missing, non-regular, empty or non-PNG file."""
    name = what or str(path)
    path = input_file(path, name, fix)
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError as err:
        raise InputFileError(f"cannot read {name} ({err.strerror or err})", fix) from None
    if not head:
        raise InputFileError(f"{name} is empty", fix)
    if not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise InputFileError(f"{name} is not a PNG file", fix)
    return struct.unpack(">II", head[16:24])


def check_png(path: Path, resolution: int, what: str | None = None, fix: str = "Check the file") -> None:
    """The header of a PNG that must be ``resolution`` × ``resolution`` (cheap: used up front on every
    stored image before a stage starts work)."""
    w, h = png_size(path, what, fix)
    if (w, h) != (resolution, resolution):
        raise InputFileError(f"{what or path} is {w}x{h} px, not {resolution}x{resolution}", fix)


def load_png(path: Path, resolution: int | None = None, what: str | None = None,
             fix: str = "Check the file") -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB.  The size is read from the header first: an image over
    :data:`MAX_IMAGE_PIXELS`, or not ``resolution`` square when given, is refused before decoding;
    a damaged file is an :class:`InputFileError` naming ``what`` (default: the path)."""
    from PIL import Image, UnidentifiedImageError

    name = what or str(path)
    path = input_file(path, name, fix)
    if path.stat().st_size == 0:
        raise InputFileError(f"{name} is empty", fix)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked just below
            im = Image.open(path)
        with im:
            w, h = im.size
            if resolution is not None and (w, h) != (resolution, resolution):
                raise InputFileError(f"{name} is {w}x{h} px, not {resolution}x{resolution}", fix)
            if w * h > MAX_IMAGE_PIXELS:
                raise InputFileError(f"{name} is {w}x{h} px, more than ohlora reads ({MAX_IMAGE_PIXELS:,} pixels)",
                                     fix)
            return np.asarray(im.convert("RGB"))
    except UnidentifiedImageError:
        raise InputFileError(f"{name} is not an image file", fix) from None
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error, Image.DecompressionBombError) as err:
        raise InputFileError(f"{name} is damaged ({str(err).splitlines()[0] if str(err) else type(err).__name__})",
                             fix) from None


def contact_sheet(images: np.ndarray, ncols: int, *, captions: list[str] | None = None, pad: int = 2,
                  scale: int = 1, row_labels: list[str] | None = None) -> np.ndarray:
    """Tile (N, H, W, 3) uint8 images into one sheet, optional caption under each tile."""
    from PIL import Image, ImageDraw

    n, h, w = images.shape[:3]
    if scale > 1:
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
        h, w = h * scale, w * scale
    nrows = -(-n // ncols)
    cap_h = 12 if captions else 0
    left = 64 if row_labels else 0
    sheet = np.full((nrows * (h + pad + cap_h) + pad, left + ncols * (w + pad) + pad, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        y, x = pad + r * (h + pad + cap_h), left + pad + c * (w + pad)
        sheet[y:y + h, x:x + w] = images[i]
    if not captions and not row_labels:
        return sheet
    canvas = Image.fromarray(sheet)
    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(captions or []):
        r, c = divmod(i, ncols)
        draw.text((left + pad + c * (w + pad), pad + r * (h + pad + cap_h) + h), text, fill=(0, 0, 0))
    for r, text in enumerate(row_labels or []):
        draw.text((2, pad + r * (h + pad + cap_h) + h // 2 - 5), text, fill=(0, 0, 0))
    return np.asarray(canvas)
