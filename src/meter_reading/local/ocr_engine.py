"""Offline stand-in for Amazon Textract, on RapidOCR (PP-OCRv4, ONNX, CPU); local only.

:class:`OfflineTextDetector` returns the ``Blocks`` list of a Textract
DetectDocumentText response (PAGE, LINE and WORD blocks with ratio geometry and
CHILD relationships), so that everything downstream of OCR is the same locally
and in AWS.
"""

from __future__ import annotations

import io
import math
import threading
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from meter_reading.reader.display import overlap

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


def _equalise(img: Image) -> Image:
    """Grey image with local contrast equalised (CLAHE on the lightness channel)."""
    lightness = cv2.cvtColor(img, cv2.COLOR_BGR2LAB)[:, :, 0]
    equalised = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8)).apply(lightness)
    return np.asarray(cv2.cvtColor(equalised, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


class _PPOCRv4:
    """Detection, direction classification and recognition of rapidocr_onnxruntime 1.4.

    PP-OCRv4 mobile, models inside the wheel. rapidocr 3 (PP-OCRv6 small) reads tight
    display crops better, but as the detector of whole photos it found fewer displays:
    measured on the benchmark photos, the digits right fell from 65% to 39%.
    """

    def __init__(self, det_side: int) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self._ocr = RapidOCR(det_limit_type="max", det_limit_side_len=det_side)
        self.cls_thresh = float(self._ocr.text_cls.cls_thresh)

    def det(self, img: Image) -> list[list[tuple[float, float]]]:
        boxes, _ = self._ocr.text_det(img)
        return [] if boxes is None else [[(float(x), float(y)) for x, y in b] for b in boxes]

    def cls(self, crops: list[Image]) -> list[tuple[str, float]]:
        _, res, _ = self._ocr.text_cls(crops)
        return [(str(label), float(score)) for label, score in res]

    def rec(self, crops: list[Image]) -> list[tuple[str, float]]:
        recs, _ = self._ocr.text_rec(crops)
        return [(str(r[0]), float(r[1])) for r in recs]


#: How far a page's words must lean towards reading one way up (letters x score
#: difference) to overrule the direction classifier: above the largest lean of the
#: benchmark's upright photos towards turned (0.58).
PAGE_TURN_LEAN = 1.0


class OfflineTextDetector:
    """Textract DetectDocumentText look-alike: text detection and recognition, nothing more.

    Like Textract it finds text lines in any orientation and reads them: PP-OCRv4
    detection on the photo scaled to ``det_side`` pixels and again on a
    contrast-equalised grey copy at ``det_side`` and ``second_side`` (Textract copes with
    low-contrast LCDs and thin seven-segment digits that a single PP-OCR pass misses), a line
    that one pass cut into pieces and another found whole read whole; a
    photo whose text mostly runs up or down is detected again turned a quarter, as Textract
    finds a page's orientation; the text-direction classifier turns upside-down lines, and
    a page turned upside down as a whole is turned by how its words read each way up;
    recognition reads the full-size crop. Each LINE's polygon starts at the text's own
    top-left corner, as Textract's does. No display reading, no votes: that is the
    reader's job, in AWS as here. Load once, reuse; thread-safe.
    """

    def __init__(self, det_side: int = 960, second_side: int = 640) -> None:
        self._lock = threading.Lock()
        self._ocr = _PPOCRv4(det_side)
        self._det_side = det_side
        self._second_side = second_side

    def detect(self, image_bytes: bytes) -> list[dict[str, Any]]:
        img = _decode(image_bytes)
        height, width = img.shape[:2]
        with self._lock:
            passes = self._passes(img)
            if _mostly_vertical(_merged(passes, whole_lines=False)):
                # Like Textract, find the page's orientation: a photo taken sideways is
                # detected again turned a quarter anticlockwise (its text then runs left to
                # right or upside down, which the direction step settles), and its lines
                # are given back in the photo's own coordinates.
                upright = np.ascontiguousarray(np.rot90(img))
                lines = [
                    (text, score, [(width - y, x) for x, y in quad])
                    for text, score, quad in self._read(
                        upright, _merged(self._passes(upright), whole_lines=True)
                    )
                ]
            else:
                lines = self._read(img, _merged(passes, whole_lines=True))
        return textract_blocks(lines, width, height)

    def _passes(self, img: Image) -> list[list[Quad]]:
        """Text boxes of the photo and of its contrast-equalised copy, pass by pass."""
        equalised = _equalise(img)
        return [
            self._detect(img, self._det_side),
            self._detect(equalised, self._det_side),
            self._detect(equalised, self._second_side),
        ]

    def _detect(self, img: Image, side: int) -> list[Quad]:
        """Text boxes found at ``side`` pixels (longest side), in full-size coordinates."""
        h, w = img.shape[:2]
        scale = min(1.0, side / max(h, w))
        small = img
        if scale < 1.0:
            small = np.asarray(
                cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA),
                dtype=np.uint8,
            )
        boxes = self._ocr.det(small)
        quads = [[(x / scale, y / scale) for x, y in box] for box in boxes]
        quads.sort(key=lambda q: (round(q[0][1] / 10), q[0][0]))
        return quads

    def _read(self, img: Image, quads: list[Quad]) -> list[tuple[str, float, Quad]]:
        if not quads:
            return []
        crops: list[Image] = []
        oriented: list[Quad] = []
        for quad in quads:
            piece = _crop(img, quad)
            if piece.shape[0] >= 1.5 * piece.shape[1]:
                # Vertical text: read it turned a quarter anticlockwise, so it runs upwards.
                piece = np.ascontiguousarray(np.rot90(piece))
                quad = [quad[1], quad[2], quad[3], quad[0]]
            crops.append(piece)
            oriented.append(quad)
        upside_down = [
            "180" in label and score > self._ocr.cls_thresh for label, score in self._ocr.cls(crops)
        ]
        reads = self._ocr.rec([_turn(c, u) for c, u in zip(crops, upside_down, strict=True)])
        other_way: dict[int, tuple[str, float]] = {}
        if any(_is_word_line(text) for text, _ in reads):
            # The lines with letters read the other way up too: how they read decides the
            # page's way up, and those the page turns need no second recognition.
            lettered = [i for i, (text, _) in enumerate(reads) if _letters(text)]
            turned = self._ocr.rec([_turn(crops[i], not upside_down[i]) for i in lettered])
            other_way = dict(zip(lettered, turned, strict=True))
        page_upside_down = _page_upside_down(reads, upside_down, other_way)
        redo = [i for i, up in enumerate(upside_down) if up != page_upside_down]
        unread = [i for i in redo if i not in other_way]
        again = self._ocr.rec([_turn(crops[i], page_upside_down) for i in unread])
        other_way.update(zip(unread, again, strict=True))
        for i in redo:
            reads[i] = other_way[i]
        lines: list[tuple[str, float, Quad]] = []
        for quad, (text, score) in zip(oriented, reads, strict=True):
            if page_upside_down:
                quad = quad[2:] + quad[:2]  # the polygon starts at the text's top-left
            if str(text).strip() and float(score) >= 0.5:
                lines.append((str(text), float(score), quad))
        return lines


def _merged(passes: list[list[Quad]], whole_lines: bool) -> list[Quad]:
    """The passes' boxes, a later pass's box dropped where it overlaps one kept.

    With ``whole_lines``, a big line that one pass cut into pieces and another found whole is
    kept whole (:func:`_pieces_of`). Whether the photo was taken sideways is judged without:
    a whole line replacing pieces must not tip that decision.
    """
    quads = list(passes[0])
    for more in passes[1:]:
        for quad in more:
            pieces = _pieces_of(quad, quads) if whole_lines else []
            if pieces:
                quads = [o for o in quads if o not in pieces] + [quad]
            elif not any(overlap(quad, o) > 0.5 for o in quads):
                quads.append(quad)
    return quads


def _pieces_of(quad: Quad, kept: list[Quad]) -> list[Quad]:
    """The kept boxes that ``quad`` holds whole: it runs across the photo, overlaps them
    (their polygons) and is at least twice as long as each of them. Else none."""
    if not _runs_across(quad):
        return []
    held = [o for o in kept if _polygon_overlap(quad, o) > 0.5]
    return held if all(_length(quad) >= 2 * _length(o) for o in held) else []


def _length(quad: Quad) -> float:
    """The long side of the box (its text's length, whichever way it runs)."""
    _, sides, _ = cv2.minAreaRect(np.asarray(quad, dtype=np.float32))
    return float(max(sides))


def _runs_across(quad: Quad) -> bool:
    """The box's top edge (its first two corners) lies within 30 degrees of the photo's rows."""
    (x0, y0), (x1, y1) = quad[0], quad[1]
    return abs(math.degrees(math.atan2(y1 - y0, x1 - x0))) <= 30.0


def _polygon_overlap(a: Quad, b: Quad) -> float:
    """Intersection of the two boxes over the smaller one, by their polygons (``overlap``
    measures their axis-aligned bounds, which a tilted line's neighbours share)."""
    pa, pb = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    shared, _ = cv2.intersectConvexConvex(pa, pb)
    smaller = min(abs(cv2.contourArea(pa)), abs(cv2.contourArea(pb)))
    return float(shared) / max(float(smaller), 1e-6)


def _page_upside_down(
    reads: list[tuple[str, float]],
    upside_down: list[bool],
    other_way: dict[int, tuple[str, float]],
) -> bool:
    """Like Textract, orient the page as a whole: by its words.

    The direction classifier's votes (``upside_down``; each line without digits by its
    letters) decide; seven-segment digits read alike both ways (a 3 upside down is an E), so
    lines with digits do not vote, and a page without words is taken as upright. The
    classifier is unsure on whole photos turned upside down, though, where the letters
    themselves tell: read the wrong way up they read at a lower score (``snua`` for Genus,
    ``1000X`` for a water meter's ``x0.001``). Each line with letters (``other_way``: its read
    the other way up) leans towards the way it reads better, by its letters times the
    difference of the scores (a line of digits alone has none); where the page leans clearly
    one way (``PAGE_TURN_LEAN``), that way stands.
    """
    words = [i for i, (text, _) in enumerate(reads) if _is_word_line(text)]
    if not words:
        return False
    votes = [0, 0]
    for i in words:
        votes[upside_down[i]] += _letters(reads[i][0])
    lean = 0.0
    for i, (other_text, other_score) in other_way.items():
        text, score = reads[i]
        turned_minus_upright = score - other_score if upside_down[i] else other_score - score
        lean += max(_letters(text), _letters(other_text)) * turned_minus_upright
    if abs(lean) > PAGE_TURN_LEAN:
        return lean > 0
    return votes[1] > votes[0]


def _letters(text: str) -> int:
    """Latin letters only: PP-OCRv4 reads with a Chinese dictionary, and its reads of marks,
    dials and glare (`十`, `水`) are no words of a meter (Textract reads Latin script only)."""
    return sum(c.isascii() and c.isalpha() for c in text)


def _is_word_line(text: str) -> bool:
    return bool(text.strip()) and not any(c.isdigit() for c in text)


def _mostly_vertical(quads: list[Quad]) -> bool:
    """Most of the text found (by length) runs up or down the photo: it was taken sideways."""
    along = [0.0, 0.0]
    for quad in quads:
        across = float(np.hypot(quad[1][0] - quad[0][0], quad[1][1] - quad[0][1]))
        down = float(np.hypot(quad[3][0] - quad[0][0], quad[3][1] - quad[0][1]))
        if max(across, down) >= 1.5 * min(across, down):
            along[down > across] += max(across, down)
    return along[1] > along[0]


def _turn(crop: Image, upside_down: bool) -> Image:
    return np.ascontiguousarray(crop[::-1, ::-1]) if upside_down else crop


def load_image_bytes(image: bytes | Path) -> bytes:
    return image if isinstance(image, bytes) else Path(image).read_bytes()
