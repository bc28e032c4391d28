"""PII in transcripts: presidio finds spans, words that overlap them are redacted in text and time.

Redaction works at word granularity so that the shipped text, the shipped word
list and the silenced audio always agree: a word is either shipped whole or
replaced by the entity's token, and its time span is silenced.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from apache_beam.metrics import Metrics
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult

from transforms.asr import without_loops, without_unsure_tail
from transforms.identity import Keyring
from transforms.records import Rejected, Word
from transforms.spoken import normalize_text, normalize_words, words_in_spans
from transforms.stage import LOOP_WORDS, METRICS_NAMESPACE, UNSURE_TAIL_WORDS, Stage

MASK = "*****"


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    entity: str
    score: float


def _offline_tldextract() -> None:
    """presidio's email recognizer calls tldextract, which would fetch the Public Suffix List."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    import tldextract
    import tldextract.tldextract as module

    offline = module.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    module.TLD_EXTRACTOR = offline
    tldextract.extract = offline


NAME_CUE = re.compile(
    r"\b(?:my name is|my name's|name is|this is|i am|i'm|it's|call me|call|phone|ring|text|message|email|"
    r"tell|remind|under the name|named|for|to|with|hi|hello|from)\s+$", re.IGNORECASE)
NAME_TAGS = {"PROPN", "NOUN", "X", "ADJ"}
CALENDAR_WORDS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
                  "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                  "sunday", "i"}


class RuleRecognizer(EntityRecognizer):
    """A recognizer made of rules alone: it finds ENTITIES, is named after its class and loads nothing."""

    ENTITIES: list[str] = []

    def __init__(self, language: str):
        super().__init__(supported_entities=list(self.ENTITIES), supported_language=language,
                         name=type(self).__name__)

    def load(self) -> None:
        return None


class NameAfterCueRecognizer(RuleRecognizer):
    """Up to three name-like words right after a cue such as "my name is" or "call", in any casing.

    A word counts when spaCy tags it a proper noun, or it is capitalised mid-sentence, or it
    follows a strong cue ("my name is") and is tagged like a noun; stop words end the name.
    """

    STRONG = re.compile(r"\b(?:my name is|my name's|name is|under the name|named|call me|i'm|i am)\s+$",
                        re.IGNORECASE)

    ENTITIES = ["PERSON"]

    def analyze(self, text, entities, nlp_artifacts=None):
        if nlp_artifacts is None or not nlp_artifacts.tokens:
            return []
        tokens = list(nlp_artifacts.tokens)
        results = []
        for i, token in enumerate(tokens):
            before = text[max(0, token.idx - 30):token.idx]
            if not NAME_CUE.search(before):
                continue
            strong = bool(self.STRONG.search(before))
            name = []
            for t in tokens[i:i + 3]:
                looks_like_name = t.is_alpha and not t.is_stop and (
                    t.pos_ == "PROPN" or (t.text[0].isupper() and t.i > 0) or (strong and t.pos_ in NAME_TAGS))
                if not looks_like_name:
                    break
                name.append(t)
            if name:
                results.append(RecognizerResult("PERSON", name[0].idx, name[-1].idx + len(name[-1].text),
                                                0.7 if strong else 0.5))
        # Without a cue: a capitalised proper noun mid-sentence that is no month or weekday
        # (ASR capitalises names it hears even when it garbles the words around them).
        for t in tokens:
            capitalised = t.text[:1].isupper() and not t.text.isupper()
            if t.pos_ == "PROPN" and t.is_alpha and capitalised and not t.is_sent_start \
                    and t.text.lower() not in CALENDAR_WORDS:
                results.append(RecognizerResult("PERSON", t.idx, t.idx + len(t.text), 0.45))
        return results


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


# Words said shortly before a number that tell what it is.
DIGIT_CONTEXT = [
    ("US_SSN", re.compile(r"\b(?:social|security|ssn|s s n)\b", re.IGNORECASE)),
    ("CREDIT_CARD", re.compile(r"\b(?:card|visa|mastercard|amex|credit|debit)\b", re.IGNORECASE)),
    ("US_BANK_NUMBER", re.compile(r"\b(?:account|routing|bank|checking|savings|iban)\b", re.IGNORECASE)),
    ("PHONE_NUMBER", re.compile(r"\b(?:phone|number|call|text|reach|mobile|cell|contacts?|dial)\b", re.IGNORECASE)),
]


class DigitRunRecognizer(RuleRecognizer):
    """Runs of digits in the normalised transcript, typed by Luhn, length and the words said before them.

    Five or more digits are always redacted (DIGIT_SEQUENCE when nothing tells their type); three or
    four digits only after a PII cue ("card ending in 0106").
    """

    ENTITIES = ["CREDIT_CARD", "US_SSN", "US_BANK_NUMBER", "PHONE_NUMBER", "DIGIT_SEQUENCE"]

    def analyze(self, text, entities, nlp_artifacts=None):
        results = []
        # A spelled code that Whisper wrote in dash-joined pieces ("IBA-NGB-799-KLXF-9078-4,547") is one
        # value, however short each piece. (Digits alone are glued into one run by the normaliser.)
        for m in re.finditer(r"(?<![\w@.-])[A-Za-z0-9]+(?:[-,][A-Za-z0-9]+)+(?![\w@-])", text):
            code = re.sub(r"[-,]", "", m.group(0))
            if sum(ch.isdigit() for ch in code) >= 5 and not code.isdigit():
                iban = re.search(r"[A-Z]{2}\d{2}", code) and len(code) >= 12
                results.append(RecognizerResult("IBAN_CODE", m.start(), m.end(), 0.9) if iban
                               else RecognizerResult("DIGIT_SEQUENCE", m.start(), m.end(), 0.65))
        for m in re.finditer(r"(?<![\w@.])[A-Z0-9]*\d[A-Z0-9]*(?![\w@])", text):
            code = m.group(0)
            digits = re.sub(r"\D", "", code)
            if len(digits) < 3:
                continue
            before = text[max(0, m.start() - 50):m.start()]
            cue = next((entity for entity, pattern in DIGIT_CONTEXT if pattern.search(before)), None)
            if 13 <= len(digits) <= 19 and digits == code and luhn_valid(digits):
                entity, score = "CREDIT_CARD", 0.95
            elif len(code) >= 12 and re.match(r"[A-Z]{2}\d{2}", code):
                entity, score = "IBAN_CODE", 0.8
            elif cue:
                entity, score = cue, 0.85
            elif len(code) >= 12 and code != digits:
                entity, score = "IBAN_CODE", 0.7
            elif len(digits) >= 5:
                entity, score = ("PHONE_NUMBER", 0.7) if len(digits) in (10, 11) else ("DIGIT_SEQUENCE", 0.6)
            else:
                continue
            results.append(RecognizerResult(entity, m.start(), m.end(), score))
        return results


BIRTH_CUE = re.compile(r"\b(?:born|birth|birthday|dob|d o b|b-day)\b", re.IGNORECASE)
_MONTH = r"(?:january|february|march|april|may|june|july|august|september|october|november|december|" \
         r"jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
# "on" in "the 12th on April" is how ASR often hears "of".
DATE_PATTERN = re.compile(
    rf"\b(?:(?:the\s+)?{_DAY}\s+(?:(?:of|on)\s+)?{_MONTH}|{_MONTH}\s+(?:the\s+)?{_DAY})(?:,?\s+\d{{4}})?\b"
    rf"|\b{_MONTH}\s+\d{{4}}\b|\b\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}\b|\b(?:19|20)\d{{2}}\b",
    re.IGNORECASE)


PAST_FULL_DATE = re.compile(r"\d.*\b(?:19\d\d|200\d|201[0-5])$|^[a-z]+\s+(?:19\d\d|200\d)$", re.IGNORECASE)


class DateOfBirthRecognizer(RuleRecognizer):
    """A date (or a lone birth year) said after a birth cue in the same utterance."""

    ENTITIES = ["DATE_OF_BIRTH"]

    def analyze(self, text, entities, nlp_artifacts=None):
        results = []
        for m in DATE_PATTERN.finditer(text):
            if BIRTH_CUE.search(text[max(0, m.start() - 60):m.start()]):
                results.append(RecognizerResult("DATE_OF_BIRTH", m.start(), m.end(), 0.85))
            elif PAST_FULL_DATE.search(m.group(0)):
                # ASR mishears the cue ("my native bird is"); a full date long past is a birth date more
                # often than anything a voice assistant is asked to schedule.
                results.append(RecognizerResult("DATE_OF_BIRTH", m.start(), m.end(), 0.6))
        return results


# Street types, with the forms ASR mishears them as ("sunset treat", "pine way" -> "highway", "boulevard" ->
# "Moolevart"); the type may be glued to the name before it ("Lake Viewway", "will away").
STREET_TYPES = r"(?:streets?|st|treat|avenues?|ave|road|rd|rode|boulevard|levar[dt]s?|blvd|lanes?|ln|drive|dr|" \
               r"court|ct|way|place|pl|terrace|circle|parkway|highway|hwy|square|trail|crescent|alley)"


class HouseNumberRecognizer(RuleRecognizer):
    """A house number said after a place cue and followed by a capitalised name ("to 3372 Magnolia
    Moolevards"): the street type is the word ASR mishears most, and without it the street pattern misses."""

    PATTERN = re.compile(r"\b(?:to|at|on|from|in|near|live|lives|lived|is)\s+"
                         r"(\d{1,6}[a-z]{0,2},?(?:\s+[A-Z][a-z]+){1,3})\b")

    ENTITIES = ["STREET_ADDRESS"]

    def analyze(self, text, entities, nlp_artifacts=None):
        results = []
        for m in self.PATTERN.finditer(text):
            if m.group(1).split()[1].lower() not in CALENDAR_WORDS:   # "on 5 March" is a date
                results.append(RecognizerResult("STREET_ADDRESS", m.start(1), m.end(1), 0.6))
        return results


def _custom_recognizers(language: str) -> list:
    email = PatternRecognizer(
        supported_entity="EMAIL_ADDRESS", supported_language=language, name="WrittenEmailRecognizer",
        patterns=[Pattern("address with @", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", 0.9),
                  # ASR often swallows the "at": "mariagonzalezatgmail.com", "spattersonexample.org"
                  Pattern("address without @", r"\b[\w+-][\w.+-]{5,}\.(?:com|net|org|edu|me|io|co)\b", 0.5),
                  # the local part alone, "steven.okafor", split from a mangled domain
                  Pattern("dotted name", r"(?i)\b[a-z]{2,}\.[a-z]{3,}\b(?!@)", 0.5)])
    street = PatternRecognizer(
        supported_entity="STREET_ADDRESS", supported_language=language, name="StreetAddressRecognizer",
        patterns=[Pattern("house number and street",
                          rf"(?i)\b\d{{1,6}}[a-z]{{0,2}},?\s+(?:[a-z]+\s+){{0,3}}?[a-z]*{STREET_TYPES}\b"
                          r"(?:\s+(?:apartment|apt|unit|suite|number)\s+\w+)?", 0.85)])
    iban = PatternRecognizer(
        supported_entity="IBAN_CODE", supported_language=language, name="SpokenIbanRecognizer",
        patterns=[Pattern("country, check digits, account", r"\b[A-Z]{2}\d{2}[A-Z0-9]{8,30}\b", 0.85)])
    return [email, street, iban, DigitRunRecognizer(language), DateOfBirthRecognizer(language),
            NameAfterCueRecognizer(language), HouseNumberRecognizer(language)]


class PiiDetector:
    """presidio AnalyzerEngine with the packaged spaCy model and the recognizers speech needs.

    `find` analyses written text; `find_in_words` analyses the spoken-form normalisation of ASR
    words and returns, for each word, the entity that covers it (or None).
    """

    def __init__(self, pii_cfg: dict):
        _offline_tldextract()
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider

        self.language = pii_cfg["language"]
        provider = NlpEngineProvider(nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": self.language, "model_name": pii_cfg["spacy_model"]}],
        })
        self.engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=[self.language])
        for recognizer in _custom_recognizers(self.language):
            self.engine.registry.add_recognizer(recognizer)
        self.entities = list(pii_cfg["entities"])
        self.threshold = pii_cfg["score_threshold"]
        self.allow_list = {w.casefold() for w in pii_cfg["allow_list"]}

    def find(self, text: str) -> list[Span]:
        if not text.strip():
            return []
        results = self.engine.analyze(text=text, language=self.language, entities=self.entities,
                                      score_threshold=self.threshold)
        spans = []
        for r in results:
            value = text[r.start:r.end]
            if value.strip(" .,!?").casefold() in self.allow_list:
                continue
            spans.append(Span(r.start, r.end, r.entity_type, float(r.score)))
        return sorted(spans, key=lambda s: (s.start, -s.end))

    def find_in_words(self, texts: list[str]) -> list:
        normalized, offsets = normalize_words(texts)
        hits = words_in_spans(offsets, self.find(normalized))
        return [None if hit is None or _strip_word(t).casefold() in self.allow_list else hit.entity
                for t, hit in zip(texts, hits)]


def mark_words(words: list[Word], entities: list) -> list[Word]:
    """Copies of the words with `pii` set to the entity found over each (None where nothing was)."""
    return [Word(w.text, w.start, w.end, w.probability, entity) for w, entity in zip(words, entities)]


def _strip_word(text: str) -> str:
    return re.sub(r"^\W+|\W+$", "", text)


class TextOperator:
    """Replaces the value of a redacted span by a tag, a mask, a keyed pseudonym or a surrogate."""

    def __init__(self, pii_cfg: dict, keyring: Keyring):
        self.default = pii_cfg["operator"]
        self.per_entity = dict(pii_cfg["operators"])
        self.keyring = keyring

    def replace(self, entity: str, value: str) -> str:
        operator = self.per_entity.get(entity, self.default)
        if operator == "mask":
            return MASK
        if operator == "pseudonym":
            return f"[{entity}_{self.keyring.value_token(entity, value)}]"
        if operator == "surrogate":
            from transforms.surrogates import surrogate

            return surrogate(entity, self.keyring.digest("surrogate:" + entity, value.casefold()))
        return f"[{entity}]"


def redact_words(words: list[Word], operator: TextOperator) -> list[Word]:
    """Merge each run of PII words of one entity into one token word spanning their times."""
    redacted: list[Word] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w.pii is None:
            redacted.append(Word(w.text, w.start, w.end, w.probability))
            i += 1
            continue
        j = i
        while j + 1 < len(words) and words[j + 1].pii == w.pii:
            j += 1
        value = " ".join(_strip_word(x.text) for x in words[i:j + 1])
        trailing = re.search(r"[.,!?]+$", words[j].text)
        token = operator.replace(w.pii, value) + (trailing.group(0) if trailing else "")
        redacted.append(Word(token, words[i].start, words[j].end, 1.0, w.pii))
        i = j + 1
    return redacted


def entity_counts(words: list[Word]) -> dict:
    counts: dict = {}
    for w in words:
        if w.pii:
            counts[w.pii] = counts.get(w.pii, 0) + 1
    return dict(sorted(counts.items()))


def _align_token(text: str) -> str:
    return re.sub(r"[^a-z0-9@]", "", normalize_text(text).lower())


def place_supplied_pii(words: list[Word], supplied: list[Word]) -> list:
    """Entities for the ASR words that say the PII values found in a supplied transcript.

    The supplied words are aligned to the ASR words (longest matching runs of normalised tokens). A PII
    word that aligns marks its ASR word; one that does not (ASR heard "Gamala" for "Gonzalez") marks every
    unaligned ASR word between its nearest aligned neighbours, since the value was said there. A value with
    no ASR word in its gap cannot be placed in time and fails closed.
    """
    from difflib import SequenceMatcher

    asr_tokens = [_align_token(w.text) for w in words]
    supplied_tokens = [_align_token(w.text) for w in supplied]
    aligned: dict = {}
    matcher = SequenceMatcher(None, supplied_tokens, asr_tokens, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            if supplied_tokens[block.a + k]:
                aligned[block.a + k] = block.b + k
    placed: list = [None] * len(words)
    for i, word in enumerate(supplied):
        if word.pii is None:
            continue
        if i in aligned:
            targets = [aligned[i]]
        else:
            before = max((aligned[k] for k in aligned if k < i), default=-1)
            after = min((aligned[k] for k in aligned if k > i), default=len(words))
            targets = list(range(before + 1, after))
        if not targets:
            raise Rejected("pii_span_not_placeable")
        for k in targets:
            placed[k] = placed[k] or word.pii
    return placed


class RedactTranscript(Stage):
    """Find PII in the ASR words and replace it, marking the words whose audio must be silenced.

    With a supplied transcript, the supplied text is redacted with the same policy and shipped
    instead of the ASR text; its PII values are placed in time through the ASR words. Once the PII is
    marked, an unsure tail of the ASR words (transforms.asr.without_unsure_tail) and the repeats of a repetition
    loop (transforms.asr.without_loops) are dropped.
    """

    name = "pii"

    def __init__(self, pii_cfg: dict, secret_source, asr_cfg: dict):
        super().__init__()
        self.pii_cfg, self.secret_source = pii_cfg, secret_source
        self.asr_cfg = asr_cfg
        self._tail_words = Metrics.counter(METRICS_NAMESPACE, UNSURE_TAIL_WORDS)
        self._loop_words = Metrics.counter(METRICS_NAMESPACE, LOOP_WORDS)

    def setup(self):
        self.detector = PiiDetector(self.pii_cfg)
        self.operator = TextOperator(self.pii_cfg, Keyring(self.secret_source.get()))

    def apply(self, record):
        entities = self.detector.find_in_words([w.text for w in record.words])
        shipped_text = None
        if record.supplied_transcript:
            supplied = [Word(t, float("nan"), float("nan")) for t in record.supplied_transcript.split()]
            supplied = mark_words(supplied, self.detector.find_in_words([w.text for w in supplied]))
            placed = place_supplied_pii(record.words, supplied)
            entities = [own or other for own, other in zip(entities, placed)]
            shipped_text = " ".join(w.text for w in redact_words(supplied, self.operator))
            record.supplied_transcript = None   # the unredacted text goes no further
        marked = mark_words(record.words, entities)
        sure = without_unsure_tail(marked, record.audio, record.sample_rate, self.asr_cfg)
        kept = without_loops(sure, self.asr_cfg["loop_min_repeats"])
        self._tail_words.inc(len(marked) - len(sure))
        self._loop_words.inc(len(sure) - len(kept))
        record.words = redact_words(kept, self.operator)
        record.text = shipped_text if shipped_text is not None else " ".join(w.text for w in record.words)
        record.pii_counts = entity_counts(record.words)
        yield record


class VerifyRedaction(Stage):
    """Optional second pass: transcribe the shipped audio again and quarantine the record if the
    detector still finds PII in it (a value the first pass missed, or one the silence did not cover).
    Doubles the ASR cost; off by default (redaction.verify)."""

    name = "verify_redaction"

    def __init__(self, asr_cfg: dict, pii_cfg: dict, local_workers: int = 1, machine_tag: str = ""):
        super().__init__()
        self.asr_cfg, self.pii_cfg = asr_cfg, pii_cfg
        self.local_workers, self.machine_tag = local_workers, machine_tag

    def setup(self):
        from transforms.asr import acquire_whisper

        self.whisper = acquire_whisper(self.asr_cfg, self.local_workers, self.machine_tag)
        self.detector = PiiDetector(self.pii_cfg)

    def apply(self, record):
        heard, = self.whisper.transcribe_pack([record.audio], [record.language or record.detected_language or ""])
        if any(self.detector.find_in_words([w.text for w in heard.words])):
            raise Rejected("pii_readable_after_redaction")
        yield record
