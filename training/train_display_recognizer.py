"""Train the small seven-segment display recognizer and export it to ONNX.

    pip install -e '.[train]'
    python training/train_display_recognizer.py [--data ../shared/display-crops] [--steps N]

Trains a tiny CRNN (conv -> per-column features -> BiGRU -> CTC over
"0123456789." + blank) on the electricity display crops (plus synthetic
seven-segment renderings), heavily augmented so that it also reads the looser
crops cut around a text detector's box. A fixed-seed 15% of the crops is held
out and its exact-match accuracy is printed; ``--all`` trains on every crop.
The model is exported to src/meter_reading/local/models/display_digits.onnx.
Never train on ../shared/meter-photos (the pipeline's evaluation set).
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from meter_reading.local.display_reader import (
    ALPHABET,
    HEIGHT,
    WIDTH,
    DisplayDigitReader,
    decode,
    preprocess,
)
from meter_reading.local.sample_photo import SEGMENTS_LIT

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "display-crops"
OUTPUT = ROOT / "src" / "meter_reading" / "local" / "models" / "display_digits.onnx"
SEED = 1234
HOLDOUT = 0.15


def split(labels: list[tuple[str, str]]) -> tuple[list[int], list[int]]:
    """Fixed-seed train / held-out indices (also used by the tests)."""
    order = list(range(len(labels)))
    random.Random(SEED).shuffle(order)
    n_hold = round(len(labels) * HOLDOUT)
    return sorted(order[n_hold:]), sorted(order[:n_hold])


def load_labels(data: Path) -> list[tuple[str, str]]:
    with (data / "labels.csv").open() as f:
        return [(r["file"], r["reading"]) for r in csv.DictReader(f)]


# --- synthetic seven-segment renderings -------------------------------------


def _segment_polys(x: float, y: float, w: float, h: float, t: float) -> dict[str, np.ndarray]:
    """Hexagonal segment polygons of one digit cell (x, y top-left, w x h)."""
    g = t * 0.15

    def hseg(cx0: float, cx1: float, cy: float) -> np.ndarray:
        return np.array(
            [
                (cx0 + g, cy),
                (cx0 + g + t / 2, cy - t / 2),
                (cx1 - g - t / 2, cy - t / 2),
                (cx1 - g, cy),
                (cx1 - g - t / 2, cy + t / 2),
                (cx0 + g + t / 2, cy + t / 2),
            ]
        )

    def vseg(cx: float, cy0: float, cy1: float) -> np.ndarray:
        return np.array(
            [
                (cx, cy0 + g),
                (cx + t / 2, cy0 + g + t / 2),
                (cx + t / 2, cy1 - g - t / 2),
                (cx, cy1 - g),
                (cx - t / 2, cy1 - g - t / 2),
                (cx - t / 2, cy0 + g + t / 2),
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


def synth(rng: random.Random) -> tuple[np.ndarray, str]:
    """A clean-ish seven-segment display crop (BGR) and its text."""
    n = rng.randint(3, 8)
    digits = "".join(rng.choice("0123456789") for _ in range(n))
    if rng.random() < 0.5:
        digits = "0" * rng.randint(0, 3) + digits[rng.randint(0, 2) :]
    digits = digits[:8] or "0"
    has_dp = len(digits) >= 2 and rng.random() < 0.5
    H = rng.randint(30, 60)
    dh = H * rng.uniform(0.65, 0.85)
    dw = dh * rng.uniform(0.45, 0.65)
    t = dh * rng.uniform(0.08, 0.16)
    gap = dw * rng.uniform(0.25, 0.6)
    slant = rng.uniform(-0.05, 0.25)
    W = int(dw * len(digits) + gap * (len(digits) + 1) + dw)
    bg = np.array([rng.randint(110, 230) for _ in range(3)], dtype=np.float64)
    fg = bg * rng.uniform(0.05, 0.45)
    img = np.zeros((H, W, 3), np.uint8)
    img[:] = bg.astype(np.uint8)
    ghost = bg * rng.uniform(0.85, 0.97) if rng.random() < 0.4 else None
    y = (H - dh) / 2
    x = gap
    text = ""
    for i, d in enumerate(digits):
        small = has_dp and i == len(digits) - 1 and rng.random() < 0.5
        sh = dh * (0.7 if small else 1.0)
        sw = dw * (0.7 if small else 1.0)
        sy = y + (dh - sh)
        if has_dp and i == len(digits) - 1:
            r = max(1, round(t * 0.6))
            cv2.circle(img, (int(x - gap / 2), int(y + dh - r)), r, fg.tolist(), -1, cv2.LINE_AA)
            text += "."
        polys = _segment_polys(x, sy, sw, sh, t * (0.8 if small else 1.0))
        for seg, poly in polys.items():
            p = poly.copy()
            p[:, 0] += (sy + sh - p[:, 1]) * slant
            lit = seg in SEGMENTS_LIT[d]
            if not lit and ghost is None:
                continue
            colour = fg if lit else ghost
            assert colour is not None
            pts = np.round(p * 4).astype(np.int32)
            cv2.fillPoly(img, [pts], colour.tolist(), cv2.LINE_AA, shift=2)
        text += d
        x += sw + gap
    return img[:, : int(min(W, x + gap * 0.5 + dw * 0.1))], text


# --- augmentation ------------------------------------------------------------


def augment(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Margins, geometry, blur, contrast, noise, inversion, JPEG -> BGR uint8."""
    h, w = img.shape[:2]
    # Small trims (detector boxes can be tight), then margins (they can be loose).
    top = rng.randint(0, int(0.08 * h))
    bot = rng.randint(0, int(0.08 * h))
    left = rng.randint(0, int(0.015 * w))
    right = rng.randint(0, int(0.015 * w))
    img = img[top : h - bot or None, left : w - right or None]
    h, w = img.shape[:2]
    ml = int(rng.uniform(0, 1.5) ** 2 / 1.5 * h) if rng.random() < 0.8 else 0
    mr = int(rng.uniform(0, 1.5) ** 2 / 1.5 * h) if rng.random() < 0.8 else 0
    mt = int(rng.uniform(0, 0.25) * h)
    mb = int(rng.uniform(0, 0.25) * h)
    border = rng.choice([cv2.BORDER_REPLICATE, cv2.BORDER_CONSTANT])
    fill = [float(v) for v in np.median(img.reshape(-1, 3), axis=0)]
    big = cv2.copyMakeBorder(img, mt, mb, ml, mr, border, value=fill)
    if border == cv2.BORDER_CONSTANT and rng.random() < 0.5:
        # a display frame or a label beside the digits
        colour = [rng.randint(0, 255)] * 3
        for _ in range(rng.randint(1, 3)):
            side = rng.choice(["l", "r", "t", "b"])
            th = rng.randint(1, max(1, h // 6))
            H2, W2 = big.shape[:2]
            if side == "l" and ml > 2:
                x = rng.randint(0, ml - 1)
                cv2.rectangle(big, (x, 0), (x + th, H2), colour, -1)
            elif side == "r" and mr > 2:
                x = W2 - rng.randint(1, mr)
                cv2.rectangle(big, (x, 0), (x + th, H2), colour, -1)
            elif side == "t" and mt > 1:
                cv2.rectangle(big, (0, 0), (W2, rng.randint(0, mt)), colour, -1)
            elif side == "b" and mb > 1:
                cv2.rectangle(big, (0, H2 - rng.randint(1, mb)), (W2, H2), colour, -1)
    img = big
    h, w = img.shape[:2]
    # Perspective / rotation / shear.
    d = 0.04 * h
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = src + np.float32([[rng.uniform(-d, d), rng.uniform(-d, d)] for _ in range(4)])
    shear = rng.uniform(-0.15, 0.15) * h
    dst[0, 0] += shear
    dst[1, 0] += shear
    ang = math.radians(rng.uniform(-3, 3))
    c, s = math.cos(ang), math.sin(ang)
    centre = np.float32([w / 2, h / 2])
    dst = (dst - centre) @ np.float32([[c, -s], [s, c]]).T + centre
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    img = cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    # Scale jitter (resolution loss).
    if rng.random() < 0.5:
        f = rng.uniform(0.35, 1.0)
        small = cv2.resize(img, (max(4, int(w * f)), max(4, int(h * f))))
        img = cv2.resize(small, (w, h))
    if rng.random() < 0.4:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5) * h / 32)
    out = img.astype(np.float32)
    out = (out - 128) * rng.uniform(0.4, 1.4) + 128 + rng.uniform(-50, 50)
    if rng.random() < 0.3:  # uneven lighting
        grad = np.linspace(rng.uniform(-40, 40), rng.uniform(-40, 40), w, dtype=np.float32)
        out += grad[None, :, None]
    out += np.float32(rng.uniform(0, 12)) * np.random.standard_normal(out.shape).astype(np.float32)
    if rng.random() < 0.1:
        out = 255 - out
    img = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(15, 80)])
        if ok:
            img = cv2.imdecode(enc, cv2.IMREAD_COLOR)
    return img


# --- model -------------------------------------------------------------------


class CRNN(nn.Module):
    def __init__(self, n_classes: int = len(ALPHABET) + 1, hidden: int = 48) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *block(1, 16),
            nn.MaxPool2d(2),  # 16 x 128
            *block(16, 32),
            nn.MaxPool2d(2),  # 8 x 64
            *block(32, 64),
            *block(64, 64),
            nn.MaxPool2d((2, 1)),  # 4 x 64
            nn.Conv2d(64, 96, (4, 1), bias=False),  # 1 x 64
            nn.BatchNorm2d(96),
            nn.ReLU(),
            nn.Dropout(0.1),
        )
        self.rnn = nn.GRU(96, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x).squeeze(2).permute(0, 2, 1)  # N x T x C
        f, _ = self.rnn(f)
        return self.head(f)  # logits N x T x classes


def encode(text: str) -> list[int]:
    return [ALPHABET.index(c) + 1 for c in text]


def evaluate(
    reads: list[tuple[str, float]], truth: list[str]
) -> tuple[float, float, list[tuple[str, str, float]]]:
    exact = sum(r == t for (r, _), t in zip(reads, truth, strict=True))
    digits = sum(
        r.replace(".", "") == t.replace(".", "") for (r, _), t in zip(reads, truth, strict=True)
    )
    misses = [(t, r, s) for (r, s), t in zip(reads, truth, strict=True) if r != t]
    return exact / len(truth), digits / len(truth), misses


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--synthetic", type=float, default=0.3, help="share of synthetic samples")
    ap.add_argument("--hidden", type=int, default=48, help="BiGRU hidden size")
    ap.add_argument("--all", action="store_true", help="train on every crop (no held-out)")
    ap.add_argument("--out", type=Path, default=OUTPUT)
    args = ap.parse_args()

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    rng = random.Random(SEED)
    torch.set_num_threads(2)
    cv2.setNumThreads(1)

    labels = load_labels(args.data)
    images = [cv2.imread(str(args.data / "images" / f), cv2.IMREAD_COLOR) for f, _ in labels]
    train_idx, hold_idx = split(labels)
    if args.all:
        train_idx = list(range(len(labels)))
    print(f"{len(train_idx)} training crops, {len(hold_idx)} held out")

    model = CRNN(hidden=args.hidden)
    print("parameters:", sum(p.numel() for p in model.parameters()))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=3e-3, total_steps=args.steps, pct_start=0.15
    )

    def held_out_reads(m: nn.Module) -> list[tuple[str, float]]:
        m.eval()
        batch = np.stack([preprocess(images[i]) for i in hold_idx])[:, None]
        with torch.no_grad():
            probs = m(torch.from_numpy(batch)).softmax(2).numpy()
        m.train()
        return [decode(p) for p in probs]

    start = time.time()
    for step in range(1, args.steps + 1):
        xs, targets, lengths = [], [], []
        for _ in range(args.batch):
            if rng.random() < args.synthetic:
                img, text = synth(rng)
            else:
                i = rng.choice(train_idx)
                img, text = images[i], labels[i][1]
            xs.append(preprocess(augment(img, rng)))
            targets += encode(text)
            lengths.append(len(text))
        x = torch.from_numpy(np.stack(xs)[:, None])
        logp = model(x).log_softmax(2).permute(1, 0, 2)  # T x N x C
        in_len = torch.full((len(xs),), logp.shape[0], dtype=torch.long)
        loss = F.ctc_loss(
            logp, torch.tensor(targets), in_len, torch.tensor(lengths), zero_infinity=True
        )
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        if step % 250 == 0 or step == args.steps:
            msg = f"step {step} loss {loss.item():.3f} {time.time() - start:.0f}s"
            if hold_idx and not args.all:
                ex, dg, _ = evaluate(held_out_reads(model), [labels[i][1] for i in hold_idx])
                msg += f" held-out exact {ex:.3f} digits {dg:.3f}"
            print(msg, flush=True)

    model.eval()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (torch.zeros(1, 1, HEIGHT, WIDTH),),
        str(args.out),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    print(f"exported {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")

    # Check the exported model through the runtime class.
    reader = DisplayDigitReader(args.out)
    reads = reader.read([images[i] for i in hold_idx])
    ex, dg, misses = evaluate(reads, [labels[i][1] for i in hold_idx])
    tag = "(trained on these too)" if args.all else ""
    print(f"ONNX held-out exact {ex:.3f}, digits only {dg:.3f} {tag}")
    for t, r, s in misses:
        print(f"  miss: truth {t!r} read {r!r} score {s:.2f}")
    ok_scores = [s for (r, s), i in zip(reads, hold_idx, strict=True) if r == labels[i][1]]
    bad_scores = [s for t, r, s in misses]
    if ok_scores and bad_scores:
        print(
            f"score right: min {min(ok_scores):.2f} median {np.median(ok_scores):.2f}; "
            f"wrong: max {max(bad_scores):.2f} median {np.median(bad_scores):.2f}"
        )


if __name__ == "__main__":
    main()
