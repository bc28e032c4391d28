import pytest

from transforms import festival, flite
from transforms.synth_voices import ENGINES, PITCH_RANGE_HZ, VOICES, check, describe


def test_every_voice_of_both_engines_is_in_the_bank_once():
    assert sorted(VOICES) == sorted([*flite.VOICES, *festival.VOICES])
    assert ENGINES["slt"] is flite and ENGINES["slt_hts"] is festival


def test_every_flite_voice_has_a_pitch_range():
    assert set(PITCH_RANGE_HZ) == set(flite.VOICES)
    assert all(40.0 <= low < high <= 500.0 for low, high in PITCH_RANGE_HZ.values())


def test_check_loads_the_voices_of_both_engines():
    check(["awb", "slt_hts"])


def test_the_card_names_each_engine_with_its_voices():
    assert describe(["slt", "rms"]) == "Flite slt, rms"
    assert describe(["slt_hts"]) == "Festival HTS slt"
    assert describe(["slt_hts", "awb"]) == "Flite awb; Festival HTS slt"


def test_a_missing_hts_engine_is_one_of_the_clear_start_up_errors(monkeypatch):
    from transforms import hts_engine
    from transforms.synth_voices import UNAVAILABLE

    monkeypatch.setattr(hts_engine, "LIBRARY", "libHTSEngine-not-here.so.0")
    monkeypatch.setattr(festival, "_models", {})
    with pytest.raises(UNAVAILABLE, match="apt-get install libhtsengine1"):
        check(["slt_hts"])
