"""Read the meter's display: find it among the text lines, orient it, crop it, recognise it.

The text detection (Textract in AWS, the local stand-in elsewhere) finds the lines
and gives a first read of each. The display is the tallest line of digits. It is
cut out of the photo several times, widened along its tilt (detectors often cut off
a leading digit or the small decimal digit), and each crop is read by the
seven-segment recognizer, which sees the decimal point, by the generic text recognizer
(PP-OCRv6), and by the text detection on one page of all the crops. The reads vote on
the digits; the decimal point comes from the recognizers' reads, which see it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from PIL import Image

from meter_reading.domain.extraction import (
    DIAL_FACTOR,
    SEVEN_SEGMENT_CONFUSIONS,
    shows_electricity_meter,
)
from meter_reading.reader.image import (
    RGBArray,
    beside,
    beyond_end,
    crop,
    extend,
    line_coordinates,
    stack,
    widened,
)
from meter_reading.reader.lines import (
    Quad,
    TextLine,
    lines_from_textract,
    quad_height,
    quad_width,
    turned,
)


class Recognizer(Protocol):
    def read(self, crops: Sequence[RGBArray]) -> list[tuple[str, float]]: ...


#: The text detection service on a small image: Textract's DetectDocumentText blocks.
TextDetector = Callable[[bytes], Iterable[Mapping[str, Any]]]


#: How far (in box heights) the display box is widened to the left and to the right.
EXTENSIONS: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (0.1, 0.3),
    (0.2, 0.6),
    (0.5, 1.0),
    (0.3, 1.5),
)
#: Where a register's small decimal cell may sit after the display's box: (start, end, top,
#: bottom) in box heights, for ``beyond_end``. The cell's digit is about half as tall as
#: the others and sits on their baseline, so the text detection often leaves it out.
DECIMAL_CELLS: tuple[tuple[float, float, float, float], ...] = (
    (-0.05, 0.8, 0.3, 0.1),
    (-0.05, 1.1, 0.2, 0.15),
)
#: How far (in box heights) the display's box is extended to the right where the register
#: goes on past the widest crops' reach (``continues_past_box``).
PAST_BOX = 1.0
#: How much wider the seven-segment recognizer's second look at the display's crops sees
#: them: it gives one column to every four pixels, and a narrow font's digits then merge
#: into one read (251.9 for 2519.9). Only to confirm a value (``readers_agree``): widened,
#: it reads a small subscript tenths less often than as they are (00293.6 for 002936.2).
SECOND_LOOK_WIDENING = 1.3
#: A crop reaching further left (box heights to the left, to the right), read by the text
#: recognizer alone, for a thin leading 1 beyond the box (``leading_one``): a seven-segment
#: 1 lights only its cell's right side, so a detector's box may start a cell too late.
#: Not a voting crop: as one (tried), its labels and frame edges moved other votes.
LEADING_ONE_CROP = (1.2, 0.6)
#: Pieces of the display's register found as separate lines (``joined_pieces``): at least
#: this share of its height, and at most this many of its heights away along the line.
PIECE_HEIGHT = 0.7
PIECE_GAP = 1.5
#: How many of the crops reaching furthest past the box (``read_on_widest_crops``) must show
#: a longer register to both recognizers.
WIDEST_CROPS = 2
#: A seven-segment kWh register of this many digits or more prints a tenths digit.
TENTHS_FROM_DIGITS = 5
#: Confidence kept when the point is placed by the register's format, not seen.
FORMAT_ONLY = 0.8
#: A recognizer read's vote relative to the text detection's. The text detection reads
#: digits far better (the recognizer alone gets 58% of held-out crops' digits right and
#: drops thin leading 1s); the recognizer settles what the detection leaves open (the
#: point's place, 9 or 4).
RECOGNIZER_WEIGHT = 0.2
#: The generic text recognizer's vote (PP-OCRv6, ``reader/text_recognizer.py``): as much as
#: the text detection's; like the seven-segment recognizer's, its reads place the point.
TEXT_RECOGNIZER_WEIGHT = 1.0

#: Confidence of a value that the seven-segment recognizer and a generic reader each read the
#: most (``readers_agree``): sure enough to offer as read (``ok``; on the development photos
#: all such values were right).
AGREED = 0.95
#: Share of the recognizers' weight for the winning digits from which a point they place
#: stands against their reads without one: a faint point is dropped far more often than
#: one is read where there is none.
POINT_SHARE = 0.25

_CONFUSIONS = str.maketrans(SEVEN_SEGMENT_CONFUSIONS)
_GLUED_UNIT = re.compile(r"(?i)(?<=[\d.,])(kwh|kw|wh|kvah|kvarh)\W*$")
_DIGIT_GAP = re.compile(r"\d\s+[02-9]")
_DECIMAL_END = re.compile(r"\.\d{1,2}$")
# A cubic-metre register (water, gas): number drums, not seven segments.
_CUBIC_METRES = re.compile(r"(?i)(\bm(3|³)\b|\dm(3|³)?$)")
# A register's unit right after its digits, as the text recognizer reads a display crop.
_UNIT_AFTER = re.compile(r"(?i)\d\.?\s*(m|m3|m³|kwh|kw)\W*$")


@dataclass(frozen=True)
class Read:
    """One reader's read of the display: the text detection's (of the photo or the page of
    crops), or a recognizer's of one crop (``by_recognizer``: it sees the point, and never
    completes another read with a digit of its own)."""

    text: str
    score: float
    by_recognizer: bool
    #: The read's vote relative to the text detection's. None: its reader's default, 1 for
    #: the text detection, ``RECOGNIZER_WEIGHT`` for the seven-segment recognizer; the
    #: generic text recognizer's reads carry ``TEXT_RECOGNIZER_WEIGHT``.
    trust: float | None = None
    #: Which of ``EXTENSIONS`` the recognizer read (None: a read of the photo or the page).
    crop: int | None = None

    @property
    def weight(self) -> float:
        """The read's vote: its score times its trust."""
        if self.trust is not None:
            return self.score * self.trust
        return self.score * (RECOGNIZER_WEIGHT if self.by_recognizer else 1.0)


@dataclass(frozen=True)
class _DisplayReads:
    reads: list[Read]
    #: Reads of the crops that put the region after the display beside it (``DECIMAL_CELLS``).
    cell_reads: list[Read]
    #: The generic readers' reads of seven-segment digits upside down, and of a 3, 4 or 7
    #: the right way up (``_glyph_evidence``).
    turned_reads: int
    upright_reads: int
    #: The seven-segment recognizer's reads of the crops widened (``SECOND_LOOK_WIDENING``).
    second_look: list[Read]

    @property
    def upside_down(self) -> bool:
        """Whether the generic readers read the crops as seven-segment digits upside down:
        more of their reads show it than show a 3, 4 or 7 the right way up."""
        return self.turned_reads > self.upright_reads


def digitish(text: str, min_digits: int = 3) -> bool:
    """A line that may be the display (or, with ``min_digits=1``, a piece of it): mostly
    real digits, not a date/time/fraction. A mark at either end (``0006804:``, a speck
    beside the display) is not one."""
    text = text.strip(" :/")
    if "/" in text or ":" in text:
        return False
    digits = sum(c.isdigit() for c in text)
    alnum = sum(c.isalnum() for c in text)
    return digits >= min_digits and digits >= 0.6 * alnum


def normalise(text: str) -> tuple[str, bool] | None:
    """Digits of a display read, with at most one decimal point.

    Returns (reading, incomplete): ``incomplete`` when the read ends with a decimal
    point whose digit was not read. None when the read is not mostly digits.
    """
    # The unit glued to the digits (5974.3kWh, as a recognizer reads the line) is a label
    # after them, as it is when read apart.
    text = _GLUED_UNIT.sub("", text)
    tokens = text.split()
    while tokens and not any(c.isdigit() for c in tokens[-1]):
        tokens.pop()  # a unit or label after the digits ("03662.0 kWh")
    for k, token in enumerate(tokens[:-1]):
        if re.search(r"[.,]\d", token):
            del tokens[k + 1 :]  # the decimal digit ends a register; the rest is a label
            break
    t = "".join(tokens)
    mapped = t.translate(_CONFUSIONS)
    digits = sum(c.isdigit() for c in mapped)
    if digits < 3 or digits < 0.7 * sum(c.isalnum() for c in t):
        return None
    kept = "".join(c for c in mapped if c.isdigit() or c in ".,").replace(",", ".").lstrip(".")
    trailing = kept.endswith(".")
    kept = kept.rstrip(".")
    if "." in kept:
        head, _, tail = kept.rpartition(".")
        kept = head.replace(".", "") + "." + tail
    n_digits = sum(c.isdigit() for c in kept)
    if n_digits < 3:
        return None
    if n_digits >= 7 and kept[0] != "0" and kept[1:3] == "00":
        # Registers pad with leading zeros: a non-zero digit before the padding is an
        # icon at the edge of the display read as a digit ("8005243.4").
        kept = kept[1:]
    return kept, trailing and "." not in kept


def value_key(reading: str) -> str:
    """The digits of a reading without point and leading zeros: what the reads vote on."""
    return reading.replace(".", "").lstrip("0") or "0"


def _places(reading: str) -> int:
    return len(reading.partition(".")[2])


def vote(reads: Sequence[Read]) -> tuple[str, float] | None:
    """Combine reads of the same display into (reading, confidence).

    Reads vote with their scores for their digits (point and leading zeros aside), the
    recognizer's at ``RECOGNIZER_WEIGHT``; a read that stops where one of the text
    detection's goes on with a tenths digit counts for the longer one (a read ending in a bare
    point, also for one the text recognizer read twice), and so does a read without the
    leading 1 that one of the text detection's has. The point of the winner is
    placed where the recognizer's reads of it put it (they see the point; generic OCR drops
    it), else where the detector's do; a read ending in a bare point places it only where no
    other read does. Confidence: the winner's share of all the weight
    times its mean score.
    """
    normal: list[tuple[str, str, bool, Read]] = []
    for read in reads:
        n = normalise(read.text)
        if n is not None:
            normal.append((value_key(n[0]), n[0], n[1], read))
    if not normal:
        return None
    complete = {key for key, _, incomplete, _ in normal if not incomplete}
    # Reads that a shorter read may count for: the detection's (the seven-segment recognizer
    # invents a tenths digit where the detection's box ended, "0006804" -> "0006804.4").
    detected = [(k, r, inc) for k, r, inc, rd in normal if not rd.by_recognizer]
    complete_detected = {k for k, _, inc in detected if not inc}
    tenths = {k for k, r, inc in detected if not inc and _places(r) == 1}
    # A bare point's digit may also come from the text recognizer's reads of the wider crops
    # (a small tenths digit below the others' baseline: "007666." in the tight crops,
    # "007666.8" in the wide ones), where two of them read it.
    text_tenths = Counter(
        k
        for k, r, inc, rd in normal
        if _reader_of(rd) == "text recognizer" and not inc and _places(r) == 1
    )
    completing = complete_detected | {k for k, n in text_tenths.items() if n >= 2}
    detected_keys = {k for k, _, _ in detected}
    weight: dict[str, float] = {}
    scores: dict[str, list[float]] = {}
    forms: dict[str, dict[tuple[bool, str], float]] = {}
    bare: dict[str, dict[tuple[bool, str], float]] = {}
    for key, reading, incomplete, read in normal:
        target, shown = key, reading
        # A read that stops where another goes on with ".d" saw less of the display (a
        # narrower crop, a detector box that cut the decimal cell off): it counts for the
        # longer read. So does a read ending in a bare point.
        longer = completing if incomplete else tenths if "." not in reading else set()
        completions = [k for k in longer if len(k) == len(key) + 1 and k.startswith(key)]
        if completions:
            target = max(completions, key=lambda k: sum(n[0] == k for n in normal))
            shown = reading + "." + target[-1]
        elif not reading.startswith("0") and "1" + key in detected_keys:
            # A thin leading 1 (two segments) is the digit readers drop at a display's edge;
            # a register padded with zeros has nothing before them. The text detection must
            # have read it: the recognizer reads a display's frame as a 1.
            target, shown = "1" + key, "1" + reading
        w = read.weight
        weight[target] = weight.get(target, 0.0) + w
        scores.setdefault(target, []).append(read.score)
        # A point read after all of a read's digits ("010555.") does not say where the point
        # is among them: it saw a decimal cell it did not read, not a whole number. Such reads
        # place the point only where no other read of the same digits does.
        shapes = (bare if incomplete and not completions else forms).setdefault(target, {})
        shapes[(read.by_recognizer, shown)] = shapes.get((read.by_recognizer, shown), 0.0) + w
    total = sum(weight.values())
    best = max(weight, key=lambda k: (weight[k], len(k)))
    shapes = forms.get(best) or bare[best]
    source = [s for s in shapes if s[0]] or list(shapes)
    by_places: dict[int, float] = {}
    for shape in source:
        by_places[_places(shape[1])] = by_places.get(_places(shape[1]), 0.0) + shapes[shape]
    places = max(by_places, key=lambda p: (by_places[p], p))
    pointed = {p: w for p, w in by_places.items() if p > 0}
    if not places and pointed and sum(pointed.values()) >= POINT_SHARE * sum(by_places.values()):
        places = max(pointed, key=lambda p: (pointed[p], p))
    # Forms of one value differ only in leading zeros: the longest saw the most of the display.
    reading = max(
        (s[1] for s in source if _places(s[1]) == places),
        key=lambda r: (len(r), sum(w for s, w in shapes.items() if s[1] == r)),
    )
    confidence = weight[best] / max(total, 1e-6) * (sum(scores[best]) / len(scores[best]))
    if best not in complete:
        confidence *= 0.75  # a decimal point was seen but its digit never read
    return reading, confidence


def _reader_of(read: Read) -> str:
    """Which of the three readers made the read (see ``Read.trust``)."""
    if not read.by_recognizer:
        return "text detection"
    return "seven-segment recognizer" if read.trust is None else "text recognizer"


def readers_agree(reading: str, reads: Sequence[Read]) -> bool:
    """Whether the seven-segment recognizer (in at least half of its reads) and at least one
    of the two generic readers (the text detection, the text recognizer, in most of theirs)
    read exactly this value, point included; a generic reader may read its digits without
    the point. Of a one-decimal value the recognizer may misread the small tenths digit where
    both generic readers read it.

    The seven-segment recognizer is a model of another kind, trained on displays only: where
    it and a generic reader agree, it takes two different mistakes that come out the same
    for the value to be wrong. The two generic readers agreeing is not enough: glare hiding
    a 9's top bar fools both alike (1804.5 for 1809.5).
    """
    target = reading_number(reading)
    by_reader = _whole_reads_by_reader(reads)
    # The generic readers drop a faint point far more often than they misplace one, so their
    # digits read whole agree with the seven-segment recognizer's value too. Not digits read in
    # groups, and not where a generic reader read one more digit after them: the recognizer
    # misses a subscript tenths and puts its point before the last digit it saw (00293.6 for
    # 002936.2), and a reader that missed the subscript too reads its digits (002936).
    key = value_key(reading)

    def one_more_digit(read: str) -> bool:
        return len(value_key(read)) == len(key) + 1 and value_key(read).startswith(key)

    digits_agree = (
        "." in reading
        and not _grouped_by_generic(reading, reads)
        and not any(
            _most(by_reader, r, one_more_digit) for r in ("text detection", "text recognizer")
        )
    )

    def exact(read: str) -> bool:
        return _is_value(read, target)

    def same_digits(read: str) -> bool:
        pointless = read != "" and "." not in read and digits_agree
        return exact(read) or (pointless and value_key(read) == key)

    if target is None:
        return False
    detection, text_recognizer = (
        _most(by_reader, reader, same_digits) for reader in ("text detection", "text recognizer")
    )
    if _seven_segment_reads_value(reading, reads):
        return detection or text_recognizer
    # The tenths cell is small, and the seven-segment recognizer misreads its digit more
    # often than a whole one (02932.8 beside 02932.6): where it reads the whole kWh and one
    # decimal, both generic readers reading every digit confirm the tenths.
    return (
        _places(reading) == 1
        and _most(by_reader, "seven-segment recognizer", lambda read: _same_whole(read, target))
        and detection
        and text_recognizer
    )


def _same_whole(read: str, target: Decimal) -> bool:
    """Whether a read has one decimal and the same whole number as the target."""
    number = reading_number(read) if read else None
    return number is not None and _places(read) == 1 and int(number) == int(target)


def _seven_segment_reads_value(reading: str, reads: Sequence[Read]) -> bool:
    """Whether at least half of the seven-segment recognizer's reads are this value, point
    included.

    Half, not most: its two looks at the crops (as they are and widened) are judged together,
    and where a narrow font's digits merge in every crop of one look (``200.8`` for 2008.8)
    while the other look reads them all, half of its reads are the value.

    A thin leading 1 lights only its cell's right side, and the crops that start at the text
    detection's box may start after it: there the recognizer reads the rest (``6422.2`` of
    16422.2). Such a read counts for the value where the crop reaches less far left than
    every crop on which the recognizer read the 1.
    """
    target = reading_number(reading)
    mine = [
        (r.crop, _register_read(r)) for r in reads if _reader_of(r) == "seven-segment recognizer"
    ]
    whole = [crop for crop, read in mine if _is_value(read, target)]
    agreeing = len(whole)
    if reading.startswith("1") and whole and all(crop is not None for crop in whole):
        reach = min(EXTENSIONS[crop][0] for crop in whole if crop is not None)
        agreeing += sum(
            crop is not None and EXTENSIONS[crop][0] < reach and _is_value("1" + read, target)
            for crop, read in mine
            if read
        )
    return bool(mine) and agreeing >= len(mine) / 2


def subscript_missed(reading: str, reads: Sequence[Read]) -> bool:
    """Whether a generic reader read this one-decimal value, point included, in most of its
    reads, and the seven-segment recognizer read all its whole digits in most of its reads but
    not its tenths, with its point before the last digit it saw (``00870.1`` for 008701.3).

    That is how the recognizer reads a register that prints its tenths as a small subscript:
    it misses the subscript, and the register's format puts its point before the last digit.
    Its reads still confirm every whole digit that the generic reader read.
    """
    if _places(reading) != 1 or _grouped_by_generic(reading, reads):
        return False
    target = reading_number(reading)
    by_reader = _whole_reads_by_reader(reads)

    def exact(read: str) -> bool:
        return _is_value(read, target)

    def whole_digits(read: str) -> bool:
        return _places(read) == 1 and value_key(read) == value_key(reading)[:-1]

    return _most(by_reader, "seven-segment recognizer", whole_digits) and (
        _most(by_reader, "text detection", exact) or _most(by_reader, "text recognizer", exact)
    )


def _whole_reads_by_reader(reads: Sequence[Read]) -> dict[str, list[str]]:
    """Each reader's reads, normalised; "" for a read that is no register or ends in a bare
    point (its decimal digit went unread)."""
    by_reader: dict[str, list[str]] = {}
    for read in reads:
        by_reader.setdefault(_reader_of(read), []).append(_register_read(read))
    return by_reader


def _register_read(read: Read) -> str:
    """A read normalised, or "" where it is no register or ends in a bare point."""
    n = normalise(read.text)
    return "" if n is None or n[1] else n[0]


def _is_value(read: str, target: Decimal | None) -> bool:
    """Whether a read of ``_whole_reads_by_reader`` is this value, point included."""
    return read != "" and reading_number(read) == target


def _most(by_reader: Mapping[str, list[str]], reader: str, same: Callable[[str], bool]) -> bool:
    """Whether most of this reader's reads are ``same``."""
    got = by_reader.get(reader, [])
    return sum(map(same, got)) > len(got) / 2


def _grouped_by_generic(reading: str, reads: Sequence[Read]) -> bool:
    """Whether a generic reader read the digits in groups, the gap inside the register: a thin
    1, only its cell's right side lit, hides in such a gap (0033 10.0 read 0033 00). A gap
    before a 1 read is that 1's own cell's blank left half (20 158 for 2015.8), and a gap
    after all of the reading's digits is beyond the register (labels: 20088 3200m)."""
    digits = sum(c.isdigit() for c in reading)
    return any(
        sum(c.isdigit() for c in r.text[: gap.start() + 1]) < digits
        for r in reads
        if _reader_of(r) != "seven-segment recognizer"
        for gap in _DIGIT_GAP.finditer(r.text)
    )


def reading_number(reading: str) -> Decimal | None:
    """A reading's value (``002936.2`` -> 2936.2); None if it is no number."""
    try:
        return Decimal(reading)
    except InvalidOperation:
        return None


def _bounds(quad: Quad) -> tuple[float, float, float, float]:
    xs = [x for x, _ in quad]
    ys = [y for _, y in quad]
    return min(xs), min(ys), max(xs), max(ys)


def _area(quad: Quad) -> float:
    x0, y0, x1, y1 = _bounds(quad)
    return (x1 - x0) * (y1 - y0)


def _intersection(a: Quad, b: Quad) -> float:
    """The area the two boxes share (axis-aligned bounds)."""
    ax0, ay0, ax1, ay1 = _bounds(a)
    bx0, by0, bx1, by1 = _bounds(b)
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    return iw * ih


def overlap(a: Quad, b: Quad) -> float:
    """Intersection of the two boxes over the smaller one (axis-aligned bounds)."""
    return _intersection(a, b) / max(min(_area(a), _area(b)), 1e-6)


def _share_inside(quad: Quad, other: Quad) -> float:
    return _intersection(quad, other) / max(_area(quad), 1e-6)


def _angle_between(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def page_direction(lines: Sequence[TextLine]) -> float | None:
    """Reading direction of the page from lines that hold words (labels, brand, kWh).

    Digits alone cannot tell: seven-segment 0, 1, 2, 5, 8 read the same upside down.
    None where no line is a word without digits.
    """
    worded = [ln for ln in lines if ln.letters >= 2 and ln.digits == 0]
    if not worded:
        return None
    # Each word votes for its quarter turn, weighted by its letters and confidence.
    votes: dict[int, float] = {}
    for ln in worded:
        bucket = round(ln.direction / 90.0) % 4
        votes[bucket] = votes.get(bucket, 0.0) + ln.letters * ln.confidence
    return max(votes, key=lambda b: votes[b]) * 90.0


def joined_pieces(line: TextLine, lines: Sequence[TextLine]) -> TextLine:
    """The display's line grown over pieces of the same register found as separate lines.

    A text detection splits a register where its digits leave a gap (``498 1.3``: a thin 1
    far from the 8). A piece is a line of digits as tall as the display's (within
    ``PIECE_HEIGHT``), on the same band, reaching past one end of it and starting within
    ``PIECE_GAP`` of its heights from it (boxes of pieces may overlap). Crops of the
    joined line hold the whole register.
    """
    height = line.height
    width = quad_width(line.quad) / max(height, 1e-6)
    left, right, texts = 0.0, width, [(0.0, line.text)]
    for other in lines:
        if other is line or not digitish(other.text, min_digits=1):
            continue
        if not PIECE_HEIGHT <= quad_height(other.quad) / max(height, 1e-6) <= 1 / PIECE_HEIGHT:
            continue
        start, end, top, bottom = line_coordinates(line.quad, other.quad)
        shared = min(bottom, 1.0) - max(top, 0.0)
        if shared < PIECE_HEIGHT * (bottom - top):
            continue  # another band: a serial number, a label under the display
        after = end > width + 0.2 and start <= width + PIECE_GAP
        before = start < -0.2 and end >= -PIECE_GAP
        if after != before:  # (both: a longer line across the display, not a piece of it)
            left, right = min(left, start), max(right, end)
            texts.append((start, other.text))
    if len(texts) == 1:
        return line
    text = " ".join(t for _, t in sorted(texts))
    quad = extend(line.quad, -left, right - width, 0.0)
    return TextLine(text, line.confidence, quad)


#: Seven-segment glyphs turned by 180 degrees: a 3 upside down is an E, a 4 an h, a 7 an L.
#: A 9 without its bottom bar turned reads as a b, and a 1 as an I either way up: these two
#: are only read along with the others (an upright 6 without its top bar is a b too).
#: Letters a reader takes for digits that read the same turned (O and D for 0, B, S, Z), and a
#: G for a 6, which is a 9 turned, are read along with those too.
_TURNED_GLYPHS = str.maketrans("0123456789EhLbIODBSZG", "0125h59L8634791008529")
_ONLY_TURNED = frozenset("EhL")
#: The digits that read as those letters turned: a read showing them was read upright.
UPRIGHT_ONLY = re.compile(r"[347]")


def read_upside_down(text: str) -> bool:
    """A read of seven-segment digits whose letters are all digits seen upside down, at
    least one of them an E, an h or an L.

    ``E69E1`` (or ``Eb9EI``) turned is ``1369.3``'s digits. Registers print no E, h or L
    among their digits; a label before them (``En 011903``) has other letters too.
    """
    compact = "".join(c for c in text if c.isalnum())  # without blanks, points, specks
    # Turned back, the display's unit follows its digits (the h of kWh read as a 4): a label.
    upright = re.sub(r"\D+$", "", compact[::-1].translate(_TURNED_GLYPHS))
    digits = compact[len(compact) - len(upright) :]
    return (
        any(c in _ONLY_TURNED for c in digits)
        and any(c.isdigit() for c in digits)
        and len(upright) >= 3
        and upright.isdigit()
    )


def _without_unit(text: str) -> str:
    """A read without the letters after its last digit: the ``h`` of a ``kW h`` label
    there would read as an upside-down 4."""
    return re.sub(r"[^\d]+$", "", text)


def _glyph_evidence(reads: Sequence[Read]) -> tuple[int, int]:
    """How many of the generic readers' reads of the display (the text detection's, the text
    recognizer's) are seven-segment digits seen upside down, and how many show a 3, 4 or 7
    the right way up. Reads of 0, 1, 2, 5, 6, 8 and 9 alone are digits either way up and
    tell nothing; nor do the seven-segment recognizer's, which knows no letters."""
    generic = [_without_unit(r.text) for r in reads if _reader_of(r) != "seven-segment recognizer"]
    turned = [read_upside_down(text) for text in generic]
    upright_reads = sum(
        not up and digitish(text) and bool(UPRIGHT_ONLY.search(text))
        for text, up in zip(generic, turned, strict=True)
    )
    return sum(turned), upright_reads


def _decimal_at_end(read: tuple[str, float]) -> float:
    """The read's score if it ends with a decimal digit after a point, as a register does."""
    text, score = read
    return score if _DECIMAL_END.search(text) else 0.0


def with_tenths(reading: str, confidence: float) -> tuple[str, float]:
    """The register's format where no reader saw the point: the last digit is the tenths.

    Electricity LCD registers print the tenths of a kWh in their last (smaller or boxed)
    cell; its point is often too faint to read. A decimal digit must never be billed as
    a whole kWh (ten times the consumption), so without a seen point the last of five or
    more digits is taken as the tenths, at a lower confidence: the household is asked.
    """
    if "." in reading or sum(c.isdigit() for c in reading) < TENTHS_FROM_DIGITS:
        return reading, confidence
    return reading[:-1] + "." + reading[-1], confidence * FORMAT_ONLY


def point_after_digits(reading: str, line_text: str, reads: Sequence[Read]) -> bool:
    """Whether the text detection's read of the display in the photo itself ends with a
    point after all of the reading's digits (``007666.``), and no read puts it among them.

    That is a register whose small tenths digit the detection saw the point of but did
    not read: the tenths come after these digits, not in the last of them. The read of
    the photo must show it: on the small page of crops, a point between the last two
    digits is read after them (``20088.`` for 2008.8); and no read of the same digits may
    place it before the last (``23833.`` beside ``2383.3.``: the point read twice).
    """
    key = value_key(reading)
    n = normalise(line_text)
    if n is None or not n[1] or value_key(n[0]) != key:
        return False
    placed = (normalise(read.text) for read in reads)
    return not any(m is not None and "." in m[0] and value_key(m[0]) == key for m in placed)


def decimal_cell_digit(
    reading: str, cell_reads: Sequence[Read], point_seen: bool = False
) -> str | None:
    """The digit of a small decimal cell after the display's box, if the reads see one.

    ``cell_reads`` read the display with the region after its box scaled up to the
    digits' height: where they read the same digits plus one more, that one is the
    register's tenths, which the box left out. The recognizer invents digits at a crop's
    edge, so the text detection must confirm the cell: by reading the digit too, or by
    having seen a point after the digits (``point_seen``).
    """
    base = value_key(reading)
    extra: dict[str, float] = {}
    seen_by_detection: set[str] = set()
    same = 0.0
    for read in cell_reads:
        n = normalise(read.text)
        if n is None:
            continue
        key = value_key(n[0])
        w = read.weight
        if key == base:
            same += w
        elif len(key) == len(base) + 1 and key.startswith(base):
            extra[key[-1]] = extra.get(key[-1], 0.0) + w
            if not read.by_recognizer:
                seen_by_detection.add(key[-1])
    if not extra:
        return None
    digit = max(extra, key=lambda d: extra[d])
    confirmed = point_seen or digit in seen_by_detection
    return digit if extra[digit] > same and confirmed else None


def point_read_by_generic(reading: str, reads: Sequence[Read]) -> bool:
    """Whether the generic readers (the text detection, the text recognizer) read this
    value with its point, in two reads or more.

    They drop a faint point far more often than they invent one, so a point they read is
    there, and the digits after it are the register's decimals: no digit of the decimal
    cell's crops goes after them (03556.7 stays, not 035567.4). A point only the
    seven-segment recognizer placed may be a guess at a crop's edge (00293.6 of 002936.2).
    """
    if "." not in reading:
        return False
    target = reading_number(reading)
    seen = 0
    for read in reads:
        if _reader_of(read) == "seven-segment recognizer":
            continue
        n = normalise(read.text)
        seen += n is not None and not n[1] and reading_number(n[0]) == target
    return seen >= 2


def leading_one(reading: str, far_read: str) -> bool:
    """Whether a read of the display widened to the left shows a 1 before ``reading``.

    Registers padded with zeros have nothing before them; otherwise a thin leading 1 (two
    segments at its cell's right side) is the digit a detector's box leaves out
    (``1192.7`` read ``192.7``).
    """
    if reading.startswith("0"):
        return False
    # Without the kWh mark glued on; a blank after the thin 1 stays (normalise joins it).
    digits = re.sub(r"[^\d.,\s].*$", "", far_read.strip())
    n = normalise(digits)
    return n is not None and not n[1] and n[0] == "1" + reading


def read_on_widest_crops(reading: str, reads: Sequence[Read]) -> str | None:
    """The longer register that both recognizers read on each of the widest crops, where
    ``reading`` is its start.

    The text detection's box may stop inside the display (``498`` of 4981.3, on a small or
    compressed photo): the narrower crops and the photo's own read then agree on the part,
    and only the crops reaching furthest past the box show the rest. Two models of
    different kinds reading the same longer value on each of them, point included, is
    what the voted part cannot explain.
    """
    if "." in reading:
        return None  # the register's tenths were read: its end was inside the box
    found: set[Decimal | None] = set()
    longer = ""
    for reader in ("seven-segment recognizer", "text recognizer"):
        for n in _widest_crops_reads(reads, reader):
            if n is None or n[1]:
                return None
            found.add(reading_number(n[0]))
            longer = n[0]
    if len(found) != 1 or not _goes_on(reading, longer):
        return None
    return longer


def _widest_crops_reads(reads: Sequence[Read], reader: str) -> list[tuple[str, bool] | None]:
    """The reader's reads of the ``WIDEST_CROPS`` crops reaching furthest past the box,
    normalised (None where it read none of them, or no register)."""
    widest = sorted(range(len(EXTENSIONS)), key=lambda k: EXTENSIONS[k][1])[-WIDEST_CROPS:]
    out: list[tuple[str, bool] | None] = []
    for k in widest:
        read = next((r for r in reads if r.crop == k and _reader_of(r) == reader), None)
        out.append(normalise(read.text) if read is not None else None)
    return out


def continues_past_box(reading: str, reads: Sequence[Read]) -> bool:
    """Whether the text recognizer read more of the register on each of the widest crops
    than ``reading``, its start, without a point: the text detection's box stopped inside
    the display (``699`` of 6997.8, turned a little), and even the widest crops may stop
    before its end (the seven-segment recognizer read ``699.8`` there).
    """
    if "." in reading:
        return False
    return all(
        n is not None and _goes_on(reading, n[0])
        for n in _widest_crops_reads(reads, "text recognizer")
    )


def _goes_on(reading: str, further: str) -> bool:
    """Whether ``further`` is ``reading`` with more digits after it."""
    key, longer = value_key(reading), value_key(further)
    return len(longer) > len(key) and longer.startswith(key)


def unconfirmed_hundredths(reading: str, reads: Sequence[Read]) -> bool:
    """Whether a second decimal digit came from the recognizers alone, where the text
    detection read the same reading with one decimal and never with two.

    A kWh register prints tenths, a few hundredths (``018025.83``: the detection reads both).
    A kWh mark or an arrow right after the tenths digit is what the recognizers read as a
    second one (``16422.27`` for 16422.2).
    """
    if _places(reading) != 2:
        return False
    detected = [n[0] for read in reads if not read.by_recognizer and (n := normalise(read.text))]
    shorter = reading_number(reading[:-1])
    return any(_places(d) == 1 and reading_number(d) == shorter for d in detected) and not any(
        _places(d) == 2 for d in detected
    )


def _text_recognizer_reads(reads: Sequence[Read]) -> list[Read]:
    return [read for read in reads if _reader_of(read) == "text recognizer"]


def cubic_metres_mark(reads: Sequence[Read]) -> bool:
    """Whether most of the text recognizer's reads end with an ``m`` (m³) after the digits:
    a water or gas meter's drums, where the page's own lines lost the unit (``0.532m``)."""
    theirs = _text_recognizer_reads(reads)
    marked = sum(bool(_CUBIC_METRES.search(read.text.strip())) for read in theirs)
    return marked > len(theirs) / 2


def tenths_read_as_digit(reading: str, reads: Sequence[Read]) -> str | None:
    """The tenths digit that the generic text recognizer read as one more plain digit.

    Where no reader placed a point, the text recognizer may still have read the register's
    small tenths cell: as a last digit after the others, without a point (``0029362`` for
    002936.2). Most of its reads must show the same digit, so that one read of a kWh mark
    or a frame edge is not taken for it.
    """
    base = value_key(reading)
    theirs = _text_recognizer_reads(reads)
    extra: dict[str, int] = {}
    for read in theirs:
        n = normalise(read.text)
        key = value_key(n[0]) if n is not None else ""
        if len(key) == len(base) + 1 and key.startswith(base):
            extra[key[-1]] = extra.get(key[-1], 0) + 1
    if not extra:
        return None
    digit = max(extra, key=lambda d: extra[d])
    return digit if extra[digit] > len(theirs) / 2 else None


class DisplayReader:
    """Reads the display of a meter photo: the seven-segment recognizer, the text detection
    (of a page of crops), and the generic text recognizer where it is given."""

    def __init__(
        self,
        recognizer: Recognizer,
        text_detector: TextDetector | None = None,
        text_recognizer: Recognizer | None = None,
    ) -> None:
        self._recognizer = recognizer
        self._text_detector = text_detector
        self._text_recognizer = text_recognizer

    def _detection_reads(self, crops: list[RGBArray]) -> list[list[Read]]:
        """The text detection's reads of each crop, all crops sent as one page.

        The text detection is strong on digits, the seven-segment recognizer on the point;
        all readers reading the same widened crops settle cut-off digits by vote.
        """
        reads: list[list[Read]] = [[] for _ in crops]
        if self._text_detector is None:
            return reads
        page, bands = stack(crops)
        pieces: list[list[TextLine]] = [[] for _ in crops]
        # Positions as ratios of the page, as the bands are.
        for line in lines_from_textract(self._text_detector(page), 1, 1):
            centre = sum(y for _, y in line.quad) / 4
            for k, (top, bottom) in enumerate(bands):
                if top <= centre <= bottom:
                    if digitish(line.text, min_digits=1):
                        pieces[k].append(line)
                    else:
                        reads[k].append(Read(line.text, line.confidence, False))
        # A crop holds one register: digits found apart in it ("0033" "100" for 0033 10.0,
        # split at the gap between its cells) are one read, left to right.
        for k, found in enumerate(pieces):
            if found:
                found.sort(key=lambda ln: min(x for x, _ in ln.quad))
                text = " ".join(ln.text for ln in found)
                reads[k].append(Read(text, min(ln.confidence for ln in found), False))
        return reads

    def _read_display(
        self, image: Image.Image, line: TextLine, members: Sequence[TextLine]
    ) -> _DisplayReads:
        """All readers' reads of the display's crops (``members``: the photo's detection's
        reads of it), and the seven-segment recognizer's and the detection's reads of the
        decimal-cell crops."""
        crops = [crop(image, extend(line.quad, a, c, 0.1)) for a, c in EXTENSIONS]
        body = crop(image, extend(line.quad, 0.2, 0.0, 0.1))
        # The display with its decimal cell scaled up to the other digits' size.
        celled = [beside(body, crop(image, beyond_end(line.quad, *c))) for c in DECIMAL_CELLS]
        wide = [widened(c, SECOND_LOOK_WIDENING) for c in crops]
        recognised = self._recognizer.read(crops + celled + wide)
        generic = self._detection_reads(crops + celled)
        reads = [Read(t, s, True, crop=k) for k, (t, s) in enumerate(recognised[: len(crops)]) if t]
        reads += [r for band in generic[: len(crops)] for r in band]
        if self._text_recognizer is not None:
            # Not on the celled crops: there it read tenths digits into displays that
            # have none (on the development photos).
            reads += [
                Read(t, s, True, TEXT_RECOGNIZER_WEIGHT, crop=k)
                for k, (t, s) in enumerate(self._text_recognizer.read(crops))
                if t
            ]
        cells = recognised[len(crops) : len(crops) + len(celled)]
        cell_reads = [Read(t, s, True) for t, s in cells if t]
        second_look = [
            Read(t, s, True, crop=k)
            for k, (t, s) in enumerate(recognised[len(crops) + len(celled) :])
            if t
        ]
        cell_reads += [r for band in generic[len(crops) :] for r in band]
        # The photo's reads of the line count in the vote, but not as to which way up the
        # crops are: the detector read them its own way.
        photo_reads = [Read(m.text, m.confidence, False) for m in members]
        return _DisplayReads(
            photo_reads + reads, cell_reads, *_glyph_evidence(reads), second_look=second_look
        )

    def refine(self, image: Image.Image, lines: list[TextLine]) -> tuple[list[TextLine], float]:
        """The lines with the display's line replaced by the voted read of the display,
        and the page's reading direction in degrees (0, 90, 180 or 270).

        Digit lines are oriented like the words on the page (the detector only guesses
        for digits); without words, by where the small decimal digit sits.
        """
        direction = page_direction(lines)
        if direction is not None:
            lines = [self._oriented_like(ln, direction) for ln in lines]
        # A display the detection read upside down (hEh2500 for 005243.4) is a candidate too:
        # its crops are read the other way up below.
        cands = sorted(
            (ln for ln in lines if digitish(ln.text) or read_upside_down(ln.text)),
            key=lambda ln: -ln.height,
        )
        if not cands or any(
            _CUBIC_METRES.search(ln.text) or DIAL_FACTOR.match(ln.text.strip()) for ln in lines
        ):
            # Drums are read well by the text detection; the seven-segment model is no help.
            return lines, direction or 0.0
        if direction is None:
            oriented = self._orient_without_words(image, cands[0])
            lines = [oriented if ln is cands[0] else ln for ln in lines]
            cands[0] = oriented
            direction = _quarter_turn(oriented)
        joined = joined_pieces(cands[0], [ln for ln in lines if ln is not cands[0]])
        lines = [joined if ln is cands[0] else ln for ln in lines]
        cands[0] = joined
        tallest = cands[0].height
        for line in [c for c in cands[:2] if c.height >= 0.6 * tallest]:
            if not any(line is o for o in lines):
                continue  # merged into the display read already
            members = [line] + [
                o
                for o in lines
                if o is not line and digitish(o.text) and overlap(o.quad, line.quad) > 0.5
            ]
            seen = self._read_display(image, line, members)
            if seen.upside_down:
                # The readers read the crops as seven-segment digits upside down (9E6200 for
                # 002936.2): the page's few words were wrong. Read it the other way, without
                # the photo's reads of it (they read it upside down too).
                other = turned_line(line)
                seen_turned = self._read_display(image, other, [])
                # One such read alone may be a stray letter beside digits that read alike
                # either way up (0, 1, 2, 5, 8): then the turned crops must show a 3, 4 or 7.
                confirmed = seen.turned_reads >= 2 or seen_turned.upright_reads > 0
                if not seen_turned.upside_down and confirmed:
                    lines = [other if ln is line else ln for ln in lines]
                    line, seen = other, seen_turned
                    direction = _quarter_turn(line)
            voted = vote(seen.reads)
            if voted is None:
                continue
            text, confidence = self._register_text(image, line, seen, voted)
            if (
                "." not in text
                and not cubic_metres_mark(seen.reads)
                and continues_past_box(voted[0], seen.reads)
            ):
                # The register goes on past the widest crops (and its tenths were not
                # read): read it again on a box that reaches its end.
                further = TextLine(
                    line.text, line.confidence, extend(line.quad, 0.0, PAST_BOX, 0.0)
                )
                seen_further = self._read_display(image, further, [])
                voted_further = vote(seen_further.reads)
                if voted_further is not None and _goes_on(voted[0], voted_further[0]):
                    lines = [further if ln is line else ln for ln in lines]
                    line, seen = further, seen_further
                    text, confidence = self._register_text(image, line, seen, voted_further)
            line.text, line.confidence = text, confidence
            reads = seen.reads
            # The recognizer's second look joins its reads where agreement is judged.
            confirming = reads + seen.second_look
            if readers_agree(line.text, confirming) or subscript_missed(line.text, confirming):
                line.confidence = max(line.confidence, AGREED)
            line.read_as_display = True
            # The unit printed beside the digits, read with them (1368.3kWh), even where the
            # page's own reads of it were turned the wrong way or cut short.
            line.unit_in_crops = shows_electricity_meter(r.text for r in reads)
            widest = extend(line.quad, 0.5, 1.5, 0.1)
            # Pieces of the same display found separately (a cut-off "13", the small
            # decimal digit) are part of the voted read now: drop them.
            lines = [
                o
                for o in lines
                if o is line
                or not any(c.isdigit() for c in o.text)
                or _share_inside(o.quad, widest) < 0.5
            ]
        return lines, direction

    def _register_text(
        self, image: Image.Image, line: TextLine, seen: _DisplayReads, voted: tuple[str, float]
    ) -> tuple[str, float]:
        """The register's reading and confidence from the vote of the display's reads: its
        tenths placed by the register's format, the cells' reads and the readers' points."""
        reads, cell_reads = seen.reads, seen.cell_reads
        if unconfirmed_hundredths(voted[0], reads):
            voted = voted[0][:-1], voted[1] * FORMAT_ONLY
        if (longer := read_on_widest_crops(voted[0], reads)) is not None:
            # The rest of the display beyond the detector's box: read, but by fewer
            # crops than the part was, so at a lower confidence.
            voted = longer, voted[1] * FORMAT_ONLY
        drums = cubic_metres_mark(reads)
        if not drums and self._text_recognizer is not None and not voted[0].startswith("0"):
            wider = crop(image, extend(line.quad, *LEADING_ONE_CROP, 0.1))
            far = self._text_recognizer.read([wider])
            if far and leading_one(voted[0], far[0][0]):
                voted = "1" + voted[0], voted[1]
        point_seen = point_after_digits(voted[0], line.text, reads + cell_reads)
        tenth = (
            None
            if point_read_by_generic(voted[0], reads)
            else decimal_cell_digit(voted[0], cell_reads, point_seen)
        )
        if drums:
            # The unit the page's lines lost; the extraction keeps whole m³ only.
            return voted[0] + " m³", voted[1]
        if tenth is not None:
            return voted[0].replace(".", "") + "." + tenth, voted[1]
        if point_seen:
            # The tenths digit is there, unread: the register's format would bill the
            # last whole kWh digit as tenths. The whole kWh, at a confidence that asks.
            return voted[0], voted[1] * FORMAT_ONLY
        if (
            "." not in voted[0]
            and sum(c.isdigit() for c in voted[0]) >= TENTHS_FROM_DIGITS
            and (digit := tenths_read_as_digit(voted[0], reads)) is not None
        ):
            # Where the register's format would take the last digit read for the
            # tenths, the tenths cell itself was read: that digit is a whole kWh.
            return voted[0] + "." + digit, voted[1] * FORMAT_ONLY
        return with_tenths(*voted)

    @staticmethod
    def _oriented_like(line: TextLine, direction: float) -> TextLine:
        if digitish(line.text) and _angle_between(line.direction, direction) > 90.0:
            return turned_line(line)
        return line

    def _orient_without_words(self, image: Image.Image, line: TextLine) -> TextLine:
        """Without words on the page: which way up the digits read.

        First the glyphs: seven-segment 3, 4 and 7 upside down are an ``E``, an ``h`` and an
        ``L``, so a read made of digits and those letters is a display seen the wrong way
        (the detection's ``E69E1`` is 1369.3 turned). The text recognizer reads the display
        both ways; where only one way reads such glyphs, the other is upright. Where the
        glyphs do not tell (0, 1, 2, 5 and 8 read the same turned), the small decimal digit:
        it ends a register, never starts it.
        """
        quad = extend(line.quad, 0.2, 0.6, 0.1)
        both = [crop(image, quad), crop(image, turned(quad))]
        turned_glyphs = read_upside_down(line.text)
        upright_glyphs = False
        if self._text_recognizer is not None:
            as_given, other_way = (t for t, _ in self._text_recognizer.read(both))
            turned_glyphs = turned_glyphs or read_upside_down(_without_unit(as_given))
            upright_glyphs = read_upside_down(_without_unit(other_way))
        if turned_glyphs != upright_glyphs:
            return turned_line(line) if turned_glyphs else line
        if self._text_recognizer is not None:
            # A unit read after the digits one way only (``5974.3kWh``) is a word read upright.
            unit_as_given = bool(_UNIT_AFTER.search(as_given))
            if unit_as_given != bool(_UNIT_AFTER.search(other_way)):
                return line if unit_as_given else turned_line(line)
        upright, other = self._recognizer.read(both)
        at_end, turned_at_end = _decimal_at_end(upright), _decimal_at_end(other)
        if turned_at_end > at_end or (turned_at_end == at_end and turned_glyphs):
            return turned_line(line)
        return line


def _quarter_turn(line: TextLine) -> float:
    """The line's reading direction to the nearest quarter turn: 0, 90, 180 or 270."""
    return (round(line.direction / 90.0) % 4) * 90.0


def turned_line(line: TextLine) -> TextLine:
    """The same line read the other way up."""
    return TextLine(line.text, line.confidence, turned(line.quad))


def upright(
    point: tuple[float, float], direction: float, width: int, height: int
) -> tuple[float, float]:
    """A photo's point on the page turned so that text reads left to right."""
    x, y = point
    quarter = round(direction / 90.0) % 4
    if quarter == 1:  # text runs downwards
        return y, width - x
    if quarter == 2:
        return width - x, height - y
    if quarter == 3:  # text runs upwards
        return height - y, x
    return x, y
