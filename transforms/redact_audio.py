"""Audio redaction: the time span of every redacted word is silenced or toned, padded on both sides."""
from __future__ import annotations

import numpy as np

from transforms.records import Rejected, Word
from transforms.stage import Stage


def redaction_windows(words: list[Word], pad_s: float, duration_s: float) -> list[tuple[float, float]]:
    """Padded, merged windows of the PII words. A PII word without a usable time span fails closed.

    Whisper's word times can be early or late, so a window also reaches across the gap to the
    neighbouring words (to the edge of the audio for the first and last word): the gap holds no
    words the transcript kept, but may hold the part of the PII value the times missed.
    """
    windows = []
    for i, w in enumerate(words):
        if not w.pii:
            continue
        if not (np.isfinite(w.start) and np.isfinite(w.end)) or w.end < w.start or w.start > duration_s:
            raise Rejected("pii_span_not_placeable")
        before = words[i - 1].end if i > 0 and np.isfinite(words[i - 1].end) else 0.0
        after = words[i + 1].start if i + 1 < len(words) and np.isfinite(words[i + 1].start) else duration_s
        windows.append((max(0.0, min(w.start - pad_s, before)), min(duration_s, max(w.end + pad_s, after))))
    windows.sort()
    merged: list[tuple[float, float]] = []
    for start, end in windows:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def apply_windows(audio: np.ndarray, sample_rate: int, windows: list[tuple[float, float]], mode: str = "silence",
                  tone_hz: float = 1000.0) -> np.ndarray:
    out = audio.copy()
    for start, end in windows:
        a, b = int(np.floor(start * sample_rate)), int(np.ceil(end * sample_rate))
        b = min(b, len(out))
        if b <= a:
            continue
        if mode == "tone":
            t = np.arange(b - a) / sample_rate
            out[a:b] = (0.1 * np.sin(2 * np.pi * tone_hz * t)).astype(out.dtype)
        else:
            out[a:b] = 0.0
    return out


class RedactAudio(Stage):
    name = "redact_audio"

    def __init__(self, redaction_cfg: dict):
        super().__init__()
        self.cfg = redaction_cfg

    def apply(self, record):
        duration = len(record.audio) / record.sample_rate
        windows = redaction_windows(record.words, self.cfg["pad_ms"] / 1000.0, duration)
        record.audio = apply_windows(record.audio, record.sample_rate, windows, self.cfg["audio"],
                                     self.cfg["tone_hz"])
        yield record
