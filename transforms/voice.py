"""Voice conversion to a keyed pseudo-speaker with the WORLD vocoder (pyworld).

The pseudo-speaker is drawn from a keyed seed (HMAC of the run's secret and the
speaker id, or the utterance id in utterance mode): a target median pitch, a
pitch-contour spread and a spectral-envelope warp factor. The source's f0
contour is normalised to the target's statistics, so the output pitch does
not depend on the source speaker's own pitch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyworld as pw

from transforms.identity import unit_floats
from transforms.stage import Stage


@dataclass(frozen=True)
class VoiceParams:
    f0_median_hz: float
    f0_spread: float
    formant_ratio: float


def derive_params(seed: bytes, voice_cfg: dict) -> VoiceParams:
    u = unit_floats(seed, 3)
    log_lo, log_hi = np.log(voice_cfg["f0_min_hz"]), np.log(voice_cfg["f0_max_hz"])
    f0 = float(np.exp(log_lo + u[0] * (log_hi - log_lo)))
    spread = voice_cfg["f0_spread_min"] + u[1] * (voice_cfg["f0_spread_max"] - voice_cfg["f0_spread_min"])
    formant = voice_cfg["formant_min"] + u[2] * (voice_cfg["formant_max"] - voice_cfg["formant_min"])
    return VoiceParams(f0, float(spread), float(formant))


def map_f0(f0: np.ndarray, params: VoiceParams) -> np.ndarray:
    """Normalise voiced log-f0 to the target median and spread; unvoiced frames stay 0."""
    voiced = f0 > 0
    out = np.zeros_like(f0)
    if not voiced.any():
        return out
    log_f0 = np.log(f0[voiced])
    centre = np.median(log_f0)
    out[voiced] = np.exp(np.log(params.f0_median_hz) + (log_f0 - centre) * params.f0_spread)
    return out


def warp_envelope(sp: np.ndarray, ratio: float) -> np.ndarray:
    """Stretch the spectral envelope along frequency: ratio > 1 raises formants."""
    bins = sp.shape[1]
    source_bins = np.arange(bins) / ratio
    source_bins = np.clip(source_bins, 0, bins - 1)
    low = np.floor(source_bins).astype(int)
    high = np.minimum(low + 1, bins - 1)
    frac = source_bins - low
    return sp[:, low] * (1.0 - frac) + sp[:, high] * frac


def convert(audio: np.ndarray, sample_rate: int, params: VoiceParams, frame_period_ms: float = 5.0) -> np.ndarray:
    """The converted waveform, same length as the input."""
    x = audio.astype(np.float64)
    f0, times = pw.dio(x, sample_rate, frame_period=frame_period_ms)
    f0 = pw.stonemask(x, f0, times, sample_rate)
    sp = pw.cheaptrick(x, f0, times, sample_rate)
    ap = pw.d4c(x, f0, times, sample_rate)
    y = pw.synthesize(map_f0(f0, params), np.ascontiguousarray(warp_envelope(sp, params.formant_ratio)), ap,
                      sample_rate, frame_period_ms)
    y = y[: len(x)] if len(y) >= len(x) else np.pad(y, (0, len(x) - len(y)))
    peak = np.max(np.abs(y)) if len(y) else 0.0
    if peak > 0.99:
        y = y * (0.99 / peak)
    return y.astype(np.float32)


def median_f0(audio: np.ndarray, sample_rate: int) -> float:
    """Median f0 of voiced frames (0 when nothing is voiced); used by tests and the evaluation."""
    x = audio.astype(np.float64)
    f0, times = pw.dio(x, sample_rate, frame_period=5.0)
    f0 = pw.stonemask(x, f0, times, sample_rate)
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if len(voiced) else 0.0


class ConvertVoice(Stage):
    name = "voice"

    def __init__(self, voice_cfg: dict):
        super().__init__()
        self.voice_cfg = voice_cfg

    def apply(self, record):
        params = derive_params(record.voice_seed, self.voice_cfg)
        record.audio = convert(record.audio, record.sample_rate, params, self.voice_cfg["frame_period_ms"])
        yield record
