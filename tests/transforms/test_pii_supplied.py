"""Placing the PII of a supplied transcript in time through the ASR words, when ASR misheard it."""
import pytest

from transforms.pii import place_supplied_pii
from transforms.records import Rejected, Word


def asr(text):
    return [Word(t, i * 0.5, i * 0.5 + 0.4) for i, t in enumerate(text.split())]


def supplied(text, pii):
    return [Word(t, float("nan"), float("nan"), 1.0, pii.get(t)) for t in text.split()]


def test_aligned_values_mark_their_own_words():
    placed = place_supplied_pii(asr("call Maria Gonzalez now"),
                                supplied("call Maria Gonzalez now", {"Maria": "PERSON", "Gonzalez": "PERSON"}))
    assert placed == [None, "PERSON", "PERSON", None]


def test_a_misheard_value_marks_the_gap_between_its_aligned_neighbours():
    placed = place_supplied_pii(asr("Please call Maria Gamala on 646 -555 -0187."),
                                supplied("Please call Maria Gonzalez on 646 555 0187.",
                                         {"Maria": "PERSON", "Gonzalez": "PERSON", "646": "PHONE_NUMBER",
                                          "555": "PHONE_NUMBER", "0187.": "PHONE_NUMBER"}))
    assert placed == [None, None, "PERSON", "PERSON", None, "PHONE_NUMBER", "PHONE_NUMBER", "PHONE_NUMBER"]


def test_a_value_at_the_end_takes_every_unaligned_word_after_the_last_anchor():
    placed = place_supplied_pii(asr("my email is Jennifer and memple .com"),
                                supplied("my email is jennifer@example.com.",
                                         {"jennifer@example.com.": "EMAIL_ADDRESS"}))
    assert placed == [None, None, None] + ["EMAIL_ADDRESS"] * 4


def test_a_value_asr_did_not_hear_at_all_fails_closed():
    with pytest.raises(Rejected) as rejected:
        place_supplied_pii(asr("call now"), supplied("call Maria now", {"Maria": "PERSON"}))
    assert rejected.value.reason == "pii_span_not_placeable"
