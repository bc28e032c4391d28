import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the attackers need the eval extra: pip install '.[eval]'")

from pipeline.privacy_eval import ecapa  # noqa: E402


def test_mel_filters_are_triangles_rising_in_frequency():
    filters = ecapa.mel_filters().numpy()
    assert filters.shape == (ecapa.N_FFT // 2 + 1, ecapa.N_MELS)
    assert filters.min() >= 0.0 and filters.max() <= 1.0
    peaks = filters.argmax(axis=0)
    assert np.all(np.diff(peaks) >= 0) and peaks[-1] > peaks[0]
    assert np.all(filters.max(axis=0) > 0.1)          # the narrowest low bands still catch a bin
    bin_hz = 16000 / ecapa.N_FFT
    assert peaks[-1] * bin_hz > 7000 and peaks[0] * bin_hz < 100


def test_log_mel_frames_mean_and_tone():
    # half a second of silence, then a 1 kHz tone: the tone's frames stand highest in the band that holds 1 kHz
    t = np.arange(8000) / 16000
    signal = np.concatenate([np.zeros(8000), 0.3 * np.sin(2 * np.pi * 1000 * t)]).astype(np.float32)
    filters = ecapa.mel_filters()
    features = ecapa.log_mel(torch.from_numpy(signal), filters).numpy()
    assert features.shape == (16000 // ecapa.HOP + 1, ecapa.N_MELS)
    assert np.allclose(features.mean(axis=0), 0.0, atol=1e-3)
    band = int(np.argmax(features[-10]))
    assert filters.numpy()[1000 * ecapa.N_FFT // 16000, band] > 0.3
    # silence is clipped to 80 dB below the utterance's peak, not to log(0)
    spread = features.max(axis=0) - features.min(axis=0)
    assert spread.max() <= ecapa.TOP_DB + 1e-3 and spread[band] == pytest.approx(ecapa.TOP_DB, abs=1e-3)


def test_network_embeds_any_length_and_loads_only_a_matching_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = ecapa.EcapaTdnn().eval()
    filters = ecapa.mel_filters()
    rng = np.random.default_rng(0)
    for seconds in (0.5, 2.0):
        embedding = ecapa.embed(model, filters, rng.standard_normal(int(16000 * seconds)).astype(np.float32) * 0.1)
        assert embedding.shape == (192,) and np.all(np.isfinite(embedding))
    path = tmp_path / "model.ckpt"
    torch.save(model.state_dict(), path)
    loaded = ecapa.load(str(path))
    audio = rng.standard_normal(16000).astype(np.float32) * 0.1
    assert np.allclose(ecapa.embed(loaded, filters, audio), ecapa.embed(model, filters, audio), atol=1e-5)
    state = model.state_dict()
    del state["fc.conv.bias"]
    torch.save(state, path)
    with pytest.raises(RuntimeError):
        ecapa.load(str(path))
