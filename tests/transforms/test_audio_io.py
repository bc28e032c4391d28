import io
import os

import numpy as np
import pytest
import soundfile as sf

from transforms.audio_io import AudioLimits, decode_audio, encode_flac, resample
from transforms.records import Rejected

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
