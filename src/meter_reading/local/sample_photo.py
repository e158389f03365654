"""Synthetic meter photos drawn with Pillow, for demos and tests (no external files)."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw, ImageFilter, ImageFont

# Segments lit for each digit: a (top), b (top right), c (bottom right), d (bottom),
# e (bottom left), f (top left), g (middle).
SEGMENTS_LIT: dict[str, str] = {
    "0": "abcdef",
    "1": "bc",
    "2": "abged",
    "3": "abgcd",
    "4": "fgbc",
    "5": "afgcd",
    "6": "afgedc",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
    "-": "g",
    " ": "",
}

Point = tuple[float, float]


def _segment_polygons(x: float, y: float, w: float, h: float, t: float) -> dict[str, list[Point]]:
    """Hexagonal segments of one digit cell whose top-left corner is (x, y)."""
    half = h / 2
    g = t * 0.15  # gap between segments

    def horiz(cy: float) -> list[Point]:
        x0, x1 = x + g, x + w - g
        return [
            (x0, cy),
            (x0 + t / 2, cy - t / 2),
            (x1 - t / 2, cy - t / 2),
            (x1, cy),
            (x1 - t / 2, cy + t / 2),
            (x0 + t / 2, cy + t / 2),
        ]

    def vert(cx: float, y0: float, y1: float) -> list[Point]:
        y0, y1 = y0 + g, y1 - g
        return [
            (cx, y0),
            (cx + t / 2, y0 + t / 2),
            (cx + t / 2, y1 - t / 2),
            (cx, y1),
            (cx - t / 2, y1 - t / 2),
            (cx - t / 2, y0 + t / 2),
        ]

    return {
        "a": horiz(y + t / 2),
        "g": horiz(y + half),
        "d": horiz(y + h - t / 2),
        "f": vert(x + t / 2, y + t / 2, y + half),
        "b": vert(x + w - t / 2, y + t / 2, y + half),
        "e": vert(x + t / 2, y + half, y + h - t / 2),
        "c": vert(x + w - t / 2, y + half, y + h - t / 2),
    }


def _draw_seven_segment(
    draw: ImageDraw.ImageDraw,
    text: str,
    x: float,
    y: float,
    digit_w: float,
    digit_h: float,
    colour: tuple[int, int, int],
    ghost: tuple[int, int, int] | None = None,
) -> float:
    """Draw ``text`` (digits, '-', '.'); returns the x after the last character."""
    t = digit_w * 0.18
    pitch = digit_w * 1.3
    for ch in text:
        if ch == ".":
            r = t * 0.6
            cx = x - (pitch - digit_w) / 2 + pitch * 0.12
            draw.rectangle([cx - r, y + digit_h - 2 * r, cx + r, y + digit_h], fill=colour)
            x += pitch * 0.3
            continue
        polys = _segment_polygons(x, y, digit_w, digit_h, t)
        lit = SEGMENTS_LIT.get(ch, "")
        for name, poly in polys.items():
            if name in lit:
                draw.polygon(poly, fill=colour)
            elif ghost is not None:
                draw.polygon(poly, fill=ghost)
        x += pitch
    return x


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def _noise(rng: random.Random, width: int, height: int) -> Image.Image:
    """Sensor-like grain, seeded so that a given reading always renders the same photo."""
    return Image.frombytes("L", (width, height), rng.randbytes(width * height)).convert("RGB")


def _to_jpeg(img: Image.Image, quality: int = 88) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def render_meter_photo(reading: str = "03662.0", meter: str = "electricity") -> bytes:
    """A JPEG (1000x700) of an electricity (kWh) or water (m3) meter showing ``reading``."""
    if meter not in ("electricity", "water"):
        raise ValueError(f"meter must be electricity or water, got {meter!r}")
    water = meter == "water"
    if not reading or any(c not in "0123456789.-" for c in reading):
        raise ValueError(f"reading must be digits with an optional '.', got {reading!r}")
    rng = random.Random(reading)
    width, height = 1000, 700
    img = Image.new("RGB", (width, height), (214, 216, 210))
    draw = ImageDraw.Draw(img)

    # Meter body: a lighter rounded face with a darker frame.
    draw.rounded_rectangle(
        [40, 30, 960, 670], radius=40, fill=(232, 233, 228), outline=(150, 150, 145), width=6
    )
    title = "COLD WATER METER" if water else "SINGLE PHASE STATIC ENERGY METER"
    draw.text((90, 60), title, fill=(40, 40, 40), font=_font(26))
    rating = "Q3 2.5  R160  T30" if water else "240V  10-60A  50Hz"
    draw.text((90, 100), rating, fill=(60, 60, 60), font=_font(22))

    # LCD panel.
    lx0, ly0, lx1, ly1 = 110, 180, 890, 400
    draw.rectangle([lx0 - 10, ly0 - 10, lx1 + 10, ly1 + 10], fill=(60, 64, 60))
    draw.rectangle([lx0, ly0, lx1, ly1], fill=(168, 186, 160))
    digits = reading.replace(".", "")
    n = len(digits)
    digit_h = 130.0
    digit_w = min(70.0, (lx1 - lx0 - 190) / (n * 1.3))
    x = lx0 + 40
    y = ly0 + (ly1 - ly0 - digit_h) / 2 - 24
    end = _draw_seven_segment(draw, reading, x, y, digit_w, digit_h, (28, 34, 30))
    unit_label = "m3" if water else "kWh"
    draw.text((end - 110, y + digit_h + 12), unit_label, fill=(28, 34, 30), font=_font(40))

    # Other text on the face that is not the register.
    draw.text((140, 440), "No. 12345678", fill=(30, 30, 30), font=_font(30))
    constant = "1 imp/L" if water else "1600 imp/kWh"
    draw.text((620, 440), constant, fill=(30, 30, 30), font=_font(30))
    draw.text((140, 500), "IS 13779  CLASS 1.0", fill=(70, 70, 70), font=_font(22))
    draw.ellipse([800, 480, 830, 510], fill=(200, 40, 40))

    # A little blur and noise, like a phone photo.
    img = img.filter(ImageFilter.GaussianBlur(0.8))
    img = Image.blend(img, _noise(rng, width, height), 0.03)
    img = img.rotate(
        rng.uniform(-1.5, 1.5), resample=Image.Resampling.BICUBIC, fillcolor=(214, 216, 210)
    )
    return _to_jpeg(img)


def render_blank_photo() -> bytes:
    """A dark, noisy JPEG with no display and no text on it."""
    width, height = 1000, 700
    dark = Image.new("RGB", (width, height), (18, 20, 22))
    noise = _noise(random.Random("blank"), width, height)
    img = Image.blend(dark, noise, 0.08).filter(ImageFilter.GaussianBlur(2.0))
    return _to_jpeg(img)
