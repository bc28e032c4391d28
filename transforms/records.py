"""The record that travels through the pipeline, and the quarantine record that leaves it.

Raw identifiers (source id, speaker, account) are replaced by keyed pseudonyms
as soon as consent has been checked; a Record never carries them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


class Rejected(Exception):
    """A record cannot be shipped; `reason` is a short code safe to write anywhere."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Word:
    text: str
    start: float
    end: float
    probability: float = 1.0
    pii: Optional[str] = None  # entity type when the word is part of a redacted span


@dataclass
class SourceEntry:
    """One input line, as parsed: holds raw ids, lives only until the consent filter."""
    source_id: str
    audio_uri: str
    speaker_id: str
    account_id: Optional[str] = None
    transcript: Optional[str] = None
    language: Optional[str] = None
    metadata: dict = field(default_factory=dict)


@dataclass
class Record:
    key: str
    audio_uri: str
    speaker: str
    account: Optional[str]
    voice_seed: bytes
    supplied_transcript: Optional[str] = None
    language: Optional[str] = None
    metadata: dict = field(default_factory=dict)
    audio: Optional[np.ndarray] = None
    sample_rate: int = 16000
    source_sample_rate: int = 0
    source_channels: int = 0
    duration_in: float = 0.0
    words: list = field(default_factory=list)
    text: str = ""
    detected_language: str = ""
    pii_counts: dict = field(default_factory=dict)


@dataclass
class Pack:
    """Records that are transcribed together, in key order.

    Packs are made from the sorted record keys, so the same records share a pack whatever the input order or
    the number of workers: a packed transcript depends on its neighbours, and the output must not depend on
    how the runner happened to split the work.
    """
    index: int
    records: list


@dataclass
class Quarantined:
    ref: str       # keyed record key, or keyed digest of an unparseable line
    stage: str
    reason: str

    def as_json(self) -> dict:
        return {"ref": self.ref, "stage": self.stage, "reason": self.reason}
