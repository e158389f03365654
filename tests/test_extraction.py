"""Register extraction from hand-written OCR blocks (no OCR engine involved)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from meter_reading.domain.blocks import BoundingBox, TextBlock
from meter_reading.domain.extraction import ReadingResult, extract_reading, shows_electricity_meter


def line(
    text: str,
    left: float,
    top: float,
    width: float,
    height: float,
    conf: float = 99.0,
    words: bool = True,
) -> list[TextBlock]:
    """A LINE block and, like Textract, its WORD blocks (boxes split by characters)."""
    blocks = [TextBlock("LINE", text, conf, BoundingBox(left, top, width, height))]
    if words:
        n = len(text)
        pos = 0
        for word in text.split():
            start = text.index(word, pos)
            pos = start + len(word)
            blocks.append(
                TextBlock(
                    "WORD",
                    word,
                    conf,
                    BoundingBox(left + width * start / n, top, width * len(word) / n, height),
                )
            )
    return blocks


def face(*lines: list[TextBlock]) -> list[TextBlock]:
    return [b for group in lines for b in group]


def test_register_beats_serial_number_and_meter_constant() -> None:
    blocks = face(
        line("SINGLE PHASE STATIC ENERGY METER", 0.1, 0.05, 0.7, 0.04),
        line("03662.0 kWh", 0.15, 0.30, 0.6, 0.25),
        line("No. 12345678", 0.15, 0.60, 0.3, 0.05),
        line("1600 imp/kWh", 0.60, 0.60, 0.3, 0.05),
    )
    result = extract_reading(blocks)
    assert result == ReadingResult("ok", "03662.0", "kWh", result.confidence, None)
    assert result.value == Decimal("3662.0")
    assert result.confidence >= 0.9


def test_serial_number_alone_is_not_a_reading() -> None:
    blocks = face(
        line("No. 12345678", 0.2, 0.3, 0.5, 0.08), line("S.No:45189834", 0.2, 0.5, 0.5, 0.08)
    )
    result = extract_reading(blocks)
    assert result.status == "unreadable"
    assert result.reading is None
    assert result.reason == "no_display"


def test_serial_glued_to_letters_is_rejected() -> None:
    blocks = face(
        line("EM1234567", 0.1, 0.1, 0.5, 0.2),  # big, but a model/serial number
        line("20509", 0.2, 0.5, 0.3, 0.1),
    )
    assert extract_reading(blocks).reading == "20509"


@pytest.mark.parametrize("date", ["15.8.20", "2020-08-15", "15/08/2020", "12:30"])
def test_dates_and_times_are_not_readings(date: str) -> None:
    blocks = face(line(date, 0.1, 0.2, 0.6, 0.2), line("0045123", 0.1, 0.5, 0.5, 0.12))
    assert extract_reading(blocks).reading == "0045123"


def test_meter_constant_voltage_and_current_are_rejected() -> None:
    blocks = face(
        line("1600 imp/kWh", 0.1, 0.1, 0.5, 0.2),
        line("230V 10-60A 50Hz", 0.1, 0.4, 0.5, 0.2),
        line("3200imp/kWh", 0.1, 0.7, 0.5, 0.2),
    )
    result = extract_reading(blocks)
    assert result.status == "unreadable"
    assert result.reading is None


def test_year_loses_to_register() -> None:
    blocks = face(line("2014", 0.6, 0.75, 0.1, 0.05), line("1369.3 kWh", 0.1, 0.3, 0.6, 0.25))
    result = extract_reading(blocks)
    assert result.reading == "1369.3"
    assert result.status == "ok"


def test_small_register_far_from_the_camera_is_only_uncertain() -> None:
    # Digits 8% of the photo high: a printed serial-like number is as likely as a display.
    result = extract_reading(line("5257813", 0.3, 0.7, 0.3, 0.08))
    assert result.reading == "5257813"
    assert result.status == "uncertain"
    assert result.reason == "low_confidence"
    close_up = extract_reading(line("5257813", 0.1, 0.3, 0.8, 0.3))
    assert close_up.status == "ok"


def test_leading_zeros_are_kept_and_value_ignores_them() -> None:
    result = extract_reading(line("0006804", 0.1, 0.3, 0.7, 0.2))
    assert result.reading == "0006804"
    assert result.value == Decimal(6804)
    assert result.status == "ok"


def test_leading_zeros_detected_as_separate_box_are_joined() -> None:
    blocks = [
        TextBlock("WORD", "00", 98.0, BoundingBox(0.10, 0.30, 0.16, 0.20)),
        TextBlock("WORD", "06804", 98.0, BoundingBox(0.28, 0.30, 0.40, 0.20)),
    ]
    assert extract_reading(blocks).reading == "0006804"


def test_small_decimal_digit_in_a_separate_box() -> None:
    blocks = [
        TextBlock("WORD", "04414", 97.0, BoundingBox(0.10, 0.30, 0.50, 0.20)),
        TextBlock("WORD", "7", 95.0, BoundingBox(0.63, 0.36, 0.06, 0.13)),
        TextBlock("WORD", "kWh", 95.0, BoundingBox(0.75, 0.45, 0.12, 0.06)),
    ]
    result = extract_reading(blocks)
    assert result.reading == "04414.7"
    assert result.value == Decimal("4414.7")
    assert result.unit == "kWh"


def test_far_away_small_digit_is_not_a_decimal() -> None:
    blocks = [
        TextBlock("WORD", "04414", 97.0, BoundingBox(0.10, 0.30, 0.40, 0.20)),
        TextBlock("WORD", "7", 95.0, BoundingBox(0.85, 0.36, 0.04, 0.13)),
    ]
    assert extract_reading(blocks).reading == "04414"


@pytest.mark.parametrize(
    ("ocr_text", "expected"),
    [("O3662O", "036620"), ("2O5O9", "20509"), ("3B6S2", "38652"), ("1Z34l", "12341")],
)
def test_seven_segment_letter_confusions_inside_digit_group(ocr_text: str, expected: str) -> None:
    result = extract_reading(line(ocr_text, 0.1, 0.3, 0.6, 0.2))
    assert result.reading == expected
    assert result.status in ("ok", "uncertain")


def test_words_are_not_turned_into_numbers() -> None:
    blocks = face(line("Genus", 0.1, 0.1, 0.5, 0.3), line("BOSS OIL", 0.1, 0.5, 0.5, 0.3))
    result = extract_reading(blocks)
    assert result.status == "unreadable"
    assert result.reading is None


def test_nothing_at_all_is_no_text() -> None:
    result = extract_reading([])
    assert result == ReadingResult("unreadable", None, "kWh", 0.0, "no_text")
    assert result.value is None


def test_two_equally_big_numbers_are_uncertain() -> None:
    blocks = face(line("20509", 0.1, 0.2, 0.4, 0.15), line("31877", 0.1, 0.5, 0.4, 0.15))
    result = extract_reading(blocks)
    assert result.status == "uncertain"
    assert result.reason == "several_candidates"
    assert result.reading in ("20509", "31877")


def test_low_ocr_confidence_is_uncertain() -> None:
    result = extract_reading(line("20509 kWh", 0.1, 0.2, 0.6, 0.15, conf=45.0))
    assert result.status == "uncertain"
    assert result.reason == "low_confidence"
    assert result.reading == "20509"
    assert result.confidence < 0.8


def test_lines_without_words_are_split() -> None:
    blocks = face(
        line("03662.0 kWh", 0.15, 0.30, 0.6, 0.16, words=False),
        line("No. 12345678", 0.15, 0.60, 0.3, 0.05, words=False),
    )
    assert extract_reading(blocks).reading == "03662.0"


def test_cubic_metres_unit() -> None:
    result = extract_reading(face(line("00521 m3", 0.1, 0.3, 0.6, 0.2)))
    assert result.reading == "00521"
    assert result.unit == "m³"


def test_too_short_or_too_long_numbers_are_not_registers() -> None:
    blocks = face(line("123", 0.1, 0.1, 0.3, 0.3), line("123456789012", 0.1, 0.5, 0.8, 0.2))
    assert extract_reading(blocks).status == "unreadable"


def test_fuel_pump_display_is_not_a_meter() -> None:
    blocks = face(line("43.00", 0.2, 0.3, 0.5, 0.3), line("LITRES", 0.3, 0.7, 0.3, 0.1))
    result = extract_reading(blocks)
    assert (result.status, result.reason, result.reading) == ("unreadable", "not_a_meter", None)
    assert result.meter_type == "unknown"


def test_water_drums_are_whole_cubic_metres_never_kwh() -> None:
    result = extract_reading(face(line("00521.3 m3", 0.1, 0.3, 0.6, 0.2)))
    assert (result.reading, result.unit, result.meter_type) == ("00521", "m³", "water")


def test_sub_dial_factors_make_a_water_meter_without_its_unit() -> None:
    # The drums' m³ was not read; the sub-dials' factors (x0.001 m³ a turn) tell.
    result = extract_reading(
        face(line("0531", 0.1, 0.3, 0.5, 0.2), line("X0.001", 0.3, 0.7, 0.15, 0.06))
    )
    assert (result.reading, result.unit, result.meter_type) == ("0531", "m³", "water")


def test_a_lone_m_beside_the_drums_is_cubic_metres() -> None:
    result = extract_reading(
        face(line("0530", 0.1, 0.3, 0.5, 0.2), line("m", 0.62, 0.3, 0.05, 0.2))
    )
    assert (result.unit, result.meter_type) == ("m³", "water")


def test_a_point_after_one_drum_is_a_drum_edge_not_the_fraction() -> None:
    result = extract_reading(face(line("0.530 m3", 0.1, 0.3, 0.6, 0.2)))
    assert (result.reading, result.unit) == ("0530", "m³")


def test_gas_meter_reads_in_cubic_metres() -> None:
    blocks = face(line("04417 m3", 0.1, 0.3, 0.6, 0.2), line("GAS METER G4", 0.1, 0.7, 0.4, 0.08))
    result = extract_reading(blocks)
    assert (result.reading, result.unit, result.meter_type) == ("04417", "m³", "gas")


def test_electricity_keeps_the_point_where_the_register_prints_it() -> None:
    result = extract_reading(
        face(line("02050.9", 0.1, 0.3, 0.6, 0.2), line("kWh", 0.75, 0.4, 0.1, 0.08))
    )
    assert (result.reading, result.unit, result.meter_type) == ("02050.9", "kWh", "electricity")
    assert result.value == Decimal("2050.9")


@pytest.mark.parametrize(
    ("texts", "shown"),
    [
        (["5974.3kWh"], True),
        (["Genus", "kW", "h"], True),
        (["1000 imp/kWh"], True),
        (["5974.3W.h"], True),  # the k lost
        (["kVArh"], True),
        (["43.00", "ES"], False),
        (["KWIKSPAR", "Who"], False),
        (["0531", "x0.001"], False),
    ],
)
def test_the_page_shows_an_electricity_meter_by_its_unit_or_constant(
    texts: list[str], shown: bool
) -> None:
    assert shows_electricity_meter(texts) is shown


def test_a_padding_zero_too_many_does_not_lose_the_register() -> None:
    # The display's frame read as one more padding cell: nine digits, more than any register
    # has, but the value is the same. The serial number must not win instead.
    blocks = face(
        line("00003186.5 kWh", 0.15, 0.30, 0.6, 0.25),
        line("No. 1500", 0.15, 0.60, 0.3, 0.05),
    )
    result = extract_reading(blocks)
    assert result.value == Decimal("3186.5")
    assert result.reading == "0003186.5"
    # Surplus digits that are not zeros are no padding: nothing to read there.
    assert extract_reading(face(line("12003186.5 kWh", 0.15, 0.30, 0.6, 0.25))).reading is None
