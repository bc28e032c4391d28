"""A labeled spoken-PII set: voice-assistant requests carrying PII, spoken by many TTS voices.

Utterances come from a seeded generator (same seed, same set). Each one is a request
template filled with PII values; the labels keep every value in canonical form
(digits only, lower-case email, ISO date) next to the words the voice said for it,
so the evaluation can tell whether a value is still readable whatever form ASR
gives it ("5-2-0-6-2", "five two oh six two", "52062").
"""
from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass, field

from transforms.pii import luhn_valid
from transforms.spoken import DIGIT_WORDS, MONTHS, normalize_text

FIRST_NAMES = ["Maria", "Robert", "Jennifer", "Michael", "Linda", "David", "Patricia", "Thomas", "Susan", "Daniel",
               "Karen", "Joseph", "Nancy", "Andrew", "Emily", "Kevin", "Jessica", "Brian", "Sarah", "Steven",
               "Laura", "Timothy", "Rachel", "Jason", "Angela", "Gregory", "Melissa", "Eric", "Amanda", "Jonathan",
               "Priya", "Carlos", "Aisha", "Dmitri", "Mei", "Olivia", "Samuel", "Fatima", "Lucas", "Hannah"]
LAST_NAMES = ["Gonzalez", "Johnson", "Williams", "Martinez", "Anderson", "Thompson", "Robinson", "Ramirez",
              "Henderson", "Patterson", "Nguyen", "Schneider", "Kowalski", "Okafor", "Fitzgerald", "Sullivan",
              "Morrison", "Castillo", "Harrington", "Lindqvist", "Petrov", "Chatterjee", "Delgado", "Whitaker",
              "Gallagher", "Yamamoto", "Brennan", "Novak", "Mendoza", "Caldwell"]
STREET_NAMES = ["Maple", "Oak", "Cedar", "Elm", "Pine", "Washington", "Lincoln", "Jefferson", "Highland", "Sunset",
                "Lakeview", "Willow", "Chestnut", "Magnolia", "Franklin", "Madison", "Riverside", "Hillcrest"]
STREET_TYPES = ["Street", "Avenue", "Road", "Boulevard", "Lane", "Drive", "Court", "Place", "Way"]
MAIL_DOMAINS = [("gmail", "com"), ("yahoo", "com"), ("outlook", "com"), ("hotmail", "com"), ("icloud", "com"),
                ("proton", "me"), ("comcast", "net"), ("example", "org")]
DAY_ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
            "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
            "eighteenth", "nineteenth", "twentieth", "twenty first", "twenty second", "twenty third",
            "twenty fourth", "twenty fifth", "twenty sixth", "twenty seventh", "twenty eighth"]
NUMBER_WORDS = {v: k for k, v in DIGIT_WORDS.items() if k not in ("oh", "o")}

ESPEAK_VOICES = ["en-us+m1", "en-us+m2", "en-us+m3", "en-us+m4", "en-us+m5", "en-us+m7", "en-us+f1", "en-us+f2",
                 "en-us+f3", "en-us+f4", "en-gb+m1", "en-gb+m3", "en-gb+f2", "en-gb+f4", "en+m2", "en-us+klatt"]
FLITE_VOICES = ["flite:kal16", "flite:slt", "flite:rms", "flite:awb"]

# Requests people make to a voice assistant; {ENTITY} is a PII slot.
TEMPLATES = [
    "my name is {PERSON} and I would like to check my order",
    "this is {PERSON}, please call me back at {PHONE_NUMBER}",
    "call {PERSON} on her mobile",
    "send a message to {PERSON} saying I will be ten minutes late",
    "book a table for four under the name {PERSON}",
    "remind me to email {PERSON} tomorrow morning",
    "my phone number is {PHONE_NUMBER}",
    "please text the code to {PHONE_NUMBER}",
    "add {PHONE_NUMBER} to my contacts as the dentist",
    "you can reach me at {PHONE_NUMBER} after six",
    "my email address is {EMAIL_ADDRESS}",
    "send the receipt to {EMAIL_ADDRESS} please",
    "update my account email to {EMAIL_ADDRESS}",
    "share this playlist with {EMAIL_ADDRESS}",
    "pay the bill with my card number {CREDIT_CARD}",
    "my credit card is {CREDIT_CARD} and it expires next year",
    "use the card ending in {CREDIT_CARD} for this order",
    "my social security number is {US_SSN}",
    "the form needs my social {US_SSN}",
    "transfer two hundred dollars to account number {US_BANK_NUMBER}",
    "my checking account is {US_BANK_NUMBER}",
    "send the rent to the I B A N {IBAN_CODE}",
    "my bank account I B A N is {IBAN_CODE}",
    "deliver the package to {STREET_ADDRESS}",
    "get directions home to {STREET_ADDRESS}",
    "I live at {STREET_ADDRESS} and the door code changed",
    "order a taxi to {STREET_ADDRESS} for eight o'clock",
    "my date of birth is {DATE_OF_BIRTH}",
    "I was born on {DATE_OF_BIRTH}",
    "for verification my birthday is {DATE_OF_BIRTH}",
    "my name is {PERSON} and my date of birth is {DATE_OF_BIRTH}",
    "hi, I'm {PERSON}, my email is {EMAIL_ADDRESS}",
    "ship it to {STREET_ADDRESS} and call {PHONE_NUMBER} on arrival",
    "set an alarm for seven thirty tomorrow",
    "what is the weather going to be like this weekend",
    "play some relaxing jazz in the kitchen",
    "add milk, eggs and bread to my shopping list",
    "turn off the lights in the living room",
    "set a timer for twenty five minutes",
]


@dataclass
class Value:
    entity: str
    canonical: str
    spoken: str


@dataclass
class Utterance:
    id: str
    audio: str
    voice: str
    text: str
    values: list = field(default_factory=list)
    other_words: list = field(default_factory=list)   # the template's words outside every PII slot

    def as_json(self) -> dict:
        return asdict(self)


def luhn_complete(partial: str) -> str:
    """Append the Luhn check digit."""
    return next(partial + str(check) for check in range(10) if luhn_valid(partial + str(check)))


def iban_check_digits(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    return f"{98 - number % 97:02d}"


def _groups(items: list, sizes: list[int]) -> list[list]:
    chunks, i = [], 0
    for size in sizes:
        chunks.append(items[i:i + size])
        i += size
    if i < len(items):
        chunks.append(items[i:])
    return [c for c in chunks if c]


def _digit_words(digits: str, rng: random.Random, groups: list[int]) -> str:
    """Digits read one by one, zero as "zero" or "oh", a comma between groups."""
    zero = rng.choice(["zero", "oh"])
    words = [zero if d == "0" else NUMBER_WORDS[d] for d in digits]
    return ", ".join(" ".join(chunk) for chunk in _groups(words, groups))


def _speak_digits(digits: str, rng: random.Random, groups: list[int]) -> str:
    style = rng.choice(["words", "spaced", "grouped"])
    if style == "words":
        return _digit_words(digits, rng, groups)
    if style == "spaced":
        return " ".join(digits)
    return " ".join("".join(chunk) for chunk in _groups(list(digits), groups))


def make_value(entity: str, rng: random.Random) -> Value:
    digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    if entity == "PERSON":
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name = first if rng.random() < 0.2 else f"{first} {last}"
        return Value(entity, name.lower(), name)
    if entity == "PHONE_NUMBER":
        number = rng.choice("23456789") + digits(2) + "555" + digits(4)
        return Value(entity, number, _speak_digits(number, rng, [3, 3, 4]))
    if entity == "CREDIT_CARD":
        prefix = rng.choice(["4", "5", "6"])
        number = luhn_complete(prefix + digits(14))
        return Value(entity, number, _speak_digits(number, rng, [4, 4, 4, 4]))
    if entity == "US_SSN":
        number = rng.choice("1234567") + digits(8)
        return Value(entity, number, _speak_digits(number, rng, [3, 2, 4]))
    if entity == "US_BANK_NUMBER":
        number = rng.choice("123456789") + digits(rng.randint(7, 11))
        return Value(entity, number, _speak_digits(number, rng, [4, 4, 4]))
    if entity == "IBAN_CODE":
        bank = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(4))
        bban = bank + digits(14)
        iban = "GB" + iban_check_digits("GB", bban) + bban
        spoken = " ".join(iban[:4]) + ", " + " ".join(bank) + ", " + _speak_digits(bban[4:], rng, [4, 4, 4, 2])
        return Value(entity, iban, spoken)
    if entity == "EMAIL_ADDRESS":
        first, last = rng.choice(FIRST_NAMES).lower(), rng.choice(LAST_NAMES).lower()
        domain, tld = rng.choice(MAIL_DOMAINS)
        style = rng.random()
        if style < 0.5:
            local, spoken_local = f"{first}.{last}", f"{first} dot {last}"
        elif style < 0.75:
            n = digits(2)
            local, spoken_local = f"{first}{last}{n}", f"{first} {last} {' '.join(n)}"
        else:
            local, spoken_local = f"{first[0]}{last}", f"{first[0]} {last}"
        return Value(entity, f"{local}@{domain}.{tld}", f"{spoken_local} at {domain} dot {tld}")
    if entity == "STREET_ADDRESS":
        house = str(rng.randint(1, 9999))
        street = f"{rng.choice(STREET_NAMES)} {rng.choice(STREET_TYPES)}"
        spoken_house = house if rng.random() < 0.6 else " ".join(NUMBER_WORDS[d] for d in house)
        return Value(entity, f"{house} {street}".lower(), f"{spoken_house} {street}")
    if entity == "DATE_OF_BIRTH":
        year, month, day = rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28)
        month_name = MONTHS[month - 1].capitalize()
        style = rng.random()
        if style < 0.4:
            spoken = f"{month_name} {day}, {year}"
        elif style < 0.7:
            spoken = f"the {DAY_ORDINALS[day - 1]} of {month_name} {year}"
        else:
            spoken = f"{month_name} {DAY_ORDINALS[day - 1]}, {year}"
        return Value(entity, f"{year:04d}-{month:02d}-{day:02d}", spoken)
    raise ValueError(f"no generator for entity {entity}")


def make_utterance(index: int, rng: random.Random) -> tuple[Utterance, str]:
    """One labeled utterance and the text the TTS voice should read."""
    template = TEMPLATES[index % len(TEMPLATES)] if index < len(TEMPLATES) else rng.choice(TEMPLATES)
    voice = rng.choice(ESPEAK_VOICES + FLITE_VOICES * 3)
    values, pieces, other_words = [], [], []
    for part in re.split(r"(\{[A-Z_]+\})", template):
        if part.startswith("{"):
            value = make_value(part[1:-1], rng)
            values.append(value)
            pieces.append(value.spoken)
        else:
            pieces.append(part)
            other_words.extend(w for w in re.findall(r"[a-z']+", part.lower()))
    text = "".join(pieces)
    key = f"pii-{index:05d}"
    return Utterance(key, f"{key}.wav", voice, text, [asdict(v) for v in values], other_words), text


# ---- readability: is a canonical value still recoverable from a text? ----

def _digit_runs(text: str) -> list[str]:
    return re.findall(r"\d+", normalize_text(text))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", normalize_text(text).lower())


def readable(entity: str, canonical: str, text: str, spoken: str = "") -> bool:
    """True when the value can still be read in `text` (spoken forms and separators normalised).

    Numbers: any 4 consecutive digits of the value (the whole value when shorter) in one run of digits.
    Names: any part of the name. Email: any name part of the local part, or the local part glued.
    Address: the street name, or a house number of 3+ digits. Date of birth: the year, or month and day.
    Email: also any name said in its local part (`spoken`), alone or inside a longer word.
    """
    words = _words(text)
    runs = _digit_runs(text)
    if entity in {"PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "US_BANK_NUMBER", "IBAN_CODE"}:
        digits = re.sub(r"\D", "", canonical)
        k = min(4, len(digits))
        return any(digits[i:i + k] in run for run in runs for i in range(len(digits) - k + 1))
    if entity == "PERSON":
        return any(part in words for part in canonical.split())
    if entity == "EMAIL_ADDRESS":
        local = canonical.split("@")[0]
        parts = [p for p in re.split(r"[^a-z]+", local) if len(p) >= 3]
        glued = re.sub(r"[^a-z0-9]", "", normalize_text(text).lower())
        said = [p for p in re.findall(r"[a-z]{4,}", spoken.lower().split(" at ")[0]) if p != "dot"]
        return any(p in words for p in parts) or re.sub(r"[^a-z0-9]", "", local) in glued \
            or any(p in w for p in said for w in re.findall(r"[a-z0-9]+", text.lower()))
    if entity == "STREET_ADDRESS":
        house, street = canonical.split()[0], canonical.split()[1]
        return street in words or (len(house) >= 3 and house in runs)
    if entity == "DATE_OF_BIRTH":
        year, month, day = canonical.split("-")
        day_forms = {str(int(day)), f"{int(day)}st", f"{int(day)}nd", f"{int(day)}rd", f"{int(day)}th"}
        return year in runs or (MONTHS[int(month) - 1] in words and bool(day_forms & set(words)))
    raise ValueError(f"no readability rule for entity {entity}")


def value_tokens(entity: str, canonical: str) -> set[str]:
    """Tokens that belong to a value: a redacted span made of them is a true positive."""
    if entity == "EMAIL_ADDRESS":
        return {p for p in re.split(r"[^a-z0-9]+", canonical) if p}
    if entity == "DATE_OF_BIRTH":
        year, month, day = canonical.split("-")
        return {year, MONTHS[int(month) - 1], str(int(day))}
    return set(canonical.lower().split()) | ({re.sub(r"\D", "", canonical)} - {""})
