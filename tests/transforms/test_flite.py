import numpy as np
import pytest

from transforms.flite import VOICES, FliteUnavailable, speak


@pytest.mark.parametrize("voice", VOICES)
def test_the_voices_speak_at_16_khz(voice):
    assert speak(["hello"], voice).sample_rate == 16000


def test_the_audio_is_speech_not_silence():
    spoken = speak(["hello", "world"], "slt")
    assert np.abs(spoken.audio).max() > 0.05 and np.isfinite(spoken.audio).all()


def test_an_unknown_voice_is_a_clear_error():
    with pytest.raises(FliteUnavailable, match="unknown Flite voice 'nobody'"):
        speak(["hello"], "nobody")


@pytest.mark.parametrize("voice", VOICES)
def test_the_same_text_and_voice_give_the_same_samples(voice):
    first = speak(["hello", "world", "again"], voice)
    speak(["something", "else", "between"], voice)
    assert np.array_equal(first.audio, speak(["hello", "world", "again"], voice).audio)
