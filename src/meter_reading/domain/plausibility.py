"""Does a reading fit the household's own history? And which unit does its meter count in?

A conventional register never goes down, and a household's consumption does not jump
tenfold: a value that implies either is offered with what looks wrong, never as certain.
The usual cause is a misplaced or missed decimal point (20509 read for 2050.9).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

#: The unit each kind of meter counts in, in every message and in the billing message.
UNITS: dict[str, str] = {"electricity": "kWh", "water": "m³", "gas": "m³"}
KNOWN_UNITS = frozenset(UNITS.values())
DEFAULT_UNIT = "kWh"  # the service started with electricity meters

#: More than this many times the usual daily consumption since the last reading is implausible.
USUAL_CONSUMPTION_FACTOR = Decimal(10)
#: Without a usual consumption (one confirmed reading), the most a home plausibly uses a day.
HOME_DAILY_CEILING: dict[str, Decimal] = {"kWh": Decimal(150), "m³": Decimal(5)}
#: Without any confirmed reading, the largest register a home meter plausibly shows.
HOME_REGISTER_CEILING: dict[str, Decimal] = {"kWh": Decimal(999_999), "m³": Decimal(99_999)}
#: Consumption is measured over at least a day, so readings minutes apart are not blown up.
MIN_DAYS = Decimal(1)
SECONDS_PER_DAY = Decimal(86_400)


def unit_for(meter_type: str | None, ocr_unit: str | None = None) -> str:
    """kWh for electricity, m³ for water and gas; otherwise the unit read beside the digits."""
    if meter_type in UNITS:
        return UNITS[meter_type]
    if ocr_unit in KNOWN_UNITS:
        return str(ocr_unit)
    return DEFAULT_UNIT


@dataclass(frozen=True)
class PastReading:
    """A confirmed reading of the same household: its value and when it was taken."""

    value: Decimal
    at: datetime


@dataclass(frozen=True)
class Assessment:
    plausible: bool
    problem: str | None = None  # what looks wrong, as the household reads it


def assess(value: Decimal, unit: str, history: Sequence[PastReading], now: datetime) -> Assessment:
    """Judge `value` against the household's confirmed readings (any order)."""
    past = sorted(history, key=lambda reading: reading.at)
    if not past:
        ceiling = HOME_REGISTER_CEILING.get(unit, HOME_REGISTER_CEILING[DEFAULT_UNIT])
        if value > ceiling:
            return Assessment(
                False,
                f"that is more than a home meter counts ({_amount(ceiling, unit)}) "
                "— please check the decimal point",
            )
        return Assessment(True)
    last = past[-1]
    since = _day(last.at, now)
    if value < last.value:
        return Assessment(
            False,
            f"that is less than your last reading of {_amount(last.value, unit)} on {since}, "
            "and a meter never counts backwards — please check the digits",
        )
    used = value - last.value
    days = max(_days_between(last.at, now), MIN_DAYS)
    usual = usual_daily_consumption(past)
    if usual is not None and usual > 0:
        limit = usual * USUAL_CONSUMPTION_FACTOR * days
    else:
        limit = HOME_DAILY_CEILING.get(unit, HOME_DAILY_CEILING[DEFAULT_UNIT]) * days
    if used > limit:
        return Assessment(
            False,
            f"that would be {_amount(used, unit)} since {since} — please check the decimal point",
        )
    return Assessment(True)


def usual_daily_consumption(past: Sequence[PastReading]) -> Decimal | None:
    """Average use per day over the confirmed readings, oldest to newest; None under a day."""
    if len(past) < 2:
        return None
    first, last = past[0], past[-1]
    days = _days_between(first.at, last.at)
    if days < MIN_DAYS:
        return None
    return (last.value - first.value) / days


def _days_between(start: datetime, end: datetime) -> Decimal:
    return Decimal(str((end - start).total_seconds())) / SECONDS_PER_DAY


def _day(at: datetime, now: datetime) -> str:
    shown = f"{at.day} {at:%B}"
    return shown if at.year == now.year else f"{shown} {at.year}"


def _amount(value: Decimal, unit: str) -> str:
    """18460 -> '18,460 kWh'; decimals as they are ('2,050.9 kWh')."""
    return f"{value:,} {unit}"
