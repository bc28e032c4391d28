import numpy as np
import pytest

from transforms.flite import VOICES, FliteUnavailable, speak


@pytest.mark.parametrize("voice", VOICES)
def test_every_token_gets_an_ordered_span_inside_the_audio(voice):
    tokens = ["Please", "call", "Stella,", "ask", "her", "to", "bring", "$25", "and", "3", "U.S.", "checks."]
    spoken = speak(tokens, voice)
    duration = len(spoken.audio) / spoken.sample_rate
    assert spoken.sample_rate == 16000 and 2.0 < duration < 10.0
    assert len(spoken.spans) == len(tokens)
    ends = [0.0]
    for start, end in spoken.spans:
        assert ends[-1] - 1e-3 <= start < end <= duration
        ends.append(end)
    # "$25" is read as three words ("twenty five dollars"), so its span is the longest.
    lengths = [end - start for start, end in spoken.spans]
    assert lengths.index(max(lengths)) == tokens.index("$25")


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
