import pytest

from pipeline.privacy_eval.metrics import word_error_rate
from pipeline.privacy_eval.normalise import join_compounds, normalise, number_words


@pytest.mark.parametrize("n, words", [(0, "zero"), (13, "thirteen"), (40, "forty"), (125, "one hundred twenty five"),
                                      (2024, "two thousand twenty four"), (1_000_001, "one million one")])
def test_number_words(n, words):
    assert number_words(n) == words


def test_normalise_writes_spellings_numbers_and_contractions_one_way():
    assert normalise("The coloured band's 4th colour, I can't!") == \
        ["the", "colored", "band's", "fourth", "color", "i", "can", "not"]
    assert normalise("They're 25% off: $12 & 1,000 metres, um, 21st-century") == \
        ["they", "are", "twenty", "five", "percent", "off", "twelve", "dollars", "and", "one", "thousand",
         "meters", "twenty", "first", "century"]
    assert normalise("half-globes") == normalise("half -globes") == ["half", "globes"]


def test_normalise_keeps_what_changes_meaning():
    # 's and 'd stand for more than one word; the noun "emphasis" is spelled the same on both sides.
    assert normalise("he's here, she'd go") == ["he's", "here", "she'd", "go"]
    assert normalise("emphasis, not emphasise") == ["emphasis", "not", "emphasize"]


def test_join_compounds_joins_either_side_only_where_the_other_has_the_word():
    assert join_compounds(["rain", "drops", "fall"], ["raindrops", "fall"]) == (["raindrops", "fall"],
                                                                                 ["raindrops", "fall"])
    assert join_compounds(["tall", "rosewood"], ["tall", "rose", "wood"]) == (["tall", "rosewood"],
                                                                              ["tall", "rosewood"])
    assert join_compounds(["a", "red", "bow"], ["a", "red", "bell"]) == (["a", "red", "bow"], ["a", "red", "bell"])


def test_normalised_wer_forgives_spelling_but_counts_other_words():
    reference = ["The width of the coloured band increases with the raindrops."]
    assert word_error_rate(reference, ["the width of the colored band increases with the rain drops"]) > 0.2
    assert word_error_rate(reference, ["the width of the colored band increases with the rain drops"],
                           normalised=True) == 0.0
    # One real substitution in ten reference words stays one error.
    assert word_error_rate(reference, ["the width of the colored bend increases with the rain drops"],
                           normalised=True) == pytest.approx(1 / 10)
