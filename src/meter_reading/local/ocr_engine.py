"""Offline stand-in for Amazon Textract, on RapidOCR (PP-OCRv4, ONNX, CPU).

:class:`OfflineTextDetector` returns the ``Blocks`` list of a Textract
DetectDocumentText response (PAGE, LINE and WORD blocks with ratio geometry and
CHILD relationships), so that everything downstream of OCR is the same locally
and in AWS.
"""

from __future__ import annotations

import io
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]
Quad = list[tuple[float, float]]


def _decode(image_bytes: bytes) -> Image:
    data = np.frombuffer(image_bytes, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        # Fall back on Pillow for formats OpenCV does not read (e.g. some PNG/WebP modes).
        from PIL import Image as PILImage

        with PILImage.open(io.BytesIO(image_bytes)) as pil:
            rgb = np.asarray(pil.convert("RGB"), dtype=np.uint8)
        img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    return np.asarray(img, dtype=np.uint8)


def _geometry(quad: Quad, width: int, height: int) -> dict[str, Any]:
    xs = [min(max(x / width, 0.0), 1.0) for x, _ in quad]
    ys = [min(max(y / height, 0.0), 1.0) for _, y in quad]
    left, top = min(xs), min(ys)
    return {
        "BoundingBox": {
            "Width": max(xs) - left,
            "Height": max(ys) - top,
            "Left": left,
            "Top": top,
        },
        "Polygon": [{"X": x, "Y": y} for x, y in zip(xs, ys, strict=True)],
    }


def _lerp(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _word_quads(text: str, quad: Quad) -> list[tuple[str, Quad]]:
    """Split a line on whitespace; word boxes proportional to character positions."""
    n = max(1, len(text))
    tl, tr, br, bl = quad
    words: list[tuple[str, Quad]] = []
    start = 0
    for part in text.split():
        s = text.index(part, start)
        e = s + len(part)
        start = e
        t0, t1 = s / n, e / n
        words.append(
            (part, [_lerp(tl, tr, t0), _lerp(tl, tr, t1), _lerp(bl, br, t1), _lerp(bl, br, t0)])
        )
    return words


def textract_blocks(
    lines: list[tuple[str, float, Quad]], width: int, height: int
) -> list[dict[str, Any]]:
    """Textract-shaped blocks from (text, confidence 0..1, quad in pixels) lines."""
    page: dict[str, Any] = {
        "BlockType": "PAGE",
        "Geometry": _geometry(
            [(0.0, 0.0), (float(width), 0.0), (float(width), float(height)), (0.0, float(height))],
            width,
            height,
        ),
        "Id": str(uuid.uuid4()),
        "Relationships": [{"Type": "CHILD", "Ids": []}],
        "Page": 1,
    }
    blocks: list[dict[str, Any]] = [page]
    for text, score, quad in lines:
        text = " ".join(text.split())
        if not text:
            continue
        conf = float(min(max(score, 0.0), 1.0) * 100.0)
        line_id = str(uuid.uuid4())
        word_blocks: list[dict[str, Any]] = []
        for word, wquad in _word_quads(text, quad):
            word_blocks.append(
                {
                    "BlockType": "WORD",
                    "Confidence": conf,
                    "Text": word,
                    "TextType": "PRINTED",
                    "Geometry": _geometry(wquad, width, height),
                    "Id": str(uuid.uuid4()),
                    "Page": 1,
                }
            )
        blocks.append(
            {
                "BlockType": "LINE",
                "Confidence": conf,
                "Text": text,
                "Geometry": _geometry(quad, width, height),
                "Id": line_id,
                "Relationships": [{"Type": "CHILD", "Ids": [w["Id"] for w in word_blocks]}],
                "Page": 1,
            }
        )
        page["Relationships"][0]["Ids"].append(line_id)
        blocks.extend(word_blocks)
    return blocks


# Seven-segment look-alikes folded into digits when a display read is mostly digits.
_CONFUSIONS = str.maketrans(
    {
        "O": "0",
        "o": "0",
        "D": "0",
        "Q": "0",
        "U": "0",
        "B": "8",
        "S": "5",
        "s": "5",
        "Z": "2",
        "z": "2",
        "l": "1",
        "I": "1",
        "i": "1",
        "|": "1",
        "!": "1",
        "G": "6",
        "b": "6",
        "g": "9",
        "q": "9",
        "A": "4",
        "T": "7",
    }
)

#: How far (in box heights) the display box is widened to the left and to the right for
#: the extra reads: the detector often cuts off a leading digit or the small decimal digit.
_DISPLAY_EXTENSIONS: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (0.1, 0.3),
    (0.2, 0.6),
    (0.5, 1.0),
    (0.3, 1.5),
)


@dataclass
class _Line:
    text: str
    score: float  # 0..1
    quad: Quad


def _height(quad: Quad) -> float:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = quad
    return (float(np.hypot(x3 - x0, y3 - y0)) + float(np.hypot(x2 - x1, y2 - y1))) / 2


def _extend(quad: Quad, left: float, right: float, vertical: float) -> Quad:
    """Widen a quad along its own orientation, by multiples of its height."""
    tl, tr, br, bl = (np.asarray(p, dtype=np.float64) for p in quad)
    ux = tr - tl
    ux = ux / max(1e-6, float(np.linalg.norm(ux)))
    uy = bl - tl
    uy = uy / max(1e-6, float(np.linalg.norm(uy)))
    h = _height(quad)
    a, c, v = left * h, right * h, vertical * h
    pts = [tl - ux * a - uy * v, tr + ux * c - uy * v, br + ux * c + uy * v, bl - ux * a + uy * v]
    return [(float(p[0]), float(p[1])) for p in pts]


def _crop(img: Image, quad: Quad) -> Image:
    """Perspective crop of a quad (clockwise from top-left), upright for the recognizer."""
    pts = np.array(quad, dtype=np.float32)
    w = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    h = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    w, h = max(w, 2), max(h, 2)
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(pts, dst)
    out = cv2.warpPerspective(
        img, m, (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    return np.asarray(out, dtype=np.uint8)


def _digitish(text: str) -> bool:
    """A detector line that may be the display: mostly real digits, not a date/fraction."""
    if "/" in text or ":" in text:
        return False
    digits = sum(c.isdigit() for c in text)
    alnum = sum(c.isalnum() for c in text)
    return digits >= 3 and digits >= 0.6 * alnum


def _normalise_display(text: str) -> tuple[str, bool] | None:
    """Digits of a display read, with at most one decimal point.

    Returns (reading, incomplete): ``incomplete`` when the read ends with a decimal
    point whose digit was not read. None when the read is not mostly digits.
    """
    t = "".join(text.split())
    mapped = t.translate(_CONFUSIONS)
    digits = sum(c.isdigit() for c in mapped)
    if digits < 3 or digits < 0.7 * sum(c.isalnum() for c in t):
        return None
    # Keep digits and decimal points; drop unit letters glued at the end ("208.1W").
    kept = "".join(c for c in mapped if c.isdigit() or c in ".,").replace(",", ".")
    kept = kept.strip(".") if kept.startswith(".") else kept
    incomplete = kept.endswith(".")
    kept = kept.rstrip(".")
    if "." in kept:
        head, _, tail = kept.rpartition(".")
        kept = head.replace(".", "") + "." + tail
    if sum(c.isdigit() for c in kept) < 3:
        return None
    return kept, incomplete


def _vote(reads: list[tuple[str, float]]) -> tuple[str, float, int] | None:
    """Combine several reads of the same display into (reading, confidence, index).

    Reads ending with a bare decimal point count for the read that completes them.
    The confidence is the winner's share of the total weight times its mean score.
    """
    normal: list[tuple[str, bool, float, int]] = []
    for i, (text, score) in enumerate(reads):
        n = _normalise_display(text)
        if n is not None:
            normal.append((n[0], n[1], score, i))
    if not normal:
        return None
    weights: dict[str, float] = {}
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for reading, incomplete, score, i in normal:
        key = reading
        if incomplete:
            completions = [r for r, _, _, _ in normal if r.startswith(reading + ".")]
            if completions:
                key = max(set(completions), key=completions.count)
        weights[key] = weights.get(key, 0.0) + score
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, i)
    total = sum(score for _, _, score, _ in normal) + 0.5 * (len(reads) - len(normal))
    best = max(weights, key=lambda k: (weights[k], len(k)))
    confidence = weights[best] / max(total, 1e-6) * (weights[best] / counts[best])
    if any(r == best and inc for r, inc, _, _ in normal) and not any(
        r.startswith(best + ".") for r, _, _, _ in normal
    ):
        confidence *= 0.75  # a decimal point was seen but its digit never read
    return best, confidence, first[best]


class OfflineTextDetector:
    """Textract DetectDocumentText look-alike. Load once, reuse; one call at a time.

    On top of plain detection + recognition it takes a closer look at the display:
    the largest digit lines are read again on crops widened along their orientation
    (to catch a cut-off leading digit or the small decimal digit) and the reads are
    combined by voting. When no display is found, it retries at a coarser detection
    scale and upside down.
    """

    def __init__(self, det_side: int = 960, refine: bool = True) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self._lock = threading.Lock()
        self._ocr = RapidOCR(det_limit_type="max", det_limit_side_len=det_side)
        self._det_side = det_side
        self._refine = refine

    def detect(self, image_bytes: bytes) -> list[dict[str, Any]]:
        img = _decode(image_bytes)
        height, width = img.shape[:2]
        with self._lock:
            lines = self._read(img)
        return textract_blocks([(ln.text, ln.score, ln.quad) for ln in lines], width, height)

    # -- passes -------------------------------------------------------------------

    def _pass(self, img: Image, side: int) -> list[_Line]:
        """Detect at ``side`` pixels (longest side), recognise on the full-size image."""
        h, w = img.shape[:2]
        scale = min(1.0, side / max(h, w))
        small = (
            img
            if scale >= 1.0
            else cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        boxes, _ = self._ocr.text_det(small)
        if boxes is None or len(boxes) == 0:
            return []
        quads = [[(float(x) / scale, float(y) / scale) for x, y in box] for box in boxes]
        quads.sort(key=lambda q: (round(q[0][1] / 10), q[0][0]))
        crops = [_crop(img, q) for q in quads]
        crops = [np.rot90(c).copy() if c.shape[0] >= 1.5 * c.shape[1] else c for c in crops]
        recs, _ = self._ocr.text_rec(crops)
        lines = []
        for quad, rec in zip(quads, recs, strict=True):
            text, score = str(rec[0]), float(rec[1])
            if text.strip() and score >= 0.5:
                lines.append(_Line(text, score, quad))
        return lines

    def _read(self, img: Image) -> list[_Line]:
        lines = self._pass(img, self._det_side)
        if not self._refine:
            return lines
        if not any(_digitish(ln.text) for ln in lines):
            coarse = self._pass(img, int(self._det_side * 2 / 3))
            if any(_digitish(ln.text) for ln in coarse):
                lines = coarse
            else:
                h, w = img.shape[:2]
                flipped = self._pass(np.ascontiguousarray(img[::-1, ::-1]), self._det_side)
                if any(_digitish(ln.text) for ln in flipped):
                    for ln in flipped:
                        ln.quad = [(w - x, h - y) for x, y in ln.quad]
                        ln.quad = ln.quad[2:] + ln.quad[:2]
                    lines = flipped
        return self._refine_display(img, lines)

    def _refine_display(self, img: Image, lines: list[_Line]) -> list[_Line]:
        cands = sorted((ln for ln in lines if _digitish(ln.text)), key=lambda ln: -_height(ln.quad))
        if not cands:
            return lines
        tallest = _height(cands[0].quad)
        for line in [c for c in cands[:2] if _height(c.quad) >= 0.6 * tallest]:
            quads = [_extend(line.quad, a, c, 0.1) for a, c in _DISPLAY_EXTENSIONS]
            recs, _ = self._ocr.text_rec([_crop(img, q) for q in quads])
            reads = [(line.text, line.score)] + [(str(r[0]), float(r[1])) for r in recs]
            voted = _vote(reads)
            if voted is None:
                continue
            reading, confidence, index = voted
            line.text = reading
            line.score = confidence
            if index > 0:
                line.quad = _extend(line.quad, *_DISPLAY_EXTENSIONS[index - 1], 0.0)
        return lines


def load_image_bytes(image: bytes | Path) -> bytes:
    return image if isinstance(image, bytes) else Path(image).read_bytes()
