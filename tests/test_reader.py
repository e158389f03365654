"""The meter reader of the extract step: geometry, orientation, votes, crops (no OCR engine)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from meter_reading.domain.extraction import ReadingResult, extract_reading
from meter_reading.reader.display import (
    AGREED,
    DECIMAL_CELLS,
    EXTENSIONS,
    FORMAT_ONLY,
    SECOND_LOOK_WIDENING,
    TEXT_RECOGNIZER_WEIGHT,
    DisplayReader,
    Read,
    Recognizer,
    _glyph_evidence,
    decimal_cell_digit,
    digitish,
    normalise,
    page_direction,
    point_after_digits,
    read_upside_down,
    readers_agree,
    reading_number,
    subscript_missed,
    vote,
    with_tenths,
)
from meter_reading.reader.image import RGBArray, crop, decode
from meter_reading.reader.lines import TextLine, lines_from_textract, quad_width, turned
from meter_reading.reader.meter import (
    SHORT_READING,
    UNIT_UNSEEN,
    read_meter,
    upright_blocks,
)

TEXTRACT_SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "textract-samples"


def _sample(name: str) -> list[dict[str, Any]]:
    path = TEXTRACT_SAMPLES / name
    if not path.is_file():
        pytest.skip(f"Textract samples not found at {TEXTRACT_SAMPLES} (../shared is absent)")
    blocks: list[dict[str, Any]] = json.loads(path.read_text())["Blocks"]
    return blocks


def _jpeg(width: int, height: int, colour: tuple[int, int, int] = (120, 160, 120)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "JPEG")
    return out.getvalue()


class ScriptedRecognizer:
    """Answers each crop with the next scripted read, and keeps the crops it was shown."""

    def __init__(self, *reads: tuple[str, float]) -> None:
        self.reads = list(reads)
        self.crops: list[RGBArray] = []

    def read(self, crops: Sequence[RGBArray]) -> list[tuple[str, float]]:
        self.crops.extend(crops)
        return [
            self.reads[(len(self.crops) - len(crops) + i) % len(self.reads)]
            for i in range(len(crops))
        ]


# --- Textract geometry -------------------------------------------------------------


def test_real_textract_lines_keep_text_confidence_and_polygon() -> None:
    lines = lines_from_textract(_sample("textractor__test_detect_document_text.json"), 1000, 1000)
    assert lines[0].text == "Textractor Test"
    assert 0.9 < lines[0].confidence <= 1.0
    (x0, y0), (x1, y1) = lines[0].quad[:2]
    assert (round(x0), round(y0), round(x1), round(y1)) == (160, 104, 835, 104)
    assert abs(lines[0].direction) < 5  # upright page: reads left to right


def test_rotated_textract_page_is_seen_as_rotated() -> None:
    lines = lines_from_textract(_sample("trp__gib__90_degrees.json"), 1000, 1000)
    # The polygon's first point is the text's own top-left: this page reads downwards.
    assert page_direction(lines) == 90.0


def test_async_textract_response_goes_through_the_reader() -> None:
    blocks = _sample("textractor__test_textractor_start_document_text_detection.json")
    recognizer = ScriptedRecognizer(("", 0.0))
    result = read_meter(_jpeg(800, 1000), blocks, DisplayReader(recognizer))
    # A document, not a meter: whatever it reads, it is never offered as a sure reading.
    assert result.status in ("uncertain", "unreadable")


# --- votes ---------------------------------------------------------------------------


def test_the_point_comes_from_the_recognizer_not_the_majority() -> None:
    reads = [
        Read("20509", 0.99, by_recognizer=False),  # the text detection drops the point
        Read("2050.9", 0.9, by_recognizer=True),
        Read("2050.9", 0.9, by_recognizer=True),
        Read("20509", 0.5, by_recognizer=True),
    ]
    voted = vote(reads)
    assert voted is not None and voted[0] == "2050.9"


def test_a_point_the_recognizers_place_stands_against_their_reads_without_one() -> None:
    # The text recognizer drops the faint point in four of its five reads; the seven-
    # segment recognizer places it in all of its own, and one text recognizer read agrees.
    # Reads without a point do not say there is none: 03556.7, not 035567.
    reads = [Read("03556.7", 0.83, by_recognizer=True) for _ in range(5)]
    reads += [Read("035567", 0.9, True, TEXT_RECOGNIZER_WEIGHT) for _ in range(4)]
    reads += [Read("03556.7", 0.9, True, TEXT_RECOGNIZER_WEIGHT)]
    reads += [Read("03556.7", 0.95, by_recognizer=False), Read("035567", 1.0, False)]
    voted = vote(reads)
    assert voted is not None and voted[0] == "03556.7"
    # A point one read of nine places is not enough against the rest.
    lone = [Read("035567", 0.9, True, TEXT_RECOGNIZER_WEIGHT) for _ in range(8)]
    voted = vote([*lone, Read("03556.7", 0.9, True, TEXT_RECOGNIZER_WEIGHT)])
    assert voted is not None and voted[0] == "035567"


def test_a_point_read_after_all_the_digits_does_not_place_it_among_them() -> None:
    # 5371.6 turned -5 degrees: the text recognizer reads "53716." twice, a point after its
    # last digit, as if the display went on. That is no read of a whole number, so it does
    # not outvote the seven-segment recognizer's point; before, the vote gave 53716 and the
    # decimal cell's crop made 53716.1 of it.
    reads = [Read("5371.6", 0.8, by_recognizer=True) for _ in range(5)]
    reads += [Read("53716", 0.99, True, TEXT_RECOGNIZER_WEIGHT)]
    reads += [Read("53716.", 0.9, True, TEXT_RECOGNIZER_WEIGHT) for _ in range(2)]
    reads += [Read("5371.6.8", 0.78, True, TEXT_RECOGNIZER_WEIGHT) for _ in range(2)]
    reads += [Read("53716", 1.0, False) for _ in range(3)] + [Read("5371.6", 0.9, False)]
    voted = vote(reads)
    assert voted is not None and voted[0] == "5371.6"
    # Where every read of the digits ends in a bare point, they keep their digits whole.
    voted = vote([Read("010555.", 0.95, True, TEXT_RECOGNIZER_WEIGHT) for _ in range(3)])
    assert voted is not None and voted[0] == "010555"


def test_a_bare_point_counts_for_the_tenths_the_text_recognizer_read_on_the_wide_crops() -> None:
    # 007666.8 turned 5 degrees: its small tenths digit sits below the other digits'
    # baseline. The tight crops end at the point ("007666."), the seven-segment recognizer
    # takes the last 6 for the tenths in all of its reads, and the text detection of the
    # page reads only the kWh label. Two of the text recognizer's reads of the wider crops
    # show the tenths digit.
    reads = [Read("00766.6", 0.82, by_recognizer=True) for _ in range(5)]
    reads += [Read("007666.", 0.99, False), Read("kW", 0.61, False), Read("kWh", 0.88, False)]
    reads += [Read("007666.", 0.9, True, TEXT_RECOGNIZER_WEIGHT) for _ in range(2)]
    reads += [Read("00766.8", 0.94, True, TEXT_RECOGNIZER_WEIGHT)]
    reads += [Read("007666.8", 0.85, True, TEXT_RECOGNIZER_WEIGHT) for _ in range(2)]
    voted = vote(reads)
    assert voted is not None and voted[0] == "007666.8"
    # One such read could be a mark after the point: not enough.
    voted = vote(reads[:-1])
    assert voted is not None and voted[0] != "007666.8"


def test_a_mark_read_beside_the_display_does_not_make_it_a_time() -> None:
    # 0006804: (a speck after the small tenths cell) is the display, read by the reader and
    # given its tenths; before, it was taken for a time, skipped, and its seven digits
    # offered as ok.
    recognizer = ScriptedRecognizer(("0006804", 0.9))
    refined, _ = _refined("0006804:", recognizer)
    assert refined[0].text == "000680.4"
    assert not digitish("12:30") and not digitish("2026/11/28")


def test_a_unit_glued_to_the_digits_is_a_label_not_a_reason_to_drop_the_read() -> None:
    # The text recognizer reads the line with its unit (5974.3kWh); the text detection
    # reads the k as a 1 in some of its reads. The recognizer's reads count.
    reads = [Read("5974.3kWh", 0.9, True, TEXT_RECOGNIZER_WEIGHT) for _ in range(5)]
    reads += [Read("5974.31w.h", 0.8, False), Read("5974.31h", 0.94, False)]
    reads += [Read("5974.3W.h", 0.76, False)]
    voted = vote(reads)
    assert voted is not None and voted[0] == "5974.3"
    assert normalise("2050.9KW") == ("2050.9", False)


def test_leading_zeros_and_point_vote_for_the_same_value() -> None:
    voted = vote(
        [Read("04414.7", 0.95, True), Read("4414.7", 0.97, True), Read("44147", 0.99, False)]
    )
    assert voted is not None and voted[0] == "04414.7" and voted[1] > 0.9


def test_disagreeing_reads_lower_the_confidence() -> None:
    voted = vote(
        [Read("008701.3", 0.9, True), Read("008901.3", 0.9, True), Read("CUM", 0.9, False)]
    )
    assert voted is not None and voted[1] < 0.5
    assert vote([Read("kWh", 0.9, False), Read("CUM", 0.8, False)]) is None


def test_a_bare_point_counts_for_the_read_that_completes_it() -> None:
    voted = vote(
        [Read("1573.", 0.99, False), Read("1573.1", 0.97, False), Read("1578", 0.9, False)]
    )
    assert voted is not None and voted[0] == "1573.1"


def test_the_recognizer_never_adds_a_digit_to_what_the_text_detection_read() -> None:
    # The detection read all seven digits; the recognizer invents a tenths digit after them.
    reads = [
        Read("0006804", 0.99, by_recognizer=False),
        Read("0006804.4", 0.6, by_recognizer=True),
        Read("0006804.4", 0.6, by_recognizer=True),
        Read("000680.4", 0.6, by_recognizer=True),
    ]
    voted = vote(reads)
    assert voted is not None and voted[0] == "000680.4"


def test_a_read_without_the_thin_leading_one_counts_for_the_read_that_has_it() -> None:
    reads = [Read("1185.5", 1.0, False)] + [Read("185.5", 1.0, False)] * 4
    reads += [Read("1185.5", 0.9, True)] * 4
    voted = vote(reads)
    assert voted is not None and voted[0] == "1185.5"
    # Only the text detection's 1: the recognizer reads the display's frame as one.
    voted = vote([Read("185.5", 1.0, False)] * 3 + [Read("1185.5", 0.9, True)] * 5)
    assert voted is not None and voted[0] == "185.5"
    # Zeros pad a register on the left: a 1 read before them is the display's frame.
    voted = vote([Read("03662.0", 0.9, False)] * 3 + [Read("103662.0", 0.9, False)])
    assert voted is not None and voted[0] == "03662.0"


def test_the_text_detection_outvotes_a_recognizer_that_drops_a_leading_one() -> None:
    reads = [Read("16422.2", 0.99, False)] + [Read("6422.2", 0.7, True)] * 5
    voted = vote(reads)
    assert voted is not None and voted[0] == "16422.2"


# --- orientation ---------------------------------------------------------------------


def _line(text: str, quad: list[tuple[float, float]], confidence: float = 0.95) -> TextLine:
    return TextLine(text, confidence, quad)


UPRIGHT_DIGITS = [(100.0, 100.0), (500.0, 100.0), (500.0, 180.0), (100.0, 180.0)]
UPRIGHT_WORD = [(520.0, 150.0), (600.0, 150.0), (600.0, 180.0), (520.0, 180.0)]


def _refined(
    text: str,
    recognizer: Recognizer,
    text_detection: Callable[[bytes], list[dict[str, Any]]] | None = None,
    text_recognizer: ScriptedRecognizer | None = None,
    word: str = "kWh",
) -> tuple[list[TextLine], float]:
    """A display line the photo's detection read as ``text``, beside a word, refined."""
    lines = [_line(text, UPRIGHT_DIGITS), _line(word, UPRIGHT_WORD)]
    image = Image.new("RGB", (800, 400), (150, 190, 150))
    return DisplayReader(recognizer, text_detection, text_recognizer).refine(image, lines)


def test_words_on_the_page_turn_a_digit_line_the_detector_read_upside_down() -> None:
    # The detector read the digits (its polygon starts at their top-left as it saw it),
    # but only the words tell which way up the display is.
    recognizer = ScriptedRecognizer(("2050.9", 0.95))
    lines = [_line("20509", turned(UPRIGHT_DIGITS)), _line("kWh", UPRIGHT_WORD)]
    image = Image.new("RGB", (800, 400), (150, 190, 150))
    refined, direction = DisplayReader(recognizer).refine(image, lines)
    assert direction == 0.0
    display = next(ln for ln in refined if any(c.isdigit() for c in ln.text))
    assert display.text == "2050.9"
    assert display.quad[0] == UPRIGHT_DIGITS[0]  # cropped the right way up


def test_without_words_the_decimal_digit_decides_the_orientation() -> None:
    # The crop taken the detector's way reads the small digit first: that is upside down.
    recognizer = ScriptedRecognizer(("6.0502", 0.9), ("2050.9", 0.9))
    lines = [_line("60502", turned(UPRIGHT_DIGITS))]
    image = Image.new("RGB", (800, 400), (150, 190, 150))
    refined, direction = DisplayReader(recognizer).refine(image, lines)
    assert direction == 0.0
    assert refined[0].quad[0] == UPRIGHT_DIGITS[0]


def test_without_words_or_point_an_e_among_digits_shows_the_display_upside_down() -> None:
    # Neither crop shows a decimal digit; the detection read 1369.3 turned: a 3 upside
    # down is an E. A label's letters (En) are no such evidence.
    recognizer = ScriptedRecognizer(("6696", 0.7), ("13693", 0.7))
    image = Image.new("RGB", (800, 400), (150, 190, 150))
    refined, _ = DisplayReader(recognizer).refine(image, [_line("E69E1", turned(UPRIGHT_DIGITS))])
    assert refined[0].quad[0] == UPRIGHT_DIGITS[0]
    assert read_upside_down("E69E1") and read_upside_down("h1E.5")
    assert not read_upside_down("En 011903") and not read_upside_down("20509")


def test_a_display_read_upside_down_with_more_glyphs_than_digits_is_still_the_display() -> None:
    # 005243.4 turned, as the detection reads a close-up without words: more letters than
    # digits, but every letter a seven-segment digit upside down.
    recognizer = ScriptedRecognizer(("005243.4", 0.8))
    image = Image.new("RGB", (800, 400), (150, 190, 150))
    line = _line("hEh2500", turned(UPRIGHT_DIGITS))
    refined, _ = DisplayReader(recognizer).refine(image, [line])
    assert (refined[0].text, refined[0].quad[0]) == ("005243.4", UPRIGHT_DIGITS[0])
    assert refined[0].read_as_display
    # Letters read for digits that look the same turned (O, B) and a G for a turned 9.
    assert read_upside_down("EEBE2") and read_upside_down("0GhLEOO")
    assert not read_upside_down("BOSS 2") and not read_upside_down("kWh 5")
    # The unit after the digits comes first when turned: the h of kWh as a 4, W as M.
    assert read_upside_down("422L6E000") and read_upside_down("ANL955E0")
    assert not read_upside_down("5974.3kWh") and not read_upside_down("EEE")


#: What a seven-segment digit looks like turned by 180 degrees.
_SEEN_TURNED = {
    "0": "0",
    "1": "1",
    "2": "2",
    "3": "E",
    "4": "h",
    "5": "5",
    "6": "9",
    "7": "L",
    "8": "8",
    "9": "6",
}


@given(st.text(alphabet="0123456789", min_size=3, max_size=9), st.sampled_from(["", "kWh"]))
def test_digits_read_upright_never_read_as_upside_down_and_their_turned_glyphs_do(
    digits: str, unit: str
) -> None:
    assert not read_upside_down(digits + unit)
    turned = "".join(_SEEN_TURNED[c] for c in reversed(digits))
    # Turned, the unit comes first: its h reads as a 4, its W as an M. A read must show a digit
    # too (EEE is a word), and a 3, 4 or 7 as its letter.
    glyphs, plain = (any(c in "347" for c in digits), any(c not in "347" for c in digits))
    assert read_upside_down("4M" * bool(unit) + turned) == (glyphs and plain)


def test_a_b_and_an_i_read_beside_an_e_are_digits_upside_down_too() -> None:
    # 1369.3 turned, as the text recognizer reads it: the 9 without its bottom bar is a b,
    # the 1 an I, and a speck before the read is no letter.
    assert read_upside_down("Eb9EI") and read_upside_down('"Eb9EI')
    # Alone, a b and an I are an upright 6 without its top bar and an upright 1.
    assert not read_upside_down("1b93") and not read_upside_down("I0b5")
    assert not read_upside_down("E1")  # too short to be a register


def test_without_words_glyphs_read_the_other_way_outweigh_a_decimal_digit() -> None:
    # The photo's detection read 002932.4 the right way up; the seven-segment recognizer
    # puts a decimal digit at the end of the turned crop (a frame edge), but the text
    # recognizer reads that crop as h2E6200: a 4 and a 3 upside down. The trailing h of
    # a kW h label after the upright read is no such evidence.
    seven_segment = ScriptedRecognizer(("0029324", 0.8), ("1062.0", 0.8))
    text_recognizer = ScriptedRecognizer(("0029324h", 0.9), ("h2E6200", 0.9))
    reader = DisplayReader(seven_segment, None, text_recognizer)
    image = Image.new("RGB", (800, 400), (150, 190, 150))
    refined, direction = reader.refine(image, [_line("002932.4", UPRIGHT_DIGITS)])
    assert direction == 0.0
    assert refined[0].quad[0] == UPRIGHT_DIGITS[0]
    # Without the text recognizer, the decimal digit alone would have turned it.
    refined, direction = DisplayReader(
        ScriptedRecognizer(("0029324", 0.8), ("1062.0", 0.8))
    ).refine(image, [_line("002932.4", UPRIGHT_DIGITS)])
    assert direction == 180.0


def test_without_words_a_unit_read_after_the_digits_one_way_shows_which_way_is_up() -> None:
    # No word on the page but the display's glued unit; the seven-segment recognizer puts a
    # decimal digit at the end of the turned crop (86.5, the display upside down), but the
    # text recognizer reads the unit after the digits only the photo's way up.
    seven_segment = ScriptedRecognizer(("5974.3", 0.5), ("86.5", 0.8))
    text_recognizer = ScriptedRecognizer(("5974.3kWh", 0.9), ("UMIEHL65", 0.7))
    image = Image.new("RGB", (800, 400), (150, 190, 150))
    reader = DisplayReader(seven_segment, None, text_recognizer)
    refined, direction = reader.refine(image, [_line("5974.3", UPRIGHT_DIGITS)])
    assert direction == 0.0
    assert refined[0].quad[0] == UPRIGHT_DIGITS[0]
    # A unit read both ways (a drum's m, and a mark the turned crop reads as one) tells
    # nothing: the decimal digit decides, as before.
    text_recognizer = ScriptedRecognizer(("0.532m", 0.9), ("053m", 0.7))
    reader = DisplayReader(
        ScriptedRecognizer(("5974.3", 0.5), ("86.5", 0.8)), None, text_recognizer
    )
    _, direction = reader.refine(image, [_line("5974.3", UPRIGHT_DIGITS)])
    assert direction == 180.0


class WhichWayUpRecognizer:
    """Reads a crop one way where its left half is the darker (the display as photographed
    in the tests below: dark on its left), the other way where it is turned."""

    def __init__(self, upright: str, turned: str) -> None:
        self.upright, self.turned = upright, turned

    def read(self, crops: Sequence[RGBArray]) -> list[tuple[str, float]]:
        def left_darker(c: RGBArray) -> bool:
            half = c.shape[1] // 2
            return bool(c[:, :half].mean() < c[:, half:].mean())

        return [(self.upright if left_darker(c) else self.turned, 0.9) for c in crops]


def test_digits_every_reader_reads_upside_down_turn_the_display_against_a_short_word() -> None:
    # A two-letter word read the photo's way up says the page is upright, but the display
    # is upside down: the text recognizer reads 9E6200 (an E is a 3 turned) where the
    # turned crops read 002936.2.
    image = Image.new("RGB", (800, 400), (150, 190, 150))
    image.paste((60, 80, 60), (0, 0, 300, 400))  # dark on the display's left as photographed
    lines = [_line("966200", UPRIGHT_DIGITS), _line("MX", UPRIGHT_WORD)]
    reader = DisplayReader(
        WhichWayUpRecognizer("966200", "0029362"),
        None,
        WhichWayUpRecognizer("9E6200", "002936.2"),
    )
    refined, direction = reader.refine(image, lines)
    display = next(ln for ln in refined if any(c.isdigit() for c in ln.text))
    assert display.text == "002936.2"
    assert direction == 180.0
    # Where the turned crops read upside-down glyphs as well, the photo's way is kept.
    both_turned = DisplayReader(
        WhichWayUpRecognizer("966200", "0029362"), None, WhichWayUpRecognizer("9E6200", "E69E1")
    )
    _, direction = both_turned.refine(
        image, [_line("966200", UPRIGHT_DIGITS), _line("MX", UPRIGHT_WORD)]
    )
    assert direction == 0.0


def test_only_reads_that_can_tell_decide_whether_the_crops_are_upside_down() -> None:
    # 1809.5 turned: the text detection reads 56081 (digits either way up), the text
    # recognizer 5h081 (a 4 turned is an h): the glyphs decide.
    symmetric = [Read("56081", 0.9, False)] * 6
    glyphs = [Read("5h081", 0.9, True, TEXT_RECOGNIZER_WEIGHT)] * 5
    assert _glyph_evidence(symmetric + glyphs) == (5, 0)
    assert _glyph_evidence(symmetric) == (0, 0)
    # A 3, 4 or 7 read the right way up is evidence the other way.
    upright = [Read("18045", 0.9, False)] * 6
    assert _glyph_evidence(upright + glyphs) == (5, 6)


def test_one_stray_turned_read_does_not_turn_a_display_that_reads_alike_either_way() -> None:
    # 2015.8 upright; one of the text recognizer's five reads has a stray h before the digits
    # (h20158 reads as digits upside down). Turned, the crops read 85102: no 3, 4 or 7 there
    # confirms the turn, so the display stays as photographed.
    image = Image.new("RGB", (800, 400), (150, 190, 150))
    lines = [_line("20158", UPRIGHT_DIGITS), _line("MX", UPRIGHT_WORD)]
    generic = ScriptedRecognizer(("h20158", 0.9), *[("20158", 0.9)] * 4, *[("85102", 0.9)] * 5)
    refined, direction = DisplayReader(ScriptedRecognizer(("2015.8", 0.8)), None, generic).refine(
        image, lines
    )
    display = next(ln for ln in refined if any(c.isdigit() for c in ln.text))
    assert (display.text, direction) == ("2015.8", 0.0)


def test_an_upside_down_page_is_compared_as_on_the_meter() -> None:
    # Photo upside down: the unit is left of the digits in the photo, right of them on the meter.
    width, height = 800, 400
    flip = [(width - x, height - y) for x, y in UPRIGHT_DIGITS]
    word = [(width - x, height - y) for x, y in UPRIGHT_WORD]
    blocks = upright_blocks([_line("2050.9", flip), _line("kWh", word)], 180.0, width, height)
    digits, unit = blocks
    assert digits.box.left < unit.box.left
    assert digits.box.top == pytest.approx(100 / height)


def _slanted(x: float, y: float, w: float, h: float, degrees: float) -> list[tuple[float, float]]:
    """A w x h line at (x, y) top-left on a page photographed at a slant (about (400, 300))."""
    a = np.radians(degrees)

    def turn(px: float, py: float) -> tuple[float, float]:
        dx, dy = px - 400.0, py - 300.0
        return 400.0 + dx * np.cos(a) - dy * np.sin(a), 300.0 + dx * np.sin(a) + dy * np.cos(a)

    return [turn(x, y), turn(x + w, y), turn(x + w, y + h), turn(x, y + h)]


def test_a_slanted_photo_is_straightened_before_the_register_is_chosen() -> None:
    # At 13 degrees the box around the display's line (280 x 60 px) is 120 px tall, and
    # reaches down beside the serial number's label (SL.No) 40 px below-left of it: taken
    # for the serial number's digits, the display was refused and the photo unreadable.
    lines = [
        _line("HASE2WIREAC STATICWATTHOUR METER EM101+", _slanted(20, 60, 760, 20, 13.0)),
        _line("1025.0", _slanted(200, 260, 280, 60, 13.0)),
        _line("kW h", _slanted(500, 300, 60, 20, 13.0)),
        _line("SL.No", _slanted(60, 360, 120, 20, 13.0)),
    ]
    straight = extract_reading(upright_blocks(lines, 0.0, 800, 600))
    assert (straight.reading, straight.unit) == ("1025.0", "kWh")
    display = next(b for b in upright_blocks(lines, 0.0, 800, 600) if b.text == "1025.0")
    assert display.box.height * 600 == pytest.approx(60, abs=1)


def _textract_line(
    text: str, left: float, top: float, right: float, bottom: float
) -> dict[str, Any]:
    corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
    return {
        "BlockType": "LINE",
        "Text": text,
        "Confidence": 99.0,
        "Geometry": {"Polygon": [{"X": x, "Y": y} for x, y in corners]},
    }


def test_a_register_the_display_reader_never_read_is_never_offered_as_sure() -> None:
    # Textract read the display's line with words around the digits, so the reader did not
    # take it for the display: no vote, no register format. Its 99% must not make the seven
    # digits (the tenths among them) a sure reading.
    blocks = [
        _textract_line("TOTAL 0006804 kWh CUM", 0.1, 0.3, 0.9, 0.55),
        _textract_line("Genus", 0.4, 0.05, 0.6, 0.12),
    ]
    result = read_meter(_jpeg(800, 600), blocks, DisplayReader(ScriptedRecognizer(("", 0.0))))
    assert result.reading == "0006804"
    assert result.status == "uncertain" and result.confidence <= 0.5


# --- photos and crops ----------------------------------------------------------------


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")  # a few KB, 400 MP once decoded
    result = read_meter(out.getvalue(), [], DisplayReader(ScriptedRecognizer(("", 0.0))))
    assert (result.status, result.reason) == ("unreadable", "not_a_photo")


def test_bytes_that_are_no_image_are_unreadable() -> None:
    result = read_meter(
        b"<html>not a photo</html>", [], DisplayReader(ScriptedRecognizer(("", 0.0)))
    )
    assert (result.status, result.reason) == ("unreadable", "not_a_photo")


def test_crop_follows_the_quad_orientation() -> None:
    image = Image.new("RGB", (200, 100), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 100, 100))  # left half white
    quad = [(10.0, 10.0), (190.0, 10.0), (190.0, 90.0), (10.0, 90.0)]
    upright = crop(image, quad)
    upside_down = crop(image, turned(quad))
    assert upright[:, :10].mean() > 200 and upright[:, -10:].mean() < 50
    assert upside_down[:, :10].mean() < 50 and upside_down[:, -10:].mean() > 200


def test_decode_keeps_colour_and_size() -> None:
    image = decode(_jpeg(320, 240, (200, 40, 40)))
    assert image.size == (320, 240) and image.mode == "RGB"
    assert np.asarray(image)[120, 160, 0] > 150


def test_a_read_that_stops_before_the_tenths_counts_for_the_read_that_has_them() -> None:
    # Narrow crops cut the small decimal cell off; the wide ones read it after the point.
    reads = [
        Read("4981", 0.99, by_recognizer=False),
        Read("4981", 0.99, by_recognizer=False),
        Read("4981", 0.98, by_recognizer=True),
        Read("4981.3", 0.9, by_recognizer=False),
        Read("4981.3", 0.95, by_recognizer=True),
    ]
    voted = vote(reads)
    assert voted is not None and voted[0] == "4981.3"


def test_the_small_decimal_cell_read_at_full_size_gives_the_tenths() -> None:
    seen = [Read("0029362", 0.98, by_recognizer=False), Read("002936", 0.5, by_recognizer=True)]
    assert decimal_cell_digit("002936", seen) == "2"
    assert decimal_cell_digit("00293.6", seen) == "2"  # wherever a reader put a point
    # The recognizer alone invents digits after a box: the text detection must see it too.
    assert decimal_cell_digit("002936", [Read("0029362", 0.9, by_recognizer=True)]) is None
    # Nothing after the box: the same digits again, or a label.
    assert decimal_cell_digit("03662.0", [Read("03662.0 kWh", 0.99, False)]) is None
    assert (
        decimal_cell_digit("036620", [Read("0366201", 0.4, False), Read("036620", 0.9, False)])
        is None
    )


def test_an_unseen_point_is_placed_by_the_register_format_at_a_lower_confidence() -> None:
    # A seven-segment kWh register prints a tenths digit: never bill it as a whole kWh.
    reading, confidence = with_tenths("036620", 0.95)
    assert reading == "03662.0" and confidence == pytest.approx(0.95 * FORMAT_ONLY)
    assert with_tenths("2050.9", 0.95) == ("2050.9", 0.95)  # the point was seen
    assert with_tenths("4981", 0.9) == ("4981", 0.9)  # too short to tell


def _banded_text_detection(
    pages: list[bytes], band_text: Callable[[int], str]
) -> Callable[[bytes], list[dict[str, Any]]]:
    """A text detection that answers each band of a stacked page with ``band_text(band)``;
    ``|`` splits a band's text into lines side by side (listed right to left)."""

    def text_detection(page: bytes) -> list[dict[str, Any]]:
        pages.append(page)
        image = Image.open(io.BytesIO(page))
        # One LINE per band (or per piece), where the page shows it, as Textract would answer.
        blocks = []
        for k in range(len(EXTENSIONS) + len(DECIMAL_CELLS)):
            top = (32 + k * 96) / image.height
            bottom = top + 64 / image.height
            pieces = band_text(k).split("|")
            step = 0.8 / len(pieces)
            for n, text in reversed(list(enumerate(pieces))):
                left, right = 0.1 + n * step, 0.1 + (n + 1) * step
                blocks.append(
                    {
                        "BlockType": "LINE",
                        "Text": text,
                        "Confidence": 99.0,
                        "Geometry": {
                            "Polygon": [
                                {"X": left, "Y": top},
                                {"X": right, "Y": top},
                                {"X": right, "Y": bottom},
                                {"X": left, "Y": bottom},
                            ]
                        },
                    }
                )
        return blocks

    return text_detection


def test_the_text_detection_reads_every_widened_crop_on_one_page() -> None:
    pages: list[bytes] = []
    text_detection = _banded_text_detection(pages, lambda band: "20509")
    recognizer = ScriptedRecognizer(("2050.9", 0.6), ("20509", 0.6))
    refined, _ = _refined("2O5O9", recognizer, text_detection)
    assert len(pages) == 1  # one request for all the crops
    bands = len(EXTENSIONS) + len(DECIMAL_CELLS)
    assert Image.open(io.BytesIO(pages[0])).height == 32 + bands * 96
    # The generic reads settle the digits; the point is the recognizer's.
    assert refined[0].text == "2050.9"


def test_a_tenths_digit_the_box_left_out_is_read_from_the_decimal_cell() -> None:
    # The detector's box stops before the small tenths digit; the crops with the cell
    # after the box scaled up read it, and it goes after the point.
    text_detection = _banded_text_detection(
        [], lambda band: "0029362" if band >= len(EXTENSIONS) else "002936"
    )
    recognizer = ScriptedRecognizer(("00293.6", 0.6))
    refined, _ = _refined("002936", recognizer, text_detection)
    assert refined[0].text == "002936.2"


def test_decimals_the_generic_readers_read_after_a_point_get_no_digit_from_the_cell() -> None:
    # The text detection reads 03556.7 with its point in every display crop: the 7 is the
    # tenths. A digit the decimal-cell crops read after the digits (a kWh arrow read as 4)
    # is no further decimal.
    text_detection = _banded_text_detection(
        [], lambda band: "0355674" if band >= len(EXTENSIONS) else "03556.7"
    )
    recognizer = ScriptedRecognizer(("03556.7", 0.8))
    refined, _ = _refined("035567", recognizer, text_detection)
    assert refined[0].text == "03556.7"


def test_a_point_the_text_detection_read_keeps_the_tenths_the_recognizer_missed() -> None:
    reads = [
        Read("008701.3", 0.89, by_recognizer=False),
        Read("008701", 0.49, by_recognizer=True),
        Read("008701", 0.37, by_recognizer=True),
        Read("008701", 0.27, by_recognizer=True),
    ]
    voted = vote(reads)
    assert voted is not None and voted[0] == "008701.3"


def test_a_register_split_at_a_gap_is_joined_and_cropped_whole() -> None:
    # The detection found "498" and "1.3" apart (a thin 1 far from the 8); a serial number
    # below, as tall as the small piece, stays out.
    pieces = [
        _line("498", [(100.0, 100.0), (280.0, 100.0), (280.0, 200.0), (100.0, 200.0)]),
        _line("13", [(260.0, 110.0), (400.0, 110.0), (400.0, 195.0), (260.0, 195.0)]),
        _line("45184367", [(100.0, 230.0), (420.0, 230.0), (420.0, 300.0), (100.0, 300.0)]),
        _line("kWh", [(420.0, 160.0), (480.0, 160.0), (480.0, 190.0), (420.0, 190.0)]),
    ]
    recognizer = ScriptedRecognizer(("4981.3", 0.9))
    image = Image.new("RGB", (800, 400), (150, 190, 150))
    refined, _ = DisplayReader(recognizer).refine(image, pieces)
    display = next(ln for ln in refined if ln.text.startswith("498"))
    assert display.text == "4981.3"
    assert display.quad[1][0] == pytest.approx(400.0)  # the crops reach past the "13"
    assert display.quad[2][1] == pytest.approx(200.0)  # and not down to the serial number
    assert "13" not in [ln.text for ln in refined]
    crops = recognizer.crops[: len(EXTENSIONS)]
    # The tightest crop: both pieces (300 px) by the height and a tenth above and below.
    assert crops[0].shape[1] / crops[0].shape[0] == pytest.approx(300 / 120, abs=0.05)


def test_a_point_the_photo_shows_after_the_digits_keeps_them_whole() -> None:
    # The detection read "007666." in the photo: the small tenths digit it did not read
    # comes after the 6, so the last 6 is no tenths digit.
    plain = [Read("007666", 0.7, by_recognizer=True)]
    assert point_after_digits("007666", "007666.", plain)
    assert not point_after_digits("007666", "007666", plain)  # no point seen
    # A read that places the point among the same digits: the point was read twice.
    assert not point_after_digits("23833", "23833.", [*plain, Read("2383.3.", 0.9, False)])
    # The recognizer's read of the cell may then give the tenths digit.
    cell = [Read("0076668", 0.5, by_recognizer=True), Read("007666.8", 0.6, True)]
    assert decimal_cell_digit("007666", cell) is None  # the recognizer alone is not enough
    assert decimal_cell_digit("007666", cell, point_seen=True) == "8"


def test_an_unread_tenths_digit_after_a_seen_point_is_never_made_of_the_last_digit() -> None:
    recognizer = ScriptedRecognizer(("007666", 0.7))
    refined, _ = _refined("007666.", recognizer)
    assert refined[0].text == "007666"  # not 00766.6: ten times too little
    assert refined[0].confidence < 0.9


def test_digits_the_text_detection_found_apart_in_one_crop_are_one_read() -> None:
    # Each crop's register split at the gap between its cells: "0033" and "10.0".
    text_detection = _banded_text_detection([], lambda band: "0033|10.0")
    recognizer = ScriptedRecognizer(("00330.0", 0.6))
    refined, _ = _refined("003300", recognizer, text_detection)
    assert refined[0].text == "003310.0"


def test_the_text_recognizer_outvotes_a_page_of_crops_that_misreads_a_nine() -> None:
    # The page of crops reads 9 as 4 in every band; the generic text recognizer reads each
    # crop at full size and gets it, with the point; the seven-segment recognizer is lost.
    text_detection = _banded_text_detection([], lambda band: "12048")
    recognizer = ScriptedRecognizer(("20.8", 0.5))
    text_recognizer = ScriptedRecognizer(("1209.8", 0.9))
    refined, _ = _refined("1209.8", recognizer, text_detection, text_recognizer)
    assert refined[0].text == "1209.8"
    # The display crops and the one for a leading 1 (no decimal cells).
    assert len(text_recognizer.crops) == len(EXTENSIONS) + 1
    assert refined[0].confidence < 0.9  # the two generic readers only: not sure


def test_a_tenths_cell_the_text_recognizer_read_as_a_plain_digit_gives_the_tenths() -> None:
    # Nobody saw the point; the register's format alone would make 00293.6 of the six
    # digits. Most of the text recognizer's reads went on with the small cell's 2.
    text_detection = _banded_text_detection([], lambda band: "002936")
    recognizer = ScriptedRecognizer(("0023.6", 0.5))
    text_recognizer = ScriptedRecognizer(
        ("0029362", 0.98), ("002936", 0.9), ("0029362K", 0.9), ("00293621", 0.9)
    )
    refined, _ = _refined("002936", recognizer, text_detection, text_recognizer)
    assert refined[0].text == "002936.2"
    assert refined[0].confidence < 0.9  # a format's guess, read: still asked

    # One read of a kWh mark as a digit is no tenths cell: the format decides.
    text_recognizer = ScriptedRecognizer(("0029362", 0.98), ("002936", 0.9), ("002936", 0.9))
    refined, _ = _refined("002936", recognizer, text_detection, text_recognizer)
    assert refined[0].text == "00293.6"


def test_a_thin_leading_one_left_of_the_detected_box_is_read_from_a_wider_crop() -> None:
    # 1192.7: the detector's box starts at the second 1, so every crop reads 192.7; the
    # text recognizer's read of a crop reaching further left shows the first 1.
    text_detection = _banded_text_detection([], lambda band: "192.7")
    recognizer = ScriptedRecognizer(("192.7", 0.6))
    for far_read in ("1192.7wWh", "1 192.7 kWh"):  # its blank read as a space, or not
        text_recognizer = ScriptedRecognizer(*[("192.7W", 0.9)] * len(EXTENSIONS), (far_read, 0.8))
        refined, _ = _refined("192.7", recognizer, text_detection, text_recognizer)
        assert refined[0].text == "1192.7"
        assert len(text_recognizer.crops) == len(EXTENSIONS) + 1

    # A register padded with zeros has nothing before them: a frame edge read as a 1.
    text_recognizer = ScriptedRecognizer(*[("00192.7", 0.9)] * len(EXTENSIONS), ("100192.7", 0.8))
    refined, _ = _refined("00192.7", recognizer, text_detection, text_recognizer)
    assert refined[0].text == "00192.7"


def test_the_rest_of_a_register_both_recognizers_read_past_the_box_is_read() -> None:
    # 4981.3 on a small photo: the detector's box stops after 498, so the photo's read,
    # the page of crops and the narrower crops read 498. On the two crops reaching
    # furthest past the box, both recognizers read the whole register.
    text_detection = _banded_text_detection([], lambda band: "498")
    recognizer = ScriptedRecognizer(
        ("49.8", 0.6), ("49.8", 0.6), ("498.1", 0.5), ("4981.3", 0.7), ("4981.3", 0.75),
        ("49.8", 0.5), ("49.8", 0.5),
    )  # fmt: skip
    text_recognizer = ScriptedRecognizer(
        ("498", 1.0), ("498", 1.0), ("4981", 1.0), ("4981.3", 0.98), ("4981.3kWh", 0.98),
        ("4981.3", 0.9),
    )  # fmt: skip
    refined, _ = _refined("498", recognizer, text_detection, text_recognizer)
    assert refined[0].text == "4981.3"
    assert refined[0].confidence < 0.9  # fewer crops saw the rest: the household is asked

    # One recognizer alone reading more on the wide crops may be reading a label there.
    recognizer = ScriptedRecognizer(
        ("49.8", 0.6), ("49.8", 0.6), ("498.1", 0.5), ("498.1", 0.7), ("499.8", 0.75),
        ("49.8", 0.5), ("49.8", 0.5),
    )  # fmt: skip
    refined, _ = _refined("498", recognizer, text_detection, text_recognizer)
    assert reading_number(refined[0].text) != Decimal("4981.3")

    # A register whose tenths were read ended inside the box: nothing is added to it.
    text_detection = _banded_text_detection([], lambda band: "4981.3")
    recognizer = ScriptedRecognizer(("4981.3", 0.7), ("4981.3", 0.7), ("4981.3", 0.7),
        ("4981.30", 0.7), ("4981.30", 0.7), ("4981.3", 0.7), ("4981.3", 0.7))  # fmt: skip
    text_recognizer = ScriptedRecognizer(
        *[("4981.3", 0.98)] * 3, *[("4981.30", 0.98)] * 2, ("4981.3", 0.9)
    )
    refined, _ = _refined("4981.3", recognizer, text_detection, text_recognizer)
    assert refined[0].text == "4981.3"


class PerCallRecognizer:
    """Answers every crop of its n-th call with the n-th scripted read (the last one after)."""

    def __init__(self, *reads: tuple[str, float]) -> None:
        self.reads = list(reads)
        self.calls = 0

    def read(self, crops: Sequence[RGBArray]) -> list[tuple[str, float]]:
        read = self.reads[min(self.calls, len(self.reads) - 1)]
        self.calls += 1
        return [read] * len(crops)


def test_a_register_going_on_past_the_widest_crops_is_read_again_on_a_longer_box() -> None:
    # 6997.8 turned a little: the detector's box stops after 699, and even the crops reaching
    # furthest past it stop before the tenths, where the text recognizer reads 6997 and
    # 6997.8. The display is read again on a box that reaches its end.
    pages: list[bytes] = []
    text_detection = _banded_text_detection(
        pages, lambda band: "699" if len(pages) == 1 else "69978"
    )
    recognizer = PerCallRecognizer(("69.9", 0.7), ("6997.8", 0.7))
    first = [("699", 1.0), ("699", 1.0), ("699", 1.0), ("6997", 1.0), ("6997.8", 0.9)]
    text_recognizer = ScriptedRecognizer(*first, ("699", 0.9), *[("6997.8", 0.95)] * 6)
    refined, _ = _refined("699", recognizer, text_detection, text_recognizer)
    assert refined[0].text == "6997.8"
    assert len(pages) == 2
    assert quad_width(refined[0].quad) > quad_width(UPRIGHT_DIGITS)  # the longer box

    # Read more on one of the widest crops only, it may be a label there: no second read.
    pages.clear()
    recognizer = PerCallRecognizer(("69.9", 0.7))
    first[3] = ("699", 1.0)
    text_recognizer = ScriptedRecognizer(*first, ("699", 0.9))
    refined, _ = _refined("699", recognizer, text_detection, text_recognizer)
    assert reading_number(refined[0].text) == Decimal("699")
    assert len(pages) == 1


def test_drums_whose_unit_only_the_text_recognizer_read_are_whole_cubic_metres() -> None:
    # A water meter whose page lines lost the m³ beside the drums (and read a drum's edge
    # as a point); most of the text recognizer's reads end with its m.
    text_detection = _banded_text_detection([], lambda band: "0.532")
    recognizer = ScriptedRecognizer(("068.9", 0.5))
    text_recognizer = ScriptedRecognizer(("0.532m", 0.9), ("00.532m", 0.9), ("0532", 0.8))
    refined, direction = _refined("Q.532", recognizer, text_detection, text_recognizer, word="MTK")
    result = extract_reading(upright_blocks(refined, direction, 800, 400))
    assert (result.reading, result.unit, result.meter_type) == ("00532", "m³", "water")

    # An LCD whose kWh mark one read took for an m stays in kWh, with its tenths.
    text_detection = _banded_text_detection([], lambda band: "2050.9")
    text_recognizer = ScriptedRecognizer(("2050.9m", 0.9), ("2050.9", 0.9), ("2050.9W", 0.9))
    refined, direction = _refined("2050.9", recognizer, text_detection, text_recognizer, word="MTK")
    result = extract_reading(upright_blocks(refined, direction, 800, 400))
    assert (result.reading, result.unit) == ("2050.9", "kWh")


def test_a_second_decimal_only_the_recognizers_read_is_a_mark_after_the_tenths() -> None:
    # The text recognizer reads the kWh arrow after 16422.2 as a 7 and outvotes the text
    # detection, which read the photo's display with one decimal (and the page of crops not).
    recognizer = ScriptedRecognizer(("6422.2", 0.5))
    text_recognizer = ScriptedRecognizer(("16422.27", 0.9), ("16422.27", 0.9), ("16422.21", 0.8))
    refined, _ = _refined("16422.2", recognizer, None, text_recognizer)
    assert refined[0].text == "16422.2"

    # A register with hundredths: the detection reads them too.
    text_detection = _banded_text_detection([], lambda band: "018025.83")
    text_recognizer = ScriptedRecognizer(("018025.83", 0.9))
    refined, _ = _refined("18025.8", recognizer, text_detection, text_recognizer)
    assert refined[0].text == "018025.83"


def _read_by_all_three(detected: str, seven_segment: str, text_recognizer: str) -> TextLine:
    """The display line as refined where the text detection (of the photo and of each crop),
    the seven-segment recognizer and the text recognizer read it so, every time."""
    refined, _ = _refined(
        detected,
        ScriptedRecognizer((seven_segment, 0.7)),
        _banded_text_detection([], lambda band: detected),
        ScriptedRecognizer((text_recognizer, 0.9)),
    )
    return refined[0]


def test_a_value_the_seven_segment_and_a_generic_reader_read_is_offered_as_sure() -> None:
    display = _read_by_all_three("2050.9", "2050.9", "2050.9")
    assert (display.text, display.confidence) == ("2050.9", AGREED)
    reads = [
        Read("2050.9", 0.9, False),
        Read("2050.9", 0.6, True),
        Read("2050.9", 0.7, True, TEXT_RECOGNIZER_WEIGHT),
    ]
    assert readers_agree("02050.9", reads)
    assert not readers_agree("20509", reads)  # the point is part of the value
    assert readers_agree("2050.9", reads[:2])  # the seven-segment one and the detection
    # The two generic readers alone can be fooled alike (glare over a 9's top bar).
    assert not readers_agree("2050.9", [reads[0], reads[2]])
    assert not readers_agree("2050.9", [*reads, Read("2054.9", 0.9, True), Read("2064.9", 1, True)])


def test_generic_reads_of_the_digits_without_the_point_agree_with_the_recognizers_value() -> None:
    # The generic readers drop a faint point: 20509 read whole by both of them is the same
    # register as the seven-segment recognizer's 2050.9.
    display = _read_by_all_three("20509", "2050.9", "20509")
    assert (display.text, display.confidence) == ("2050.9", AGREED)
    seven_segment = Read("2050.9", 0.6, True)
    whole = Read("20509", 0.9, True, TEXT_RECOGNIZER_WEIGHT)
    assert readers_agree("2050.9", [seven_segment, whole])
    assert readers_agree("2050.9", [seven_segment, Read("020509", 0.9, False)])
    # Other digits, or a point elsewhere, do not agree.
    assert not readers_agree("2050.9", [seven_segment, Read("20549", 0.9, False)])
    assert not readers_agree("2050.9", [seven_segment, Read("205.09", 0.9, False)])
    # A bare point after the digits says a digit went unread (002936. of 002936.2), not that
    # the recognizer's 00293.6 is right.
    assert not readers_agree("00293.6", [Read("00293.6", 0.8, True), Read("002936.", 0.9, False)])
    # A blank between digit groups, in any generic read, can hide a thin 1 (0033 10.0): the
    # digits alone are not enough there, even where another read has no gap.
    recognizer_read = Read("00330.0", 0.8, True)
    gapless = Read("003300", 0.9, False)
    assert readers_agree("00330.0", [recognizer_read, gapless])
    grouped = Read("0033 00", 0.9, True, TEXT_RECOGNIZER_WEIGHT)
    assert not readers_agree("00330.0", [recognizer_read, gapless, grouped])
    # A gap before a 1 that was read is the blank left half of that 1's cell.
    assert readers_agree("2015.8", [Read("2015.8", 0.8, True), Read("20 158", 0.9, False)])
    # A gap after all the digits is beyond the register: labels read on a wide crop.
    whole_twice = [Read("20088", 0.9, False), Read("20088", 0.9, False)]
    labels = Read("20088 3200m", 0.6, False)
    assert readers_agree("2008.8", [Read("2008.8", 0.8, True), *whole_twice, labels])
    assert not readers_agree(
        "2008.8", [Read("2008.8", 0.8, True), *whole_twice, Read("200 88", 0.6, False)]
    )
    # The seven-segment recognizer must read the point itself.
    assert not readers_agree("2050.9", [Read("20509", 0.6, True), whole])
    # Where a generic reader read one more digit after them, the digits read whole may have
    # missed a subscript tenths, as the recognizer did when it put its point before the 6.
    shifted, missed = Read("00293.6", 0.8, True), Read("002936", 0.9, False)
    assert readers_agree("00293.6", [shifted, missed])
    assert not readers_agree(
        "00293.6", [shifted, missed, Read("0029362", 0.9, True, TEXT_RECOGNIZER_WEIGHT)]
    )


def test_both_generic_readers_confirm_a_tenths_digit_the_recognizer_misread() -> None:
    # The tenths cell is small: the seven-segment recognizer reads 02932.8 or 02932.2 for
    # 02932.6, while it reads the whole kWh and the point's place in every crop.
    display = _read_by_all_three("029326", "02932.8", "029326")
    assert (display.text, display.confidence) == ("02932.6", AGREED)
    misread = [Read(t, 0.7, True) for t in ("02932.6", "02932.8", "02932.2")]
    detection, text_recognizer = Read("029326", 0.9, False), Read("02932.6", 0.9, True, 1.0)
    assert readers_agree("02932.6", [*misread, detection, text_recognizer])
    # One generic reader is not enough for a digit the recognizer does not confirm,
    assert not readers_agree("02932.6", [*misread, detection])
    assert not readers_agree("02932.6", [*misread, text_recognizer])
    # nor another whole number, or a read with the point elsewhere,
    other_whole = [Read(t, 0.7, True) for t in ("02933.6", "02933.8", "02932.2")]
    assert not readers_agree("02932.6", [*other_whole, detection, text_recognizer])
    elsewhere = [Read(t, 0.7, True) for t in ("0293.2", "0293.8", "02932.2")]
    assert not readers_agree("02932.6", [*elsewhere, detection, text_recognizer])
    # nor a second decimal digit, which no tenths cell holds.
    hundredths = [Read(t, 0.7, True) for t in ("18025.81", "18025.88")]
    generic = [Read("1802583", 0.9, False), Read("18025.83", 0.9, True, 1.0)]
    assert not readers_agree("18025.83", [*hundredths, *generic])


def test_the_recognizers_second_look_at_the_crops_widened_confirms_the_value() -> None:
    # A narrow font: as cropped, two of its digits merge in the seven-segment recognizer's
    # columns (251.9 for 2519.9) in most crops; widened, it reads them all. It is shown the
    # display's crops, then the decimal cells beside the display, then the crops widened.
    def display_read(widened: str) -> TextLine:
        as_cropped = [("251.9", 0.8)] * 3 + [("2519.9", 0.8)] * (len(EXTENSIONS) - 3)
        reads = as_cropped + [("2519.9", 0.8)] * len(DECIMAL_CELLS)
        recognizer = ScriptedRecognizer(*reads, *[(widened, 0.8)] * len(EXTENSIONS))
        refined, _ = _refined(
            "25199",
            recognizer,
            _banded_text_detection([], lambda band: "25199"),
            ScriptedRecognizer(("25199", 0.9)),
        )
        crops = recognizer.crops[: len(reads) + len(EXTENSIONS)]
        for shown, wide in zip(crops, crops[len(reads) :], strict=False):
            assert wide.shape[0] == shown.shape[0]
            assert wide.shape[1] == round(shown.shape[1] * SECOND_LOOK_WIDENING)
        return refined[0]

    confirmed = display_read("2519.9")
    assert (confirmed.text, confirmed.confidence) == ("2519.9", AGREED)
    # Where the second look merges them too, the value is not confirmed.
    unconfirmed = display_read("251.9")
    assert unconfirmed.text == "2519.9"
    assert unconfirmed.confidence < AGREED


def test_one_look_reading_the_value_in_every_crop_is_half_of_the_recognizers_reads() -> None:
    # A narrow font merges two digits in every crop as cropped (200.8 for 2008.8); widened,
    # every crop reads them all: half of the seven-segment recognizer's ten reads.
    as_cropped = [Read("200.8", 0.8, True, crop=k) for k in range(len(EXTENSIONS))]
    widened = [Read("2008.8", 0.8, True, crop=k) for k in range(len(EXTENSIONS))]
    generic = [Read("20088", 0.9, True, TEXT_RECOGNIZER_WEIGHT)] * len(EXTENSIONS)
    assert readers_agree("2008.8", [*as_cropped, *widened, *generic])
    # Less than half is not enough, and the generic readers must still agree.
    assert not readers_agree("2008.8", [*as_cropped, *widened[1:], *generic])
    assert not readers_agree("2008.8", [*as_cropped, *widened])


def test_a_thin_leading_one_the_narrow_crops_leave_out_still_agrees_with_the_value() -> None:
    # The crops that start at the detector's box start after a thin 1 (its cell's left side
    # is dark): there the seven-segment recognizer reads the rest; the wider crops show it.
    generic = Read("16422.2", 0.9, False)

    def seven_segment(whole_on: set[int]) -> list[Read]:
        return [
            Read("16422.2" if k in whole_on else "6422.2", 0.7, True, crop=k)
            for k in range(len(EXTENSIONS))
        ]

    reaching_furthest = {k for k, (left, _) in enumerate(EXTENSIONS) if left >= 0.3}
    assert readers_agree("16422.2", [*seven_segment(reaching_furthest), generic])
    # Missing on a crop that reaches further left than one where it was read, the 1 is in
    # doubt: most reads must then be the value itself.
    assert not readers_agree("16422.2", [*seven_segment({0, 4}), generic])
    # Nothing hides before a register padded with zeros.
    padded = [Read("6422.2" if k < 3 else "016422.2", 0.7, True, crop=k) for k in range(5)]
    assert not readers_agree("016422.2", [*padded, Read("016422.2", 0.9, False)])


def test_a_recognizer_that_missed_a_subscript_tenths_still_confirms_the_whole_digits() -> None:
    # A register printing its tenths as a small subscript: the seven-segment recognizer misses
    # it and puts its point before the last digit it saw; the generic readers read it all.
    display = _read_by_all_three("008701.3", "00870.1", "008701.3")
    assert (display.text, display.confidence) == ("008701.3", AGREED)
    shifted = Read("00870.1", 0.8, True)
    generic = Read("008701.3", 0.9, True, TEXT_RECOGNIZER_WEIGHT)
    assert subscript_missed("008701.3", [shifted, generic])
    assert not readers_agree("008701.3", [shifted, generic])
    # The recognizer's whole digits must be the value's: not one of them read otherwise,
    assert not subscript_missed("008701.3", [Read("00840.1", 0.8, True), generic])
    # nor its point where the value has it (that is agreement on another value: 00870.1).
    assert not subscript_missed("008701.3", [Read("008701.", 0.8, True), generic])
    # The tenths come from the generic readers alone: they must read it, point included,
    assert not subscript_missed("008701.3", [shifted, Read("0087013", 0.9, False)])
    # and not with the digits in groups, where a thin 1 may be missing.
    grouped = Read("0087 01.3", 0.9, False)
    assert not subscript_missed("008701.3", [shifted, generic, generic, grouped])


def _agreed_read(display: str, word: str, on_crops: str | None = None) -> ReadingResult:
    """A photo whose display every reader reads as ``display``, beside ``word``; the text
    recognizer reads ``on_crops`` (the display and what it crops beside it) where given."""
    blocks = [
        _textract_line(display, 0.1, 0.3, 0.7, 0.6),
        _textract_line(word, 0.72, 0.5, 0.9, 0.6),
    ]
    reader = DisplayReader(
        ScriptedRecognizer((display, 0.9)),
        _banded_text_detection([], lambda band: display),
        ScriptedRecognizer((on_crops or display, 0.9)),
    )
    return read_meter(_jpeg(800, 600), blocks, reader)


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("kWh", "ok"),
        ("1000 imp/kWh", "ok"),
        ("kW h", "ok"),
        ("Genus", "uncertain"),
        ("ES", "uncertain"),
    ],
)
def test_a_sure_kwh_reading_needs_the_page_to_show_an_electricity_meter(
    word: str, status: str
) -> None:
    # Every reader agrees, but kWh is only the default where nothing on the page shows an
    # electricity meter: a fuel pump's display whose LITRES went unread (``ES``) reads just
    # like a register. The household is asked instead of told.
    result = _agreed_read("05200.6", word)
    assert (result.reading, result.unit, result.status) == ("05200.6", "kWh", status)
    if status == "uncertain":
        assert result.confidence <= UNIT_UNSEEN


def test_a_unit_read_beside_the_digits_on_the_display_crops_shows_an_electricity_meter() -> None:
    # The page's own read of the unit was lost (read the wrong way up, or cut off the
    # display's line), but the widened crops of the display show it after the digits.
    result = _agreed_read("05200.6", "Genus", on_crops="05200.6kWh")
    assert (result.reading, result.unit, result.status) == ("05200.6", "kWh", "ok")
    # Without it on the crops either, the household is asked.
    assert _agreed_read("05200.6", "Genus", on_crops="05200.6").status == "uncertain"


@pytest.mark.parametrize(
    ("display", "status"),
    [
        ("000680.4", "ok"),  # a register padded with zeros
        ("00839.0", "ok"),
        ("08900.0", "uncertain"),  # one zero: a display read upside down ends so (000680.4)
        ("43.00", "uncertain"),  # a fuel pump's money
        ("0043.00", "uncertain"),  # two decimals: no kWh register
    ],
)
def test_a_register_padded_with_zeros_needs_no_kwh_on_the_page(display: str, status: str) -> None:
    # Utility registers pad their whole digits with zeros and print one decimal; a fuel
    # pump's litres and money do not. The brand is all the page shows.
    result = _agreed_read(display, "Genus")
    assert (result.reading, result.status) == (display, status)
    if status == "uncertain":
        assert result.confidence <= UNIT_UNSEEN


@pytest.mark.parametrize(
    ("display", "status"),
    [
        ("03556.7", "ok"),  # a 3: upside down it reads as an E
        ("12747.0", "ok"),  # a 4 and a 7: h and L
        ("08900.0", "uncertain"),  # 0, 8 and 9 are digits either way up (000680.4 turned)
        ("01556.3", "ok"),
        ("0034.50", "uncertain"),  # two decimals: a fuel pump's
        ("347.5", "uncertain"),  # four digits: fewer than a register's cells
    ],
)
def test_a_register_showing_its_own_way_up_needs_no_kwh_on_the_page(
    display: str, status: str
) -> None:
    # A seven-segment 3, 4 or 7 upside down is a letter (E, h, L): a one-decimal register
    # read with one of them was read the right way up, whatever the page's words said.
    result = _agreed_read(display, "Genus")
    assert (result.reading, result.status) == (display, status)
    if status == "uncertain":
        assert result.confidence < AGREED


def test_a_reading_shorter_than_a_register_is_asked_about_however_sure_the_readers() -> None:
    # Every reader can drop a thin leading 1 alike (192.7 for 1192.7): four digits are
    # fewer than a register's cells, so the household is asked.
    short = _agreed_read("192.7", "kWh")
    assert (short.reading, short.status) == ("192.7", "uncertain")
    assert short.confidence <= SHORT_READING
    assert _agreed_read("1192.7", "kWh").status == "ok"
