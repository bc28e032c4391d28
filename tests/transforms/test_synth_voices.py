import pytest

from transforms import festival, flite
from transforms.synth_voices import ENGINES, PITCH_RANGE_HZ, VOICES, check, describe, speak


def test_every_voice_of_both_engines_is_in_the_bank_once():
    assert sorted(VOICES) == sorted([*flite.VOICES, *festival.VOICES])
    assert ENGINES["slt"] is flite and ENGINES["slt_hts"] is festival


def test_every_voice_has_a_pitch_range():
    assert set(PITCH_RANGE_HZ) == set(VOICES)
    assert all(40.0 <= low < high <= 500.0 for low, high in PITCH_RANGE_HZ.values())


@pytest.mark.parametrize("voice", ["rms", "slt_hts"])
def test_a_voice_is_spoken_by_its_own_engine_with_a_span_per_token(voice):
    spoken = speak(["ship", "warped", "around", "the", "island"], voice)
    assert len(spoken.spans) == 5
    assert spoken.sample_rate == (16000 if voice == "rms" else 32000)


@pytest.mark.parametrize("voice", VOICES)
def test_every_token_gets_an_ordered_span_inside_the_audio(voice):
    tokens = ["Please", "call", "Stella,", "ask", "her", "to", "bring", "$25", "and", "3", "U.S.", "checks."]
    spoken = speak(tokens, voice)
    duration = len(spoken.audio) / spoken.sample_rate
    assert 2.0 < duration < 10.0
    assert len(spoken.spans) == len(tokens)
    ends = [0.0]
    for start, end in spoken.spans:
        assert ends[-1] - 1e-3 <= start < end <= duration
        ends.append(end)
    # "$25" is read as three words ("twenty five dollars"), so its span is the longest.
    lengths = [end - start for start, end in spoken.spans]
    assert lengths.index(max(lengths)) == tokens.index("$25")


def test_an_unknown_voice_is_one_clear_error():
    with pytest.raises(flite.FliteUnavailable, match="unknown synthetic voice 'nobody'"):
        speak(["hello"], "nobody")


def test_check_loads_the_voices_of_both_engines():
    check(["awb", "slt_hts"])


def test_the_card_names_each_engine_with_its_voices():
    assert describe(["slt", "rms"]) == "Flite slt, rms"
    assert describe(["slt_hts"]) == "Festival HTS slt"
    assert describe(["slt_hts", "awb"]) == "Flite awb; Festival HTS slt"
