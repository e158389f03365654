"""Reading-extraction accuracy on the labelled meter photos.

    python bench/reading_accuracy.py [PHOTOS_DIR] [--verbose] [--type electricity-lcd]

PHOTOS_DIR holds ``labels.csv`` and ``images/`` (default: ../shared/meter-photos
beside the project root). For each meter type it prints the number of photos,
exact reads, confident-but-wrong reads (status "ok" but not exact), uncertain,
unreadable and the median seconds per photo.

Exact: the extracted reading's digits (decimal separator dropped, leading zeros
stripped) equal ``reading_digits`` (leading zeros stripped) or a value of
``also_accept`` (``|``-separated).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from meter_reading.domain.extraction import ReadingResult
from meter_reading.local.ocr_engine import OfflineTextDetector
from meter_reading.local.photo_reader import read_photo

DEFAULT_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "meter-photos"


@dataclass
class Row:
    file: str
    meter_type: str
    accepted: list[str]
    result: ReadingResult
    seconds: float

    @property
    def exact(self) -> bool:
        return normalise(self.result.reading) in self.accepted

    @property
    def confident_wrong(self) -> bool:
        return self.result.status == "ok" and not self.exact


def normalise(reading: str | None) -> str | None:
    if reading is None:
        return None
    digits = "".join(c for c in reading if c.isdigit())
    return digits.lstrip("0") or "0" if digits else None


def _accepted(row: dict[str, str]) -> list[str]:
    values = [row["reading_digits"], *(row.get("also_accept") or "").split("|")]
    return [v.strip().lstrip("0") or "0" for v in values if v.strip()]


def summarise(name: str, rows: list[Row]) -> str:
    n = len(rows)
    exact = sum(r.exact for r in rows)
    wrong = sum(r.confident_wrong for r in rows)
    uncertain = sum(r.result.status == "uncertain" for r in rows)
    unreadable = sum(r.result.status == "unreadable" for r in rows)
    median = statistics.median(r.seconds for r in rows) if rows else 0.0

    def pct(k: int) -> str:
        return f"{k:4d} ({100.0 * k / n:5.1f}%)" if n else f"{k:4d}"

    return (
        f"{name:<18} {n:6d}  {pct(exact)}  {pct(wrong)}  {pct(uncertain)}  "
        f"{pct(unreadable)}  {median:8.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("photos", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--verbose", "-v", action="store_true", help="one line per photo")
    parser.add_argument("--type", action="append", help="only this meter_type (repeatable)")
    parser.add_argument("--limit", type=int, default=0, help="at most N photos per type")
    args = parser.parse_args(argv)

    labels = args.photos / "labels.csv"
    if not labels.is_file():
        print(f"no labels.csv in {args.photos}", file=sys.stderr)
        return 2
    with labels.open(newline="") as fh:
        entries = list(csv.DictReader(fh))
    if args.type:
        entries = [e for e in entries if e["meter_type"] in args.type]
    if args.limit:
        per_type: dict[str, int] = {}
        kept = []
        for e in entries:
            per_type[e["meter_type"]] = per_type.get(e["meter_type"], 0) + 1
            if per_type[e["meter_type"]] <= args.limit:
                kept.append(e)
        entries = kept

    detector = OfflineTextDetector()
    rows: list[Row] = []
    for e in entries:
        path = args.photos / "images" / e["file"]
        start = time.perf_counter()
        result = read_photo(path, detector)
        seconds = time.perf_counter() - start
        row = Row(e["file"], e["meter_type"], _accepted(e), result, seconds)
        rows.append(row)
        if args.verbose:
            mark = "EXACT" if row.exact else ("WRONG" if row.confident_wrong else "-----")
            print(
                f"{mark} {row.meter_type:<17} {e['file'][:40]:<40} label={e['reading_digits']:<9} "
                f"read={result.reading!s:<10} {result.status:<10} conf={result.confidence:.2f} "
                f"{result.reason or ''} {seconds:.2f}s",
                flush=True,
            )

    header = (
        f"{'meter_type':<18} {'photos':>6}  {'exact':>12}  {'ok-but-wrong':>12}  "
        f"{'uncertain':>12}  {'unreadable':>12}  {'median_s':>8}"
    )
    print(header)
    print("-" * len(header))
    for meter_type in sorted({r.meter_type for r in rows}):
        print(summarise(meter_type, [r for r in rows if r.meter_type == meter_type]))
    print(summarise("all", rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
