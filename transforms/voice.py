"""Voice conversion to a keyed pseudo-speaker with the WORLD vocoder (pyworld).

The pseudo-speaker is drawn from a keyed seed (HMAC of the run's secret and the
speaker id, or the utterance id in utterance mode). `anonymize` applies it with
the configured method: `resynthesize` (transforms.resynth, the default) speaks
the transcript again with a synthetic voice; `warp` (this module's `convert`)
converts the source's own voice, taking away what a speaker-verification model
keys on and keeping the words:
- pitch: the source's log-f0 contour is normalised to the pseudo-speaker's
  median and spread, so the output pitch does not depend on the source's;
- vocal-tract length (optional, normalize_vtl): the source's own warp factor,
  estimated from its median formants, is divided out before the pseudo-speaker's
  is applied; the combined warp is capped (max_warp), since extreme warps cost
  far more words than they hide;
- formant pattern: a piecewise-linear frequency warp with a keyed slope per band
  moves each formant region by its own ratio; the overall ratio is never within
  warp_floor of 1, the one step that raised the ignorant EER at no cost in words;
- aperiodicity: replaced by a keyed breathiness profile;
- high band: above high_band_hz each frame keeps its level but takes the
  pseudo-speaker's straight tilt instead of its own shape (much of what a
  verifier keys on lies there, little of what Whisper needs).
Below high_band_hz the envelope keeps its fine detail and long-term tilt:
cepstral smoothing and a tilt replaced over the whole band were measured to cost
words without hiding the speaker better (docs/voice-conversion.md, "How the warp
method's settings were chosen").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyworld as pw

from transforms.asr import split_words
from transforms.audio_io import parts_at_quiet
from transforms.identity import unit_floats
from transforms.stage import Stage

# Source-frequency band edges (Hz) of the piecewise-linear warp: roughly F1, F2, F3, F4 regions and above.
WARP_EDGES_HZ = (0.0, 700.0, 1800.0, 2800.0, 4000.0, 8000.0)
POWER_DB_PER_NEPER = 10.0 / np.log(10.0)


@dataclass(frozen=True)
class VoiceParams:
    f0_median_hz: float
    f0_spread: float
    formant_ratio: float
    band_slopes: tuple          # relative slope of each warp band (1 = the overall ratio)
    breathiness: float          # 0..1: how far aperiodicity is raised in voiced frames
    aperiodic_cutoff_hz: float  # above this, voiced frames turn aperiodic
    normalize_vtl: bool = False  # divide out the source's own vocal-tract warp before applying the target's
    max_warp: float = 0.0       # the combined warp stays within [1/max_warp, max_warp] (0 = no cap)
    high_band_hz: float = 0.0   # above this the envelope's shape is replaced (0 = kept)
    high_band_tilt_db: float = 0.0  # the replacement's slope, dB (power) per octave
    tts_voice: str = ""         # the synthetic voice that speaks the words (method resynthesize)
    tts_warp: float = 1.0       # frequency warp of the synthetic voice's envelope (method resynthesize)
    noise_floor_dbfs: float = 0.0  # level of the comfort noise under the resynthesis (0 = none)


def _between(u: float, low: float, high: float) -> float:
    return float(low + u * (high - low))


def derive_params(seed: bytes, voice_cfg: dict) -> VoiceParams:
    u = unit_floats(seed, 8 + len(WARP_EDGES_HZ))
    log_lo, log_hi = np.log(voice_cfg["f0_min_hz"]), np.log(voice_cfg["f0_max_hz"])
    f0 = float(np.exp(log_lo + u[0] * (log_hi - log_lo)))
    spread = _between(u[1], voice_cfg["f0_spread_min"], voice_cfg["f0_spread_max"])
    formant = draw_warp(u[2], voice_cfg["formant_min"], voice_cfg["formant_max"], voice_cfg["warp_floor"])
    jitter = voice_cfg["band_jitter"]
    slopes = tuple(float(np.exp(_between(v, -jitter, jitter))) for v in u[8:8 + len(WARP_EDGES_HZ) - 1])
    breath = _between(u[4], 0.0, voice_cfg["breathiness_max"])
    cutoff = _between(u[5], 2500.0, 6000.0)
    # Its own keyed stream, so that the other draws stay what they were before the high band was added.
    tilt = _between(unit_floats(seed + b"highband", 1)[0], voice_cfg["high_band_tilt_max_db"],
                    voice_cfg["high_band_tilt_min_db"])
    bank = voice_cfg["tts_voices"]
    voice_draw, warp_draw = unit_floats(seed + b"ttsvoice", 2)
    tts_voice = bank[min(int(voice_draw * len(bank)), len(bank) - 1)]
    tts_warp = float(np.exp(_between(warp_draw, np.log(voice_cfg["tts_formant_min"]),
                                     np.log(voice_cfg["tts_formant_max"]))))
    return VoiceParams(f0, spread, formant, slopes, breath, cutoff, voice_cfg["normalize_vtl"],
                       voice_cfg["max_warp"], voice_cfg["high_band_hz"], tilt, tts_voice, tts_warp,
                       voice_cfg["noise_floor_dbfs"])


def draw_warp(u: float, low: float, high: float, floor: float) -> float:
    """The overall warp factor, log-uniform over [low, 1/floor] and [floor, high]: at least `floor` away from
    1 either way, so that no pseudo-voice keeps the source's own formant frequencies."""
    below = max(0.0, np.log(1.0 / floor) - np.log(low))
    above = max(0.0, np.log(high) - np.log(floor))
    t = u * (below + above)
    return float(np.exp(np.log(low) + t if t < below else np.log(floor) + (t - below)))


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


def warp_source_bins(bins: int, sample_rate: int, ratio: float, slopes: tuple) -> np.ndarray:
    """For each output bin, the (fractional) source bin it takes its envelope value from.

    The warp maps source frequency to output frequency with slope ratio*slope_k in band k; it is monotonic,
    so formants keep their order."""
    nyquist = sample_rate / 2
    edges = np.array(WARP_EDGES_HZ) * (nyquist / 8000.0)
    out_edges = np.concatenate([[0.0], np.cumsum(np.diff(edges) * ratio * np.array(slopes))])
    # Beyond the last edge, continue with the last band's slope.
    out_edges = np.append(out_edges, out_edges[-1] + nyquist * ratio * slopes[-1])
    src_edges = np.append(edges, edges[-1] + nyquist)
    out_hz = np.arange(bins) * nyquist / (bins - 1)
    return np.clip(np.interp(out_hz, out_edges, src_edges) / nyquist * (bins - 1), 0, bins - 1)


def resample_bins(spectra: np.ndarray, source_bins: np.ndarray) -> np.ndarray:
    bins = spectra.shape[1]
    low = np.floor(source_bins).astype(int)
    high = np.minimum(low + 1, bins - 1)
    frac = source_bins - low
    return spectra[:, low] * (1.0 - frac) + spectra[:, high] * frac


def replace_high_band(log_sp: np.ndarray, freqs: np.ndarray, cutoff_hz: float, tilt_db: float) -> np.ndarray:
    """Above `cutoff_hz` (a 150 Hz logistic crossfade) each frame's log envelope becomes its own mean over the
    band, so loudness and fricatives stay, plus a straight tilt of `tilt_db` (power) per octave."""
    above = freqs > cutoff_hz
    if not above.any():
        return log_sp
    weight = 1.0 / (1.0 + np.exp(-(freqs - cutoff_hz) / 150.0))
    tilt = tilt_db / POWER_DB_PER_NEPER * np.log2(np.maximum(freqs, 1.0) / cutoff_hz)
    tilt -= tilt[above].mean()
    flat = log_sp[:, above].mean(axis=1, keepdims=True) + tilt[None, :]
    return (1.0 - weight) * log_sp + weight * flat


def convert(audio: np.ndarray, sample_rate: int, params: VoiceParams, frame_period_ms: float = 5.0) -> np.ndarray:
    """The converted waveform, same length as the input."""
    x = audio.astype(np.float64)
    f0, times = track_f0(x, sample_rate, frame_period_ms)
    sp = pw.cheaptrick(x, f0, times, sample_rate)
    bins = sp.shape[1]
    voiced = f0 > 0
    freqs = np.arange(bins) * sample_rate / 2 / (bins - 1)
    # The source's aperiodicity (breathiness, a voice-quality cue) is not measured at all. Skipping D4C also
    # halves the analysis time.
    ap = pseudo_aperiodicity(voiced, freqs, params)
    log_sp = np.log(np.maximum(sp, 1e-16))
    ratio = params.formant_ratio
    if params.normalize_vtl and voiced.sum() > 10:
        ratio = ratio / estimate_warp(sp[voiced], sample_rate)
    if params.max_warp:
        ratio = float(np.clip(ratio, 1.0 / params.max_warp, params.max_warp))
    log_sp = resample_bins(log_sp, warp_source_bins(bins, sample_rate, ratio, params.band_slopes))
    if params.high_band_hz:
        log_sp = replace_high_band(log_sp, freqs, params.high_band_hz, params.high_band_tilt_db)
    return synthesize_to_length(map_f0(f0, params), log_sp, ap, sample_rate, frame_period_ms, len(x))


def pseudo_aperiodicity(voiced: np.ndarray, freqs: np.ndarray, params: VoiceParams) -> np.ndarray:
    """WORLD aperiodicity per frame and bin: the pseudo-speaker's breathiness profile in voiced frames, all
    noise in unvoiced ones."""
    ap = np.ones((len(voiced), len(freqs)))
    ap[voiced] = 0.001 + params.breathiness / (1.0 + np.exp(-(freqs - params.aperiodic_cutoff_hz) / 400.0))
    return np.clip(ap, 0.001, 0.999)


def synthesize_to_length(f0: np.ndarray, log_sp: np.ndarray, ap: np.ndarray, sample_rate: int,
                         frame_period_ms: float, length: int) -> np.ndarray:
    """WORLD synthesis cut or padded to `length` samples, its peak kept within 0.99, as float32."""
    y = pw.synthesize(f0, np.ascontiguousarray(np.exp(log_sp)), np.ascontiguousarray(ap), sample_rate,
                      frame_period_ms)
    y = y[:length] if len(y) >= length else np.pad(y, (0, length - len(y)))
    return limit_peak(y)


def limit_peak(y: np.ndarray, limit: float = 0.99) -> np.ndarray:
    """`y` scaled down, if need be, so that its peak is within `limit`, as float32."""
    peak = np.max(np.abs(y)) if len(y) else 0.0
    if peak > limit:
        y = y * (limit / peak)
    return y.astype(np.float32)


def estimate_warp(sp_voiced: np.ndarray, sample_rate: int, order: int = 14, step: int = 4) -> float:
    """The source's vocal-tract warp factor relative to a 17.5 cm uniform tube (F1-F3 = 500, 1500, 2500 Hz):
    the geometric mean of its median F1..F3 over those references. Formants are the roots of an LPC fit to
    every `step`-th voiced frame's WORLD envelope (its power spectrum gives the autocorrelation directly)."""
    frames = sp_voiced[::step]
    r = np.fft.irfft(frames, axis=1)[:, :order + 1]
    a = np.zeros((len(frames), order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    for i in range(1, order + 1):  # Levinson-Durbin, all frames at once
        k = -(r[:, i] + np.sum(a[:, 1:i] * r[:, i - 1:0:-1], axis=1)) / err
        a[:, 1:i] = a[:, 1:i] + k[:, None] * a[:, i - 1:0:-1]
        a[:, i] = k
        err = err * (1.0 - k ** 2)
    companion = np.zeros((len(frames), order, order))
    companion[:, 0, :] = -a[:, 1:]
    companion[:, np.arange(1, order), np.arange(order - 1)] = 1.0
    roots = np.linalg.eigvals(companion)
    freq = np.angle(roots) * sample_rate / (2 * np.pi)
    bandwidth = -np.log(np.abs(roots) + 1e-12) * sample_rate / np.pi
    candidates = np.where((freq > 200) & (freq < 4500) & (bandwidth < 500), freq, np.inf)
    lowest = np.sort(candidates, axis=1)[:, :3]
    lowest = lowest[np.isfinite(lowest).all(axis=1)]
    if len(lowest) < 5:
        return 1.0
    ratios = np.median(lowest, axis=0) / np.array([500.0, 1500.0, 2500.0])
    return float(np.clip(np.exp(np.mean(np.log(ratios))), 0.8, 1.25))


def track_f0(audio: np.ndarray, sample_rate: int, frame_period_ms: float = 5.0, range_hz: tuple = (71.0, 800.0),
             voicing_tolerance: float = 0.1) -> tuple:
    """f0 per frame in Hz (0 where unvoiced) by DIO within `range_hz`, refined by StoneMask, and the frames'
    times. The defaults are DIO's own."""
    x = audio.astype(np.float64, copy=False)
    f0, times = pw.dio(x, sample_rate, f0_floor=range_hz[0], f0_ceil=range_hz[1], frame_period=frame_period_ms,
                       allowed_range=voicing_tolerance)
    return pw.stonemask(x, f0, times, sample_rate), times


def f0_contour(audio: np.ndarray, sample_rate: int, frame_period_ms: float = 5.0) -> np.ndarray:
    """f0 per frame in Hz, 0 where unvoiced."""
    return track_f0(audio, sample_rate, frame_period_ms)[0]


def median_f0(audio: np.ndarray, sample_rate: int) -> float:
    """Median f0 of voiced frames (0 when nothing is voiced); used by tests and the evaluation."""
    f0 = f0_contour(audio, sample_rate)
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if len(voiced) else 0.0


def anonymize(audio: np.ndarray, sample_rate: int, seed: bytes, voice_cfg: dict, words: list = (),
              out: np.ndarray | None = None) -> np.ndarray:
    """The pipeline's conversion of one utterance: the pseudo-voice of `seed`, applied. Method `resynthesize`
    speaks `words` (the transcript's, with times) again; `warp` converts the source's own voice. A record
    longer than voice.segment_s is converted part by part, cut at quiet moments between words (docs/throughput.md, "Long
    records"), every part with the same voice, and written into `out` (float32, the length of `audio`) when
    given, which may be `audio` itself: a part is read before it is written, so the pipeline converts a long
    record without a second copy of it. A record of one part comes back as a new array."""
    params = derive_params(seed, voice_cfg)
    speaks = speaks_transcript(voice_cfg)
    if speaks:
        from transforms.resynth import resynthesize     # resynth builds on this module

    def convert_part(part, part_words):
        if speaks:
            return resynthesize(part, sample_rate, part_words, params, voice_cfg["frame_period_ms"])
        return convert(part, sample_rate, params, voice_cfg["frame_period_ms"])

    bounds = parts_at_quiet(audio, sample_rate, voice_cfg["segment_s"], words if speaks else ())
    if len(bounds) == 1:
        return convert_part(audio, list(words))
    # Each part is written into the output as it is done: a list of parts and their concatenation held the
    # record twice more.
    out = np.empty(len(audio), dtype=np.float32) if out is None else out
    spans = [(a, b - a) for a, b in bounds]
    for (a, b), part_words in zip(bounds, split_words(words, spans, sample_rate)):
        out[a:b] = convert_part(audio[a:b], part_words)
    return out


def speaks_transcript(voice_cfg: dict) -> bool:
    """Whether the configured method needs the utterance's timed words (resynthesize) or only its audio."""
    return voice_cfg["method"] == "resynthesize"


class ConvertVoice(Stage):
    name = "voice"

    def __init__(self, voice_cfg: dict):
        super().__init__()
        self.voice_cfg = voice_cfg

    def apply(self, record):
        record.audio = anonymize(record.audio, record.sample_rate, record.voice_seed, self.voice_cfg, record.words,
                                 out=record.audio)
        yield record
