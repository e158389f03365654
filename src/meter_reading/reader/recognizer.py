"""The seven-segment display recognizer: one display line in, its reading out (ONNX, CPU).

A small CRNN (convolutions -> one feature vector per image column -> BiGRU -> CTC) trained by
``training/train_display_recognizer.py`` on real display crops and synthetic displays. It
outputs the decimal point as a symbol: the register's tenths digit (smaller, or in its own
cell) comes out after a ``.`` even where the dot itself is faint.

Runs with numpy, Pillow and onnxruntime only (what the Lambda ships; no OpenCV).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from PIL import Image

#: CTC classes: index 0 is the blank, then these characters.
ALPHABET = "0123456789."
POINT = ALPHABET.index(".") + 1
#: The model's input: one grey channel, HEIGHT x WIDTH.
HEIGHT = 40
WIDTH = 320
DEFAULT_MODEL = Path(__file__).parent / "models" / "display_digits.onnx"

FloatArray = npt.NDArray[np.float32]


def preprocess(crop: npt.NDArray[Any]) -> FloatArray:
    """An RGB (or grey) uint8 crop -> float32 HEIGHT x WIDTH in 0..1, contrast stretched.

    The crop keeps its aspect ratio: scaled to HEIGHT (or to WIDTH when it is wider than
    that), placed at the left and padded with its median grey. Training uses this same
    function, so what the model saw in training is what it sees at run time.
    """
    arr = np.asarray(crop)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 3:
        image = Image.fromarray(np.ascontiguousarray(arr[:, :, :3]), "RGB").convert("L")
    elif arr.ndim == 2:
        image = Image.fromarray(np.ascontiguousarray(arr), "L")
    else:
        raise ValueError(f"a crop is H x W or H x W x 3, not {arr.shape}")
    w, h = image.size
    if w == 0 or h == 0:
        return np.full((HEIGHT, WIDTH), 0.5, dtype=np.float32)
    scale = min(HEIGHT / h, WIDTH / w)
    nh = max(1, min(HEIGHT, round(h * scale)))
    nw = max(1, min(WIDTH, round(w * scale)))
    small = np.asarray(image.resize((nw, nh), Image.Resampling.BILINEAR), dtype=np.float32)
    lo, hi = np.percentile(small, (2.0, 98.0))
    small = np.clip((small - lo) / max(float(hi - lo), 10.0), 0.0, 1.0)
    out = np.full((HEIGHT, WIDTH), float(np.median(small)), dtype=np.float32)
    top = (HEIGHT - nh) // 2
    out[top : top + nh, :nw] = small
    return out


def decode(probs: FloatArray) -> tuple[str, float]:
    """Greedy CTC decode of T x C probabilities -> (text, score).

    The score is the lowest peak probability of the characters read (0 when nothing is
    read), lowered where the model saw a decimal point it did not output. At most one
    point is kept (the surest one); a point with no digit on one side is dropped.
    """
    best = probs.argmax(axis=1)
    chars: list[int] = []
    peaks: list[float] = []
    frames: list[int] = []
    prev = 0
    for t, k in enumerate(best.tolist()):
        if k != 0 and k != prev:
            chars.append(k)
            peaks.append(float(probs[t, k]))
            frames.append(t)
        elif k != 0 and k == prev:
            peaks[-1] = max(peaks[-1], float(probs[t, k]))
        prev = k
    points = [i for i, k in enumerate(chars) if k == POINT]
    if len(points) > 1:
        keep = max(points, key=lambda i: peaks[i])
        drop = set(points) - {keep}
        chars = [k for i, k in enumerate(chars) if i not in drop]
        peaks = [p for i, p in enumerate(peaks) if i not in drop]
        frames = [f for i, f in enumerate(frames) if i not in drop]
    while chars and chars[0] == POINT:
        chars, peaks, frames = chars[1:], peaks[1:], frames[1:]
    while chars and chars[-1] == POINT:
        chars, peaks, frames = chars[:-1], peaks[:-1], frames[:-1]
    if not chars:
        return "", 0.0
    score = min(peaks)
    # A point the model half-saw but did not output makes the value uncertain too.
    near = np.zeros(len(best), dtype=bool)
    for i, k in enumerate(chars):
        if k == POINT:
            near[max(0, frames[i] - 2) : frames[i] + 3] = True
    missed = probs[~near, POINT]
    if missed.size:
        score = min(score, 1.0 - float(missed.max()))
    text = "".join(ALPHABET[k - 1] for k in chars)
    return text, max(0.0, min(1.0, score))


def cpu_session(model_path: Path) -> ort.InferenceSession:
    """An ONNX model on the CPU with one thread: a Lambda's share of a core, and the reader
    runs its models one after the other."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
    )


class DisplayRecognizer:
    """Reads display-line crops with the packaged ONNX model (one intra-op thread)."""

    def __init__(self, model_path: Path | None = None) -> None:
        self._session = cpu_session(model_path or DEFAULT_MODEL)
        self._input = self._session.get_inputs()[0].name

    def probabilities(self, crops: Sequence[npt.NDArray[np.uint8]]) -> FloatArray:
        """N x T x C per-column class probabilities of the crops, in one batched run."""
        batch = np.stack([preprocess(c) for c in crops])[:, None, :, :]
        outputs: list[Any] = self._session.run(None, {self._input: batch})
        logits = np.asarray(outputs[0], dtype=np.float32)
        logits = logits - logits.max(axis=2, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=2, keepdims=True)
        return np.asarray(probs, dtype=np.float32)

    def read(self, crops: Sequence[npt.NDArray[np.uint8]]) -> list[tuple[str, float]]:
        """RGB uint8 crops (one upright display line each) -> (text, score 0..1) per crop."""
        if not crops:
            return []
        return [decode(p) for p in self.probabilities(crops)]
