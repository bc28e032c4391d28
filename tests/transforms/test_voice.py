import dataclasses

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from transforms.audio_io import parts_at_quiet
from transforms.identity import Keyring
from transforms.records import Record
from transforms.voice import (POWER_DB_PER_NEPER, ConvertVoice, anonymize, convert, derive_params, draw_warp,
                              estimate_warp, f0_contour, median_f0, replace_high_band, warp_source_bins)

SR = 16000
TEXT = "Turn the living room lights off and play some quiet music."


def warp(cfg) -> dict:
    """The voice settings with the signal-processing method, the one these tests are about."""
    return dict(cfg["voice"], method="warp")


def seed(name: str) -> bytes:
    return Keyring(b"voice-test-secret-0123456789").voice_seed(name)


def test_params_are_keyed_deterministic_and_inside_the_configured_ranges(cfg):
    voice = cfg["voice"]
    first = derive_params(seed("speaker:a"), voice)
    assert derive_params(seed("speaker:a"), voice) == first
    drawn = [derive_params(seed(f"speaker:{i}"), voice) for i in range(40)]
    assert len({p.f0_median_hz for p in drawn}) == 40
    for p in drawn:
        assert voice["f0_min_hz"] <= p.f0_median_hz <= voice["f0_max_hz"]
        assert voice["formant_min"] <= p.formant_ratio <= voice["formant_max"]
        assert not 1 / voice["warp_floor"] < p.formant_ratio < voice["warp_floor"]
        assert voice["f0_spread_min"] <= p.f0_spread <= voice["f0_spread_max"]
        assert voice["high_band_tilt_min_db"] <= p.high_band_tilt_db <= voice["high_band_tilt_max_db"]
        assert p.high_band_hz == voice["high_band_hz"]
    # Wide ranges are the point: the pseudo-voices must not cluster.
    medians = [p.f0_median_hz for p in drawn]
    assert max(medians) / min(medians) > 1.8


def test_warp_draw_covers_both_sides_and_skips_the_band_around_one():
    draws = [draw_warp(u, 0.85, 1.18, 1.07) for u in np.linspace(0.0, 1.0, 201)]
    assert draws == sorted(draws)
    assert min(draws) == pytest.approx(0.85) and max(draws) == pytest.approx(1.18)
    assert not [d for d in draws if 1 / 1.07 < d < 1.07]
    assert sum(d < 1 for d in draws) > 80 and sum(d > 1 for d in draws) > 80
    no_floor = [draw_warp(u, 0.85, 1.18, 1.0) for u in (0.0, 0.5, 1.0)]
    assert no_floor == pytest.approx([0.85, np.sqrt(0.85 * 1.18), 1.18])


def test_frequency_warp_is_monotonic_and_the_identity_at_ratio_one():
    bins = 513
    assert np.allclose(warp_source_bins(bins, SR, 1.0, (1.0,) * 5), np.arange(bins))
    warped = warp_source_bins(bins, SR, 1.1, (1.2, 0.9, 1.1, 0.85, 1.0))
    assert np.all(np.diff(warped) >= 0)
    assert warped[100] < 100  # formants move up: an output bin reads from a lower source bin


def test_the_high_band_keeps_each_frames_level_but_not_its_shape():
    freqs = np.linspace(0.0, SR / 2, 513)
    rng = np.random.default_rng(5)
    own_shapes = rng.normal(0.0, 2.0, (2, 513))          # two voices' envelopes
    levels = np.array([[0.0], [3.0]])                    # a quiet frame and a loud one
    replaced = [replace_high_band(shape[None, :] + levels, freqs, 4000.0, -4.0) for shape in own_shapes]
    above, below = freqs > 4600.0, freqs < 2500.0
    # Above the cutoff both voices come out with one shape, their own frame levels kept apart ...
    assert np.allclose(replaced[0][:, above] - replaced[0][:, above].mean(axis=1, keepdims=True),
                       replaced[1][:, above] - replaced[1][:, above].mean(axis=1, keepdims=True), atol=0.05)
    assert replaced[0][1, above].mean() - replaced[0][0, above].mean() == pytest.approx(3.0, abs=0.05)
    # ... falling by the tilt per octave; below it nothing changes.
    slope = replaced[0][0, np.argmin(abs(freqs - 8000.0))] - replaced[0][0, np.argmin(abs(freqs - 5000.0))]
    assert slope * POWER_DB_PER_NEPER == pytest.approx(-4.0 * np.log2(8000.0 / 5000.0), abs=0.1)
    assert np.allclose(replaced[0][:, below], own_shapes[0][None, below] + levels, atol=1e-3)


# Peterson & Barney's average male F1-F3 for six vowels (Hz).
VOWEL_FORMANTS = [(730, 1090, 2440), (270, 2290, 3010), (530, 1840, 2480), (300, 870, 2240),
                  (660, 1720, 2410), (570, 840, 2410)]


def vowel_power_envelope(formants, bins: int = 513, bandwidth_hz: float = 90.0) -> np.ndarray:
    """An all-pole power spectrum with resonances at `formants` and a glottal roll-off."""
    freqs = np.arange(bins) * SR / 2 / (bins - 1)
    z = np.exp(1j * np.pi * freqs / (SR / 2))
    power = 1.0 / (1.0 + (freqs / 300.0) ** 2)
    for f in formants:
        pole = np.exp(-np.pi * bandwidth_hz / SR + 2j * np.pi * f / SR)
        power = power / np.abs((1 - pole / z) * (1 - np.conj(pole) / z)) ** 2
    return power


def test_vocal_tract_estimate_follows_a_known_formant_scaling():
    rng = np.random.default_rng(3)
    # Each frame is one of the vowels, its formants moved by up to 10 % as coarticulation would.
    targets = np.array(VOWEL_FORMANTS)[rng.integers(0, len(VOWEL_FORMANTS), 400)] * rng.uniform(0.9, 1.1, (400, 3))
    estimates = {}
    for scale in (0.88, 1.0, 1.12):
        frames = np.stack([vowel_power_envelope(formants * scale) for formants in targets])
        estimates[scale] = estimate_warp(frames, SR)
    # The estimate is the frames' median F1-F3 over the 17.5 cm tube's, and moves with the formants.
    truth = np.exp(np.mean(np.log(np.median(targets, axis=0) / (500.0, 1500.0, 2500.0))))
    assert estimates[1.0] == pytest.approx(truth, rel=0.02)
    assert estimates[0.88] / estimates[1.0] == pytest.approx(0.88, abs=0.02)
    assert estimates[1.12] / estimates[1.0] == pytest.approx(1.12, abs=0.02)
    assert estimate_warp(frames[:8], SR) == 1.0  # too few frames to say: no warp


def test_combined_warp_is_capped(cfg, speech):
    audio = speech(TEXT, "en-us+m3")
    params = dataclasses.replace(derive_params(seed("speaker:a"), warp(cfg)), normalize_vtl=False, max_warp=1.1)
    capped = convert(audio, SR, dataclasses.replace(params, formant_ratio=1.6))
    assert np.array_equal(capped, convert(audio, SR, dataclasses.replace(params, formant_ratio=1.1)))
    assert not np.array_equal(capped, convert(audio, SR, dataclasses.replace(params, formant_ratio=1.05)))


def test_output_has_the_input_length_and_is_a_finite_signal_in_range(cfg, speech):
    audio = speech(TEXT, "en-us+m3")
    out = anonymize(audio, SR, seed("speaker:a"), warp(cfg))
    assert out.dtype == np.float32 and out.shape == audio.shape
    assert np.isfinite(out).all() and np.max(np.abs(out)) <= 1.0
    assert np.sqrt(np.mean(out ** 2)) > 0.01  # not silence
    assert not np.allclose(out, audio, atol=0.05)


def test_pitch_lands_on_the_pseudo_speakers_median_whatever_the_source(cfg, speech):
    params = derive_params(seed("speaker:b"), warp(cfg))
    for voice in ("en-us+m3", "en-us+f3", "flite:slt"):
        out = convert(speech(TEXT, voice), SR, params, warp(cfg)["frame_period_ms"])
        assert median_f0(out, SR) == pytest.approx(params.f0_median_hz, rel=0.12)


def test_pitch_contour_keeps_its_shape(cfg, speech):
    audio = speech(TEXT, "flite:slt")
    out = anonymize(audio, SR, seed("utterance:x"), warp(cfg))
    before, after = f0_contour(audio, SR), f0_contour(out, SR)
    both = (before > 0) & (after > 0)
    assert both.sum() > 50
    assert np.corrcoef(np.log(before[both]), np.log(after[both]))[0, 1] > 0.6


def test_different_seeds_give_different_voices(cfg, speech):
    audio = speech(TEXT, "en-us+m3")
    a = anonymize(audio, SR, seed("speaker:a"), warp(cfg))
    b = anonymize(audio, SR, seed("speaker:c"), warp(cfg))
    assert abs(median_f0(a, SR) - median_f0(b, SR)) > 5 or not np.allclose(a, b, atol=0.05)
    assert np.array_equal(a, anonymize(audio, SR, seed("speaker:a"), warp(cfg)))


def test_silence_and_unvoiced_input_pass_without_error(cfg):
    rng = np.random.default_rng(0)
    noise = (0.05 * rng.standard_normal(SR)).astype(np.float32)
    out = anonymize(noise, SR, seed("speaker:a"), warp(cfg))
    assert out.shape == noise.shape and np.isfinite(out).all()


@pytest.mark.slow
def test_words_survive_the_conversion(cfg, speech, whisper):
    from transforms.asr import transcribe

    audio = speech(TEXT, "flite:slt")
    for name in ("speaker:a", "speaker:b", "utterance:c"):
        out = anonymize(audio, SR, seed(name), warp(cfg))
        text = " ".join(w.text for w in transcribe(whisper, out, cfg["asr"], "en").words).lower()
        assert sum(word in text for word in ("living", "room", "lights", "music")) >= 3, text


def test_stage_replaces_the_audio_in_a_beam_pipeline(cfg, speech):
    audio = speech("Set a timer for ten minutes.", "en-us+f3")
    record = Record(key="k1", audio_uri="", speaker="spk-1", account=None, voice_seed=seed("speaker:a"),
                    audio=audio)
    expected = anonymize(audio, SR, seed("speaker:a"), warp(cfg))

    def check(records):
        assert len(records) == 1
        assert np.array_equal(records[0].audio, expected)

    with TestPipeline(runner="FnApiRunner") as p:
        converted = p | beam.Create([record]) | beam.ParDo(ConvertVoice(warp(cfg))).with_outputs(
            "quarantine", main="ok")
        assert_that(converted.ok, check)


def test_warp_in_parts_keeps_the_length_and_the_pseudo_speakers_pitch(cfg, speech):
    sentence = speech(TEXT, "en-us+m3")
    audio = np.concatenate([np.concatenate([sentence, np.zeros(SR // 2, np.float32)]) for _ in range(4)])
    voice = dict(warp(cfg), segment_s=6.0)
    assert len(parts_at_quiet(audio, SR, 6.0)) >= 3
    parts = anonymize(audio, SR, seed("speaker:a"), voice)
    whole = anonymize(audio, SR, seed("speaker:a"), dict(voice, segment_s=0.0))
    assert parts.shape == audio.shape and parts.dtype == np.float32 and np.isfinite(parts).all()
    assert abs(np.log(median_f0(parts, SR) / median_f0(whole, SR))) < 0.05


def test_a_record_in_parts_converted_into_its_own_array_comes_out_as_into_a_new_one(cfg, speech):
    sentence = speech(TEXT, "en-us+m3")
    audio = np.concatenate([np.concatenate([sentence, np.zeros(SR // 2, np.float32)]) for _ in range(3)])
    voice = dict(warp(cfg), segment_s=6.0)
    expected = anonymize(audio, SR, seed("speaker:a"), voice)
    own = audio.copy()
    assert anonymize(own, SR, seed("speaker:a"), voice, out=own) is own
    np.testing.assert_array_equal(own, expected)
    assert not np.array_equal(own, audio)
