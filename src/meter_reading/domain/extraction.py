"""Pick the meter register out of OCR text blocks.

Pure Python on purpose: this runs in the OCR Lambda next to Textract, and locally
behind the offline engine. It only sees :class:`TextBlock` values (LINE/WORD with
boxes as ratios of the page), never pixels.

How a reading is chosen:

1. Words are taken from the WORD blocks (or, when there are none, from the LINE
   blocks split on whitespace with proportional boxes).
2. Every word is cut into pieces: digit groups (allowing seven-segment letter
   confusions inside a group that is mostly digits), letter groups and separators.
   Dates, ranges, times and numbers glued to other letters are not registers.
3. Digit groups of the same height that sit side by side are merged (a leading
   "00" detected on its own, a display split in two boxes); a small single digit
   just right of a group is its decimal.
4. Each group of 4-8 digits is scored: its height relative to the largest digit
   group on the face dominates, then OCR confidence, the number of digits and a
   "kWh"/"m3" label next to it. Serial numbers ("No. 1234..."), meter constants
   ("1600 imp/kWh"), voltages and currents ("230V", "10-60A") and years are
   rejected or penalised.
5. The best group wins; competing groups of similar score make it "uncertain",
   and so does a low confidence: the OCR confidence, scaled down when the digits
   are small in the photo (under a fifth of its height).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import Literal

from meter_reading.domain.blocks import BoundingBox, TextBlock
from meter_reading.domain.plausibility import unit_for

ReadingStatus = Literal["ok", "uncertain", "unreadable"]
MeterType = Literal["electricity", "water", "gas", "unknown"]

#: Minimum confidence (0..1) for a reading to be returned as "ok". Chosen on the
#: benchmark photos (electricity LCDs): "ok" readings were wrong on 1% of them, and
#: the next wrong one sat just below (0.89), so there is some margin for unseen photos.
OK_CONFIDENCE = 0.90
#: A second candidate scoring at least this share of the best one competes with it.
COMPETING_RATIO = 0.70

#: Digit height (share of the photo height, the page straightened) from which a register
#: counts as photographed close up; smaller registers get a proportionally lower confidence.
#: On the development photos the registers read measured 0.23-0.65 (LCDs) and 0.13-0.16
#: (water drums); a serial number's digits are far smaller.
CLOSE_UP_HEIGHT = 0.12

MIN_DIGITS = 4
MAX_DIGITS = 8


@dataclass(frozen=True)
class ReadingResult:
    status: ReadingStatus
    reading: str | None
    unit: str
    confidence: float
    reason: str | None
    meter_type: MeterType = "electricity"

    @property
    def value(self) -> Decimal | None:
        if self.reading is None:
            return None
        try:
            return Decimal(self.reading)
        except InvalidOperation:
            return None


# --------------------------------------------------------------------------- words

# Seven-segment look-alikes, only applied inside groups that are mostly digits.
SEVEN_SEGMENT_CONFUSIONS: dict[str, str] = {
    "O": "0",
    "o": "0",
    "D": "0",
    "Q": "0",
    "U": "0",
    "B": "8",
    "S": "5",
    "s": "5",
    "Z": "2",
    "z": "2",
    "l": "1",
    "I": "1",
    "i": "1",
    "|": "1",
    "!": "1",
    "G": "6",
    "b": "6",
    "g": "9",
    "q": "9",
    "A": "4",
    "T": "7",
}
_CONFUSIONS = SEVEN_SEGMENT_CONFUSIONS

_DATE_RE = re.compile(r"\d{1,4}\s*[./-]\s*\d{1,2}\s*[./-]\s*\d{1,4}")
_RANGE_RE = re.compile(r"\d+\s*[-~]\s*\d+\s*[A-Za-z]")
_TIME_RE = re.compile(r"\d{1,2}:\d{2}")
_SERIAL_WORDS = re.compile(
    r"^(s\.?\s*no|sl\.?\s*no|sr\.?\s*no|no|nr|serial|sn|s/n|id|model|type|mfg|mfd|"
    r"yr|year|mm/yy|meter\s*no|m\.?\s*no|ref|lot|batch|code|tel|ph|phone)[.:#]*$",
    re.IGNORECASE,
)
_NOT_REGISTER_SUFFIX = re.compile(
    r"^(v|vac|a|amp|amps|ma|hz|imp|imp/kwh|imp/kvarh|rev|rev/kwh|%|yr|mm|cm|kg|"
    r"pulse|pulses|°c|min|sec|hrs)$",
    re.IGNORECASE,
)
_UNIT_SUFFIX = re.compile(r"^(k?w\s*h?|h|kvah|m3|m)$", re.IGNORECASE)
# Words of displays that are not utility meters (fuel pumps, shop scales, taxi meters).
_NOT_A_METER = re.compile(r"\b(litres?|liters?|ltrs?|gallons?|price|amount|sale)\b", re.IGNORECASE)
_GAS = re.compile(r"\bgas\b", re.IGNORECASE)
# What shows an electricity meter: its unit (kWh, kW h, a glued 5974.3kWh) or its
# constant (imp/kWh).
_ELECTRICITY_MARK = re.compile(
    r"k\s*w\s*h|k\s*w(?![a-z])|kvar?h|(?<![a-z])w\s*\.?\s*h\b", re.IGNORECASE
)
_UNIT_M3 = re.compile(r"^(m3|m³|m\^3)$", re.IGNORECASE)
# A water meter's sub-dial factors (x0.1 .. x0.0001 m³ a turn, after an x or the multiplication
# sign, u00d7); no electricity meter prints them.
DIAL_FACTOR = re.compile(r"^([x\u00d7]\s*0[.,]0{0,3}1|0[.,]0{1,3}1)$", re.IGNORECASE)


@dataclass
class _Word:
    text: str
    conf: float  # 0..1
    box: BoundingBox


@dataclass
class _Group:
    """A digit group: ``digits`` plus the index of the decimal point (or None)."""

    digits: str
    decimal_at: int | None
    conf: float
    box: BoundingBox
    word_index: int
    prefix: str = ""  # letters glued before the digits in the same word
    suffix: str = ""  # letters glued after the digits in the same word
    flags: set[str] = field(default_factory=set)

    @property
    def reading(self) -> str:
        if self.decimal_at is None or self.decimal_at >= len(self.digits):
            return self.digits
        return self.digits[: self.decimal_at] + "." + self.digits[self.decimal_at :]

    @property
    def char_width(self) -> float:
        return self.box.width / max(1, len(self.digits) + (self.decimal_at is not None) * 0.3)


def _words_from_blocks(blocks: Sequence[TextBlock]) -> list[_Word]:
    words = [b for b in blocks if b.block_type == "WORD" and b.text.strip()]
    if words:
        return [_Word(w.text.strip(), w.confidence / 100.0, w.box) for w in words]
    out: list[_Word] = []
    for line in blocks:
        if line.block_type != "LINE" or not line.text.strip():
            continue
        text = line.text
        n = max(1, len(text))
        for m in re.finditer(r"\S+", text):
            left = line.box.left + line.box.width * m.start() / n
            width = line.box.width * (m.end() - m.start()) / n
            out.append(
                _Word(
                    m.group(),
                    line.confidence / 100.0,
                    BoundingBox(left, line.box.top, width, line.box.height),
                )
            )
    return out


def _sub_box(box: BoundingBox, start: int, end: int, n: int) -> BoundingBox:
    n = max(1, n)
    return BoundingBox(
        box.left + box.width * start / n, box.top, box.width * (end - start) / n, box.height
    )


_PIECE_RE = re.compile(r"[0-9]+|[A-Za-z|!]+|[.,]|[^0-9A-Za-z|!.,\s]+")


def _groups_in_word(word: _Word, index: int) -> list[_Group]:
    """Digit groups of one word, with confusable letters folded in where plausible."""
    text = word.text
    pieces = [(m.start(), m.end(), m.group()) for m in _PIECE_RE.finditer(text)]
    groups: list[_Group] = []
    i = 0
    while i < len(pieces):
        start, _, piece = pieces[i]
        is_digit = piece.isdigit()
        is_conf = piece.isalpha() or piece in ("|", "!")
        is_conf = is_conf and all(c in _CONFUSIONS for c in piece) and len(piece) <= 2
        if not (is_digit or is_conf):
            i += 1
            continue
        # Extend a run of digits / confusable letters / one decimal separator.
        j = i
        raw = ""
        n_digits = 0
        n_letters = 0
        decimal_at: int | None = None
        end = start
        while j < len(pieces):
            _, e, p = pieces[j]
            if p.isdigit():
                raw += p
                n_digits += len(p)
            elif (p.isalpha() or p in ("|", "!")) and all(c in _CONFUSIONS for c in p):
                if len(p) > 2:
                    break
                raw += "".join(_CONFUSIONS[c] for c in p)
                n_letters += len(p)
            elif p in (".", ",") and decimal_at is None and raw and j + 1 < len(pieces):
                nxt = pieces[j + 1][2]
                if not (nxt.isdigit() or all(c in _CONFUSIONS for c in nxt)):
                    break
                decimal_at = len(raw)
            else:
                break
            end = e
            j += 1
        if n_digits < 2 or n_digits < n_letters or n_letters > 3:
            # Not mostly digits: leave letters as letters, keep pure digit runs only.
            if is_digit:
                groups.append(
                    _Group(
                        piece,
                        None,
                        word.conf,
                        _sub_box(word.box, start, pieces[i][1], len(text)),
                        index,
                    )
                )
            i += 1
            continue
        # Letters folded at the edges of a run must touch digits, not other letters.
        before = text[:start]
        after = text[end:]
        prefix_m = re.search(r"[A-Za-z][A-Za-z.:#/]*$", before)
        suffix_m = re.match(r"[A-Za-z/]+", after)
        groups.append(
            _Group(
                raw,
                decimal_at,
                word.conf * (1.0 - 0.08 * n_letters),
                _sub_box(word.box, start, end, len(text)),
                index,
                prefix=prefix_m.group() if prefix_m else "",
                suffix=suffix_m.group() if suffix_m else "",
            )
        )
        if n_letters:
            groups[-1].flags.add("confusion")
        i = j
    return groups


# ----------------------------------------------------------------------- geometry


def _same_row(a: BoundingBox, b: BoundingBox) -> bool:
    return a.top <= b.center_y <= a.bottom or b.top <= a.center_y <= b.bottom


def _neighbours(words: list[_Word], box: BoundingBox, own: int, side: str) -> list[int]:
    """Indexes of words on the same row to the given side, nearest first."""
    found: list[tuple[float, int]] = []
    for k, w in enumerate(words):
        if k == own or not _same_row(box, w.box):
            continue
        if side == "right" and w.box.center_x > box.right - 0.1 * box.width:
            found.append((w.box.left - box.right, k))
        elif side == "left" and w.box.center_x < box.left + 0.1 * box.width:
            found.append((box.left - w.box.right, k))
    return [k for _, k in sorted(found)]


def _union(a: BoundingBox, b: BoundingBox) -> BoundingBox:
    left = min(a.left, b.left)
    top = min(a.top, b.top)
    return BoundingBox(left, top, max(a.right, b.right) - left, max(a.bottom, b.bottom) - top)


def _pure_digits(text: str) -> str | None:
    """The digits of a short word that is only digits (confusions allowed)."""
    t = text.strip()
    if not t or len(t) > 8:
        return None
    if all(c.isdigit() or c in _CONFUSIONS for c in t) and sum(c.isdigit() for c in t) * 2 >= len(
        t
    ):
        return "".join(c if c.isdigit() else _CONFUSIONS[c] for c in t)
    return None


# ------------------------------------------------------------------------ scoring


@dataclass
class _Candidate:
    reading: str
    digits: str
    score: float
    conf: float
    unit: str | None


def _rejected_by_context(g: _Group, words: list[_Word]) -> bool:
    word_text = words[g.word_index].text
    if _DATE_RE.search(word_text) or _RANGE_RE.search(word_text) or _TIME_RE.search(word_text):
        return True
    if g.prefix and (_SERIAL_WORDS.match(g.prefix) or len(g.prefix) >= 1):
        # Digits glued after letters: model/serial numbers like "EM1234567", "No12345".
        return True
    if g.suffix and not _UNIT_SUFFIX.match(g.suffix):
        # Digits glued before letters: "230V", "1600imp", "50Hz", "1234ABC".
        return True
    left = _neighbours(words, g.box, g.word_index, "left")
    if left:
        prev = words[left[0]]
        gap = g.box.left - prev.box.right
        if gap < 4 * g.char_width and _SERIAL_WORDS.match(prev.text.strip()):
            return True
    right = _neighbours(words, g.box, g.word_index, "right")
    if right:
        nxt = words[right[0]]
        gap = nxt.box.left - g.box.right
        if gap < 3 * g.char_width:
            t = nxt.text.strip()
            if t.lower().startswith("imp") or _NOT_REGISTER_SUFFIX.match(t):
                return True
            if re.match(r"^[-~]\s*\d", t):
                return True
    return False


def _unit_near(g: _Group, words: list[_Word]) -> str | None:
    if g.suffix and _UNIT_SUFFIX.match(g.suffix):
        return "m³" if g.suffix.lower().startswith("m") else "kWh"
    h = g.box.height
    for k, w in enumerate(words):
        if k == g.word_index:
            continue
        t = w.text.strip()
        is_kwh = bool(re.fullmatch(r"(?i)k\s*w\s*h?|kwh", t))
        # A lone m beside the drums: the unit whose superscript 3 the OCR lost.
        is_m3 = bool(_UNIT_M3.match(t)) or t == "m"
        if not (is_kwh or is_m3):
            continue
        dx = w.box.left - g.box.right
        dy = w.box.center_y - g.box.center_y
        # Right of the group (same row or a little below), within a few characters.
        if -g.char_width <= dx <= 5 * g.char_width and -h <= dy <= 1.5 * h:
            return "kWh" if is_kwh else "m³"
    return None


def _is_year(digits: str, decimal_at: int | None) -> bool:
    return decimal_at is None and len(digits) == 4 and 1950 <= int(digits) <= 2039


def _merge_neighbours(g: _Group, words: list[_Word], used: set[int]) -> _Group:
    """Join a separately detected leading "00" / split display / small decimal digit."""
    h = g.box.height
    # Same-height digit words touching on the left (e.g. leading zeros).
    while len(g.digits) < MAX_DIGITS:
        left = [k for k in _neighbours(words, g.box, g.word_index, "left") if k not in used]
        if not left:
            break
        w = words[left[0]]
        d = _pure_digits(w.text)
        gap = g.box.left - w.box.right
        if (
            d is None
            or not 0.75 <= w.box.height / h <= 1.33
            or gap > 1.2 * g.char_width
            or len(d) + len(g.digits) > MAX_DIGITS
        ):
            break
        used.add(left[0])
        g = _Group(
            d + g.digits,
            None if g.decimal_at is None else g.decimal_at + len(d),
            min(g.conf, w.conf),
            _union(w.box, g.box),
            g.word_index,
            flags=g.flags | {"merged"},
        )
    # To the right: same-height digits continue the group; a small one is the decimal.
    while g.decimal_at is None:
        right = [k for k in _neighbours(words, g.box, g.word_index, "right") if k not in used]
        if not right:
            break
        w = words[right[0]]
        d = _pure_digits(w.text)
        gap = w.box.left - g.box.right
        if d is None or gap > 2.0 * g.char_width:
            break
        ratio = w.box.height / h
        if 0.8 <= ratio <= 1.25 and gap <= 1.2 * g.char_width:
            if len(d) + len(g.digits) > MAX_DIGITS:
                break
            used.add(right[0])
            g = _Group(
                g.digits + d,
                None,
                min(g.conf, w.conf),
                _union(g.box, w.box),
                g.word_index,
                flags=g.flags | {"merged"},
            )
            continue
        if len(d) == 1 and 0.3 <= ratio <= 1.05 and w.box.center_y >= g.box.top:
            used.add(right[0])
            g = _Group(
                g.digits + d,
                len(g.digits),
                min(g.conf, w.conf),
                _union(g.box, w.box),
                g.word_index,
                flags=g.flags | {"decimal_box"},
            )
        break
    return g


def _without_surplus_zeros(g: _Group) -> _Group:
    """A group of more digits than a register has, where the surplus are leading zeros (the
    display's frame read as one more padding cell: ``00003186.5``), without them: the value
    is the same."""
    surplus = len(g.digits) - MAX_DIGITS
    if surplus <= 0 or g.digits[:surplus].strip("0"):
        return g
    if g.decimal_at is not None and g.decimal_at <= surplus:
        return g
    decimal_at = None if g.decimal_at is None else g.decimal_at - surplus
    return replace(g, digits=g.digits[surplus:], decimal_at=decimal_at)


def _candidates(blocks: Sequence[TextBlock]) -> tuple[list[_Candidate], bool]:
    words = _words_from_blocks(blocks)
    groups: list[_Group] = []
    for k, w in enumerate(words):
        groups.extend(_groups_in_word(w, k))
    if not groups:
        return [], bool(words)

    # Largest digit group on the face sets the scale.
    max_h = (
        max(g.box.height for g in groups if len(g.digits) >= 3)
        if any(len(g.digits) >= 3 for g in groups)
        else max(g.box.height for g in groups)
    )

    cands: list[_Candidate] = []
    # Biggest first, so that the register takes its neighbours before they are scored.
    order = sorted(range(len(groups)), key=lambda i: -groups[i].box.height)
    used: set[int] = set()
    for i in order:
        g = groups[i]
        if g.word_index in used:
            continue
        if _rejected_by_context(g, words):
            continue
        g = _without_surplus_zeros(_merge_neighbours(g, words, used | {g.word_index}))
        n = len(g.digits)
        if not MIN_DIGITS <= n <= MAX_DIGITS:
            continue
        used.add(g.word_index)
        rel_h = min(1.0, g.box.height / max_h) if max_h > 0 else 1.0
        score = rel_h**2 * max(g.conf, 0.05)
        if n in (5, 6, 7):
            score *= 1.0
        elif n == 4:
            score *= 0.85
        else:
            score *= 0.8
        unit = _unit_near(g, words)
        if unit is not None:
            score *= 1.25
        if _is_year(g.digits, g.decimal_at):
            score *= 0.5
        # A register that fills little of the photo is less sure to be the register
        # (serial numbers and labels are printed small; displays are photographed close).
        conf = g.conf * min(1.0, g.box.height / CLOSE_UP_HEIGHT)
        cands.append(_Candidate(g.reading, g.digits, score, conf, unit))
    cands.sort(key=lambda c: -c.score)
    return cands, True


def _same_value(a: str, b: str) -> bool:
    try:
        return Decimal(a) == Decimal(b)
    except InvalidOperation:
        return a == b


def _unit_of_page(blocks: Sequence[TextBlock]) -> str | None:
    for b in blocks:
        t = b.text.replace(" ", "")
        if re.search(r"(?i)kwh", t) and not re.search(r"(?i)imp/?kwh|rev/?kwh", t):
            return "kWh"
        if re.search(r"(?i)\bm(3|³)\b", b.text):
            return "m³"
    if any(DIAL_FACTOR.match(b.text.strip()) for b in blocks):
        return "m³"
    return None


def shows_electricity_meter(texts: Iterable[str]) -> bool:
    """Whether any of the page's texts shows an electricity meter: its unit (kWh, kW h, a
    glued ``5974.3kWh``) or its constant (imp/kWh)."""
    return any(_ELECTRICITY_MARK.search(t) for t in texts)


def _meter_type(unit: str | None, blocks: Sequence[TextBlock]) -> MeterType:
    if unit == "m³":
        return "gas" if any(_GAS.search(b.text) for b in blocks) else "water"
    return "electricity"


def _whole_units(reading: str) -> str:
    """A drum register's reading: whole units only, never a point.

    Its whole drums hold three or more digits; a point read after fewer is a drum's edge
    (``0.530``), not the start of the fraction drums (``00521.3``).
    """
    whole, _, fraction = reading.partition(".")
    return whole if len(whole) >= 3 else whole + fraction


def extract_reading(blocks: Sequence[TextBlock]) -> ReadingResult:
    """Choose the meter register among OCR blocks (see module docstring)."""
    page_unit = _unit_of_page(blocks)
    if any(_NOT_A_METER.search(b.text) for b in blocks):
        # A fuel pump's litres, a shop scale: nothing a household is billed on.
        return ReadingResult("unreadable", None, "kWh", 0.0, "not_a_meter", "unknown")
    cands, had_text = _candidates(blocks)
    if not cands:
        meter_type = _meter_type(page_unit, blocks)
        reason = "no_display" if had_text else "no_text"
        return ReadingResult("unreadable", None, unit_for(meter_type), 0.0, reason, meter_type)

    best = cands[0]
    meter_type = _meter_type(best.unit or page_unit, blocks)
    unit = unit_for(meter_type)
    reading = best.reading if meter_type == "electricity" else _whole_units(best.reading)
    rivals = [c for c in cands[1:] if not _same_value(c.reading, best.reading)]
    ratio = rivals[0].score / best.score if rivals and best.score > 0 else 0.0
    # Confidence: OCR confidence of the winner, discounted when a rival comes close.
    margin = 1.0 if ratio < 0.5 else max(0.0, 1.0 - (ratio - 0.5))
    confidence = round(max(0.0, min(1.0, best.conf * margin)), 4)
    if ratio >= COMPETING_RATIO:
        return ReadingResult(
            "uncertain", reading, unit, confidence, "several_candidates", meter_type
        )
    if confidence < OK_CONFIDENCE:
        return ReadingResult("uncertain", reading, unit, confidence, "low_confidence", meter_type)
    return ReadingResult("ok", reading, unit, confidence, None, meter_type)
