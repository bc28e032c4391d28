"""Text normalisation for word error rates: two transcripts of the same words should not differ by spelling.

Whisper writes the same spoken words in more than one way: "coloured" and "colored", "4" and "four", "he is"
and "he's" for a contraction it heard, "rain drops" and "raindrops". Counted as errors, these measure the
writing, not what was heard; WER figures for Whisper are usually reported after such a normalisation. This
one is small and explicit: case, punctuation, hyphens, digits spelled out, English contractions other than
the ambiguous 's and 'd, British spellings in American form, hesitation sounds removed, and words written
apart in one transcript and joined in the other (see `join_compounds`).
"""
from __future__ import annotations

import re

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"), (100, "hundred"))
_ORDINAL_ENDINGS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                    "nine": "ninth", "twelve": "twelfth"}

_CONTRACTIONS = ((re.compile(r"\bcan't\b"), "can not"), (re.compile(r"\bwon't\b"), "will not"),
                 (re.compile(r"\bshan't\b"), "shall not"), (re.compile(r"\b(\w+)n't\b"), r"\1 not"),
                 (re.compile(r"\b(\w+)'re\b"), r"\1 are"), (re.compile(r"\b(\w+)'ve\b"), r"\1 have"),
                 (re.compile(r"\b(\w+)'ll\b"), r"\1 will"), (re.compile(r"\bi'm\b"), "i am"))

# British stems whose American form differs; inflections follow ("colours", "coloured" -> "colors", "colored").
_BRITISH_STEMS = {
    "colour": "color", "flavour": "flavor", "honour": "honor", "labour": "labor", "neighbour": "neighbor",
    "favour": "favor", "behaviour": "behavior", "harbour": "harbor", "humour": "humor", "rumour": "rumor",
    "vapour": "vapor", "odour": "odor", "armour": "armor", "savour": "savor", "parlour": "parlor",
    "endeavour": "endeavor", "vigour": "vigor", "splendour": "splendor", "tumour": "tumor", "valour": "valor",
    "centre": "center", "theatre": "theater", "metre": "meter", "litre": "liter", "fibre": "fiber",
    "sombre": "somber", "grey": "gray", "travell": "travel", "cancell": "cancel", "jewell": "jewel",
    "programme": "program", "catalogue": "catalog", "dialogue": "dialog", "defence": "defense",
    "offence": "offense", "licence": "license", "plough": "plow", "cheque": "check", "tyre": "tire",
    "storey": "story", "mould": "mold",
}
_INFLECTIONS = ("", "s", "es", "ed", "ing", "ful", "less", "able", "er", "ers", "ation", "ations")
# -ise / -yse verbs: only their verb forms differ ("emphasis" is a noun in both spellings, "emphasise" is not).
_BRITISH_VERB_STEMS = {"realis": "realiz", "organis": "organiz", "recognis": "recogniz", "apologis": "apologiz",
                       "emphasis": "emphasiz", "criticis": "criticiz", "analys": "analyz"}
_VERB_ENDINGS = ("e", "es", "ed", "ing", "able", "er", "ers", "ation", "ations")
_SPELLING = {stem + ending: american + ending
             for stems, endings in ((_BRITISH_STEMS, _INFLECTIONS), (_BRITISH_VERB_STEMS, _VERB_ENDINGS))
             for stem, american in stems.items() for ending in endings}
_HESITATIONS = {"um", "umm", "uh", "uhh", "hmm", "mm", "mhm", "er", "erm", "ah", "eh"}

_CURRENCY = re.compile(r"([$£€])\s?(\d[\d,]*(?:\.\d+)?)")
_CURRENCY_WORDS = {"$": "dollars", "£": "pounds", "€": "euros"}
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?(?:st|nd|rd|th)?")


def number_words(n: int) -> str:
    """Cardinal number in words, British-neutral ("one hundred twenty five": no "and")."""
    if n < 20:
        return _UNITS[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _UNITS[n % 10])
    for scale, name in _SCALES:
        if n >= scale:
            head, rest = divmod(n, scale)
            return number_words(head) + " " + name + ("" if rest == 0 else " " + number_words(rest))
    raise AssertionError("unreachable")


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_ENDINGS:
        last = _ORDINAL_ENDINGS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return (head + " " + last).strip()


def _spell_number(match: re.Match) -> str:
    token = match.group(0)
    ordinal = token[-2:] in ("st", "nd", "rd", "th")
    digits = token[:-2] if ordinal else token
    whole, _, fraction = digits.replace(",", "").partition(".")
    words = number_words(int(whole))
    if ordinal:
        return " " + _ordinal(words) + " "
    if fraction:
        words += " point " + " ".join(_UNITS[int(d)] for d in fraction)
    return " " + words + " "


def normalise(text: str) -> list[str]:
    """The words of a transcript, written one way."""
    text = text.lower().replace("\u2019", "'").replace("&", " and ").replace("%", " percent ")
    text = _CURRENCY.sub(lambda m: f" {m.group(2)} {_CURRENCY_WORDS[m.group(1)]} ", text)
    text = _NUMBER.sub(_spell_number, text)
    for pattern, replacement in _CONTRACTIONS:
        text = pattern.sub(replacement, text)
    words = re.findall(r"[a-z0-9]+(?:'[a-z]+)*", text.replace("-", " ").replace("/", " "))
    return [_SPELLING.get(w, w) for w in words if w not in _HESITATIONS]


def join_compounds(reference: list[str], hypothesis: list[str]) -> tuple[list[str], list[str]]:
    """Adjacent words of one side joined where the other side has them as one word ("rain drops" against
    "raindrops"), so that a compound written apart is not one substitution and one insertion."""
    return _joined(reference, set(hypothesis)), _joined(hypothesis, set(reference))


def _joined(words: list[str], other: set) -> list[str]:
    out, i = [], 0
    while i < len(words):
        if i + 1 < len(words) and words[i] + words[i + 1] in other:
            out.append(words[i] + words[i + 1])
            i += 2
        else:
            out.append(words[i])
            i += 1
    return out
