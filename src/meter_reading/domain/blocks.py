"""OCR output in Amazon Textract's block shape, independent of who produced it.

Textract and the offline engine both yield PAGE/LINE/WORD blocks; the reading
extractor only ever sees these dataclasses, so it cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

BlockType = Literal["PAGE", "LINE", "WORD"]


@dataclass(frozen=True)
class BoundingBox:
    """Position on the page as ratios of its width and height (0..1), as Textract gives it."""

    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def center_x(self) -> float:
        return self.left + self.width / 2

    @property
    def center_y(self) -> float:
        return self.top + self.height / 2


@dataclass(frozen=True)
class TextBlock:
    block_type: BlockType
    text: str
    confidence: float  # 0..100, as Textract reports it
    box: BoundingBox


def blocks_from_textract(raw_blocks: Iterable[Mapping[str, Any]]) -> list[TextBlock]:
    """Keep the LINE and WORD blocks of a Textract response (any page, any API)."""
    blocks: list[TextBlock] = []
    for raw in raw_blocks:
        block_type = raw.get("BlockType")
        if block_type not in ("LINE", "WORD"):
            continue
        box = raw.get("Geometry", {}).get("BoundingBox", {})
        blocks.append(
            TextBlock(
                block_type=block_type,
                text=str(raw.get("Text", "")),
                confidence=float(raw.get("Confidence", 0.0)),
                box=BoundingBox(
                    left=float(box.get("Left", 0.0)),
                    top=float(box.get("Top", 0.0)),
                    width=float(box.get("Width", 0.0)),
                    height=float(box.get("Height", 0.0)),
                ),
            )
        )
    return blocks
