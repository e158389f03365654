"""Text lines of a text detection (Textract's, or the local stand-in's) with their geometry.

Textract gives each LINE a ``Polygon`` whose first point is the top-left corner of the
text *as it reads*: for text photographed upside down the first point is at the
bottom right of the page. The reader uses that order to orient its crops, so the
local stand-in keeps the same convention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

Point = tuple[float, float]
Quad = list[Point]  # top-left, top-right, bottom-right, bottom-left, as the text reads


@dataclass
class TextLine:
    text: str
    confidence: float  # 0..1
    quad: Quad  # in pixels of the photo
    #: Whether the display reader read this line (its crops, recognizers and votes).
    read_as_display: bool = False
    #: Whether a reader read an electricity meter's unit (kWh) in the display's own crops.
    unit_in_crops: bool = False

    @property
    def height(self) -> float:
        return quad_height(self.quad)

    @property
    def direction(self) -> float:
        """Angle of the reading direction in degrees (0: left to right, 180: upside down)."""
        (x0, y0), (x1, y1) = self.quad[0], self.quad[1]
        return float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))

    @property
    def letters(self) -> int:
        return sum(c.isalpha() for c in self.text)

    @property
    def digits(self) -> int:
        return sum(c.isdigit() for c in self.text)


def quad_height(quad: Quad) -> float:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = quad
    return (float(np.hypot(x3 - x0, y3 - y0)) + float(np.hypot(x2 - x1, y2 - y1))) / 2


def quad_width(quad: Quad) -> float:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = quad
    return (float(np.hypot(x1 - x0, y1 - y0)) + float(np.hypot(x2 - x3, y2 - y3))) / 2


def turned(quad: Quad) -> Quad:
    """The same box read the other way round (rotated by 180 degrees)."""
    return quad[2:] + quad[:2]


def lines_from_textract(
    raw_blocks: Iterable[Mapping[str, Any]], width: int, height: int
) -> list[TextLine]:
    """LINE blocks of a Textract response, with polygons in pixels of a width x height photo."""
    lines: list[TextLine] = []
    for raw in raw_blocks:
        if raw.get("BlockType") != "LINE" or not str(raw.get("Text", "")).strip():
            continue
        geometry = raw.get("Geometry") or {}
        polygon = geometry.get("Polygon") or []
        if len(polygon) >= 4:
            points = [(float(p["X"]) * width, float(p["Y"]) * height) for p in polygon[:4]]
        else:
            box = geometry.get("BoundingBox") or {}
            left, top = float(box.get("Left", 0.0)) * width, float(box.get("Top", 0.0)) * height
            right = left + float(box.get("Width", 0.0)) * width
            bottom = top + float(box.get("Height", 0.0)) * height
            points = [(left, top), (right, top), (right, bottom), (left, bottom)]
        lines.append(
            TextLine(
                text=" ".join(str(raw["Text"]).split()),
                confidence=min(max(float(raw.get("Confidence", 0.0)) / 100.0, 0.0), 1.0),
                quad=points,
            )
        )
    return lines
