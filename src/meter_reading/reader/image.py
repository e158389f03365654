"""Photo decoding and display crops with Pillow and numpy only (no OpenCV in the Lambda)."""

from __future__ import annotations

import io
import warnings

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from meter_reading.reader.lines import Quad, quad_height

RGBArray = NDArray[np.uint8]

#: Largest photo decoded, in pixels: WhatsApp sends at most 1600 px on the long side
#: (1.4 MP); a 20000 x 20000 PNG of a few KB would take gigabytes once decoded.
MAX_PIXELS = 25_000_000


class NotAPhoto(ValueError):
    """The bytes are not an image we can read, or one too large to decode safely."""


def decode(photo: bytes) -> Image.Image:
    """The photo as an RGB image, refusing decompression bombs before decoding them."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(photo))
            if opened.width * opened.height > MAX_PIXELS:
                raise NotAPhoto(f"photo of {opened.width}x{opened.height} pixels is too large")
            return (ImageOps.exif_transpose(opened) or opened).convert("RGB")
    except NotAPhoto:
        raise
    except (OSError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise NotAPhoto(str(e)) from e


Vector = NDArray[np.float64]


def _frame(quad: Quad) -> tuple[Vector, Vector, Vector, Vector, Vector, Vector, float]:
    """The quad's corners, its unit vectors along and across the line, and its height."""
    tl, tr, br, bl = (np.asarray(p, dtype=np.float64) for p in quad)
    ux = tr - tl
    ux = ux / max(1e-6, float(np.linalg.norm(ux)))
    uy = bl - tl
    uy = uy / max(1e-6, float(np.linalg.norm(uy)))
    return tl, tr, br, bl, ux, uy, quad_height(quad)


def extend(quad: Quad, left: float, right: float, vertical: float) -> Quad:
    """Widen a quad along its own orientation, by multiples of its height."""
    tl, tr, br, bl, ux, uy, h = _frame(quad)
    a, c, v = left * h, right * h, vertical * h
    pts = [tl - ux * a - uy * v, tr + ux * c - uy * v, br + ux * c + uy * v, bl - ux * a + uy * v]
    return [(float(p[0]), float(p[1])) for p in pts]


def line_coordinates(quad: Quad, other: Quad) -> tuple[float, float, float, float]:
    """Where ``other`` lies in ``quad``'s own frame, in multiples of its height: (start, end)
    along the line from its left edge, (top, bottom) across it from its top edge."""
    tl, _, _, _, ux, uy, h = _frame(quad)
    along = [float(np.dot(np.asarray(p) - tl, ux)) / h for p in other]
    across = [float(np.dot(np.asarray(p) - tl, uy)) / h for p in other]
    return min(along), max(along), min(across), max(across)


def beyond_end(quad: Quad, start: float, end: float, top: float, bottom: float) -> Quad:
    """The region after the quad's right edge, in multiples of its height: from ``start``
    to ``end`` along the line, from ``top`` below its top edge to ``bottom`` below its
    bottom edge (negative: above)."""
    _, tr, br, _, ux, uy, h = _frame(quad)
    pts = [
        tr + ux * start * h + uy * top * h,
        tr + ux * end * h + uy * top * h,
        br + ux * end * h + uy * bottom * h,
        br + ux * start * h + uy * bottom * h,
    ]
    return [(float(p[0]), float(p[1])) for p in pts]


def beside(left: RGBArray, right: RGBArray) -> RGBArray:
    """``right`` scaled to the height of ``left`` and put after it."""
    height = left.shape[0]
    width = max(1, round(right.shape[1] * height / max(right.shape[0], 1)))
    scaled = np.asarray(
        Image.fromarray(right).resize((width, height), Image.Resampling.BICUBIC), dtype=np.uint8
    )
    return np.concatenate([left, scaled], axis=1)


def widened(image: RGBArray, factor: float) -> RGBArray:
    """The crop stretched along its line by ``factor``, its height kept."""
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), height)
    out = Image.fromarray(image).resize(size, Image.Resampling.BICUBIC)
    return np.asarray(out, dtype=np.uint8)


def crop(image: Image.Image, quad: Quad, max_height: int = 96) -> RGBArray:
    """The quad cut out upright (its first point top-left), at most ``max_height`` px high.

    Pillow's QUAD transform maps the four corners onto a rectangle; for the small,
    nearly rectangular boxes of a text line that is as good as a perspective warp.
    """
    tl, tr, br, bl = quad
    width = max(np.hypot(tr[0] - tl[0], tr[1] - tl[1]), np.hypot(br[0] - bl[0], br[1] - bl[1]))
    height = max(np.hypot(bl[0] - tl[0], bl[1] - tl[1]), np.hypot(br[0] - tr[0], br[1] - tr[1]))
    scale = min(1.0, max_height / max(height, 1.0))
    size = (max(2, round(width * scale)), max(2, round(height * scale)))
    data = (tl[0], tl[1], bl[0], bl[1], br[0], br[1], tr[0], tr[1])
    out = image.transform(size, Image.Transform.QUAD, data, resample=Image.Resampling.BICUBIC)
    return np.asarray(out, dtype=np.uint8)


def stack(crops: list[RGBArray], height: int = 64) -> tuple[bytes, list[tuple[float, float]]]:
    """The crops one under another on a grey page (PNG), and each one's band as page ratios.

    One page holds every crop so the text detection reads them all in one request.
    """
    scaled = [
        Image.fromarray(c).resize(
            (max(1, round(c.shape[1] * height / max(c.shape[0], 1))), height),
            Image.Resampling.BICUBIC,
        )
        for c in crops
    ]
    gap = height // 2
    width = max(img.width for img in scaled) + 2 * gap
    page = Image.new("RGB", (width, gap + len(scaled) * (height + gap)), (128, 128, 128))
    bands: list[tuple[float, float]] = []
    for k, img in enumerate(scaled):
        top = gap + k * (height + gap)
        page.paste(img, (gap, top))
        bands.append((top / page.height, (top + height) / page.height))
    out = io.BytesIO()
    page.save(out, "PNG")
    return out.getvalue(), bands
