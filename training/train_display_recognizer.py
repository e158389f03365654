"""Train the seven-segment display recognizer and export it to ONNX.

    pip install -e '.[train]'
    python training/train_display_recognizer.py [--data ../shared/display-crops] [--steps N]

A small CRNN (convolutions -> one feature vector per column -> BiGRU -> CTC over
"0123456789." + blank) learns to read one display line, decimal point included, from

- the real crops of ``display-crops`` that were NOT cut from a photo of ``meter-photos``
  (the pipeline's evaluation set): padded, tilted, blurred and recoloured to look like the
  crops the reader cuts around a text detector's box at run time;
- synthetic seven-segment displays rendered here: 3-8 digits, leading zeros, thin 1s, a
  tenths digit that is smaller, lower or in its own cell (with a visible, faint or missing
  point), kWh / cursor / arrow / bulb glyphs, frame edges, LCD colours, glare, blur,
  perspective, JPEG; each cut like a run-time crop (the detector box extended by
  (left, right) in EXTENSIONS multiples of its height and 0.1 of it above and below).

The 67 crops cut from ``meter-photos`` photos are never trained on: they are the held-out
set whose figures are printed at the end (exact, digits right with the point ignored, value
right). ``--dev`` additionally holds out a seeded 15% of the other crops (for a model that is
then not exported unless ``--out`` is given). Preprocessing is the runtime's own
``meter_reading.reader.recognizer.preprocess`` (Pillow, no OpenCV); the augmentation here
may use OpenCV. Never train on ../shared/meter-photos.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from meter_reading.local.sample_photo import SEGMENTS_LIT
from meter_reading.reader.recognizer import (
    ALPHABET,
    HEIGHT,
    WIDTH,
    DisplayRecognizer,
    preprocess,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "display-crops"
OUTPUT = ROOT / "src" / "meter_reading" / "reader" / "models" / "display_digits.onnx"
SEED = 1234
DEV_SHARE = 0.15
#: How the reader extends a detector's box along the line: (left, right) x box height.
EXTENSIONS = [(0.0, 0.0), (0.1, 0.3), (0.2, 0.6), (0.5, 1.0), (0.3, 1.5)]

Image_ = npt.NDArray[Any]  # uint8 RGB (OpenCV's stubs type its results loosely)
Colour = tuple[int, ...]


# --- data ----------------------------------------------------------------------------------


def load_crops(data: Path) -> list[tuple[Image_, str, str]]:
    """(RGB crop, reading, photo) for every row of labels.csv."""
    out = []
    with (data / "labels.csv").open() as f:
        for row in csv.DictReader(f):
            with Image.open(data / "images" / row["file"]) as im:
                rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
            out.append((rgb, row["reading"], row.get("photo") or ""))
    return out


def dev_split(n: int) -> tuple[list[int], list[int]]:
    """Fixed-seed (train, dev) indices over n crops."""
    order = list(range(n))
    random.Random(SEED).shuffle(order)
    n_dev = round(n * DEV_SHARE)
    return sorted(order[n_dev:]), sorted(order[:n_dev])


# --- synthetic seven-segment displays -------------------------------------------------------


def _segments(
    x: float, y: float, w: float, h: float, t: float
) -> dict[str, npt.NDArray[np.float64]]:
    """Hexagonal segment polygons of one digit cell (x, y top-left, w x h, stroke t)."""
    g = t * 0.18

    def hseg(x0: float, x1: float, cy: float) -> npt.NDArray[np.float64]:
        return np.array(
            [
                (x0 + g, cy),
                (x0 + g + t / 2, cy - t / 2),
                (x1 - g - t / 2, cy - t / 2),
                (x1 - g, cy),
                (x1 - g - t / 2, cy + t / 2),
                (x0 + g + t / 2, cy + t / 2),
            ]
        )

    def vseg(cx: float, y0: float, y1: float) -> npt.NDArray[np.float64]:
        return np.array(
            [
                (cx, y0 + g),
                (cx + t / 2, y0 + g + t / 2),
                (cx + t / 2, y1 - g - t / 2),
                (cx, y1 - g),
                (cx - t / 2, y1 - g - t / 2),
                (cx - t / 2, y0 + g + t / 2),
            ]
        )

    x0, x1 = x + t / 2, x + w - t / 2
    y0, ym, y1 = y + t / 2, y + h / 2, y + h - t / 2
    return {
        "a": hseg(x0, x1, y0),
        "g": hseg(x0, x1, ym),
        "d": hseg(x0, x1, y1),
        "f": vseg(x0, y0, ym),
        "b": vseg(x1, y0, ym),
        "e": vseg(x0, ym, y1),
        "c": vseg(x1, ym, y1),
    }


def _poly(img: Image_, pts: npt.NDArray[np.float64], colour: Colour) -> None:
    cv2.fillPoly(img, [np.round(pts * 8).astype(np.int32)], colour, cv2.LINE_AA, shift=3)


def _lcd_colours(rng: random.Random) -> tuple[Colour, Colour]:
    """(background, lit segment) colours of an LCD."""
    kind = rng.choice(["green", "green", "lime", "grey", "blue", "lightblue", "orange", "yellow"])
    base = {
        "green": (70, 200, 60),
        "lime": (150, 235, 40),
        "grey": (170, 175, 170),
        "blue": (90, 140, 220),
        "lightblue": (170, 210, 235),
        "orange": (240, 150, 50),
        "yellow": (215, 200, 60),
    }[kind]
    bg = tuple(int(np.clip(c + rng.uniform(-35, 35), 0, 255)) for c in base)
    dark = rng.uniform(0.05, 0.5)
    fg = tuple(int(np.clip(c * dark + rng.uniform(-10, 10), 0, 255)) for c in bg)
    if rng.random() < 0.06:  # backlit: light segments on a dark ground
        bg, fg = tuple(int(c * 0.2) for c in fg), tuple(min(255, int(c * 1.1) + 40) for c in bg)
    return bg, fg


def _label_text(rng: random.Random) -> str:
    return rng.choice(["kWh", "kWh", "kW h", "KWH", "kW", "kVAh", "CUM", "MD", "Imp", "h"])


def _put_text(img: Image_, text: str, x: float, y: float, size: float, colour: Colour) -> None:
    """Small printed text, baseline at y, cap height about size."""
    scale = max(0.2, size / 22.0)
    thick = max(1, round(scale * rng_thickness(size)))
    cv2.putText(
        img, text, (int(x), int(y)), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA
    )


def rng_thickness(size: float) -> float:
    return 1.0 + size / 30.0


def _glyph(img: Image_, rng: random.Random, x: float, y: float, s: float, colour: Colour) -> None:
    """A cursor / arrow / bulb / bar icon of size about s at (x, y) top-left."""
    kind = rng.choice(["tri_down", "tri_up", "arrow", "bulb", "bars", "box", "dots"])
    if kind in ("tri_down", "tri_up"):
        pts = (
            [(x, y), (x + s, y), (x + s / 2, y + s * 0.8)]
            if kind == "tri_down"
            else [(x, y + s * 0.8), (x + s, y + s * 0.8), (x + s / 2, y)]
        )
        _poly(img, np.array(pts, dtype=np.float64), colour)
    elif kind == "arrow":
        t = max(1.0, s * 0.18)
        _poly(
            img,
            np.array(
                [
                    (x, y + s / 2 - t),
                    (x + s * 0.6, y + s / 2 - t),
                    (x + s * 0.6, y + s / 2 + t),
                    (x, y + s / 2 + t),
                ]
            ),
            colour,
        )
        _poly(
            img,
            np.array(
                [(x + s * 0.55, y + s * 0.15), (x + s, y + s / 2), (x + s * 0.55, y + s * 0.85)]
            ),
            colour,
        )
    elif kind == "bulb":
        r = max(1, int(s * 0.35))
        cv2.circle(img, (int(x + s / 2), int(y + s * 0.4)), r, colour, max(1, r // 3), cv2.LINE_AA)
        cv2.line(
            img,
            (int(x + s * 0.35), int(y + s * 0.9)),
            (int(x + s * 0.65), int(y + s * 0.9)),
            colour,
            max(1, r // 3),
        )
    elif kind == "bars":
        for i in range(rng.randint(2, 4)):
            bh = s * (0.3 + 0.2 * i)
            cv2.rectangle(
                img,
                (int(x + i * s * 0.3), int(y + s - bh)),
                (int(x + i * s * 0.3 + s * 0.2), int(y + s)),
                colour,
                -1,
            )
    elif kind == "box":
        cv2.rectangle(
            img, (int(x), int(y)), (int(x + s), int(y + s * 0.7)), colour, max(1, int(s * 0.1))
        )
    else:
        for i in range(3):
            cv2.circle(
                img, (int(x + i * s * 0.4), int(y + s / 2)), max(1, int(s * 0.1)), colour, -1
            )


def synth(rng: random.Random) -> tuple[Image_, str]:
    """A synthetic display cut like a run-time crop (RGB) and its reading as printed."""
    n_int = rng.choices([2, 3, 4, 5, 6, 7], weights=[1, 2, 6, 6, 5, 2])[0]
    n_dec = rng.choices([0, 1, 2], weights=[15, 80, 5])[0]
    n_int = max(n_int + (1 if n_dec == 0 and rng.random() < 0.5 else 0), 1)
    # Thin 1s (only the cell's right side lit) are what real crops lose most: drawn more often
    # than a tenth of the time, and often as a register's first significant digit.
    digits = ["1" if rng.random() < 0.12 else rng.choice("0123456789") for _ in range(n_int)]
    if digits[0] != "0" and rng.random() < 0.2:
        digits[0] = "1"
    if rng.random() < 0.55:
        for i in range(rng.randint(1, max(1, n_int - 1))):
            digits[i] = "0"
    elif rng.random() < 0.15:
        digits = [rng.choice("11117") for _ in digits]  # thin 1s
    decimals = [rng.choice("0123456789") for _ in range(n_dec)]
    text = "".join(digits) + ("." + "".join(decimals) if n_dec else "")

    dh = rng.uniform(36, 64)  # main digit height (px) at render time
    dw = dh * rng.uniform(0.42, 0.62)
    t = dh * rng.uniform(0.08, 0.17)
    pitch = dw * rng.uniform(1.15, 1.6)
    slant = rng.choice([0.0, 0.0, rng.uniform(0.03, 0.22)])
    style = rng.choices(["small", "cell", "point"], weights=[55, 25, 20])[0] if n_dec else "none"
    ds = rng.uniform(0.5, 0.8) if style == "small" else rng.uniform(0.8, 1.0)
    if style == "point":
        ds = rng.choice([1.0, rng.uniform(0.75, 1.0)])
    point_shown = style == "point" or rng.random() < 0.55
    point_faint = point_shown and style != "point" and rng.random() < 0.4
    dec_gap = pitch * (rng.uniform(0.15, 0.7) if style != "point" else rng.uniform(0.0, 0.3))

    bg, fg = _lcd_colours(rng)
    ghost = rng.random() < 0.35
    ghost_col = tuple(
        int(b + (f - b) * rng.uniform(0.04, 0.13)) for b, f in zip(bg, fg, strict=True)
    )

    m_left = dh * rng.uniform(0.15, 1.3)
    m_right = dh * rng.uniform(0.3, 2.2)
    m_top = dh * rng.uniform(0.15, 0.9)
    m_bot = dh * rng.uniform(0.15, 0.9)
    line_w = n_int * pitch + n_dec * (pitch * ds) + (dec_gap if n_dec else 0.0)
    lcd_w = m_left + line_w + m_right
    lcd_h = m_top + dh + m_bot
    out_l, out_r = dh * 2.0, dh * 2.5
    out_t, out_b = dh * 0.5, dh * 0.5
    W = int(out_l + lcd_w + out_r)
    H = int(out_t + lcd_h + out_b)
    casing = (
        tuple(rng.randint(20, 235) for _ in range(3))
        if rng.random() < 0.5
        else ((rng.randint(10, 60),) * 3 if rng.random() < 0.5 else (rng.randint(180, 240),) * 3)
    )
    img = np.empty((H, W, 3), np.uint8)
    img[:] = casing
    lx0, ly0 = int(out_l), int(out_t)
    lx1, ly1 = int(out_l + lcd_w), int(out_t + lcd_h)
    # The LCD window, with a gradient and a frame line.
    win = np.empty((ly1 - ly0, lx1 - lx0, 3), np.float32)
    win[:] = bg
    gx = np.linspace(rng.uniform(-25, 25), rng.uniform(-25, 25), win.shape[1], dtype=np.float32)
    gy = np.linspace(rng.uniform(-20, 20), rng.uniform(-20, 20), win.shape[0], dtype=np.float32)
    win += gx[None, :, None] + gy[:, None, None]
    img[ly0:ly1, lx0:lx1] = np.clip(win, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        frame = tuple(int(c * rng.uniform(0.2, 0.7)) for c in casing)
        cv2.rectangle(img, (lx0, ly0), (lx1, ly1), frame, max(1, int(dh * rng.uniform(0.03, 0.2))))

    y_main = ly0 + m_top
    x = lx0 + m_left

    def draw_digit(ch: str, x: float, y: float, w: float, h: float, tt: float) -> None:
        for seg, poly in _segments(x, y, w, h, tt).items():
            p = poly.copy()
            p[:, 0] += (y + h - p[:, 1]) * slant
            if seg in SEGMENTS_LIT[ch]:
                _poly(img, p, fg)
            elif ghost:
                _poly(img, p, ghost_col)

    def draw_point(x: float, y: float, r: float, colour: Colour) -> None:
        cv2.circle(img, (int(x), int(y)), max(1, int(r)), colour, -1, cv2.LINE_AA)

    for ch in digits:
        draw_digit(ch, x, y_main, dw, dh, t)
        if ghost and rng.random() < 0.5:
            draw_point(x + dw + (pitch - dw) / 2, y_main + dh - t / 2, t * 0.55, ghost_col)
        x += pitch
    line_x0 = lx0 + m_left
    if n_dec:
        sh, sw, st = dh * ds, dw * ds, t * max(ds, 0.7)
        y_dec = (
            y_main + dh - sh if rng.random() < 0.75 else y_main + (dh - sh) * rng.uniform(0.3, 0.7)
        )
        px = x - (pitch - dw) / 2 + dec_gap / 2
        if point_shown:
            colour = fg
            if point_faint:
                colour = tuple(
                    int(b + (f - b) * rng.uniform(0.2, 0.5)) for b, f in zip(bg, fg, strict=True)
                )
            draw_point(px, y_main + dh - t * 0.5, t * rng.uniform(0.4, 0.7), colour)
        x += dec_gap
        if style == "cell":
            sep = tuple(
                int(b + (f - b) * rng.uniform(0.4, 1.0)) for b, f in zip(bg, fg, strict=True)
            )
            cx0 = x - (pitch * ds - sw) / 2 - t * 0.2
            if rng.random() < 0.5:
                cv2.rectangle(
                    img,
                    (int(cx0), int(y_dec - t)),
                    (int(cx0 + pitch * ds * n_dec), int(y_main + dh + t * 0.6)),
                    sep,
                    max(1, int(t * 0.35)),
                )
            else:
                cv2.line(
                    img,
                    (int(cx0), int(y_main - t)),
                    (int(cx0), int(y_main + dh + t)),
                    sep,
                    max(1, int(t * 0.35)),
                )
        for ch in decimals:
            draw_digit(ch, x, y_dec, sw, sh, st)
            x += pitch * ds
    line_x1 = x - (pitch * (ds if n_dec else 1.0) - dw * (ds if n_dec else 1.0))
    # Labels and icons beside the digits.
    if rng.random() < 0.75:
        size = dh * rng.uniform(0.22, 0.45)
        ty = y_main + dh if rng.random() < 0.6 else y_main + size * 1.1
        _put_text(img, _label_text(rng), line_x1 + dh * rng.uniform(0.05, 0.5), ty, size, fg)
    for _ in range(rng.choice([0, 0, 1, 2, 3])):
        s = dh * rng.uniform(0.2, 0.45)
        where = rng.random()
        if where < 0.35:
            gx_, gy_ = rng.uniform(lx0 + 2, line_x0), rng.uniform(y_main, y_main + dh - s)
        elif where < 0.6:
            gx_, gy_ = rng.uniform(line_x0, line_x1), y_main - s * rng.uniform(1.05, 1.6)
        elif where < 0.8:
            gx_, gy_ = rng.uniform(line_x0, line_x1), y_main + dh + s * rng.uniform(0.1, 0.6)
        else:
            gx_, gy_ = rng.uniform(line_x1 + 2, lx1 - s), rng.uniform(y_main - s, y_main + dh)
        _glyph(img, rng, gx_, gy_, s, fg)
    if rng.random() < 0.3:
        size = dh * rng.uniform(0.18, 0.3)
        _put_text(
            img,
            rng.choice(["CUM", "R Y B", "kWh", "TOD", "MD", "1 2"]),
            rng.uniform(line_x0, line_x1),
            y_main - size * 0.6,
            size,
            fg,
        )
    # The detector's box around the digit line (jittered), extended as the reader does.
    bh = dh * rng.uniform(0.95, 1.15)
    by0 = y_main + dh / 2 - bh / 2 + rng.uniform(-0.06, 0.06) * dh
    bx0 = line_x0 + rng.uniform(-0.25, 0.15) * dh
    bx1 = line_x1 + rng.uniform(-0.1, 0.3) * dh
    if rng.random() < 0.15:  # a box that cuts into the leading digit
        bx0 = line_x0 + dw * rng.uniform(0.0, 0.3)
    if rng.random() < 0.2 and n_dec:  # a box around the main digits only
        bx1 = line_x1 - n_dec * pitch * ds - dec_gap + rng.uniform(0.0, 0.2) * dh
    el, er = rng.choice(EXTENSIONS)
    el *= rng.uniform(0.9, 1.1)
    er *= rng.uniform(0.9, 1.1)
    cx0 = bx0 - el * bh
    cx1 = max(bx1 + er * bh, line_x1 + rng.uniform(0.02, 0.15) * dh)  # never cut the last digit
    cy0 = by0 - 0.1 * bh * rng.uniform(0.6, 1.6)
    cy1 = by0 + bh + 0.1 * bh * rng.uniform(0.6, 1.6)
    glare(img, rng, prob=0.3)
    crop = perspective_cut(img, rng, (cx0, cy0, cx1, cy1))
    return crop, text


def glare(img: Image_, rng: random.Random, prob: float) -> None:
    """A soft bright blob (reflection of a lamp or the sky), in place."""
    if rng.random() >= prob:
        return
    h, w = img.shape[:2]
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    sx, sy = rng.uniform(0.05, 0.4) * w, rng.uniform(0.2, 1.0) * h
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    blob = np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2))
    strength = rng.uniform(0.25, 0.7)
    out = img.astype(np.float32)
    out += (255.0 - out) * (blob * strength)[:, :, None]
    img[:] = np.clip(out, 0, 255).astype(np.uint8)


def perspective_cut(
    img: Image_, rng: random.Random, box: tuple[float, float, float, float]
) -> Image_:
    """Cut box out of img through a slightly wrong perspective (what a corrected quad leaves)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    out_h = max(8, round(h * rng.uniform(0.45, 1.1)))  # resolution of the photo
    out_w = max(8, round(out_h * w / h))
    d = 0.05 * h
    src = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
    src += np.array([[rng.uniform(-d, d), rng.uniform(-d, d)] for _ in range(4)], dtype=np.float32)
    ang = math.radians(rng.uniform(-2.5, 2.5))
    c, s = math.cos(ang), math.sin(ang)
    centre = src.mean(axis=0)
    src = (src - centre) @ np.array([[c, -s], [s, c]], dtype=np.float32).T + centre
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src.astype(np.float32), dst)
    return cv2.warpPerspective(
        img, m, (out_w, out_h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )


# --- real crops made to look like run-time crops ---------------------------------------------


def pad_real(img: Image_, rng: random.Random) -> Image_:
    """Extra context around a tight real crop: LCD background, frame edges, a kWh label."""
    h, w = img.shape[:2]
    f = rng.uniform(0.85, 1.2)  # the crops were stretched to 200 x 31; undo / vary that
    img = cv2.resize(img, (max(8, int(w * f)), h), interpolation=cv2.INTER_LINEAR)
    h, w = img.shape[:2]
    top, bot = rng.randint(0, int(0.06 * h)), rng.randint(0, int(0.06 * h))
    left = rng.randint(0, int(0.03 * w)) if rng.random() < 0.3 else 0
    img = img[top : h - bot, left:]
    h, w = img.shape[:2]
    el, er = rng.choice(EXTENSIONS)
    ml = int(h * el * rng.uniform(0.6, 1.3) + h * rng.uniform(0, 0.15))
    mr = int(h * er * rng.uniform(0.6, 1.3) + h * rng.uniform(0, 0.2))
    mt, mb = int(h * rng.uniform(0.0, 0.2)), int(h * rng.uniform(0.0, 0.2))
    grey = img.mean(axis=2)
    bg = tuple(
        int(v)
        for v in np.median(img.reshape(-1, 3)[grey.reshape(-1) > np.percentile(grey, 40)], axis=0)
    )
    fg = tuple(int(v) for v in img.reshape(-1, 3)[int(np.argmin(grey))])
    mode = rng.random()
    if mode < 0.45:
        big = cv2.copyMakeBorder(img, mt, mb, ml, mr, cv2.BORDER_REPLICATE)
    else:
        big = cv2.copyMakeBorder(img, mt, mb, ml, mr, cv2.BORDER_CONSTANT, value=bg)
        noise = np.random.default_rng(rng.randrange(1 << 30)).normal(
            0, rng.uniform(0, 6), big.shape
        )
        mask = np.ones(big.shape[:2], bool)
        mask[mt : mt + h, ml : ml + w] = False
        big = np.where(mask[:, :, None], np.clip(big + noise, 0, 255), big).astype(np.uint8)
    H, W = big.shape[:2]
    if mr > 0.4 * h and rng.random() < 0.6:
        size = h * rng.uniform(0.25, 0.45)
        ty = mt + h * rng.uniform(0.5, 1.0)
        _put_text(big, _label_text(rng), ml + w + h * rng.uniform(0.05, 0.3), ty, size, fg)
    if rng.random() < 0.35:  # the LCD's frame / the casing beyond it
        casing = tuple(rng.randint(10, 240) for _ in range(3))
        for side in rng.sample(["l", "r", "t", "b"], rng.randint(1, 2)):
            if side == "l" and ml > 3:
                x = rng.randint(0, ml - 2)
                big[:, :x] = casing
            elif side == "r" and mr > 3:
                x = W - rng.randint(1, mr - 2)
                big[:, x:] = casing
            elif side == "t" and mt > 2:
                big[: rng.randint(1, mt)] = casing
            elif side == "b" and mb > 2:
                big[H - rng.randint(1, mb) :] = casing
    if rng.random() < 0.3:
        for _ in range(rng.randint(1, 2)):
            s = h * rng.uniform(0.2, 0.4)
            if ml > s + 2 and rng.random() < 0.5:
                _glyph(big, rng, rng.uniform(0, ml - s), rng.uniform(0, H - s), s, fg)
            elif mr > s + 2:
                _glyph(big, rng, rng.uniform(W - mr, W - s), rng.uniform(0, H - s), s, fg)
    glare(big, rng, prob=0.15)
    # slight rotation / shear / perspective
    d = 0.04 * H
    src = np.array([[0, 0], [W, 0], [W, H], [0, H]], dtype=np.float32)
    dst = src + np.array(
        [[rng.uniform(-d, d), rng.uniform(-d, d)] for _ in range(4)], dtype=np.float32
    )
    shear = rng.uniform(-0.12, 0.12) * H
    dst[0, 0] += shear
    dst[1, 0] += shear
    ang = math.radians(rng.uniform(-2.5, 2.5))
    c, s_ = math.cos(ang), math.sin(ang)
    centre = np.array([W / 2, H / 2], dtype=np.float32)
    rot = np.array([[c, -s_], [s_, c]], dtype=np.float32)
    warped = ((dst - centre) @ rot.T + centre).astype(np.float32)
    m = cv2.getPerspectiveTransform(src, warped)
    return cv2.warpPerspective(big, m, (W, H), borderMode=cv2.BORDER_REPLICATE)


def degrade(img: Image_, rng: random.Random, strength: float = 1.0) -> Image_:
    """Resolution loss, blur, colour and contrast shifts, noise, JPEG (RGB in, RGB out).

    strength < 1 for the real crops, which are small and blurred already.
    """
    h, w = img.shape[:2]
    if rng.random() < 0.4 * strength:
        f = rng.uniform(0.4, 1.0)
        small = cv2.resize(
            img, (max(4, int(w * f)), max(4, int(h * f))), interpolation=cv2.INTER_AREA
        )
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.35 * strength:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.3) * strength * h / 32)
    if rng.random() < 0.15 * strength:  # motion blur along the line
        k = max(3, int(h * rng.uniform(0.05, 0.15)) | 1)
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        img = cv2.filter2D(img, -1, kernel)
    out = img.astype(np.float32)
    out = (out - 128) * rng.uniform(0.45, 1.3) + 128 + rng.uniform(-45, 45)
    out *= np.array([rng.uniform(0.8, 1.2) for _ in range(3)], dtype=np.float32)
    if rng.random() < 0.3:  # uneven lighting
        grad = np.linspace(rng.uniform(-40, 40), rng.uniform(-40, 40), w, dtype=np.float32)
        out += grad[None, :, None]
    out += np.float32(rng.uniform(0, 10) * strength) * np.random.default_rng(
        rng.randrange(1 << 30)
    ).standard_normal(out.shape).astype(np.float32)
    if rng.random() < 0.05:
        out = 255 - out
    img = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.6 * strength:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=rng.randint(30, 90))
        img = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return img


# --- model -----------------------------------------------------------------------------------


class CRNN(nn.Module):
    """HEIGHT x WIDTH (40 x 320) grey -> WIDTH / 4 columns x (blank + ALPHABET) logits."""

    def __init__(self, n_classes: int = len(ALPHABET) + 1, hidden: int = 64) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *block(1, 16),
            nn.MaxPool2d(2),  # 20 x 160
            *block(16, 32),
            nn.MaxPool2d(2),  # 10 x 80
            *block(32, 64),
            nn.MaxPool2d((2, 1)),  # 5 x 80
            *block(64, 96),
            nn.Conv2d(96, 128, (HEIGHT // 8, 1), bias=False),  # 1 x 80
            nn.BatchNorm2d(128),
            nn.ReLU(),
            nn.Dropout(0.15),
        )
        self.rnn = nn.GRU(128, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x).squeeze(2).permute(0, 2, 1)  # N x T x C
        f, _ = self.rnn(f)
        out: torch.Tensor = self.head(f)
        return out  # logits N x T x classes


def encode(text: str) -> list[int]:
    return [ALPHABET.index(c) + 1 for c in text]


# --- figures ---------------------------------------------------------------------------------


def _value(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def figures(reads: list[tuple[str, float]], truth: list[str]) -> dict[str, float]:
    n = len(truth)
    pairs = list(zip([r for r, _ in reads], truth, strict=True))
    return {
        "exact": sum(r == t for r, t in pairs) / n,
        "digits": sum(r.replace(".", "") == t.replace(".", "") for r, t in pairs) / n,
        "value": sum(_value(r) is not None and _value(r) == _value(t) for r, t in pairs) / n,
    }


def report(name: str, reads: list[tuple[str, float]], truth: list[str], misses: bool) -> None:
    f = figures(reads, truth)
    print(
        f"{name}: {len(truth)} crops: exact {f['exact']:.1%}, digits right (point ignored) "
        f"{f['digits']:.1%}, point placed right (value right) {f['value']:.1%}"
    )
    right = [s for (r, s), t in zip(reads, truth, strict=True) if _value(r) == _value(t)]
    wrong = [(t, r, s) for (r, s), t in zip(reads, truth, strict=True) if _value(r) != _value(t)]
    if right and wrong:
        bad = [s for *_, s in wrong]
        print(
            f"  score when value right: min {min(right):.2f} median {np.median(right):.2f}; "
            f"wrong: max {max(bad):.2f} median {np.median(bad):.2f}"
        )
    if misses:
        for t, r, s in wrong:
            print(f"  miss: truth {t!r} read {r!r} score {s:.2f}")


# --- training --------------------------------------------------------------------------------


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def point_unknown(text: str, real: bool) -> bool:
    """Whether a crop's label says nothing about the decimal point.

    Many integer labels of display-crops name the register's last digit as a whole-number
    digit although the display shows it in the tenths cell (``502 1`` labelled ``5021``);
    others really end before that cell. For those crops the loss treats the point as a
    blank (whether the model writes one is neither rewarded nor punished): they teach the
    digits, while the pointed labels and the synthetic displays teach the point.
    """
    return real and "." not in text


def batches(
    crops: list[tuple[Image_, str, str]],
    train_idx: list[int],
    synthetic: float,
    batch: int,
    seed: int,
) -> Iterator[Batch]:
    rng = random.Random(seed)
    pointed = [i for i in train_idx if "." in crops[i][1]]
    while True:
        xs, targets, lengths, unknown = [], [], [], []
        for _ in range(batch):
            if rng.random() < synthetic:
                img, text = synth(rng)
                img = degrade(img, rng)
                real = False
            else:
                # Half the real draws from the crops whose label places the point.
                i = rng.choice(pointed if pointed and rng.random() < 0.5 else train_idx)
                img0, text, _ = crops[i]
                img = degrade(pad_real(img0, rng), rng, strength=0.5)
                real = True
            xs.append(preprocess(img))
            targets += encode(text)
            lengths.append(len(text))
            unknown.append(point_unknown(text, real))
        yield (
            torch.from_numpy(np.stack(xs)[:, None]),
            torch.tensor(targets, dtype=torch.long),
            torch.tensor(lengths, dtype=torch.long),
            torch.tensor(unknown, dtype=torch.bool),
        )


def ctc(
    logp: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor, unknown: torch.Tensor
) -> torch.Tensor:
    """Mean CTC loss per target character; where the point is unknown it counts as blank."""
    in_len = torch.full((logp.shape[1],), logp.shape[0], dtype=torch.long)
    full = F.ctc_loss(logp, targets, in_len, lengths, reduction="none", zero_infinity=True)
    point = len(ALPHABET)  # the point's class index (the last)
    merged = torch.cat(
        [torch.logsumexp(logp[:, :, [0, point]], dim=2, keepdim=True), logp[:, :, 1:point]],
        dim=2,
    )
    # (targets of the other samples may hold the point, which has no class here: their
    # blind loss is not used, but it must stay finite for the gradient of where())
    safe = targets.clamp(max=point - 1)
    blind = F.ctc_loss(merged, safe, in_len, lengths, reduction="none", zero_infinity=True)
    loss = torch.where(unknown, blind, full)
    return (loss / lengths.clamp(min=1)).mean()


class _Stream(torch.utils.data.IterableDataset[Batch]):
    def __init__(self, *args: object) -> None:
        self.args = args

    def __iter__(self) -> Iterator[Batch]:
        cv2.setNumThreads(1)
        return batches(*self.args)  # type: ignore[arg-type]


def reads_of(model: nn.Module, images: list[Image_]) -> list[tuple[str, float]]:
    from meter_reading.reader.recognizer import decode

    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(np.stack([preprocess(i) for i in images])[:, None])
        probs = model(x).softmax(2).numpy()
    model.train()
    return [decode(p) for p in probs]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--steps", type=int, default=1900)
    ap.add_argument(
        "--threads", type=int, default=2, help="torch threads (1 is faster on a busy machine)"
    )
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--synthetic", type=float, default=0.5, help="share of synthetic samples")
    ap.add_argument("--dev", action="store_true", help="hold out a seeded 15%% of the other crops")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=SEED, help="seed of the weights and the draws")
    ap.add_argument("--misses", action="store_true", help="list the held-out misses")
    args = ap.parse_args()
    out_path: Path | None = args.out if args.out or args.dev else OUTPUT

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)

    crops = load_crops(args.data)
    held = [i for i, (_, _, photo) in enumerate(crops) if photo]  # never trained on
    rest = [i for i, (_, _, photo) in enumerate(crops) if not photo]
    dev: list[int] = []
    train_idx = rest
    if args.dev:
        tr, dv = dev_split(len(rest))
        train_idx, dev = [rest[i] for i in tr], [rest[i] for i in dv]
    print(
        f"{len(train_idx)} real training crops, {len(held)} held out (photo-linked), {len(dev)} dev"
    )

    model = CRNN()
    print("parameters:", sum(p.numel() for p in model.parameters()))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1
    )
    loader = torch.utils.data.DataLoader(
        _Stream(crops, train_idx, args.synthetic, args.batch, args.seed),
        batch_size=None,
        num_workers=1,
        prefetch_factor=4,
    )
    start = time.time()
    model.train()
    avg = 0.0
    for step, (x, targets, lengths, unknown) in enumerate(loader, start=1):
        logp = model(x).log_softmax(2).permute(1, 0, 2)  # T x N x C
        loss = ctc(logp, targets, lengths, unknown)
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        avg = 0.98 * avg + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 250 == 0 or step == args.steps:
            msg = f"step {step} loss {avg:.3f} {time.time() - start:.0f}s"
            if dev:
                f = figures(reads_of(model, [crops[i][0] for i in dev]), [crops[i][1] for i in dev])
                msg += f" dev digits {f['digits']:.2f} value {f['value']:.2f}"
            print(msg, flush=True)
        if step >= args.steps:
            break
    train_s = time.time() - start
    print(f"training took {train_s / 60:.1f} min")

    model.eval()
    if out_path is None:
        return
    out_path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, HEIGHT, WIDTH),),
        str(out_path),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    print(f"exported {out_path} ({out_path.stat().st_size / 1024:.0f} KiB)")

    # The held-out figures, read through the exported model and the runtime class.
    reader = DisplayRecognizer(out_path)
    report(
        "held-out photo-linked crops (never trained on)",
        reader.read([crops[i][0] for i in held]),
        [crops[i][1] for i in held],
        args.misses,
    )
    if dev:
        report(
            "dev split (15% of the others, not trained on)",
            reader.read([crops[i][0] for i in dev]),
            [crops[i][1] for i in dev],
            args.misses,
        )
    batch10 = [crops[i][0] for i in held[:10]]
    reader.read(batch10)
    t0 = time.perf_counter()
    for _ in range(10):
        reader.read(batch10)
    print(f"inference: {(time.perf_counter() - t0) * 100:.1f} ms per batch of 10 crops (1 thread)")
    print(f"total time {(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
