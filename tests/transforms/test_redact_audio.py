import numpy as np
import pytest

from transforms.records import Rejected, Word
from transforms.redact_audio import apply_windows, redaction_windows


def words(*spans):
    return [Word(text, s, e, 1.0, pii) for text, s, e, pii in spans]


def test_windows_are_padded_and_merged():
    w = words(("a", 0.0, 1.0, None), ("[PERSON]", 1.0, 1.4, "PERSON"), ("[PHONE]", 1.5, 2.0, "PHONE_NUMBER"),
              ("b", 2.1, 3.0, None))
    assert redaction_windows(w, 0.15, 3.0) == [(0.85, 2.15)]


def test_windows_reach_across_gaps_to_the_neighbouring_words():
    w = words(("a", 0.0, 0.5, None), ("[PERSON]", 1.0, 1.4, "PERSON"), ("b", 2.5, 3.0, None),
              ("[PHONE]", 3.2, 3.6, "PHONE_NUMBER"))
    assert redaction_windows(w, 0.15, 4.5) == [(0.5, 2.5), (3.0, 4.5)]


def test_window_is_clipped_to_the_audio():
    w = words(("[PERSON]", 0.05, 2.99, "PERSON"))
    assert redaction_windows(w, 0.2, 3.0) == [(0.0, 3.0)]


@pytest.mark.parametrize("start, end", [(float("nan"), 1.0), (2.0, 1.0), (5.0, 6.0)])
def test_unplaceable_pii_fails_closed(start, end):
    with pytest.raises(Rejected) as rejected:
        redaction_windows(words(("[PERSON]", start, end, "PERSON")), 0.1, 3.0)
    assert rejected.value.reason == "pii_span_not_placeable"


def test_silence_and_tone():
    audio = np.ones(16000, np.float32) * 0.5
    silenced = apply_windows(audio, 16000, [(0.25, 0.5)])
    assert np.all(silenced[4000:8000] == 0.0)
    assert np.all(silenced[:4000] == 0.5) and np.all(silenced[8000:] == 0.5)
    toned = apply_windows(audio, 16000, [(0.25, 0.5)], mode="tone", tone_hz=1000.0)
    segment = toned[4000:8000]
    spectrum = np.abs(np.fft.rfft(segment))
    assert abs(np.argmax(spectrum) * 16000 / len(segment) - 1000.0) < 5.0
    assert np.all(audio == 0.5)
