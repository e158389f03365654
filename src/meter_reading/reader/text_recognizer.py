"""A generic text recognizer (PP-OCRv6 small) as a second reader of the display crops.

Our seven-segment recognizer is small and trained on few real displays; it sees the decimal
point but drops thin 1s and small tenths digits. PP-OCRv6's recognizer, trained on far more
text, reads the digits of the same crops better (and often the point). It runs here, in the
extract step, in AWS as locally, with onnxruntime: Textract reads the page of crops as a
third opinion in AWS, the local stand-in (PP-OCRv4, another model) does locally.

The model is PaddleOCR's (Apache-2.0), as rapidocr ships it inside its wheel. It is not kept
in this repository: ``python -m meter_reading.reader.text_recognizer --fetch`` (run by ``make
install``) downloads that wheel from PyPI, checks its hash, and writes the model and its
licence notices to ``reader/models/``, from where the layer ships them.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

MODELS = Path(__file__).parent / "models"
MODEL = MODELS / "PP-OCRv6_rec_small.onnx"
#: Where the model comes from: this wheel of rapidocr, checked by its hash.
WHEEL = "rapidocr==3.10.0"
WHEEL_SHA256 = "2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050"
IN_WHEEL = "rapidocr/models/PP-OCRv6_rec_small.onnx"
NOTICES = {
    "rapidocr-3.10.0.dist-info/licenses/LICENSE": "PP-OCRv6_rec_small.LICENSE",
    "rapidocr-3.10.0.dist-info/licenses/MODEL_LICENSES.md": "PP-OCRv6_rec_small.NOTICE.md",
}
#: The model's input height; widths follow each crop's aspect ratio.
HEIGHT = 48
MAX_WIDTH = 1280


class TextRecognizer:
    """Reads upright text-line crops: (text, mean peak probability) per crop."""

    def __init__(self, model_path: Path | None = None) -> None:
        from meter_reading.reader.recognizer import cpu_session

        self._session = cpu_session(model_path or MODEL)
        self._input = self._session.get_inputs()[0].name
        # The model carries its character list; class 0 is CTC's blank, the last a space.
        characters = self._session.get_modelmeta().custom_metadata_map["character"]
        self._classes = ["", *characters.split("\n"), " "]

    def read(self, crops: Sequence[npt.NDArray[np.uint8]]) -> list[tuple[str, float]]:
        # One run per crop: each keeps its own width (padding to the widest changes reads).
        return [self._read_one(crop) for crop in crops]

    def _read_one(self, crop: npt.NDArray[np.uint8]) -> tuple[str, float]:
        image = Image.fromarray(np.ascontiguousarray(crop[:, :, :3])).convert("RGB")
        width = max(8, min(MAX_WIDTH, round(HEIGHT * image.width / max(image.height, 1))))
        pixels = np.asarray(
            image.resize((width, HEIGHT), Image.Resampling.BILINEAR), dtype=np.float32
        )
        batch = ((pixels / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        outputs: list[Any] = self._session.run(None, {self._input: batch})
        probs = np.asarray(outputs[0], dtype=np.float32)[0]
        best = probs.argmax(axis=1).tolist()
        text: list[str] = []
        peaks: list[float] = []
        previous = 0
        for t, k in enumerate(best):
            if k not in (0, previous) and k < len(self._classes):
                text.append(self._classes[k])
                peaks.append(float(probs[t, k]))
            previous = k
        return "".join(text), float(np.mean(peaks)) if peaks else 0.0


def fetch(into: Path = MODELS) -> Path:
    """Download rapidocr's wheel, check it, and write the model (for onnxruntime 1.16) there."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, WHEEL],
            check=True,
        )
        (wheel,) = Path(tmp).glob("rapidocr-*.whl")
        data = wheel.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != WHEEL_SHA256:
        raise RuntimeError(f"{wheel.name} has sha256 {digest}, expected {WHEEL_SHA256}")
    into.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        model = archive.read(IN_WHEEL)
        for member, name in NOTICES.items():
            (into / name).write_bytes(archive.read(member))
    (into / MODEL.name).write_bytes(ir_version_9(model))
    return into / MODEL.name


def ir_version_9(model: bytes) -> bytes:
    """The model declared as ONNX IR version 9 instead of 10.

    The Lambda's onnxruntime (1.16, the newest with wheels for Amazon Linux 2) loads IR 9 at
    most; the graph uses opset 11 and nothing of IR 10, so only the declaration changes.
    ``ir_version`` is the ModelProto's field 1, which protobuf writes first: bytes 08 0a.
    """
    if model[:2] == b"\x08\x09":
        return model
    if model[:2] != b"\x08\x0a":
        raise ValueError("not an ONNX model of IR version 10")
    return b"\x08\x09" + model[2:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch the generic text recognizer's model.")
    parser.add_argument("--fetch", action="store_true", help="download it into reader/models/")
    parser.add_argument("--into", type=Path, default=MODELS)
    args = parser.parse_args(argv)
    if args.fetch:
        print(f"wrote {fetch(args.into)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
