"""A reading against the household's own confirmed history, and the unit of each meter type."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from meter_reading.domain.plausibility import PastReading, assess, unit_for

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
# About 8 kWh a day through October, last confirmed on 3 November.
HISTORY = [
    PastReading(Decimal("1800.0"), datetime(2026, 10, 3, 9, 0, tzinfo=UTC)),
    PastReading(Decimal("2049.1"), datetime(2026, 11, 3, 9, 0, tzinfo=UTC)),
]


def test_a_usual_reading_is_plausible() -> None:
    assert assess(Decimal("2250.9"), "kWh", HISTORY, NOW).plausible


def test_a_missed_decimal_point_says_what_it_would_mean() -> None:
    result = assess(Decimal("20509"), "kWh", HISTORY, NOW)
    assert not result.plausible
    assert result.problem == (
        "that would be 18,459.9 kWh since 3 November — please check the decimal point"
    )


def test_a_register_never_goes_down() -> None:
    result = assess(Decimal("2000"), "kWh", HISTORY, NOW)
    assert not result.plausible
    assert result.problem is not None
    assert "less than your last reading of 2,049.1 kWh on 3 November" in result.problem


def test_with_one_reading_the_ceiling_for_a_home_applies() -> None:
    one = HISTORY[-1:]
    assert assess(Decimal("2800"), "kWh", one, NOW).plausible  # 30 kWh a day
    result = assess(Decimal("22509"), "kWh", one, NOW)
    assert not result.plausible and "20,459.9 kWh since 3 November" in (result.problem or "")


def test_without_any_history_only_an_absurd_register_is_questioned() -> None:
    assert assess(Decimal("20509"), "kWh", [], NOW).plausible
    assert not assess(Decimal("2050900"), "kWh", [], NOW).plausible
    assert not assess(Decimal("205090"), "m³", [], NOW).plausible


def test_water_is_judged_in_cubic_metres() -> None:
    water = [
        PastReading(Decimal("500.0"), datetime(2026, 10, 28, tzinfo=UTC)),
        PastReading(Decimal("515.0"), datetime(2026, 11, 27, tzinfo=UTC)),
    ]
    assert assess(Decimal("515.6"), "m³", water, NOW).plausible
    result = assess(Decimal("5156"), "m³", water, NOW)
    assert not result.plausible and "m³ since 27 November" in (result.problem or "")


def test_readings_minutes_apart_are_measured_over_at_least_a_day() -> None:
    just_now = [PastReading(Decimal("2049.1"), datetime(2026, 11, 28, 8, 55, tzinfo=UTC))]
    assert assess(Decimal("2049.5"), "kWh", just_now, NOW).plausible


@pytest.mark.parametrize(
    ("meter_type", "ocr_unit", "unit"),
    [
        ("electricity", "kWh", "kWh"),
        ("water", "kWh", "m³"),
        ("gas", None, "m³"),
        ("unknown", "m³", "m³"),
        ("unknown", None, "kWh"),
        (None, "kWh", "kWh"),
    ],
)
def test_units_by_meter_type(meter_type: str | None, ocr_unit: str | None, unit: str) -> None:
    assert unit_for(meter_type, ocr_unit) == unit
