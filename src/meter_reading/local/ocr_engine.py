"""Offline stand-in for Amazon Textract, on RapidOCR (PP-OCRv4, ONNX, CPU).

:class:`OfflineTextDetector` returns the ``Blocks`` list of a Textract
DetectDocumentText response (PAGE, LINE and WORD blocks with ratio geometry and
CHILD relationships), so that everything downstream of OCR is the same locally
and in AWS.
"""

from __future__ import annotations

import io
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from meter_reading.domain.extraction import SEVEN_SEGMENT_CONFUSIONS
from meter_reading.local.display_reader import DisplayDigitReader

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
_CONFUSIONS = str.maketrans(SEVEN_SEGMENT_CONFUSIONS)

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


def _upright_crops(img: Image, quads: list[Quad]) -> list[Image]:
    """Crops of the quads, with vertical text turned to read left to right."""
    crops = [_crop(img, q) for q in quads]
    return [np.rot90(c).copy() if c.shape[0] >= 1.5 * c.shape[1] else c for c in crops]


def _equalise(img: Image) -> Image:
    """Grey image with local contrast equalised (CLAHE on the lightness channel)."""
    lightness = cv2.cvtColor(img, cv2.COLOR_BGR2LAB)[:, :, 0]
    equalised = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(lightness)
    return np.asarray(cv2.cvtColor(equalised, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


def _bounds(quad: Quad) -> tuple[float, float, float, float]:
    xs = [x for x, _ in quad]
    ys = [y for _, y in quad]
    return min(xs), min(ys), max(xs), max(ys)


def _overlap(a: Quad, b: Quad) -> float:
    """Intersection of the two boxes over the smaller one (axis-aligned bounds)."""
    ax0, ay0, ax1, ay1 = _bounds(a)
    bx0, by0, bx1, by1 = _bounds(b)
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    smaller = min((ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0))
    return iw * ih / max(smaller, 1e-6)


def _overlap_share(quad: Quad, other: Quad) -> float:
    """Share of ``quad``'s bounds inside ``other``'s bounds."""
    ax0, ay0, ax1, ay1 = _bounds(quad)
    bx0, by0, bx1, by1 = _bounds(other)
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    return iw * ih / max((ax1 - ax0) * (ay1 - ay0), 1e-6)


def _digitish(text: str) -> bool:
    """A detector line that may be the display: mostly real digits, not a date/fraction."""
    if "/" in text or ":" in text:
        return False
    digits = sum(c.isdigit() for c in text)
    alnum = sum(c.isalnum() for c in text)
    return digits >= 3 and digits >= 0.6 * alnum


def _register_like(text: str) -> bool:
    """A line that reads as a plausible register: 4 to 8 digits, mostly digits."""
    n = _normalise_display(text)
    return n is not None and 4 <= sum(c.isdigit() for c in n[0]) <= 8


def _normalise_display(text: str) -> tuple[str, bool] | None:
    """Digits of a display read, with at most one decimal point.

    Returns (reading, incomplete): ``incomplete`` when the read ends with a decimal
    point whose digit was not read (and has no other decimal point). None when the
    read is not mostly digits.
    """
    tokens = text.split()
    while tokens and not any(c.isdigit() for c in tokens[-1]):
        tokens.pop()  # a unit or label after the digits ("03662.0 kWh"), not a digit
    for k, token in enumerate(tokens[:-1]):
        if re.search(r"[.,]\d", token):
            del tokens[k + 1 :]  # the decimal digit ends a register; the rest is a label
            break
    t = "".join(tokens)
    mapped = t.translate(_CONFUSIONS)
    digits = sum(c.isdigit() for c in mapped)
    if digits < 3 or digits < 0.7 * sum(c.isalnum() for c in t):
        return None
    # Keep digits and decimal points; drop unit letters glued at the end ("208.1W").
    kept = "".join(c for c in mapped if c.isdigit() or c in ".,").replace(",", ".").lstrip(".")
    trailing = kept.endswith(".")
    kept = kept.rstrip(".")
    if "." in kept:
        head, _, tail = kept.rpartition(".")
        kept = head.replace(".", "") + "." + tail
    n_digits = sum(c.isdigit() for c in kept)
    if n_digits < 3:
        return None
    if n_digits >= 7 and kept[0] != "0" and kept[1:3] == "00":
        # Registers pad with leading zeros: a non-zero digit before the padding is an
        # icon or label at the edge of the display read as a digit ("8005243.4").
        kept = kept[1:]
    return kept, trailing and "." not in kept


def _vote(reads: list[tuple[str, float]]) -> tuple[str, float, int] | None:
    """Combine several reads of the same display into (reading, confidence, index).

    Reads vote for their digits (decimal point and leading zeros aside); a read ending with a bare
    decimal point counts for a read that completes it with one more digit. The
    decimal point of the winner is placed where most of its reads put it. The
    confidence is the winner's share of the weight of all digit reads times its
    mean recognition score. ``index`` is the first read that gave the winner.
    """
    normal: list[tuple[str, str, bool, float, int]] = []
    for i, (text, score) in enumerate(reads):
        n = _normalise_display(text)
        if n is not None:
            normal.append((n[0].replace(".", "").lstrip("0") or "0", n[0], n[1], score, i))
    if not normal:
        return None
    keys = {key for key, _, inc, _, _ in normal if not inc}
    weight: dict[str, float] = {}
    count: dict[str, int] = {}
    first: dict[str, int] = {}
    decimals: dict[str, dict[str, float]] = {}
    for key, reading, incomplete, score, i in normal:
        target, shown = key, reading
        if incomplete:
            completions = sorted(k for k in keys if len(k) == len(key) + 1 and k.startswith(key))
            if completions:
                target = max(completions, key=lambda k: sum(n[0] == k for n in normal))
                shown = reading + "." + target[-1]
        weight[target] = weight.get(target, 0.0) + score
        count[target] = count.get(target, 0) + 1
        first.setdefault(target, i)
        decimals.setdefault(target, {})
        decimals[target][shown] = decimals[target].get(shown, 0.0) + score
    total = sum(n[3] for n in normal)
    best = max(weight, key=lambda k: (weight[k], len(k)))
    # The same value may be shown with a different number of leading zeros or with
    # the decimal point in different places: the most supported form wins.
    forms = decimals[best]

    def places(r: str) -> int:
        return len(r.partition(".")[2])

    by_places: dict[int, float] = {}
    for form, w in forms.items():
        by_places[places(form)] = by_places.get(places(form), 0.0) + w
    decimal_places = max(by_places, key=lambda p: (by_places[p], p))
    reading = max(
        (f for f in forms if places(f) == decimal_places), key=lambda r: (forms[r], len(r))
    )
    confidence = weight[best] / max(total, 1e-6) * (weight[best] / count[best])
    if best not in keys:
        confidence *= 0.75  # a decimal point was seen but its digit never read
    return reading, confidence, first[best]


def _value_key(text: str) -> str:
    return text.replace(".", "").lstrip("0")


class OfflineTextDetector:
    """Textract DetectDocumentText look-alike. Load once, reuse; one call at a time.

    Detection runs on the photo scaled to ``det_side`` pixels and again on a
    contrast-equalised grey copy at ``second_side`` (low-contrast LCDs with large thin
    seven-segment digits are often found only there); recognition always reads the
    full-size photo. The largest digit lines are then read again on crops widened
    along their orientation (to catch a cut-off leading digit or the small decimal
    digit) and all reads of the display are combined by voting; the display LINE
    carries the voted reading and its agreement as confidence. When no register-like
    line is found, detection is retried on the photo turned upside down.
    ``refine=False`` gives plain PP-OCRv4 detection + recognition.
    """

    def __init__(self, det_side: int = 960, second_side: int = 640, refine: bool = True) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self._lock = threading.Lock()
        self._ocr = RapidOCR(det_limit_type="max", det_limit_side_len=det_side)
        self._det_side = det_side
        self._second_side = second_side
        self._refine = refine
        self._digits = DisplayDigitReader() if refine else None

    def detect(self, image_bytes: bytes) -> list[dict[str, Any]]:
        img = _decode(image_bytes)
        height, width = img.shape[:2]
        with self._lock:
            lines = self._read(img)
        return textract_blocks([(ln.text, ln.score, ln.quad) for ln in lines], width, height)

    # -- passes -------------------------------------------------------------------

    def _detect(self, img: Image, side: int) -> list[Quad]:
        """Text boxes found at ``side`` pixels (longest side), in full-size coordinates."""
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
        return quads

    def _recognise(self, crops: list[Image]) -> list[tuple[str, float]]:
        if not crops:
            return []
        recs, _ = self._ocr.text_rec(crops)
        return [(str(r[0]), float(r[1])) for r in recs]

    def _pass(self, img: Image, side: int) -> list[_Line]:
        quads = self._detect(img, side)
        lines = []
        reads = self._recognise(_upright_crops(img, quads))
        for quad, (text, score) in zip(quads, reads, strict=True):
            if text.strip() and score >= 0.5:
                lines.append(_Line(text, score, quad))
        return lines

    def _read(self, img: Image) -> list[_Line]:
        lines = self._pass(img, self._det_side)
        if not self._refine:
            return lines
        # Second look: contrast-equalised grey image at a coarser scale. It finds
        # low-contrast LCDs with large thin seven-segment digits that the first misses.
        second = self._pass(_equalise(img), self._second_side)
        lines += [ln for ln in second if not any(_overlap(ln.quad, o.quad) > 0.5 for o in lines)]
        lines = self._refine_display(img, lines, second)
        if any(_register_like(ln.text) for ln in lines):
            return lines
        # The detector sometimes finds the display only in the photo turned upside down
        # (and upside-down photos need it); its boxes are mapped back to the photo.
        h, w = img.shape[:2]
        flipped = self._pass(np.ascontiguousarray(img[::-1, ::-1]), self._det_side)
        if not any(_digitish(ln.text) for ln in flipped):
            return lines
        for ln in flipped:
            quad = [(w - x, h - y) for x, y in ln.quad]
            ln.quad = quad[2:] + quad[:2]
        flipped = self._refine_display(img, flipped, [])
        return flipped if any(_register_like(ln.text) for ln in flipped) else lines

    def _dedicated_reads(
        self, crops: list[Image], generic: list[tuple[str, float]]
    ) -> list[tuple[str, float]]:
        """Reads of the seven-segment recognizer that confirm a value the generic one saw.

        Alone it is weaker than PP-OCRv4, and unconfirmed reads would only split the
        vote; as a second opinion it settles 9/4, 7/9 and a dropped thin 1. Appended
        last, so the winner's index still points at a widened crop.
        """
        if self._digits is None or not crops:
            return []
        seen = {_value_key(text) for text, _ in generic if any(ch.isdigit() for ch in text)}
        return [(t, s) for t, s in self._digits.read(crops) if t and _value_key(t) in seen]

    def _refine_display(self, img: Image, lines: list[_Line], others: list[_Line]) -> list[_Line]:
        """Re-read the largest digit lines on widened crops and vote.

        ``others`` are lines of another detection pass; those covering the same
        display as the largest line add their reads and boxes to its vote.
        """
        cands = sorted((ln for ln in lines if _digitish(ln.text)), key=lambda ln: -_height(ln.quad))
        if not cands:
            return lines
        tallest = _height(cands[0].quad)
        for rank, line in enumerate(c for c in cands[:2] if _height(c.quad) >= 0.6 * tallest):
            if not any(line is o for o in lines):
                continue  # part of the display already voted on
            members = [line]
            if rank == 0:
                members += [
                    o for o in others if o is not line and _overlap(o.quad, line.quad) > 0.5
                ]
            quads = [_extend(m.quad, a, c, 0.1) for m in members for a, c in _DISPLAY_EXTENSIONS]
            own = [(m.text, m.score) for m in members]
            crops = _upright_crops(img, quads)
            widened = self._recognise(crops)
            voted = _vote(own + widened + self._dedicated_reads(crops, own + widened))
            if voted is None:
                continue
            reading, confidence, index = voted
            line.text = reading
            line.score = confidence
            widest = _extend(line.quad, 0.5, 1.5, 0.1)
            n_ext = len(_DISPLAY_EXTENSIONS)
            if len(own) <= index < len(own) + n_ext:
                line.quad = _extend(line.quad, *_DISPLAY_EXTENSIONS[index - len(own)], 0.0)
            # Pieces of the same display found separately by the other pass (a cut-off
            # "13") are now part of the voted read: drop them so they are not joined twice.
            lines = [
                o
                for o in lines
                if o is line
                or not any(c.isdigit() for c in o.text)
                or _overlap_share(o.quad, widest) < 0.5
            ]
        return lines


def load_image_bytes(image: bytes | Path) -> bytes:
    return image if isinstance(image, bytes) else Path(image).read_bytes()
