"""Read a meter photo offline: the Textract stand-in's lines, then the meter reader.

The same path as the state machine's extract step, with the stand-in in place of
Textract: what ``meter-reading read`` and the benchmark measure is what a household gets.
"""

from __future__ import annotations

import threading
from pathlib import Path

from meter_reading.domain.extraction import ReadingResult
from meter_reading.local.ocr_engine import OfflineTextDetector, load_image_bytes
from meter_reading.reader.display import DisplayReader
from meter_reading.reader.meter import read_meter, recognizer, text_recognizer

_default_detector: OfflineTextDetector | None = None
_default_lock = threading.Lock()


def default_detector() -> OfflineTextDetector:
    """One shared engine per process (loading the models takes about a second)."""
    global _default_detector
    with _default_lock:
        if _default_detector is None:
            _default_detector = OfflineTextDetector()
        return _default_detector


def read_photo(
    image: bytes | Path,
    detector: OfflineTextDetector | None = None,
    display_reader: DisplayReader | None = None,
) -> ReadingResult:
    engine = detector if detector is not None else default_detector()
    photo = load_image_bytes(image)
    reader = display_reader or DisplayReader(recognizer(), engine.detect, text_recognizer())
    return read_meter(photo, engine.detect(photo), reader)
