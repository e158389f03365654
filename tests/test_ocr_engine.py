"""The offline OCR engine: Textract-shaped output and end-to-end reads of photos."""

from __future__ import annotations

import csv
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from meter_reading.domain.blocks import blocks_from_textract
from meter_reading.domain.extraction import ReadingResult
from meter_reading.local.ocr_engine import OfflineTextDetector, _vote
from meter_reading.local.photo_reader import read_photo
from meter_reading.local.sample_photo import render_blank_photo, render_meter_photo

SHARED_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "meter-photos"


@pytest.fixture(scope="module")
def detector() -> OfflineTextDetector:
    return OfflineTextDetector()


@pytest.fixture(scope="module")
def sample_blocks(detector: OfflineTextDetector) -> list[dict[str, Any]]:
    return detector.detect(render_meter_photo("03662.0"))


def test_sample_photo_reads_back(detector: OfflineTextDetector) -> None:
    result = read_photo(render_meter_photo("03662.0"), detector)
    assert result.status == "ok"
    assert result.value == Decimal("3662.0")
    assert result.unit == "kWh"


@pytest.mark.parametrize("reading", ["12345.6", "20509", "004815.2", "04521.7", "1111.1"])
def test_other_rendered_readings_read_back(detector: OfflineTextDetector, reading: str) -> None:
    result = read_photo(render_meter_photo(reading), detector)
    assert result.value == Decimal(reading)
    assert result.status == "ok"


def test_rendered_photos_are_deterministic() -> None:
    assert render_meter_photo("04521.7") == render_meter_photo("04521.7")
    assert render_meter_photo("04521.7") != render_meter_photo("04521.8")
    assert render_blank_photo() == render_blank_photo()


def test_read_photo_accepts_a_path(detector: OfflineTextDetector, tmp_path: Path) -> None:
    photo = tmp_path / "meter.jpg"
    photo.write_bytes(render_meter_photo("03662.0"))
    assert read_photo(photo, detector).value == Decimal("3662.0")


def test_blank_photo_is_unreadable(detector: OfflineTextDetector) -> None:
    result = read_photo(render_blank_photo(), detector)
    assert result.status == "unreadable"
    assert result.reading is None
    assert result.value is None
    assert result.reason in ("no_text", "no_display")


def test_blank_photo_still_has_a_page_block(detector: OfflineTextDetector) -> None:
    blocks = detector.detect(render_blank_photo())
    assert next(b["BlockType"] for b in blocks if b["BlockType"] != "WORD") == "PAGE"
    assert sum(b["BlockType"] == "PAGE" for b in blocks) == 1


def _check_geometry(block: dict[str, Any]) -> None:
    box = block["Geometry"]["BoundingBox"]
    assert set(box) == {"Width", "Height", "Left", "Top"}
    for key in box:
        assert isinstance(box[key], float)
        assert 0.0 <= box[key] <= 1.0
    assert box["Left"] + box["Width"] <= 1.0 + 1e-6
    assert box["Top"] + box["Height"] <= 1.0 + 1e-6
    polygon = block["Geometry"]["Polygon"]
    assert len(polygon) == 4
    for point in polygon:
        assert set(point) == {"X", "Y"}
        assert box["Left"] - 1e-6 <= point["X"] <= box["Left"] + box["Width"] + 1e-6
        assert box["Top"] - 1e-6 <= point["Y"] <= box["Top"] + box["Height"] + 1e-6


def test_blocks_have_textract_shape(sample_blocks: list[dict[str, Any]]) -> None:
    by_id = {b["Id"]: b for b in sample_blocks}
    assert len(by_id) == len(sample_blocks)
    pages = [b for b in sample_blocks if b["BlockType"] == "PAGE"]
    lines = [b for b in sample_blocks if b["BlockType"] == "LINE"]
    words = [b for b in sample_blocks if b["BlockType"] == "WORD"]
    assert len(pages) == 1
    assert lines and words
    assert len(pages) + len(lines) + len(words) == len(sample_blocks)
    for block in sample_blocks:
        uuid.UUID(block["Id"])
        assert block["Page"] == 1
        _check_geometry(block)
    assert "Text" not in pages[0]
    assert pages[0]["Relationships"] == [{"Type": "CHILD", "Ids": [b["Id"] for b in lines]}]
    for block in lines + words:
        assert isinstance(block["Text"], str) and block["Text"].strip()
        assert 0.0 <= block["Confidence"] <= 100.0
    child_words: list[str] = []
    for ln in lines:
        (rel,) = ln["Relationships"]
        assert rel["Type"] == "CHILD"
        children = [by_id[i] for i in rel["Ids"]]
        assert all(c["BlockType"] == "WORD" for c in children)
        assert " ".join(c["Text"] for c in children) == ln["Text"]
        child_words.extend(rel["Ids"])
    assert sorted(child_words) == sorted(b["Id"] for b in words)
    for word in words:
        assert word["TextType"] == "PRINTED"
        assert " " not in word["Text"]
        assert "Relationships" not in word


def test_blocks_pass_the_textract_parser(sample_blocks: list[dict[str, Any]]) -> None:
    parsed = blocks_from_textract(sample_blocks)
    n_text = sum(b["BlockType"] in ("LINE", "WORD") for b in sample_blocks)
    assert len(parsed) == n_text
    texts = [b.text for b in parsed if b.block_type == "LINE"]
    assert any("3662" in t for t in texts)
    assert any("kWh" in t for t in texts)


def test_same_detector_is_reusable(detector: OfflineTextDetector) -> None:
    first = read_photo(render_meter_photo("20509"), detector)
    second = read_photo(render_meter_photo("20509"), detector)
    assert first.reading == second.reading
    assert first.value == Decimal(20509)


def _electricity_photos(limit: int) -> list[dict[str, str]]:
    labels = SHARED_PHOTOS / "labels.csv"
    if not labels.is_file():
        pytest.skip(f"shared meter photos not found at {SHARED_PHOTOS} (../shared is absent)")
    with labels.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["meter_type"] == "electricity-lcd"]
    return rows[:limit]


def test_pipeline_runs_on_real_electricity_photos(detector: OfflineTextDetector) -> None:
    rows = _electricity_photos(limit=4)
    assert rows
    for row in rows:
        result = read_photo(SHARED_PHOTOS / "images" / row["file"], detector)
        assert isinstance(result, ReadingResult)
        assert result.status in ("ok", "uncertain", "unreadable")
        assert 0.0 <= result.confidence <= 1.0
        if result.status == "unreadable":
            assert result.reading is None and result.reason
        else:
            assert result.reading is not None
            assert result.value is not None and result.value >= 0
            digits = result.reading.replace(".", "")
            assert digits.isdigit() and 4 <= len(digits) <= 8
        if result.status == "uncertain":
            assert result.reason


def test_display_reads_are_combined_by_vote() -> None:
    # Same value with and without the decimal point or a leading zero: one vote.
    voted = _vote([("4414.7", 0.95), ("44147", 0.99), ("04414.7", 0.97)])
    assert voted is not None
    reading, confidence, _ = voted
    assert reading == "04414.7"
    assert confidence > 0.9
    # A bare trailing decimal point counts for the read that completes it.
    voted = _vote([("1573.", 0.99), ("1573.", 0.98), ("1573.1", 0.97), ("1578", 0.9)])
    assert voted is not None and voted[0] == "1573.1"
    # A unit after the digits is not a digit; an icon before the zero padding is dropped.
    voted = _vote([("03662.0 om", 0.9), ("8003662.0", 0.9), ("03662.0", 1.0)])
    assert voted is not None and voted[0] == "03662.0" and voted[1] > 0.85
    # Disagreeing reads lower the confidence; reads without digits are no votes.
    voted = _vote([("008701.3", 0.9), ("008901.3", 0.9), ("CUM", 0.9)])
    assert voted is not None and voted[1] < 0.5
    assert _vote([("kWh", 0.9), ("CUM", 0.8)]) is None
