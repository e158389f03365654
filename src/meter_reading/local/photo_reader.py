"""Read a meter photo offline: OCR engine -> Textract blocks -> register extraction."""

from __future__ import annotations

import threading
from pathlib import Path

from meter_reading.domain.blocks import blocks_from_textract
from meter_reading.domain.extraction import ReadingResult, extract_reading
from meter_reading.local.ocr_engine import OfflineTextDetector, load_image_bytes

_default_detector: OfflineTextDetector | None = None
_default_lock = threading.Lock()


def default_detector() -> OfflineTextDetector:
    """One shared engine per process (loading the models takes about a second)."""
    global _default_detector
    with _default_lock:
        if _default_detector is None:
            _default_detector = OfflineTextDetector()
        return _default_detector


def read_photo(image: bytes | Path, detector: OfflineTextDetector | None = None) -> ReadingResult:
    engine = detector if detector is not None else default_detector()
    raw_blocks = engine.detect(load_image_bytes(image))
    return extract_reading(blocks_from_textract(raw_blocks))
