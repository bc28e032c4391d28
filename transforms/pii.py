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

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult

from transforms.identity import Keyring
from transforms.records import Word
from transforms.stage import Stage

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
    r"\b(?:my name is|my name's|this is|i am|i'm|call me|under the name|named|it's)\s+"
    r"((?:[A-Z][a-z]+|[A-Z]\.)(?:\s+[A-Z][a-z]+){0,2})\b", re.IGNORECASE)


class NameAfterCueRecognizer(EntityRecognizer):
    """A capitalised name right after a cue such as "my name is"; the span is the name alone."""

    def __init__(self, language: str):
        super().__init__(supported_entities=["PERSON"], supported_language=language, name="NameAfterCueRecognizer")

    def load(self) -> None:
        return None

    def analyze(self, text, entities, nlp_artifacts=None):
        return [RecognizerResult("PERSON", m.start(1), m.end(1), 0.6)
                for m in NAME_CUE.finditer(text) if m.group(1)[:1].isupper()]


def _custom_recognizers(language: str) -> list:
    digit_run = PatternRecognizer(
        supported_entity="DIGIT_SEQUENCE", supported_language=language, name="DigitSequenceRecognizer",
        patterns=[Pattern("digits with separators", r"(?<![\w])\d(?:[\s\-\.,/]{0,2}\d){5,}(?![\w])", 0.6)])
    street = PatternRecognizer(
        supported_entity="STREET_ADDRESS", supported_language=language, name="StreetAddressRecognizer",
        patterns=[Pattern("house number and street",
                          r"\b\d{1,6}\s+(?:[A-Za-z]+\s+){1,3}(?:street|st|avenue|ave|road|rd|boulevard|blvd|"
                          r"lane|ln|drive|dr|court|ct|way|place|pl|terrace|circle|parkway|highway)\b", 0.7)])
    return [digit_run, street, NameAfterCueRecognizer(language)]


class PiiDetector:
    """presidio AnalyzerEngine with the packaged spaCy model and the recognizers speech needs."""

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


def words_text(words: list[Word]) -> tuple[str, list[tuple[int, int]]]:
    """The transcript as one string, and each word's character offsets in it."""
    offsets, parts, position = [], [], 0
    for w in words:
        offsets.append((position, position + len(w.text)))
        parts.append(w.text)
        position += len(w.text) + 1
    return " ".join(parts), offsets


def mark_words(words: list[Word], spans: list[Span]) -> list[Word]:
    """Set `pii` on every word that overlaps a span (the higher-scoring span wins)."""
    _, offsets = words_text(words)
    marked = []
    for w, (start, end) in zip(words, offsets):
        hits = [s for s in spans if s.start < end and s.end > start]
        entity = max(hits, key=lambda s: s.score).entity if hits else None
        marked.append(Word(w.text, w.start, w.end, w.probability, entity))
    return marked


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


class RedactTranscript(Stage):
    """Find PII in the ASR words and replace it, marking the words whose audio must be silenced."""

    name = "pii"

    def __init__(self, pii_cfg: dict, secret_source):
        super().__init__()
        self.pii_cfg, self.secret_source = pii_cfg, secret_source

    def setup(self):
        self.detector = PiiDetector(self.pii_cfg)
        self.operator = TextOperator(self.pii_cfg, Keyring(self.secret_source.get()))

    def apply(self, record):
        text, _ = words_text(record.words)
        marked = mark_words(record.words, self.detector.find(text))
        record.words = redact_words(marked, self.operator)
        record.text = " ".join(w.text for w in record.words)
        record.pii_counts = entity_counts(record.words)
        yield record
