"""Decode and validate: audio bytes (wav, flac, ogg) to 16 kHz mono float32, or a reason to reject."""
from __future__ import annotations

import io
from dataclasses import dataclass
from math import gcd
from typing import BinaryIO

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from transforms.records import Rejected
from transforms.stage import Stage


@dataclass(frozen=True)
class AudioLimits:
    sample_rate: int = 16000
    min_duration_s: float = 0.2
    max_duration_s: float = 1800.0
    silence_dbfs: float = -70.0

    @classmethod
    def from_config(cls, audio_cfg: dict) -> "AudioLimits":
        return cls(audio_cfg["sample_rate"], audio_cfg["min_duration_s"], audio_cfg["max_duration_s"],
                   audio_cfg["silence_dbfs"])


@dataclass
class DecodedAudio:
    samples: np.ndarray       # float32, mono, at limits.sample_rate
    source_sample_rate: int
    source_channels: int


def sum_of_squares(samples: np.ndarray, block: int = 1 << 20) -> float:
    """The sum of squares in float64, a block at a time: squared at once, a long record's float64 copy was the
    peak of its decoding."""
    total = 0.0
    for start in range(0, len(samples), block):
        chunk = samples[start:start + block].astype(np.float64)
        total += float(np.dot(chunk, chunk))
    return total


def decode_audio(data: bytes, limits: AudioLimits) -> DecodedAudio:
    """Decode, check and resample bytes. Raises Rejected with a specific reason."""
    if not data:
        raise Rejected("empty_file")
    return decode_stream(io.BytesIO(data), limits)


def decode_stream(stream: BinaryIO, limits: AudioLimits) -> DecodedAudio:
    """Decode, check and resample a seekable binary stream. Raises Rejected with a specific reason.

    The header is read first and the duration it declares is checked before any sample is decoded,
    so an over-long input costs a few header reads, never its full size in memory."""
    try:
        info = sf.info(stream)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        raise Rejected("undecodable_audio") from None
    if info.frames <= 0 or info.samplerate <= 0 or info.channels <= 0:
        raise Rejected("no_samples")
    if info.frames / info.samplerate > limits.max_duration_s:
        raise Rejected("too_long")
    try:
        stream.seek(0)
        samples, rate = sf.read(stream, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        raise Rejected("undecodable_audio") from None
    if samples.shape[0] == 0:
        raise Rejected("no_samples")
    if not np.isfinite(samples).all():
        raise Rejected("non_finite_samples")
    mono = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
    mono = resample(mono, rate, limits.sample_rate)
    duration = mono.shape[0] / limits.sample_rate
    if duration < limits.min_duration_s:
        raise Rejected("too_short")
    rms = float(np.sqrt(sum_of_squares(mono) / len(mono)))
    if rms <= 0.0 or 20.0 * np.log10(rms) < limits.silence_dbfs:
        raise Rejected("silent")
    peak = max(float(mono.max()), -float(mono.min()))
    if peak > 1.0:
        mono = mono / peak
    return DecodedAudio(np.ascontiguousarray(mono, dtype=np.float32), int(rate), int(samples.shape[1]))


LEVEL_HOP_S = 0.01
LEVEL_BLOCK_FRAMES = 8192     # 82 s of frames: about 10 MB of float64 sums at a time


def frame_levels_db(audio: np.ndarray, sample_rate: int, frame_s: float = 0.025,
                    hop_s: float = LEVEL_HOP_S) -> np.ndarray:
    """Power in dB of each `frame_s` frame of `audio`, every `hop_s` (frame i starts at i * hop_s).

    Taken LEVEL_BLOCK_FRAMES frames at a time: a running sum of squares in float64 over a whole long record held
    four times the record's size at once, the peak of a 20-minute record's voice conversion (docs/throughput.md, "Long
    records")."""
    hop, frame = max(1, int(hop_s * sample_rate)), max(1, int(frame_s * sample_rate))
    count = max(1, (len(audio) - frame) // hop + 1)
    power = np.empty(count)
    for first in range(0, count, LEVEL_BLOCK_FRAMES):
        starts = hop * np.arange(first, min(first + LEVEL_BLOCK_FRAMES, count))
        ends = np.minimum(starts + frame, len(audio))
        origin = starts[0]
        energy = np.concatenate([[0.0], np.cumsum(np.square(audio[origin:ends[-1]], dtype=np.float64))])
        power[first:first + len(starts)] = ((energy[ends - origin] - energy[starts - origin])
                                            / np.maximum(ends - starts, 1))
    return 10.0 * np.log10(power + 1e-12)


def parts_at_quiet(audio: np.ndarray, sample_rate: int, max_s: float, words: list = ()) -> list:
    """Sample ranges (start, end) that cut `audio` into parts of at most `max_s` (0 = one part).

    The voice conversion takes long records part by part: converted whole, a record's memory and time grow
    with its length, faster than linearly for Festival (docs/throughput.md, "Long records"). Each cut lies in the second
    half of its part, at its quietest 25 ms that no word's span covers, so that every word stays whole in one
    part; where words cover all of it (half a part without a gap in their times), or none are given, the
    quietest moment is taken.
    """
    limit = int(max_s * sample_rate)
    if limit <= 0 or len(audio) <= limit:
        return [(0, len(audio))]
    hop = int(LEVEL_HOP_S * sample_rate)
    levels = frame_levels_db(audio, sample_rate)
    covered = np.zeros(len(levels), dtype=bool)
    for word in words:
        if np.isfinite(word.start) and np.isfinite(word.end):
            covered[max(int(word.start / LEVEL_HOP_S) - 2, 0):max(int(np.ceil(word.end / LEVEL_HOP_S)) + 1, 0)] = True
    bounds, start = [], 0
    while len(audio) - start > limit:
        low, high = (start + limit // 2) // hop, (start + limit) // hop - 2
        candidates = np.where(covered[low:high], np.inf, levels[low:high])
        if not np.isfinite(candidates).any():
            candidates = levels[low:high]
        cut = (low + int(np.argmin(candidates)) + 1) * hop     # inside the quietest frame
        bounds.append((start, cut))
        start = cut
    bounds.append((start, len(audio)))
    return bounds


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out:
        return samples.astype(np.float32, copy=False)
    divisor = gcd(int(rate_in), int(rate_out))
    return resample_poly(samples, rate_out // divisor, rate_in // divisor).astype(np.float32)


def encode_flac(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit FLAC. libsndfile writes no timestamps, so equal samples give equal bytes."""
    buffer = io.BytesIO()
    clipped = np.clip(samples, -1.0, 1.0)
    sf.write(buffer, clipped, sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


class DecodeAudio(Stage):
    """Reads the file through Beam's FileSystems (local, gs://, ...) and decodes it."""

    name = "decode"

    def __init__(self, audio_cfg: dict):
        super().__init__()
        self.limits = AudioLimits.from_config(audio_cfg)
        self.max_file_bytes = audio_cfg["max_file_bytes"]

    def apply(self, record):
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems

        try:
            # metadata(), not match(): a path is a name, never a glob pattern ("take[1].wav", "a*.wav").
            size = FileSystems.get_filesystem(record.audio_uri).metadata(record.audio_uri).size_in_bytes
        except Exception:  # noqa: BLE001 - any lookup failure means the file is not there for us
            raise Rejected("audio_not_found") from None
        if size > self.max_file_bytes:
            raise Rejected("file_too_large")
        if size == 0:
            raise Rejected("empty_file")
        try:
            # Uncompressed: a name ending in .gz must not make us inflate a file past max_file_bytes.
            with FileSystems.open(record.audio_uri, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                decoded = decode_stream(f, self.limits)
        except OSError:
            raise Rejected("audio_unreadable") from None
        record.audio = decoded.samples
        record.sample_rate = self.limits.sample_rate
        record.source_sample_rate = decoded.source_sample_rate
        record.source_channels = decoded.source_channels
        record.duration_in = len(decoded.samples) / self.limits.sample_rate
        yield record
