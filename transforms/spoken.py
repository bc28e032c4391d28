"""Spoken forms to written forms, word by word, keeping each word's place in the written text.

ASR gives numbers, emails and dates the way they were said ("five five five, oh one two",
"5-2-0-6-2", "john dot smith at gmail dot com", "maria.gonzalezatgmail.com"). Presidio's
recognizers expect written forms, so the detector analyses the normalised text and maps
every span back to the ASR words through the offsets returned here.
"""
from __future__ import annotations

import re

DIGIT_WORDS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
               "six": "6", "seven": "7", "eight": "8", "nine": "9"}
TEENS = {"ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
         "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19"}
TENS = {"twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6", "seventy": "7", "eighty": "8",
        "ninety": "9"}
ORDINAL_UNITS = {"first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th", "sixth": "6th",
                 "seventh": "7th", "eighth": "8th", "ninth": "9th"}
ORDINALS = {"tenth": "10th", "eleventh": "11th", "twelfth": "12th", "thirteenth": "13th", "fourteenth": "14th",
            "fifteenth": "15th", "sixteenth": "16th", "seventeenth": "17th", "eighteenth": "18th",
            "nineteenth": "19th", "twentieth": "20th", "thirtieth": "30th"}
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
TLDS = {"com", "net", "org", "edu", "gov", "io", "co", "me", "us", "uk", "ca", "de", "info", "biz"}
# Words ASR writes for digits it misheard; taken as digits only inside a run of digits.
DIGIT_HOMOPHONES = {"for": "4", "fore": "4", "to": "2", "too": "2", "won": "1", "free": "3", "tree": "3",
                    "ate": "8", "fine": "9", "nein": "9", "niner": "9", "sex": "6"}
EMAIL_CONNECTORS = {"dot": ".", "period": ".", "underscore": "_", "dash": "-", "hyphen": "-"}
# Words that end the local part of a spoken email when walking back from "at".
EMAIL_STOP = {"is", "my", "to", "at", "email", "address", "with", "me", "the", "and", "please", "it's", "its", "was",
              "send", "mail", "e-mail", "account", "use", "reach", "contact", "for", "from", "i'm", "im", "them", "him",
              "her", "us", "it", "this", "that", "a", "an", "of", "on", "in", "be", "will", "can", "would", "playlist"}

EMAIL_CUE = re.compile(r"\b(?:e-?mail|mail|address|receipt|send|share|contact|account)\b")
_NUMERIC = re.compile(r"^\d+(?:[-.,/]\d+)*$")
_DATE = re.compile(r"^\d{1,2}/\d{1,2}/\d{2,4}$")
_CHAIN = re.compile(r"^[A-Za-z0-9](?:[-.][A-Za-z0-9])+$")      # "I-5-3-4", "G-B-8-2"
_GLUED_EMAIL = re.compile(r"^(.+)at([a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:" + "|".join(sorted(TLDS)) + r"))$")
_DOMAIN = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:" + "|".join(sorted(TLDS)) + r")$")

DIGITS, WORD = "digits", "word"


def _core(word: str) -> str:
    return re.sub(r"^[^\w@]+|[^\w@]+$", "", word)


def _ends_sentence(word: str) -> bool:
    return bool(re.search(r"[.!?]$", word))


def _run_digits(forms: list[tuple[str, str]], start: int, step: int) -> int:
    """Digits in the run of digit words from `start` going in direction `step` (+1 or -1)."""
    count, j = 0, start
    while 0 <= j < len(forms) and forms[j][1] == DIGITS:
        count += sum(ch.isdigit() for ch in forms[j][0])
        j += step
    return count


def _misheard_digit(low: str) -> str | None:
    """The digit a lower-case word stands for when ASR wrote it inside a number: a homophone ("for", "fine")
    or a unit ordinal ("3rd", "fifth")."""
    if low in DIGIT_HOMOPHONES:
        return DIGIT_HOMOPHONES[low]
    if low in ORDINAL_UNITS:
        return ORDINAL_UNITS[low][0]
    return low[0] if re.fullmatch(r"[1-9](?:st|nd|rd|th)", low) else None


def _classify(words: list[str]) -> list[tuple[str, str]]:
    """(written form, kind) of each word, before gluing."""
    cores = [_core(w) for w in words]
    lowers = [c.lower() for c in cores]
    out: list[tuple[str, str]] = []
    for i, (core, low) in enumerate(zip(cores, lowers)):
        nxt = lowers[i + 1] if i + 1 < len(lowers) else ""
        if _DATE.match(core):
            out.append((core, WORD))
        elif re.fullmatch(r"\d+(?:[-.]\d+)*[-.][A-Za-z]{2,}", core):   # "365-1-Hillcrest": number, street
            out.append((re.sub(r"[-.]", "", re.match(r"[\d.-]+(?=[-.][A-Za-z])", core).group(0)) + " "
                        + re.sub(r"^.*\d[-.]", "", core), WORD))
        elif _NUMERIC.match(core):
            out.append((re.sub(r"\D", "", core), DIGITS))
        elif _CHAIN.match(core) and sum(ch.isdigit() for ch in core) >= 2:
            chain = re.sub(r"[-.]", "", core)
            out.append((chain.translate(str.maketrans("IlOo", "1100")) if not re.search(r"[A-HJ-KM-NP-Za-hj-km-np-z]",
                                                                                         chain) else chain.upper(),
                        DIGITS))
        elif low in DIGIT_WORDS and low not in ("oh", "o"):
            out.append((DIGIT_WORDS[low], DIGITS))
        elif low in TEENS:
            out.append((TEENS[low], DIGITS))
        elif low in TENS:
            follows_unit = nxt in DIGIT_WORDS and nxt not in ("oh", "o", "zero") or nxt in ORDINAL_UNITS
            out.append((TENS[low] if follows_unit else TENS[low] + "0", DIGITS))
        elif low == "hundred" and i > 0 and out[-1][1] == DIGITS:
            out.append(("" if nxt in TEENS or nxt in TENS else "0" if nxt in DIGIT_WORDS else "00", DIGITS))
        elif low == "thousand" and i > 0 and out[-1][1] == DIGITS:
            after = lowers[i + 2] if i + 2 < len(lowers) else ""
            out.append(("" if after == "hundred" else "0" if nxt in TEENS or nxt in TENS
                        else "00" if nxt in DIGIT_WORDS else "000", DIGITS))
        elif low in ("double", "triple") and nxt in DIGIT_WORDS:
            out.append((DIGIT_WORDS[nxt] * (1 if low == "double" else 2), DIGITS))
        elif low in ORDINAL_UNITS:
            out.append((ORDINAL_UNITS[low], "ordinal"))
        elif low in ORDINALS:
            out.append((ORDINALS[low], WORD))
        elif "@" not in low and _GLUED_EMAIL.match(low):
            m = _GLUED_EMAIL.match(low)
            out.append((f"{m.group(1)}@{m.group(2)}", WORD))
        else:
            out.append((core if core else words[i], WORD))
    # Letters and digits spelled in one code ("GB82 WEST 1234"): short capitals between digit groups join them.
    for i, core in enumerate(cores):
        if out[i][1] == WORD and re.fullmatch(r"[A-Z]{1,4}\d+|\d+[A-Z]{1,4}", core):
            out[i] = (core, DIGITS)
    for i, core in enumerate(cores):
        if out[i][1] == WORD and re.fullmatch(r"[A-Z]{1,4}", core) and 0 < i < len(out) - 1 \
                and out[i - 1][1] == DIGITS and out[i + 1][1] == DIGITS:
            out[i] = (core, DIGITS)
    # Digits with a letter or two misheard inside ("0868716i896058", "I-88").
    for i, core in enumerate(cores):
        if out[i][1] == WORD and re.fullmatch(r"[A-Za-z0-9.-]+", core) and len(re.findall(r"[A-Za-z]", core)) <= 2 \
                and sum(ch.isdigit() for ch in core) >= 2:
            out[i] = (re.sub(r"[-.]", "", core).upper(), DIGITS)
    # Homophones count as digits between digits; those that are no common word ("fine", "free") also
    # next to a run of at least three digits, spreading along a run of them. A unit ordinal counts as its digit
    # between digits: ASR writes "thirty" or "five" inside a spoken number as "3rd" or "5th" ("500, 3rd 1, 555,
    # 5th 1,893" for a phone number).
    changed = True
    while changed:
        changed = False
        for i, low in enumerate(lowers):
            digit = _misheard_digit(low)
            if digit is None or out[i][1] == DIGITS:
                continue
            sides = [j for j in (i - 1, i + 1) if 0 <= j < len(out) and out[j][1] == DIGITS]
            beside_long_run = low in DIGIT_HOMOPHONES and low not in ("for", "fore", "to", "too") and any(
                _run_digits(out, j, j - i) >= 3 for j in sides)
            if len(sides) == 2 or beside_long_run:
                out[i] = (digit, DIGITS)
                changed = True
    # "oh" / "o" is zero only next to other digits.
    for i, low in enumerate(lowers):
        if low in ("oh", "o"):
            near = [out[j][1] == DIGITS for j in (i - 1, i + 1) if 0 <= j < len(out)]
            if any(near):
                out[i] = ("0", DIGITS)
    return out


def _email_spans(words: list[str]) -> list[tuple[int, int]]:
    """Word ranges [first, last] of spoken emails: local part, "at", domain, "dot", top-level domain."""
    lowers = [_core(w).lower() for w in words]
    spans = []
    for i, low in enumerate(lowers):
        if low not in ("at", "@"):
            if "@" not in low and _DOMAIN.match(low) and EMAIL_CUE.search(" ".join(lowers[max(0, i - 8):i + 1])):
                start = i
                while start > 0 and start > i - 3 and lowers[start - 1] not in EMAIL_STOP and re.fullmatch(
                        r"[a-z0-9._-]+", lowers[start - 1]) and (words[start - 1][:1].isupper()
                                                                 or re.search(r"\d", words[start - 1])):
                    start -= 1
                spans.append((start, i))
            continue
        # ASR splits a domain it does not know into words ("at o'claw.com", "at a cloud.com"): up to two
        # short words before the domain word belong to it.
        end = next((j for j in range(i + 1, min(i + 4, len(lowers))) if _DOMAIN.match(lowers[j])
                    and all(re.fullmatch(r"[a-z0-9'-]{1,8}", low) for low in lowers[i + 1:j])), None)
        j = i + 1
        while end is None and j + 2 < len(lowers) and re.fullmatch(r"[a-z0-9-]+", lowers[j]) \
                and lowers[j + 1] in ("dot", "period"):
            if lowers[j + 2] in TLDS:
                end = j + 2
            j += 2
        if end is None:
            continue
        start, alpha_words, k = i, 0, i - 1
        while k >= 0:
            low_k = lowers[k]
            if low_k in EMAIL_CONNECTORS:
                start, k = k, k - 1
                continue
            connected = k + 1 < i and lowers[k + 1] in EMAIL_CONNECTORS
            if low_k in EMAIL_STOP or not re.fullmatch(r"[a-z0-9._-]+", low_k):
                break
            is_alpha = bool(re.search(r"[a-z]{2,}", low_k))
            if is_alpha and not connected and alpha_words >= 2:
                break
            alpha_words += is_alpha
            start, k = k, k - 1
        if start < i:
            spans.append((start, end))
    return spans


def _attached_groups(words: list[str]) -> list[list[int]]:
    """Whisper splits "amanda.patterson", "283-555" or "6,499" into words that start with the separator:
    such a word belongs to the one before it."""
    groups: list[list[int]] = []
    for i, w in enumerate(words):
        attached = re.match(r"^[.\-@_][\w@]", w) or (re.match(r"^,\d", w) and re.search(r"\d$", words[i - 1]))
        if groups and attached and not re.search(r"[,!?]$", words[i - 1]):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def normalize_words(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The written form of the transcript, and each word's [start, end) offsets in it.

    Words that Whisper split at a separator are analysed as one; each of them maps to the range of
    the whole. Runs of digits are glued ("5 5 5, 0 1 2" -> "555012") unless a sentence ends between
    them or they are the day and year of a date; spoken emails become one written address.
    """
    groups = _attached_groups(words)
    text, group_offsets = _normalize_groups(["".join(words[i] for i in g) for g in groups])
    offsets = []
    for g, span in zip(groups, group_offsets):
        offsets.extend([span] * len(g))
    return text, offsets


def _normalize_groups(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """A word may map to an empty range ("hundred" in "four hundred fifteen"); `words_in_spans`
    treats it as part of the surrounding span."""
    forms = _classify(words)
    lowers = [_core(w).lower() for w in words]
    glue_left = [False] * len(words)
    for i in range(1, len(words)):
        kind, prev_kind = forms[i][1], forms[i - 1][1]
        if _ends_sentence(words[i - 1]):
            continue
        day_then_year = i >= 2 and lowers[i - 2] in MONTHS and re.fullmatch(r"(?:19|20)\d\d", forms[i][0])
        if kind == DIGITS and prev_kind == DIGITS and not day_then_year:
            glue_left[i] = True
        elif kind == "ordinal" and prev_kind == DIGITS and forms[i - 1][0] in TENS.values():
            glue_left[i] = True
    for start, end in _email_spans(words):
        for i in range(start, end + 1):
            low = _core(words[i]).lower()
            text = "@" if low in ("at", "@") else EMAIL_CONNECTORS.get(low, forms[i][0].lower())
            forms[i] = (text, WORD)
            if i > start:
                glue_left[i] = True
    parts, offsets, position = [], [], 0
    for i, (text, _) in enumerate(forms):
        if i > 0 and not glue_left[i]:
            parts.append(" ")
            position += 1
        offsets.append((position, position + len(text)))
        parts.append(text)
        position += len(text)
    return "".join(parts), offsets


def normalize_text(text: str) -> str:
    return normalize_words(text.split())[0]


def words_in_spans(offsets: list[tuple[int, int]], spans) -> list:
    """For each word, the highest-scoring span (anything with .start, .end, .score) that covers it, or None."""
    hits = []
    for start, end in offsets:
        if end > start:
            covering = [s for s in spans if s.start < end and s.end > start]
        else:
            covering = [s for s in spans if s.start < start < s.end]
        hits.append(max(covering, key=lambda s: s.score) if covering else None)
    return hits
