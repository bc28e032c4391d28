"""Keyed pseudonyms: every identifier that leaves the pipeline is an HMAC-SHA256 of the run's secret.

Each use has its own domain label so that, say, a speaker pseudonym can never
be matched against a record key of the same string.
"""
from __future__ import annotations

import hashlib
import hmac
import struct


class InlineSecret:
    """A secret carried inside the pipeline graph: fine for local runners, where the graph never leaves
    the machine. Remote runners use a source that fetches the secret on the worker (pipeline.secrets)."""

    def __init__(self, secret: bytes):
        self._secret = bytes(secret)

    def __repr__(self) -> str:
        return "InlineSecret(<hidden>)"

    def get(self) -> bytes:
        return self._secret


class Keyring:
    """Derives pseudonyms and seeds from the run's secret; the secret itself never leaves."""

    def __init__(self, secret: bytes, key_bytes: int = 16):
        if not secret:
            raise ValueError("the secret must not be empty")
        self._secret = bytes(secret)
        self._key_bytes = key_bytes

    def __repr__(self) -> str:
        return "Keyring(<secret hidden>)"

    def digest(self, domain: str, value: str) -> bytes:
        message = domain.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def record_key(self, source_id: str) -> str:
        """The shipped key of a record: hex only, so WebDataset never splits it at a dot."""
        return self.digest("record", source_id)[: self._key_bytes].hex()

    def speaker_pseudonym(self, speaker_id: str) -> str:
        return "spk-" + self.digest("speaker", speaker_id)[:8].hex()

    def account_pseudonym(self, account_id: str) -> str:
        return "acc-" + self.digest("account", account_id)[:8].hex()

    def voice_seed(self, value: str) -> bytes:
        """Seed of a pseudo-voice: from a speaker id (speaker mode) or an utterance id."""
        return self.digest("voice", value)

    def value_token(self, entity: str, value: str) -> str:
        """Short keyed token for a PII value, stable within a run (same value, same token)."""
        return self.digest("pii:" + entity, value.casefold())[:2].hex()

    def line_ref(self, raw_line: bytes) -> str:
        """Reference to a manifest line that could not be parsed, without its content."""
        return hmac.new(self._secret, b"line\x00" + raw_line, hashlib.sha256).hexdigest()[:32]


def unit_floats(seed: bytes, count: int) -> list[float]:
    """`count` numbers in [0, 1) drawn deterministically from a seed (SHA-256 in counter mode)."""
    values = []
    block = 0
    while len(values) < count:
        chunk = hashlib.sha256(seed + struct.pack(">I", block)).digest()
        for i in range(0, 32, 8):
            values.append(int.from_bytes(chunk[i:i + 8], "big") / 2.0**64)
        block += 1
    return values[:count]


def allowed_metadata(metadata: dict, allowlist: list[str]) -> dict:
    """Only allow-listed fields with scalar values survive."""
    return {k: metadata[k] for k in sorted(allowlist)
            if k in metadata and isinstance(metadata[k], (str, int, float, bool))}
