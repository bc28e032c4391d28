import pytest

from transforms.asr import transcribe

pytestmark = pytest.mark.slow


def test_words_have_ordered_timestamps_inside_the_audio(whisper, speech, cfg):
    audio = speech("Please turn on the kitchen lights at seven.", "en-us+m3")
    transcript = transcribe(whisper, audio, cfg["asr"], "en")
    text = " ".join(w.text for w in transcript.words).lower()
    assert "kitchen" in text and "lights" in text
    assert transcript.language == "en"
    duration = len(audio) / 16000
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start <= w.end <= duration + 0.5 for w in transcript.words)


def test_language_is_detected_when_not_given(whisper, speech, cfg):
    detect = dict(cfg["asr"], language="")
    transcript = transcribe(whisper, speech("What time is it in London right now?", "en-gb+m1"), detect)
    assert transcript.language == "en"
