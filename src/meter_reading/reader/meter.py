"""Read a meter photo: text detection lines + the photo -> the reading the household is asked about.

This is the extract step of the state machine, in AWS (Textract's lines) as locally
(the stand-in's lines), and what ``meter-reading read`` and the benchmark run.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from meter_reading.domain.blocks import BoundingBox, TextBlock
from meter_reading.domain.extraction import ReadingResult, extract_reading
from meter_reading.reader.display import DisplayReader, upright
from meter_reading.reader.image import NotAPhoto, decode
from meter_reading.reader.lines import TextLine, lines_from_textract

if TYPE_CHECKING:
    from meter_reading.reader.recognizer import DisplayRecognizer
    from meter_reading.reader.text_recognizer import TextRecognizer


def upright_blocks(
    lines: Iterable[TextLine], direction: float, width: int, height: int
) -> list[TextBlock]:
    """LINE blocks with boxes on the page turned upright, as ratios of its size."""
    sideways = round(direction / 90.0) % 2 == 1
    page_w, page_h = (height, width) if sideways else (width, height)
    blocks: list[TextBlock] = []
    for line in lines:
        points = [upright(p, direction, width, height) for p in line.quad]
        xs = [min(max(x / page_w, 0.0), 1.0) for x, _ in points]
        ys = [min(max(y / page_h, 0.0), 1.0) for _, y in points]
        box = BoundingBox(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
        blocks.append(TextBlock("LINE", line.text, line.confidence * 100.0, box))
    return blocks


def read_meter(
    photo: bytes, raw_blocks: Iterable[Mapping[str, Any]], display_reader: DisplayReader
) -> ReadingResult:
    """The reading of one photo, from its text detection blocks (Textract's shape)."""
    try:
        image = decode(photo)
    except NotAPhoto:
        return ReadingResult("unreadable", None, "kWh", 0.0, "not_a_photo")
    width, height = image.size
    lines = lines_from_textract(raw_blocks, width, height)
    refined, direction = display_reader.refine(image, lines)
    return extract_reading(upright_blocks(refined, direction, width, height))


@functools.cache
def recognizer() -> DisplayRecognizer:
    """One recognizer per process (a Lambda container): loading the model takes a moment."""
    from meter_reading.reader.recognizer import DisplayRecognizer

    return DisplayRecognizer()


@functools.cache
def text_recognizer() -> TextRecognizer | None:
    """The generic text recognizer, one per process; None (and a warning) without its model.

    ``make install`` fetches the model and the layer's build refuses to go without it, so
    only a checkout that skipped both reads without this second opinion.
    """
    from meter_reading.reader.text_recognizer import MODEL, TextRecognizer

    if not MODEL.is_file():
        logging.getLogger(__name__).warning(
            "no %s: reading displays without the generic text recognizer "
            "(python -m meter_reading.reader.text_recognizer --fetch)",
            MODEL.name,
        )
        return None
    return TextRecognizer()
