"""The generic text recognizer (PP-OCRv6 small): the model as fetched, and what it reads."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from meter_reading.reader.text_recognizer import MODEL, TextRecognizer, ir_version_9

CROPS = Path(__file__).resolve().parents[1].parent / "shared" / "display-crops"
#: Digits right (point ignored) on the 67 display crops cut from meter-photos photos: the
#: model as fetched read 51; the floor leaves room for onnxruntime / Pillow differences only.
HELD_OUT_DIGITS_FLOOR = 0.7


def test_the_model_is_declared_for_the_lambdas_onnxruntime() -> None:
    # onnxruntime 1.16 (the Lambda's) refuses IR version 10; the graph needs nothing of it.
    assert ir_version_9(b"\x08\x0a\x12\x00rest") == b"\x08\x09\x12\x00rest"
    assert ir_version_9(b"\x08\x09\x12\x00rest") == b"\x08\x09\x12\x00rest"
    with pytest.raises(ValueError):
        ir_version_9(b"PK\x03\x04 a zip, not a model")
    if MODEL.is_file():
        assert MODEL.read_bytes()[:2] == b"\x08\x09"


@pytest.fixture(scope="module")
def text_recognizer() -> TextRecognizer:
    if not MODEL.is_file():
        pytest.skip(
            f"{MODEL.name} not fetched (make install, or "
            "python -m meter_reading.reader.text_recognizer --fetch)"
        )
    return TextRecognizer()


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit()).lstrip("0") or "0"


def test_it_reads_the_digits_of_display_crops_our_recognizer_was_never_shown(
    text_recognizer: TextRecognizer,
) -> None:
    labels = CROPS / "labels.csv"
    if not labels.is_file():
        pytest.skip(f"display crops not found at {CROPS} (../shared is absent)")
    with labels.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("photo")]
    crops = [np.asarray(Image.open(CROPS / "images" / row["file"]).convert("RGB")) for row in rows]
    reads = text_recognizer.read(crops)
    right = sum(
        _digits(text) == _digits(row["reading"]) for (text, _), row in zip(reads, rows, strict=True)
    )
    assert right >= HELD_OUT_DIGITS_FLOOR * len(rows), f"{right}/{len(rows)} read right"
    assert all(0.0 <= score <= 1.0 for _, score in reads)


def test_a_blank_crop_reads_nothing_sure(text_recognizer: TextRecognizer) -> None:
    blank = np.full((40, 200, 3), 128, dtype=np.uint8)
    ((text, score),) = text_recognizer.read([blank])
    assert not any(c.isdigit() for c in text) or score < 0.5
