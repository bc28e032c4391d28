import io
import os

import numpy as np
import pytest
import soundfile as sf

from conftest import loud_in
from transforms import audio_io
from transforms.audio_io import (AudioLimits, decode_audio, encode_flac, frame_levels_db, parts_at_quiet, resample,
                                  sum_of_squares)
from transforms.records import Rejected, Word

LIMITS = AudioLimits()


def tone(seconds=1.0, rate=16000, freq=220.0, amp=0.3, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def encode(samples, rate, fmt="WAV", subtype="PCM_16"):
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resamples_to_16k(rate):
    decoded = decode_audio(encode(tone(1.0, rate), rate), LIMITS)
    assert decoded.source_sample_rate == rate
    assert abs(len(decoded.samples) - 16000) <= 1
    assert decoded.samples.dtype == np.float32


@pytest.mark.parametrize("fmt, subtype", [("WAV", "PCM_U8"), ("WAV", "PCM_24"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"),
                                          ("OGG", "VORBIS")])
def test_decodes_formats(fmt, subtype):
    decoded = decode_audio(encode(tone(), 16000, fmt, subtype), LIMITS)
    assert abs(len(decoded.samples) - 16000) < 400
    assert 0.1 < np.abs(decoded.samples).max() <= 1.0


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_becomes_mono(channels):
    decoded = decode_audio(encode(tone(channels=channels), 16000), LIMITS)
    assert decoded.samples.ndim == 1 and decoded.source_channels == channels


def test_rejections_have_specific_reasons():
    nan = tone()
    nan[100] = np.nan
    cases = {
        b"": "empty_file",
        os.urandom(4096): "undecodable_audio",
        b"hello, this is text\n" * 20: "undecodable_audio",
        encode(tone(0.05), 16000): "too_short",
        encode(np.zeros(16000, np.float32), 16000): "silent",
        encode(nan, 16000, subtype="FLOAT"): "non_finite_samples",
        encode(tone(3.0), 16000): "too_long",
    }
    limits = AudioLimits(max_duration_s=2.0)
    for data, reason in cases.items():
        with pytest.raises(Rejected) as rejected:
            decode_audio(data, limits)
        assert rejected.value.reason == reason


def test_truncated_header_is_rejected():
    data = encode(tone(), 16000)[:30]
    with pytest.raises(Rejected):
        decode_audio(data, LIMITS)


def test_flac_encoding_is_lossless_at_16_bit_and_deterministic():
    x = tone(0.5)
    a, b = encode_flac(x, 16000), encode_flac(x.copy(), 16000)
    assert a == b
    back, rate = sf.read(io.BytesIO(a), dtype="float32")
    assert rate == 16000 and np.max(np.abs(back - x)) < 1e-4


def test_resample_identity_is_a_no_op():
    x = tone()
    assert resample(x, 16000, 16000) is x


def spoken_words(duration_s: float, word_s: float = 0.35, gap_s: float = 0.1, pause_every: int = 7,
                 pause_s: float = 0.6) -> list:
    """Words of `word_s` with short gaps and a longer pause after every `pause_every` words."""
    words, t, i = [], 0.3, 0
    while t + word_s < duration_s - 0.3:
        words.append(Word(f"w{i}", t, t + word_s))
        i += 1
        t += word_s + (pause_s if i % pause_every == 0 else gap_s)
    return words


def test_a_long_record_is_cut_between_words_into_parts_of_at_most_the_limit():
    words = spoken_words(41.0)
    audio = loud_in([(w.start, w.end) for w in words], 41.0)
    bounds = parts_at_quiet(audio, 16000, 10.0, words)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(audio) and len(bounds) >= 5
    assert all(a == b for (_, a), (b, _) in zip(bounds, bounds[1:]))
    assert all(0 < end - start <= 10.0 * 16000 for start, end in bounds)
    for _, cut in bounds[:-1]:
        t = cut / 16000
        assert not any(w.start <= t <= w.end for w in words), t
        assert np.sqrt(np.mean(audio[cut - 80:cut + 80] ** 2)) < 0.005     # in the quiet between words


@pytest.mark.parametrize("gapless_words", [True, False])
def test_without_a_gap_between_words_the_cut_takes_the_quietest_moment(gapless_words):
    audio = loud_in([(0.0, 9.2), (9.3, 30.0)], 30.0)
    words = [Word(f"w{i}", i * 0.5, i * 0.5 + 0.5) for i in range(60)] if gapless_words else []
    _, cut = parts_at_quiet(audio, 16000, 12.0, words)[0]
    assert abs(cut / 16000 - 9.25) < 0.03
    levels = frame_levels_db(audio, 16000)
    assert levels[int(cut / 16000 / 0.01) - 1] < np.percentile(levels, 95) - 30


def test_a_record_within_the_limit_or_a_limit_of_zero_is_one_part():
    audio = np.zeros(20 * 16000, np.float32)
    assert parts_at_quiet(audio, 16000, 20.0) == [(0, len(audio))]
    assert parts_at_quiet(audio, 16000, 0.0) == [(0, len(audio))]


def levels_in_one_sum(audio, rate, frame_s=0.025, hop_s=0.01):
    hop, frame = int(hop_s * rate), int(frame_s * rate)
    energy = np.concatenate([[0.0], np.cumsum(np.square(audio, dtype=np.float64))])
    starts = hop * np.arange(max(1, (len(audio) - frame) // hop + 1))
    ends = np.minimum(starts + frame, len(audio))
    return 10.0 * np.log10((energy[ends] - energy[starts]) / np.maximum(ends - starts, 1) + 1e-12)


@pytest.mark.parametrize("samples", [0, 100, 400, 560, 7 * 160 + 400, 7 * 160 + 401, 16000 + 37])
def test_frame_levels_taken_in_blocks_are_the_levels_of_one_running_sum(monkeypatch, samples):
    monkeypatch.setattr(audio_io, "LEVEL_BLOCK_FRAMES", 7)
    rng = np.random.default_rng(samples)
    audio = (rng.standard_normal(samples) * np.linspace(0.001, 0.5, samples)).astype(np.float32)
    expected = levels_in_one_sum(audio, 16000)
    levels = frame_levels_db(audio, 16000)
    assert levels.shape == expected.shape
    np.testing.assert_allclose(levels, expected, atol=1e-6)


def test_sum_of_squares_over_blocks_is_the_whole_sum():
    audio = np.random.default_rng(3).standard_normal(10_001).astype(np.float32)
    assert sum_of_squares(audio, block=1000) == pytest.approx(float(np.sum(np.square(audio, dtype=np.float64))),
                                                             rel=1e-12)
    assert sum_of_squares(audio[:0]) == 0.0
