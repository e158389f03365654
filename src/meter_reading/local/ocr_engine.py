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


class OfflineTextDetector:
    """Textract DetectDocumentText look-alike. Load once, reuse; one call at a time."""

    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self._lock = threading.Lock()
        self._ocr = RapidOCR()

    def detect(self, image_bytes: bytes) -> list[dict[str, Any]]:
        img = _decode(image_bytes)
        height, width = img.shape[:2]
        with self._lock:
            lines = self._read_lines(img)
        return textract_blocks(lines, width, height)

    def _read_lines(self, img: Image) -> list[tuple[str, float, Quad]]:
        result, _ = self._ocr(img, use_cls=False)
        lines: list[tuple[str, float, Quad]] = []
        for box, text, score in result or []:
            quad = [(float(x), float(y)) for x, y in box]
            lines.append((str(text), float(score), quad))
        return lines


def load_image_bytes(image: bytes | Path) -> bytes:
    return image if isinstance(image, bytes) else Path(image).read_bytes()
