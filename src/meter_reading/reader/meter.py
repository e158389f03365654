"""Read a meter photo: text detection lines + the photo -> the reading the household is asked about.

This is the extract step of the state machine, in AWS (Textract's lines) as locally
(the stand-in's lines), and what ``meter-reading read`` and the benchmark run.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from meter_reading.domain.blocks import BoundingBox, TextBlock
from meter_reading.domain.extraction import (
    ReadingResult,
    extract_reading,
    shows_electricity_meter,
)
from meter_reading.reader.display import UPRIGHT_ONLY, DisplayReader, reading_number, upright
from meter_reading.reader.image import NotAPhoto, decode
from meter_reading.reader.lines import TextLine, lines_from_textract, quad_width

#: The highest confidence of an electricity register the display reader never read.
UNREAD_REGISTER = 0.5
#: The highest confidence of a kWh reading on a page where the text detection read nothing
#: that shows an electricity meter (no kWh, no imp/kWh): kWh is then only the default,
#: and the display may be a fuel pump's or a scale's whose label went unread. Not where the
#: display's crops show the kWh, or the reading has a padded register's format or shows
#: its own way up (``padded_register``, ``self_oriented_register``).
UNIT_UNSEEN = 0.85
#: Fewest digits of a kWh reading offered as sure: registers print five cells or more (four
#: whole kWh and the tenths, or more). A shorter read may have lost a cell, most often a
#: leading thin 1 (a seven-segment 1 lights only its cell's right side), and every reader
#: can lose it alike (192.7 for 1192.7).
SURE_FROM_DIGITS = 5
#: The highest confidence of a kWh reading shorter than that.
SHORT_READING = 0.85

if TYPE_CHECKING:
    from meter_reading.reader.recognizer import DisplayRecognizer
    from meter_reading.reader.text_recognizer import TextRecognizer


def page_tilt(lines: Iterable[TextLine], direction: float) -> float:
    """How far the page's lines run off its reading direction, in degrees: the median of
    their angles, each weighted by its length (a short line's angle says little)."""
    angles: list[tuple[float, float]] = []
    for line in lines:
        off = (line.direction - direction + 180.0) % 360.0 - 180.0
        if abs(off) <= 45.0:
            angles.append((off, quad_width(line.quad)))
    if not angles:
        return 0.0
    angles.sort()
    half, total = sum(w for _, w in angles) / 2, 0.0
    for off, weight in angles:
        total += weight
        if total >= half:
            return off
    return angles[-1][0]


def upright_blocks(
    lines: Iterable[TextLine], direction: float, width: int, height: int
) -> list[TextBlock]:
    """LINE blocks with boxes on the page turned upright and straightened, as ratios of
    its size.

    A photo taken at a slant makes each line's box taller by its length times the sine of
    the slant: at 13 degrees a long label's box outgrew the display's, and the extraction
    took the label's size as the display's. So the page is turned back by its tilt first.
    """
    lines = list(lines)
    sideways = round(direction / 90.0) % 2 == 1
    page_w, page_h = (height, width) if sideways else (width, height)
    tilt = math.radians(page_tilt(lines, direction))
    cos, sin = math.cos(tilt), math.sin(tilt)
    cx, cy = page_w / 2, page_h / 2

    def straightened(point: tuple[float, float]) -> tuple[float, float]:
        x, y = upright(point, direction, width, height)
        dx, dy = x - cx, y - cy
        return cx + dx * cos + dy * sin, cy - dx * sin + dy * cos

    blocks: list[TextBlock] = []
    for line in lines:
        points = [straightened(p) for p in line.quad]
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
    # As the text detection read the page: the display reader rewrites the display's line.
    electricity_shown = shows_electricity_meter(ln.text for ln in lines)
    refined, direction = display_reader.refine(image, lines)
    result = extract_reading(upright_blocks(refined, direction, width, height))
    if result.status != "ok" or result.unit != "kWh":
        return result
    display_lines = _display_lines(result, refined)
    if not display_lines:
        # The register the extraction chose is a line the display reader never read (it did
        # not look like the display to it): no vote, no recognizer, no register format stands
        # behind its digits or its point. The household is asked.
        return _asked(result, UNREAD_REGISTER)
    if (
        not electricity_shown
        and not any(ln.unit_in_crops for ln in display_lines)
        and not padded_register(result.reading or "")
        and not self_oriented_register(result.reading or "")
    ):
        return _asked(result, UNIT_UNSEEN)
    if sum(c.isdigit() for c in result.reading or "") < SURE_FROM_DIGITS:
        return _asked(result, SHORT_READING)
    return result


def _one_decimal_digits(reading: str) -> tuple[str, str] | None:
    """A reading's whole digits and its one decimal digit; None for any other format."""
    whole, point, decimals = reading.partition(".")
    if point != "." or len(decimals) != 1 or not (whole + decimals).isdigit():
        return None
    return whole, decimals


def padded_register(reading: str) -> bool:
    """Whether a reading has a utility register's format: whole digits padded with two zeros
    or more, and one decimal (``000680.4``). A fuel pump's litres and money are not padded
    and print two or three decimals; a display read upside down ends in its padding
    (``08900.0`` for 000680.4)."""
    parts = _one_decimal_digits(reading)
    return parts is not None and parts[0].startswith("00") and len(parts[0]) + 1 >= 6


def self_oriented_register(reading: str) -> bool:
    """Whether a reading has a register's format (one decimal, five digits or more) and
    shows its own way up: a seven-segment 3, 4 or 7 upside down is a letter (E, h, L), so
    digits read with one were read the right way up, whatever the page's words said."""
    parts = _one_decimal_digits(reading)
    return (
        parts is not None
        and len(parts[0]) + 1 >= SURE_FROM_DIGITS
        and UPRIGHT_ONLY.search(reading) is not None
    )


def _asked(result: ReadingResult, highest_confidence: float) -> ReadingResult:
    """The reading offered to the household as a question, at no more than this confidence."""
    return replace(
        result,
        status="uncertain",
        confidence=min(result.confidence, highest_confidence),
        reason="low_confidence",
    )


def _display_lines(result: ReadingResult, lines: Iterable[TextLine]) -> list[TextLine]:
    """The lines the display reader read to the result's value."""
    value = result.value
    return [ln for ln in lines if ln.read_as_display and reading_number(ln.text) == value]


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
