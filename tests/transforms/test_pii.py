import pytest

from conftest import loud_in
from transforms.identity import Keyring
from transforms.pii import TextOperator, luhn_valid, mark_words, redact_words
from transforms.records import Word


def entities(detector, text):
    return dict(zip(text.split(), detector.find_in_words(text.split())))


@pytest.mark.parametrize("text, value, entity", [
    ("call me back at five five five, oh one two, three four five six", "five", "PHONE_NUMBER"),
    ("my card number is 4495-9089-6128-0102 thanks", "4495-9089-6128-0102", "CREDIT_CARD"),
    ("my social security number is 123 45 6789", "6789", "US_SSN"),
    ("transfer money to account number 8 8 4 1 2 0 3 3", "0", "US_BANK_NUMBER"),
    ("my email is john dot smith at gmail dot com", "smith", "EMAIL_ADDRESS"),
    ("send it to maria.gonzalezatgmail.com please", "maria.gonzalezatgmail.com", "EMAIL_ADDRESS"),
    ("deliver the package to 1234 Maple Avenue today", "Maple", "STREET_ADDRESS"),
    ("my date of birth is March 15th, 1985", "1985", "DATE_OF_BIRTH"),
    ("my name is robert johnson and I need help", "johnson", "PERSON"),
])
def test_spoken_pii_is_found(pii_detector, text, value, entity):
    assert entities(pii_detector, text)[value] == entity


def test_ordinary_requests_keep_every_word(pii_detector):
    for text in ["set a timer for 25 minutes", "turn off the lights in the living room",
                 "add milk, eggs and bread to my shopping list", "remind me on March 3rd to water the plants",
                 "remind me on 5 March to water the plants", "wake me at 7 tomorrow"]:
        assert pii_detector.find_in_words(text.split()) == [None] * len(text.split())


def test_allow_listed_wake_word_is_never_redacted(pii_detector):
    found = entities(pii_detector, "Alexa, this is Alexa Martin speaking")
    assert found["Alexa,"] is None and found["Martin"] == "PERSON"


def test_luhn():
    assert luhn_valid("4495908961280102") and not luhn_valid("4495908961280106")


def run_words(*spec):
    return [Word(t, i * 0.5, i * 0.5 + 0.4, 1.0, e) for i, (t, e) in enumerate(spec)]


def test_pseudonyms_are_keyed_and_stable_per_value(cfg):
    pii_cfg = dict(cfg["pii"], operators={"PERSON": "pseudonym"})
    operator = TextOperator(pii_cfg, Keyring(b"k1"))
    words = run_words(("call", None), ("Ann", "PERSON"), ("Lee,", "PERSON"), ("not", None), ("Ann", "PERSON"),
                      ("Lee", "PERSON"))
    out = redact_words(words, operator)
    assert out[1].text.startswith("[PERSON_") and out[1].text == out[3].text + ","
    assert out[1].start == 0.5 and out[1].end == 1.4
    other = redact_words(words, TextOperator(pii_cfg, Keyring(b"k2")))
    assert other[3].text != out[3].text


def test_surrogates_are_realistic_and_consistent(cfg):
    operator = TextOperator(dict(cfg["pii"], operator="surrogate"), Keyring(b"k1"))
    words = run_words(("ring", None), ("4155550132", "PHONE_NUMBER"), ("or", None), ("4155550132", "PHONE_NUMBER"))
    out = redact_words(words, operator)
    assert out[1].text == out[3].text and out[1].text != "4155550132"
    assert sum(ch.isdigit() for ch in out[1].text) == 10


def test_mark_words_keeps_times(pii_detector):
    words = [Word(t, i, i + 0.5) for i, t in enumerate("my name is Robert".split())]
    marked = mark_words(words, pii_detector.find_in_words([w.text for w in words]))
    assert [w.pii for w in marked] == [None, None, None, "PERSON"] and marked[3].start == 3


def asr_words(text):
    return [Word(t, 0.4 * i, 0.4 * i + 0.3) for i, t in enumerate(text.split())]


def redact_record(cfg, words, supplied, audio=None):
    from transforms.identity import InlineSecret
    from transforms.pii import RedactTranscript
    from transforms.records import Record

    stage = RedactTranscript(cfg["pii"], InlineSecret(b"k1"), cfg["asr"])
    stage.setup()
    record = Record(key="k", audio_uri="", speaker="s", account=None, voice_seed=b"", supplied_transcript=supplied,
                    words=words, audio=loud_in([(0.0, 0.4 * len(words))], 0.4 * len(words)) if audio is None else audio)
    return next(iter(stage.apply(record)))


def test_an_unsure_tail_is_dropped_after_the_pii_is_found(cfg):
    words = asr_words("please call Robert Johnson tomorrow. Thank you.")
    words[5].probability = 0.1    # "Thank", 2.0 s into a 3 s record, over silence: Whisper's own words
    record = redact_record(cfg, words, None, loud_in([(0.0, 1.9)], 3.0))
    assert record.text.endswith("tomorrow.") and "Thank" not in record.text and "Johnson" not in record.text
    assert [w.pii for w in record.words] == [None, None, "PERSON", None]

    # The same cut would leave "415 555" of a number: the tail is kept and the whole number redacted.
    words = asr_words("my number is 415 555 0132.")
    words[5].probability = 0.1
    record = redact_record(cfg, words, None, loud_in([(0.0, 1.9)], 2.5))
    assert "0132" not in record.text and "555" not in record.text
    assert record.words[-1].pii == "PHONE_NUMBER" and record.words[-1].end == words[5].end   # silenced too


def test_supplied_transcript_is_shipped_redacted_and_placed_in_time(cfg):
    record = redact_record(cfg, asr_words("My name is Robert Johnson, call 4-1-5 555 0132."),
                           "my name is Robert Johnson, call four one five, five five five, oh one three two")
    assert "Johnson" not in record.text and "five" not in record.text and record.text.startswith("my name is [")
    assert [w.pii is not None for w in record.words] == [False, False, False, True, False, True]
    assert record.supplied_transcript is None


def test_supplied_pii_not_heard_silences_the_whole_gap_or_fails_closed(cfg):
    from transforms.records import Rejected

    # The name is not in the ASR words: everything between the aligned neighbours is treated as the name.
    record = redact_record(cfg, asr_words("please set an alarm for seven"), "please call Robert Johnson at seven")
    assert [w.text for w in record.words if w.pii is None] == ["please", "seven"]
    assert "Robert" not in record.text and "Johnson" not in record.text
    with pytest.raises(Rejected) as rejected:
        redact_record(cfg, asr_words("please at seven"), "please Robert Johnson at seven")
    assert rejected.value.reason == "pii_span_not_placeable"


@pytest.mark.slow
def test_verification_quarantines_audio_where_pii_is_still_heard(cfg, speech):
    from transforms.pii import VerifyRedaction
    from transforms.records import Record, Rejected

    stage = VerifyRedaction(cfg["asr"], cfg["pii"])
    stage.setup()

    def record(text):
        return Record(key="k", audio_uri="", speaker="s", account=None, voice_seed=b"", language="en",
                      audio=speech(text, "flite:slt"))

    assert len(list(stage.apply(record("please turn off the lights in the kitchen")))) == 1
    with pytest.raises(Rejected) as rejected:
        list(stage.apply(record("my phone number is four one five, five five five, oh one three two")))
    assert rejected.value.reason == "pii_readable_after_redaction"


@pytest.mark.parametrize("text, value, entity", [
    ("deliver the package to 6 -5 -8 -9 sunset treat", "treat", "STREET_ADDRESS"),
    ("share this playlist with Steven .taka for aboutlook .com", "Steven", "EMAIL_ADDRESS"),
    ("my email address is Dana Whitfield -12 at o 'claw .com.", "Whitfield", "EMAIL_ADDRESS"),
    ("wire the deposit to the IBA -NGB -512 -KLXF -3310 -7 ,204", "-3310", "IBAN_CODE"),
    ("wire the deposit to IBANGB29NWBK -6016 -1331 -9268", "IBANGB29NWBK", "IBAN_CODE"),
    ("my date on birth is the 3rd on June 1990", "June", "DATE_OF_BIRTH"),
])
def test_misheard_pii_is_still_found(pii_detector, text, value, entity):
    assert entities(pii_detector, text)[value] == entity


def test_a_phone_number_with_digits_heard_as_ordinals_is_redacted(pii_detector):
    found = entities(pii_detector, "3rd 500, 3rd 1, 555, 5th 1 ,893 to my contact")
    assert all(found[word] is not None for word in ["500,", "1,", "555,", "5th", "1"])


def test_a_capitalised_name_without_cue_is_redacted(pii_detector):
    found = entities(pii_detector, "remind me to mail in the Yamamoto tomorrow")
    assert found["Yamamoto"] is not None and found["tomorrow"] is None and found["mail"] is None


@pytest.mark.parametrize("text, value", [
    ("get directions home to 1780 Lake Viewway.", "Viewway."),
    ("deliver the package to 6 ,499 will away.", "will"),
    ("deliver the package to 7443 .L .M Avenue.", "Avenue."),
    ("book a cab to 2 ,817 Juniper Bolevards at noon", "2"),
    ("I live at 58 Harrow Gardins, flat two", "58"),
    ("Order Attack Setah 3 ,372 Magnolia Moolevart for 8 o 'clock.", ",372"),
])
def test_addresses_with_glued_or_misheard_street_types(pii_detector, text, value):
    assert entities(pii_detector, text)[value] == "STREET_ADDRESS"
