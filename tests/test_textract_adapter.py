"""The Textract side of OCR, on real responses saved from Textract (../shared/textract-samples)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED

from meter_reading.adapters.textract import collect_blocks
from meter_reading.domain.blocks import blocks_from_textract

SAMPLES = SHARED / "textract-samples"


def _sample(name: str) -> dict[str, Any]:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"Textract samples not found at {SAMPLES} (../shared is absent)")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.parametrize(
    "name",
    [
        "textractor__test_detect_document_text.json",
        "textractor__test_textractor_start_document_text_detection.json",
        "textractor__test_detect_no_duplicate_words_receipt.jpg.json",
        "trp__gib__90_degrees.json",
    ],
)
def test_every_line_and_word_is_kept_with_its_text_and_geometry(name: str) -> None:
    response = _sample(name)
    expected = Counter(
        b["BlockType"] for b in response["Blocks"] if b["BlockType"] in ("LINE", "WORD")
    )
    blocks = blocks_from_textract(response["Blocks"])

    assert Counter(b.block_type for b in blocks) == expected
    raw_lines = [b for b in response["Blocks"] if b["BlockType"] == "LINE"]
    lines = [b for b in blocks if b.block_type == "LINE"]
    assert [b.text for b in lines] == [b["Text"] for b in raw_lines]
    for raw, block in zip(raw_lines, lines, strict=True):
        assert block.confidence == pytest.approx(raw["Confidence"])
        assert block.box.left == pytest.approx(raw["Geometry"]["BoundingBox"]["Left"])
        assert 0 <= block.box.top <= 1 and 0 < block.box.height <= 1


def test_paginated_results_are_followed_to_the_last_page() -> None:
    response = _sample("textractor__test_textractor_start_document_text_detection.json")
    all_blocks = response["Blocks"]
    calls: list[dict[str, Any]] = []

    def get_page(**kwargs: Any) -> dict[str, Any]:
        # Textract's own paging: MaxResults blocks at a time, NextToken until the end.
        calls.append(kwargs)
        start = int(kwargs.get("NextToken", 0))
        end = start + kwargs["MaxResults"]
        page: dict[str, Any] = {"JobStatus": "SUCCEEDED", "Blocks": all_blocks[start:end]}
        if end < len(all_blocks):
            page["NextToken"] = str(end)
        return page

    blocks = collect_blocks(get_page, "job-1", page_size=40)

    assert blocks == all_blocks
    assert len(calls) == -(-len(all_blocks) // 40)
    assert all(call["JobId"] == "job-1" for call in calls)


def test_a_job_that_did_not_succeed_is_an_error() -> None:
    def get_page(**kwargs: Any) -> dict[str, Any]:
        return {"JobStatus": "FAILED", "StatusMessage": "unsupported document"}

    with pytest.raises(RuntimeError, match="FAILED"):
        collect_blocks(get_page, "job-2")


def test_samples_folder_exists_or_tests_skip() -> None:
    # Guards against silently testing nothing when ../shared is mounted elsewhere.
    if not SAMPLES.is_dir():
        pytest.skip(f"{SAMPLES} is absent")
    assert any(Path(SAMPLES).glob("*.json"))
