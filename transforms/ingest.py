"""Input listing: manifest lines and folder files become SourceEntry objects, then Records.

A manifest line is JSON with `id`, `audio` and `speaker_id` (required) and
optional `account_id`, `transcript`, `language` and any other metadata.
Relative audio paths are taken relative to the manifest's folder.
"""
from __future__ import annotations

import json
import posixpath
from typing import Union

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from transforms.identity import Keyring
from transforms.records import Quarantined, Record, SourceEntry
from transforms.stage import METRICS_NAMESPACE, QUARANTINE

KNOWN_FIELDS = {"id", "audio", "speaker_id", "account_id", "transcript", "language"}
REQUIRED_FIELDS = ("id", "audio", "speaker_id")


def _is_absolute(uri: str) -> bool:
    return uri.startswith("/") or "://" in uri


def join_uri(base_dir: str, path: str) -> str:
    if _is_absolute(path) or not base_dir:
        return path
    if "://" in base_dir:
        return base_dir.rstrip("/") + "/" + path
    return posixpath.normpath(posixpath.join(base_dir, path))


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _id_text(value):
    """Ids may be written as JSON numbers; they are compared and hashed as text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def parse_manifest_line(raw: bytes, base_dir: str, keyring: Keyring) -> Union[SourceEntry, Quarantined]:
    """One JSONL line to an entry, or a quarantine record saying what is wrong with it."""
    try:
        # utf-8-sig: a byte-order mark that some editors put before the first line is not content.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Quarantined(keyring.line_ref(raw), "ingest", "manifest_line_not_utf8")
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON, NaN/Infinity and integers too long to convert; RecursionError, deep nesting.
        return Quarantined(keyring.line_ref(raw), "ingest", "manifest_line_bad_json")
    if not isinstance(obj, dict):
        return Quarantined(keyring.line_ref(raw), "ingest", "manifest_line_not_object")
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate escape ("\ud800") parses but can be neither hashed nor written.
        return Quarantined(keyring.line_ref(raw), "ingest", "manifest_line_bad_unicode")
    except RecursionError:
        return Quarantined(keyring.line_ref(raw), "ingest", "manifest_line_bad_json")
    source_id = _id_text(obj.get("id"))
    for name in REQUIRED_FIELDS:
        value = source_id if name == "id" else obj.get(name)
        if name == "speaker_id":
            value = _id_text(value)
        if not isinstance(value, str) or not value.strip():
            ref = keyring.record_key(source_id) if isinstance(source_id, str) and source_id.strip() \
                else keyring.line_ref(raw)
            return Quarantined(ref, "ingest", f"missing_field_{name}")
    optional = {}
    for name in ("account_id", "transcript", "language"):
        value = obj.get(name)
        if value is None:
            continue
        if name == "account_id":
            value = _id_text(value)
        if not isinstance(value, str):
            return Quarantined(keyring.record_key(source_id), "ingest", f"bad_field_{name}")
        optional[name] = value
    metadata = {k: v for k, v in obj.items() if k not in KNOWN_FIELDS}
    return SourceEntry(
        source_id=source_id,
        audio_uri=join_uri(base_dir, obj["audio"]),
        speaker_id=_id_text(obj["speaker_id"]),
        metadata=metadata,
        **optional,
    )


def entry_from_file(path: str, root: str) -> SourceEntry:
    """A file of a folder input: id = path relative to the folder, speaker = parent folder name."""
    relative = path[len(root):].lstrip("/") if path.startswith(root) else posixpath.basename(path)
    parent = posixpath.dirname(relative)
    speaker = posixpath.basename(parent) if parent else "unknown"
    return SourceEntry(source_id=relative, audio_uri=path, speaker_id=speaker)


def list_audio_files(root: str, extensions: list[str]) -> list[str]:
    pattern = root.rstrip("/") + "/**"
    found = FileSystems.match([pattern])[0].metadata_list
    return sorted(m.path for m in found if m.path.lower().endswith(tuple(e.lower() for e in extensions)))


def to_record(entry: SourceEntry, keyring: Keyring, voice_mode: str) -> Record:
    """Replace raw ids by keyed pseudonyms; from here on no raw id travels."""
    voice_basis = ("speaker:" + entry.speaker_id) if voice_mode == "speaker" else ("utterance:" + entry.source_id)
    return Record(
        key=keyring.record_key(entry.source_id),
        audio_uri=entry.audio_uri,
        speaker=keyring.speaker_pseudonym(entry.speaker_id),
        account=keyring.account_pseudonym(entry.account_id) if entry.account_id else None,
        voice_seed=keyring.voice_seed(voice_basis),
        supplied_transcript=entry.transcript,
        language=entry.language,
        metadata=entry.metadata,
    )


class ParseManifestLine(beam.DoFn):
    """Manifest line bytes to SourceEntry; bad lines to the quarantine output."""

    def __init__(self, base_dir: str, secret_source, key_bytes: int):
        self.base_dir, self.secret_source, self.key_bytes = base_dir, secret_source, key_bytes

    def setup(self):
        self.keyring = Keyring(self.secret_source.get(), self.key_bytes)

    def process(self, raw: bytes):
        if not raw.strip():
            return
        Metrics.counter(METRICS_NAMESPACE, "inputs").inc()
        parsed = parse_manifest_line(raw, self.base_dir, self.keyring)
        if isinstance(parsed, Quarantined):
            Metrics.counter(METRICS_NAMESPACE, f"quarantined_{parsed.reason}").inc()
            yield TaggedOutput(QUARANTINE, parsed)
        else:
            yield parsed


class ToRecord(beam.DoFn):
    def __init__(self, secret_source, key_bytes: int, voice_mode: str):
        self.secret_source, self.key_bytes, self.voice_mode = secret_source, key_bytes, voice_mode

    def setup(self):
        self.keyring = Keyring(self.secret_source.get(), self.key_bytes)

    def process(self, entry: SourceEntry):
        yield to_record(entry, self.keyring, self.voice_mode)


def _preference(record: Record) -> str:
    return json.dumps([record.audio_uri, record.speaker, record.account, record.supplied_transcript,
                       record.language, record.metadata], sort_keys=True, default=str)


class KeepOnePerKey(beam.DoFn):
    """Of records sharing one source id, ship one (chosen by content, so input order does not matter)."""

    def process(self, item):
        key, records = item
        ordered = sorted(records, key=_preference)
        yield ordered[0]
        for _ in ordered[1:]:
            Metrics.counter(METRICS_NAMESPACE, "quarantined_duplicate_id").inc()
            yield TaggedOutput(QUARANTINE, Quarantined(key, "ingest", "duplicate_id"))
