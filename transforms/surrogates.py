"""Surrogate values: realistic fakes for redacted PII, chosen by a keyed digest of the value.

The same value gets the same surrogate within a run (same secret); nobody
without the secret can tell which real value a surrogate stands for.
"""
from __future__ import annotations

FIRST_NAMES = ["Avery", "Jordan", "Riley", "Morgan", "Casey", "Quinn", "Rowan", "Harper", "Emerson", "Finley",
               "Sage", "Reese", "Dakota", "Skyler", "Parker", "Hayden", "Logan", "Peyton", "Jamie", "Cameron"]
LAST_NAMES = ["Ashford", "Bramley", "Calloway", "Dunmore", "Ellison", "Fairbank", "Garrick", "Holloway",
              "Ingram", "Jessop", "Kendrick", "Lockwood", "Merrick", "Northcott", "Oakley", "Pembrook"]
STREETS = ["Maple", "Cedar", "Willow", "Juniper", "Hawthorn", "Linden", "Alder", "Birch"]
STREET_TYPES = ["Street", "Avenue", "Road", "Lane", "Drive", "Court"]
CITIES = ["Springfield", "Riverton", "Fairview", "Lakewood", "Greenville", "Milford"]
DOMAINS = ["example.com", "example.org", "example.net"]


def _digits(seed: bytes, count: int, offset: int = 0) -> str:
    return "".join(str(seed[(offset + i) % len(seed)] % 10) for i in range(count))


def _pick(seed: bytes, index: int, options: list[str]) -> str:
    return options[seed[index % len(seed)] % len(options)]


def surrogate(entity: str, seed: bytes) -> str:
    if entity == "PERSON":
        return f"{_pick(seed, 0, FIRST_NAMES)} {_pick(seed, 1, LAST_NAMES)}"
    if entity == "PHONE_NUMBER":
        # 555-0100 to 555-0199 are reserved for fiction in the North American numbering plan
        return f"{2 + seed[0] % 8}{_digits(seed, 2, 1)}-555-01{_digits(seed, 2, 4)}"
    if entity == "EMAIL_ADDRESS":
        return f"{_pick(seed, 0, FIRST_NAMES).lower()}.{_pick(seed, 1, LAST_NAMES).lower()}@{_pick(seed, 2, DOMAINS)}"
    if entity == "CREDIT_CARD":
        return "4000 0000 0000 " + _digits(seed, 4, 3)
    if entity == "US_SSN":
        return f"900-{_digits(seed, 2, 5)}-{_digits(seed, 4, 7)}"
    if entity == "STREET_ADDRESS":
        return f"{int(_digits(seed, 3, 1)) + 1} {_pick(seed, 4, STREETS)} {_pick(seed, 5, STREET_TYPES)}"
    if entity == "LOCATION":
        return _pick(seed, 6, CITIES)
    if entity == "DATE_OF_BIRTH":
        return f"January {1 + seed[8] % 28}, 19{60 + seed[9] % 40}"
    return _digits(seed, 8, 10)
