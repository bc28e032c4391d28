from dataclasses import dataclass

from transforms.spoken import normalize_text, normalize_words, words_in_spans


@dataclass
class Span:
    start: int
    end: int
    score: float


def test_spoken_digits_are_glued_into_one_number():
    assert normalize_text("my number is five five five, oh one two three.") == "my number is 5550123"
    assert normalize_text("call double five one") == "call 551"
    assert normalize_text("one thousand two hundred thirty four Oak Street") == "1234 Oak Street"


def test_oh_is_zero_only_between_digits():
    assert normalize_text("Oh, set an alarm for 7.") == "Oh set an alarm for 7"


def test_whisper_separator_words_join_the_word_before():
    text, offsets = normalize_words("back at 283 -5 -5 -5 -0166".split())
    assert text == "back at 2835550166"
    assert len(set(offsets[2:])) == 1 and offsets[2] == (8, 18)


def test_a_sentence_end_or_a_date_stops_the_digits():
    assert normalize_text("it is 42. 17 more") == "it is 42 17 more"
    assert normalize_text("born on January 26, 1943") == "born on January 26 1943"
    assert normalize_text("the twenty first of March nineteen eighty five") == "the 21st of March 1985"


def test_spoken_and_glued_emails_become_written_addresses():
    assert normalize_text("my email is john dot smith at gmail dot com") == "my email is john.smith@gmail.com"
    assert normalize_text("send it to maria.gonzalezatgmail.com please") == "send it to maria.gonzalez@gmail.com please"
    assert normalize_text("receipt to Amanda .Patterson at Yahoo .com, please.") == \
        "receipt to amanda.patterson@yahoo.com please"
    assert normalize_text("meet me at the station") == "meet me at the station"
    # a domain ASR did not know, split into words
    assert normalize_text("my email is Dana Whitfield at o 'claw .com.") == "my email is danawhitfield@oclaw.com"


def test_spans_map_back_to_words_including_empty_ones():
    words = "four hundred fifteen Elm".split()
    text, offsets = normalize_words(words)
    assert text == "415 Elm"
    hits = words_in_spans(offsets, [Span(0, 3, 0.9)])
    assert [h is not None for h in hits] == [True, True, True, False]


def test_misheard_digits_join_a_run_but_common_words_stay_words():
    assert normalize_text("number is I -88, fine, fine, fine, I -88, zero") == "number is I88999I880"
    assert normalize_text("card ending in for 0868716i896058 thanks") == "card ending in for 0868716I896058 thanks"
    assert normalize_text("set a timer for 25 minutes") == "set a timer for 25 minutes"
    assert normalize_text("deliver it to 6 -5 -8 -9 Sunset Street") == "deliver it to 6589 Sunset Street"


def test_an_ordinal_between_digits_is_its_digit_and_stays_an_ordinal_elsewhere():
    assert normalize_text("3rd 500, 3rd 1, 555, 5th 1 ,893 to my contacts") == "3rd 5003155551893 to my contacts"
    assert normalize_text("five three third one five") == "53315"
    assert normalize_text("on May 3rd 2021 at noon") == "on May 3rd 2021 at noon"
