"""Reading accuracy on the labelled meter photos, through the extract step's own path.

    python bench/reading_accuracy.py [PHOTOS_DIR] [--verbose] [--type electricity-lcd]
                                     [--perturb rotate5]

PHOTOS_DIR holds ``labels.csv`` and ``images/`` (default: ../shared/meter-photos beside
the project root). Each photo goes through the Textract stand-in and then the meter
reader, exactly as the state machine's extract step and ``meter-reading read`` do.

Per meter type it prints: photos; digits right (point ignored); value right (what billing
receives: the reading as a number equals ``reading_display`` where given, else the digits
rule); ok; ok-but-wrong by value; uncertain; unreadable; unit right (kWh for electricity,
m³ for water: what the prompt says); median seconds per photo. A photo
of something that is not a utility meter (fuel pumps) is right when it is ``unreadable``
with reason ``not_a_meter``. Then the calibration (confidence band -> share right by
value), the recognizer alone on the display crops it never trained on, and peak memory.

``--perturb`` reads every photo changed the way other households' photos differ from these
(turned by a few degrees, a quarter turn or upside down, compressed harder, half the size): the
same photos cannot tell how the reader does on unseen ones, but a figure that falls far under a
small change shows a part that holds only for these photos.
"""

from __future__ import annotations

import argparse
import csv
import io
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from PIL import Image

from meter_reading.domain.extraction import ReadingResult
from meter_reading.local.ocr_engine import OfflineTextDetector
from meter_reading.local.photo_reader import read_photo

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEFAULT_DIR = SHARED / "meter-photos"
CROPS_DIR = SHARED / "display-crops"
NOT_METERS = {"fuel-pump-lcd"}
#: The unit the household must be shown, by meter type (a fuel pump gets no reading).
UNITS = {"electricity-lcd": "kWh", "water-odometer": "m³"}


def digits_of(reading: str | None) -> str | None:
    if reading is None:
        return None
    digits = "".join(c for c in reading if c.isdigit())
    return digits.lstrip("0") or "0" if digits else None


def same_number(a: str | None, b: str) -> bool:
    if a is None:
        return False
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return False


@dataclass
class Row:
    file: str
    meter_type: str
    accepted: list[str]
    display: str
    result: ReadingResult
    seconds: float

    @property
    def digits_right(self) -> bool:
        if self.meter_type in NOT_METERS:
            return self.value_right
        return digits_of(self.result.reading) in self.accepted

    @property
    def value_right(self) -> bool:
        if self.meter_type in NOT_METERS:
            return self.result.status == "unreadable" and self.result.reason == "not_a_meter"
        if self.display:
            return same_number(self.result.reading, self.display)
        return self.digits_right

    @property
    def unit_right(self) -> bool:
        if self.meter_type in NOT_METERS:
            return self.value_right
        return self.result.unit == UNITS.get(self.meter_type)

    @property
    def ok_but_wrong(self) -> bool:
        return self.result.status == "ok" and not self.value_right


def _accepted(row: dict[str, str]) -> list[str]:
    values = [row["reading_digits"], *(row.get("also_accept") or "").split("|")]
    return [v.strip().lstrip("0") or "0" for v in values if v.strip()]


def summarise(name: str, rows: list[Row]) -> str:
    n = len(rows)

    def pct(k: int) -> str:
        return f"{k:4d} ({100.0 * k / n:5.1f}%)" if n else f"{k:4d}"

    median = statistics.median(r.seconds for r in rows) if rows else 0.0
    return (
        f"{name:<16} {n:6d}  {pct(sum(r.digits_right for r in rows))}  "
        f"{pct(sum(r.value_right for r in rows))}  "
        f"{pct(sum(r.result.status == 'ok' for r in rows))}  "
        f"{pct(sum(r.ok_but_wrong for r in rows))}  "
        f"{pct(sum(r.result.status == 'uncertain' for r in rows))}  "
        f"{pct(sum(r.result.status == 'unreadable' for r in rows))}  "
        f"{pct(sum(r.unit_right for r in rows))}  {median:8.2f}"
    )


def calibration(rows: list[Row]) -> list[str]:
    bands = [(0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 0.95), (0.95, 1.01)]
    out = ["confidence band  photos  right by value"]
    for lo, hi in bands:
        inside = [
            r for r in rows if r.result.reading is not None and lo <= r.result.confidence < hi
        ]
        right = sum(r.value_right for r in inside)
        share = f"{100.0 * right / len(inside):5.1f}%" if inside else "    -"
        out.append(f"{lo:4.2f}-{min(hi, 1.0):4.2f}      {len(inside):6d}  {right:4d} {share}")
    return out


def recognizer_on_crops(crops_dir: Path) -> str:
    """Each recognizer alone on the display crops cut from the benchmark photos.

    The seven-segment recognizer never trained on them (training/ leaves out every crop with
    a ``photo``); the text recognizer is PaddleOCR's, trained on none of ``../shared``.
    """
    import numpy as np
    from PIL import Image

    from meter_reading.reader.meter import text_recognizer
    from meter_reading.reader.recognizer import DisplayRecognizer

    with (crops_dir / "labels.csv").open(newline="") as fh:
        held_out = [r for r in csv.DictReader(fh) if r["photo"].strip()]
    if not held_out:
        return "recognizer on held-out display crops: none found"
    crops = [
        np.asarray(Image.open(crops_dir / "images" / r["file"]).convert("RGB"), dtype=np.uint8)
        for r in held_out
    ]
    readers: list[tuple[str, Any]] = [("seven-segment recognizer", DisplayRecognizer())]
    generic = text_recognizer()
    if generic is not None:
        readers.append(("text recognizer (PP-OCRv6)", generic))
    out = []
    n = len(held_out)
    for name, reader in readers:
        reads = reader.read(crops)
        pairs = list(zip(reads, held_out, strict=True))
        digits = sum(digits_of(t) == digits_of(r["reading"]) for (t, _), r in pairs)
        value = sum(same_number(t or None, r["reading"]) for (t, _), r in pairs)
        out.append(
            f"{name} alone on {n} held-out display crops: digits right {digits}/{n} "
            f"({100.0 * digits / n:.1f}%), point placed right (value) {value}/{n} "
            f"({100.0 * value / n:.1f}%)"
        )
    return "\n".join(out)


def _rotated(degrees: float) -> Callable[[Image.Image], Image.Image]:
    def turn(image: Image.Image) -> Image.Image:
        # The corners the turn uncovers are filled grey, as a wall or a casing would be.
        return image.rotate(degrees, Image.Resampling.BICUBIC, expand=True, fillcolor=(128,) * 3)

    return turn


def _half(image: Image.Image) -> Image.Image:
    return image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)


#: Name -> (change to the photo, JPEG quality it is saved with).
PERTURBATIONS: dict[str, tuple[Callable[[Image.Image], Image.Image], int]] = {
    "rotate5": (_rotated(5.0), 92),
    "rotate-5": (_rotated(-5.0), 92),
    "rotate180": (_rotated(180.0), 92),
    # A quarter turn: a phone held sideways whose orientation sensor did not notice.
    "rotate90": (_rotated(90.0), 92),
    "rotate270": (_rotated(270.0), 92),
    "jpeg45": (lambda image: image, 45),
    "half": (_half, 92),
}


def perturbed(photo: Path, name: str) -> bytes:
    change, quality = PERTURBATIONS[name]
    with Image.open(photo) as image:
        out = io.BytesIO()
        change(image.convert("RGB")).save(out, "JPEG", quality=quality)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("photos", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--verbose", "-v", action="store_true", help="one line per photo")
    parser.add_argument("--type", action="append", help="only this meter_type (repeatable)")
    parser.add_argument(
        "--perturb", choices=sorted(PERTURBATIONS), help="read each photo changed this way"
    )
    args = parser.parse_args(argv)

    labels = args.photos / "labels.csv"
    if not labels.is_file():
        print(f"no labels.csv in {args.photos}", file=sys.stderr)
        return 2
    with labels.open(newline="") as fh:
        entries = list(csv.DictReader(fh))
    if args.type:
        entries = [e for e in entries if e["meter_type"] in args.type]

    detector = OfflineTextDetector()
    rows: list[Row] = []
    for e in entries:
        path = args.photos / "images" / e["file"]
        photo = perturbed(path, args.perturb) if args.perturb else path
        start = time.perf_counter()
        result = read_photo(photo, detector)
        seconds = time.perf_counter() - start
        row = Row(
            e["file"],
            e["meter_type"],
            _accepted(e),
            (e.get("reading_display") or "").strip(),
            result,
            seconds,
        )
        rows.append(row)
        if args.verbose:
            mark = "RIGHT" if row.value_right else ("WRONG" if row.ok_but_wrong else "-----")
            label = row.display or e["reading_digits"]
            print(
                f"{mark} {row.meter_type:<15} {e['file'][:30]:<30} label={label:<10} "
                f"read={result.reading!s:<10} {result.unit:<4} {result.status:<10} "
                f"conf={result.confidence:.2f} "
                f"{result.reason or ''} {seconds:.2f}s",
                flush=True,
            )

    header = (
        f"{'meter_type':<16} {'photos':>6}  {'digits right':>12}  {'value right':>12}  "
        f"{'ok':>12}  {'ok-but-wrong':>12}  {'uncertain':>12}  {'unreadable':>12}  "
        f"{'unit right':>12}  {'median_s':>8}"
    )
    print(header)
    print("-" * len(header))
    for meter_type in sorted({r.meter_type for r in rows}):
        print(summarise(meter_type, [r for r in rows if r.meter_type == meter_type]))
    print(summarise("all", rows))
    print()
    print("\n".join(calibration([r for r in rows if r.meter_type not in NOT_METERS])))
    print()
    if (CROPS_DIR / "labels.csv").is_file():
        print(recognizer_on_crops(CROPS_DIR))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of the process): {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
