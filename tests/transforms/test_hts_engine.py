import numpy as np
import pytest

from transforms import festival, hts_engine
from transforms.hts_engine import HtsUnavailable, Model, log_amplitude

VOICE = "/usr/share/festival/voices/us/cmu_us_slt_arctic_hts/hts/cmu_us_slt_arctic_hts.htsvoice"


def test_the_log_amplitude_of_a_mel_cepstrum_is_its_cosine_series_on_the_warped_axis():
    freqs = np.array([0.0, 4000.0, 8000.0, 16000.0])
    assert np.allclose(log_amplitude(np.array([[0.7, 0.0]]), freqs, 0.45, 32000), 0.7)
    # No warp: c1 alone is cos(omega).
    assert np.allclose(log_amplitude(np.array([[0.0, 1.0]]), freqs, 0.0, 32000), np.cos(2 * np.pi * freqs / 32000))
    # A quarter of the rate, omega = pi / 2, warps to pi / 2 + 2 atan(alpha).
    got = log_amplitude(np.array([[0.0, 0.0, 1.0]]), np.array([8000.0]), 0.45, 32000)
    assert got[0, 0] == pytest.approx(np.cos(2 * (np.pi / 2 + 2 * np.arctan(0.45))))


def test_the_installed_voice_loads_with_its_own_settings():
    model = Model(VOICE)
    assert (model.sample_rate, model.frame_s, model.alpha, model.order, model.states) == (32000, 0.005, 0.45, 44, 5)


def test_labels_from_festival_give_one_phone_end_per_label_and_frames_to_match():
    labels, segments, model_path = festival._festival().labels(["good", "morning"], "slt_hts")
    trajectory = Model(model_path).generate(labels)
    assert len(trajectory.phone_ends_s) == len(labels) and len(segments) == 2
    assert trajectory.mel_cepstrum.shape == (len(trajectory.f0), 45)
    assert round(trajectory.phone_ends_s[-1] / trajectory.frame_s) == len(trajectory.f0)
    voiced = trajectory.f0[trajectory.f0 > 0]
    assert 0.2 < len(voiced) / len(trajectory.f0) < 0.9 and 100 < np.median(voiced) < 300


def test_labels_the_model_cannot_take_are_an_error_not_a_crash():
    with pytest.raises(RuntimeError, match="refused"):
        Model(VOICE).generate([])


def test_a_file_that_is_not_a_voice_is_a_clear_error(tmp_path):
    path = tmp_path / "nothing.htsvoice"
    path.write_bytes(b"[GLOBAL]\nnot a voice\n")
    with pytest.raises(HtsUnavailable, match="could not be loaded"):
        Model(str(path))


def test_a_missing_library_names_the_package_to_install(monkeypatch):
    monkeypatch.setattr(hts_engine, "LIBRARY", "libHTSEngine-not-here.so.0")
    with pytest.raises(HtsUnavailable, match="apt-get install libhtsengine1"):
        Model(VOICE)
