"""Transcript-driven resynthesis: the utterance is spoken again by a synthetic voice in the source's own
phrase timing, at the pseudo-speaker's pitch, through WORLD.

The signal-processing conversion (transforms.voice.convert) keeps the source's spectral envelope and only moves it;
every variant of it measured left a verifier 15-22 % EER (docs/voice-conversion.md). Here nothing of the source's
envelope, aperiodicity or voice quality reaches the output: the envelope is the synthetic voice's (Festival's HTS
voice or one of Flite's, transforms.synth_voices; the whole utterance read at once), each phrase of it stretched
onto the source phrase's span in Whisper's word times, its level following the source phrase by
phrase, then warped by a small keyed factor; the pitch is the synthetic voice's own intonation normalised to
the pseudo-speaker's median and spread (transforms.voice.map_f0). Carrying the source's intonation over
instead cost 3 points of word error rate (11.4 against 14.5 % on 48 clips): it does not fit the synthetic
voice's syllables. What the source still gives away is its phrase timing and loudness. A fixed noise floor
lies under the whole output, so that its pauses are not digital silence (comfort_noise).

Words the PII step marked are not spoken at all (their span holds only the noise floor before audio redaction
runs).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyworld as pw

from transforms import festival, flite
from transforms.audio_io import resample
from transforms.hts_engine import log_amplitude
from transforms.synth_voices import ENGINES, PITCH_RANGE_HZ
from transforms.voice import (VoiceParams, limit_peak, map_f0, pseudo_aperiodicity, resample_bins,
                              synthesize_to_length, track_f0, warp_source_bins)

GAIN_LIMIT = 20.0            # a phrase's level follows the source's within this factor of the synthetic one's
PHRASE_GAP_S = 0.1           # a pause at least this long in the source's word times starts a new phrase
# DIO's tolerance for the spread of its f0 candidates before it calls a frame unvoiced (its default 0.1), for
# the readings of Flite's voices, which are analysed. At 0.1 it left a third of the HTS voice's frames unvoiced
# where harvest found a fifth, when that voice's wave was analysed too: voiced consonants and vowel edges came
# out as noise, which Whisper misheard (docs/voice-conversion.md, "Voicing of the synthetic reading").
VOICING_TOLERANCE = 0.3


def voice_f0(tts: np.ndarray, sample_rate: int, voice: str, frame_period_ms: float) -> tuple:
    """f0 of a synthetic reading, tracked within the voice's own pitch range, and its frame times."""
    return track_f0(tts, sample_rate, frame_period_ms, PITCH_RANGE_HZ[voice], VOICING_TOLERANCE)


@dataclass
class SyntheticReading:
    """What the resynthesis takes from a synthetic voice's reading of the words."""
    spans: list                 # per token: (start, end) in the reading, seconds, or None when nothing is spoken
    f0: np.ndarray              # per frame of the reading, Hz, 0 where unvoiced
    frame_s: float
    # (times in the reading, f0 at them) -> the WORLD power envelope at those times, the record's FFT bins
    envelope: Callable[[np.ndarray, np.ndarray], np.ndarray]


def read_aloud(tokens: list, voice: str, sample_rate: int, frame_period_ms: float) -> SyntheticReading:
    """The voice's reading of the tokens. Festival's HTS voice gives its model's own trajectories, its envelope
    evaluated at the record's bins and interpolated between the model's frames (transforms.hts_engine); Flite's
    voices give a wave, resampled to the record's rate and analysed with WORLD."""
    fft_size = pw.get_cheaptrick_fft_size(sample_rate)
    if ENGINES[voice] is festival:
        reading = festival.read(tokens, voice)
        model = reading.trajectory
        freqs = np.arange(fft_size // 2 + 1) * sample_rate / fft_size

        def model_envelope(times, _f0):
            low, high, frac = frame_neighbours(times, model.frame_s, len(model.f0))
            frac = frac[:, None]
            cepstra = model.mel_cepstrum[low] * (1.0 - frac) + model.mel_cepstrum[high] * frac
            return np.exp(2.0 * log_amplitude(cepstra, freqs, model.alpha, model.sample_rate))

        return SyntheticReading(reading.spans, model.f0, model.frame_s, model_envelope)
    spoken = flite.speak(tokens, voice)
    tts = resample(spoken.audio, spoken.sample_rate, sample_rate).astype(np.float64)
    f0, _ = voice_f0(tts, sample_rate, voice, frame_period_ms)
    return SyntheticReading(spoken.spans, f0, frame_period_ms / 1000.0,
                            lambda times, f0_at_times: pw.cheaptrick(tts, f0_at_times, times, sample_rate,
                                                                     fft_size=fft_size))


def spoken_tokens(words: list) -> list:
    """The (token, word) pairs to speak: every word with text, a time span and no PII mark; None stands for
    a word that is not spoken (it ends a phrase)."""
    kept = []
    for word in words:
        text = "".join(word.text.split())
        timed = np.isfinite(word.start) and np.isfinite(word.end) and word.end >= word.start
        kept.append((text, word) if text and timed and not word.pii else None)
    return kept


def phrases(kept: list, tts_spans: list, gap_s: float = PHRASE_GAP_S) -> list:
    """Runs of spoken words without a pause or an unspoken word between them, as (source start, source end,
    synthetic start, synthetic end). Within a phrase the synthetic speech keeps its own rhythm and is
    stretched as a whole onto the source's span: Whisper's times are good at pauses and coarse inside a
    phrase, where stretching word by word squeezed short words out of hearing."""
    runs, current = [], None
    spoken = iter(tts_spans)
    for item in kept:
        span = next(spoken) if item is not None else None
        if item is None or span is None:
            current = None
            continue
        word = item[1]
        if current is not None and word.start - current[1] < gap_s:
            current[1], current[3] = max(current[1], word.end), max(current[3], span[1])
        else:
            current = [word.start, word.end, span[0], span[1]]
            runs.append(current)
    return [tuple(r) for r in runs if r[1] > r[0] and r[3] > r[2]]


def frame_times(runs: list, frames: int, frame_s: float) -> tuple:
    """For each output frame, the time in the synthetic reading it takes (seconds, -1 = silence) and the phrase
    it belongs to. The times fall between the reading's own frames, where the envelope is analysed afresh:
    taking the nearest frame instead repeated some and skipped others, a plosive's burst among them
    (docs/voice-conversion.md, "Stretching a phrase")."""
    times = np.full(frames, -1.0)
    owner = np.full(frames, -1, dtype=np.int64)
    for i, (start, end, tts_start, tts_end) in enumerate(runs):
        a, b = int(round(start / frame_s)), min(frames, int(round(end / frame_s)))
        if b <= a:
            continue
        times[a:b] = np.linspace(tts_start, tts_end, b - a, endpoint=False)
        owner[a:b] = i
    return times, owner


def frame_neighbours(times: np.ndarray, frame_s: float, frames: int) -> tuple:
    """For each time, the frames on either side of it (the last one at the end) and how far it lies from the
    first toward the second (0..1)."""
    position = np.clip(times / frame_s, 0, frames - 1)
    low = np.floor(position).astype(np.int64)
    return low, np.minimum(low + 1, frames - 1), position - low


def f0_at(f0: np.ndarray, frame_s: float, times: np.ndarray) -> np.ndarray:
    """The tracked f0 at times between its frames: voiced or not as the nearest frame is, the value
    interpolated where both neighbours are voiced."""
    low, high, frac = frame_neighbours(times, frame_s, len(f0))
    nearest = f0[np.where(frac < 0.5, low, high)]
    both = (f0[low] > 0) & (f0[high] > 0)
    return np.where(both, f0[low] * (1.0 - frac) + f0[high] * frac, nearest)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def comfort_noise(signal: np.ndarray, level_dbfs: float) -> np.ndarray:
    """`signal` over white noise of RMS `level_dbfs` (0 = returned as it is). The noise is drawn from a hash
    of the signal itself: the same output for the same input, a different noise for every different signal,
    and nothing in it that the signal does not already carry."""
    if level_dbfs == 0:
        return signal
    rng = np.random.default_rng(zlib.crc32(signal.tobytes()))
    noise = rng.standard_normal(len(signal)) * 10.0 ** (level_dbfs / 20.0)
    return (signal + noise).astype(signal.dtype)


def noise_only(length: int, params: VoiceParams) -> np.ndarray:
    """An output with no word spoken: the noise floor alone."""
    return comfort_noise(np.zeros(length, dtype=np.float32), params.noise_floor_dbfs)


def phrase_gains(source: np.ndarray, output: np.ndarray, sample_rate: int, runs: list, owner: np.ndarray,
                 frame_s: float) -> np.ndarray:
    """A gain per output sample that brings each phrase of the output to its source phrase's level (within
    GAIN_LIMIT of its own), measured on the output itself; pauses take a gain that moves linearly between their
    neighbours' phrases, so no step is heard."""
    frame_gain = np.full(len(owner), np.nan)
    for i, (start, end, _, _) in enumerate(runs):
        a, b = int(start * sample_rate), int(end * sample_rate)
        source_level, output_level = _rms(source[a:b]), _rms(output[a:b])
        gain = 1.0
        if source_level > 0 and output_level > 0:
            gain = float(np.clip(source_level / output_level, 1.0 / GAIN_LIMIT, GAIN_LIMIT))
        frame_gain[owner == i] = gain
    phrase_frames = np.flatnonzero(np.isfinite(frame_gain))
    if not len(phrase_frames):
        return np.ones(len(output))
    frame_gain = np.interp(np.arange(len(owner)), phrase_frames, frame_gain[phrase_frames])
    return np.interp(np.arange(len(output)) / sample_rate, np.arange(len(owner)) * frame_s, frame_gain)


def resynthesize(audio: np.ndarray, sample_rate: int, words: list, params: VoiceParams,
                 frame_period_ms: float = 5.0) -> np.ndarray:
    """The utterance spoken by the pseudo-speaker's synthetic voice in the source's phrase timing, same length
    as the input."""
    x = audio.astype(np.float64)
    frame_s = frame_period_ms / 1000.0
    frames = int(len(x) / sample_rate / frame_s) + 1   # as many frames as WORLD's analysis of the source has
    kept = spoken_tokens(words)
    tokens = [item[0] for item in kept if item is not None]
    if not tokens:
        return noise_only(len(x), params)
    reading = read_aloud(tokens, params.tts_voice, sample_rate, frame_period_ms)
    if len(reading.spans) != len(tokens):
        raise ValueError(f"the synthetic voice split {len(tokens)} tokens into {len(reading.spans)}")
    runs = phrases(kept, reading.spans)
    times, owner = frame_times(runs, frames, frame_s)
    spoken_frames = times >= 0
    if not spoken_frames.any():
        return noise_only(len(x), params)
    spoken_times = np.minimum(times[spoken_frames], (len(reading.f0) - 1) * reading.frame_s)
    f0_spoken = f0_at(reading.f0, reading.frame_s, spoken_times)
    sp_spoken = reading.envelope(spoken_times, f0_spoken)

    # Pauses take the reading's quietest frame 30 dB down, under the noise floor: an envelope that the
    # frequency warp and WORLD can take.
    quietest = sp_spoken[np.argmin(sp_spoken.sum(axis=1))]
    sp = np.repeat(quietest[None, :] * 1e-3, frames, axis=0)
    sp[spoken_frames] = sp_spoken
    voiced = np.zeros(frames, dtype=bool)
    voiced[spoken_frames] = f0_spoken > 0
    f0 = np.zeros(frames)
    if voiced.any():
        f0[voiced] = map_f0(f0_spoken[f0_spoken > 0], params)

    bins = sp.shape[1]
    freqs = np.arange(bins) * sample_rate / 2 / (bins - 1)
    log_sp = np.log(np.maximum(sp, 1e-16))
    log_sp = resample_bins(log_sp, warp_source_bins(bins, sample_rate, params.tts_warp,
                                                       (1.0,) * len(params.band_slopes)))
    spoken_audio = synthesize_to_length(f0, log_sp, pseudo_aperiodicity(voiced, freqs, params), sample_rate,
                                        frame_period_ms, len(x))
    # Each phrase's level follows the source's, set on the output: WORLD is linear in the envelope's amplitude,
    # and the model's envelope has no level of its own to compare the source's with.
    spoken_audio = limit_peak(spoken_audio * phrase_gains(x, spoken_audio, sample_rate, runs, owner, frame_s))
    return comfort_noise(spoken_audio, params.noise_floor_dbfs)
