"""A small dedicated recognizer for seven-segment LCD readings (ONNX, CPU).

The generic text recognizer of the offline OCR engine confuses some
seven-segment digits (a 9 read as 4, a 7 as 9, a thin 1 lost at a gap).
This reader runs a tiny CRNN trained only on electricity-meter display crops
(``training/train_display_recognizer.py``) and gives its reads as extra votes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

#: CTC classes: index 0 is the blank, then these characters.
ALPHABET = "0123456789."
HEIGHT = 32
WIDTH = 256
DEFAULT_MODEL = Path(__file__).parent / "models" / "display_digits.onnx"

FloatArray = npt.NDArray[np.float32]


def preprocess(crop: npt.NDArray[np.uint8]) -> FloatArray:
    """BGR (or grey) crop -> float32 HEIGHT x WIDTH in 0..1, contrast stretched.

    The crop keeps its aspect ratio: scaled to HEIGHT (or to WIDTH when it is
    wider than that) and padded with its median grey. Training uses this too.
    """
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    grey = np.asarray(grey, dtype=np.float32)
    h, w = grey.shape[:2]
    h, w = max(h, 1), max(w, 1)
    scale = min(HEIGHT / h, WIDTH / w)
    nh = max(1, min(HEIGHT, round(h * scale)))
    nw = max(1, min(WIDTH, round(w * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = np.asarray(cv2.resize(grey, (nw, nh), interpolation=interp), dtype=np.float32)
    lo, hi = np.percentile(small, (2.0, 98.0))
    small = np.clip((small - lo) / max(float(hi - lo), 10.0), 0.0, 1.0)
    out = np.full((HEIGHT, WIDTH), float(np.median(small)), dtype=np.float32)
    top = (HEIGHT - nh) // 2
    out[top : top + nh, :nw] = small
    return out


def decode(probs: FloatArray) -> tuple[str, float]:
    """Greedy CTC decode of T x C probabilities -> (text, mean max-probability)."""
    best = probs.argmax(axis=1)
    chars: list[str] = []
    scores: list[float] = []
    prev = 0
    for t, k in enumerate(best.tolist()):
        if k != 0 and k != prev:
            chars.append(ALPHABET[k - 1])
            scores.append(float(probs[t, k]))
        prev = k
    if not chars:
        return "", 0.0
    return "".join(chars), float(np.mean(scores))


class DisplayDigitReader:
    """Reads seven-segment display crops with the packaged ONNX model."""

    def __init__(self, model_path: Path | None = None) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_path or DEFAULT_MODEL),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self._input = self._session.get_inputs()[0].name

    def read(self, crops: Sequence[npt.NDArray[np.uint8]]) -> list[tuple[str, float]]:
        """BGR uint8 crops -> (text, score 0..1) per crop, in one batched run."""
        if not crops:
            return []
        batch = np.stack([preprocess(c) for c in crops])[:, None, :, :]
        outputs: list[Any] = self._session.run(None, {self._input: batch})
        logits = np.asarray(outputs[0], dtype=np.float32)  # N x T x C
        logits = logits - logits.max(axis=2, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=2, keepdims=True)
        return [decode(p) for p in probs]
