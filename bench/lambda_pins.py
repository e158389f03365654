"""Does the extract Lambda's reader read the same with its pinned versions as in development?

    python bench/lambda_pins.py

The extract function pins numpy, Pillow and onnxruntime older than the dev environment
(``functions/extract/requirements.txt``: the python3.11 runtime's glibc needs manylinux2014
wheels). This builds a venv with exactly those pins (this machine's platform), runs the
reader's version-dependent parts there and here, and compares: the reads of every display crop
in ``../shared/display-crops`` by the seven-segment recognizer and by the generic text
recognizer (its model as fetched, declared IR 9 for onnxruntime 1.16), and crops cut
(widened, and with the decimal cell beside them) from the first photos of
``../shared/meter-photos``. Prints what differs; the last line is
``reads_same=N/M text_reads_same=N/M crops_same=K/L``.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PINNED = ("numpy", "pillow", "onnxruntime")
PHOTOS = 10


def observe() -> dict[str, Any]:
    """The version-dependent outputs of the reader, in this interpreter."""
    import numpy as np
    from PIL import Image

    from meter_reading.reader.image import beside, beyond_end, crop, decode, extend
    from meter_reading.reader.recognizer import DisplayRecognizer
    from meter_reading.reader.text_recognizer import TextRecognizer

    crops_dir = SHARED / "display-crops"
    with (crops_dir / "labels.csv").open() as labels:
        files = [row["file"] for row in csv.DictReader(labels)]
    crops = [np.asarray(Image.open(next(crops_dir.rglob(name))).convert("RGB")) for name in files]
    reads = [[text, round(score, 4)] for text, score in DisplayRecognizer().read(crops)]
    text_reads = [[text, round(score, 4)] for text, score in TextRecognizer().read(crops)]
    quad = [(400.0, 300.0), (1100.0, 320.0), (1095.0, 520.0), (395.0, 500.0)]
    cut: list[list[float]] = []
    for path in sorted((SHARED / "meter-photos" / "images").glob("eb_*"))[:PHOTOS]:
        image = decode(path.read_bytes())
        body = crop(image, extend(quad, 0.0, 0.0, 0.1))
        widened = crop(image, extend(quad, 0.5, 1.0, 0.1))
        celled = beside(body, crop(image, beyond_end(quad, -0.05, 0.8, 0.3, 0.1)))
        cut.append([float(c.astype(np.float64).sum()) for c in (body, widened, celled)])
    return {"reads": reads, "text_reads": text_reads, "crops": cut}


def pins() -> list[str]:
    lines = (ROOT / "functions" / "extract" / "requirements.txt").read_text().splitlines()
    return [ln for ln in lines if ln.split("==")[0].lower() in PINNED]


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--observe":
        json.dump(observe(), sys.stdout)
        return 0
    if not (SHARED / "display-crops").is_dir():
        print(f"../shared not found at {SHARED}")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        subprocess.run([python, "-m", "pip", "install", "--quiet", *pins()], check=True)
        env = {"PYTHONPATH": str(ROOT / "src")}
        there = json.loads(
            subprocess.run(
                [python, __file__, "--observe"], check=True, capture_output=True, env=env
            ).stdout
        )
    here = observe()
    print("pinned:", ", ".join(pins()))
    same: dict[str, int] = {}
    for key in ("reads", "text_reads"):
        pairs = list(zip(here[key], there[key], strict=True))
        same[key] = sum(a[0] == b[0] for a, b in pairs)
        for k, (a, b) in enumerate(pairs):
            if a != b:
                print(f"{key} crop {k}: dev {a} / pinned {b}")
    crops_same = sum(a == b for a, b in zip(here["crops"], there["crops"], strict=True))
    n_reads, n_crops = len(here["reads"]), len(here["crops"])
    print(
        f"reads_same={same['reads']}/{n_reads} text_reads_same={same['text_reads']}/{n_reads} "
        f"crops_same={crops_same}/{n_crops}"
    )
    everything = min(same.values()) == n_reads and crops_same == n_crops
    return 0 if everything else 1


if __name__ == "__main__":
    sys.exit(main())
