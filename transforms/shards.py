"""WebDataset shards: deterministic tar files of `<key>.flac` + `<key>.json` records.

Byte-identical output for identical input: members sorted by key, fixed mtime,
owner and mode, and shard boundaries decided from the sorted list of
(key, size) alone.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.audio_io import encode_flac
from transforms.identity import allowed_metadata
from transforms.stage import METRICS_NAMESPACE, Stage

TAR_BLOCK = 512


@dataclass(frozen=True)
class ShardEntry:
    key: str
    flac: bytes
    meta: bytes
    duration: float

    @property
    def tar_bytes(self) -> int:
        return sum(TAR_BLOCK + -(-len(b) // TAR_BLOCK) * TAR_BLOCK for b in (self.flac, self.meta))


def record_json(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def assign_shards(sizes: list[tuple[str, int]], max_bytes: int, max_records: int) -> dict[str, int]:
    """Pack records in key order into shards bounded by bytes and by records."""
    assignment: dict[str, int] = {}
    shard, used, count = 0, 0, 0
    for key, size in sorted(sizes):
        if count and (used + size > max_bytes or count >= max_records):
            shard, used, count = shard + 1, 0, 0
        assignment[key] = shard
        used += size
        count += 1
    return assignment


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.tar"


class _HashingWriter(io.RawIOBase):
    def __init__(self, sink):
        self.sink = sink
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sink.write(data)
        self.sha.update(data)
        self.size += len(data)
        return len(data)


def _add_member(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(payload))


def write_tar(sink, entries: list[ShardEntry]) -> tuple[int, str]:
    """Stream the entries, sorted by key, into `sink`; returns (bytes written, sha256)."""
    writer = _HashingWriter(sink)
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        for entry in sorted(entries, key=lambda e: e.key):
            _add_member(tar, f"{entry.key}.flac", entry.flac)
            _add_member(tar, f"{entry.key}.json", entry.meta)
    return writer.size, writer.sha.hexdigest()


def shipped_fields(record, metadata_allowlist: list[str], voice_mode: str) -> dict:
    """The JSON half of a shipped record: only redacted text, pseudonyms and allow-listed metadata."""
    words = []
    for w in record.words:
        item = {"word": w.text, "start": round(w.start, 3), "end": round(w.end, 3)}
        if w.pii:
            item["pii"] = w.pii
        words.append(item)
    fields = {
        "key": record.key,
        "text": record.text,
        "words": words,
        "speaker": record.speaker,
        "duration": round(len(record.audio) / record.sample_rate, 3),
        "sample_rate": record.sample_rate,
        "language": record.language or record.detected_language,
        "pii": record.pii_counts,
        "voice_mode": voice_mode,
        "metadata": allowed_metadata(record.metadata, metadata_allowlist),
    }
    if record.account:
        fields["account"] = record.account
    return fields


class BuildShardEntry(Stage):
    """FLAC-encode the converted, redacted audio and serialise the JSON half."""

    name = "encode"

    def __init__(self, metadata_allowlist: list[str], voice_mode: str):
        super().__init__()
        self.allowlist, self.voice_mode = metadata_allowlist, voice_mode

    def apply(self, record):
        fields = shipped_fields(record, self.allowlist, self.voice_mode)
        yield ShardEntry(record.key, encode_flac(record.audio, record.sample_rate), record_json(fields),
                         fields["duration"])


class WriteShard(beam.DoFn):
    """Writes one shard through FileSystems (temporary name, then rename); yields its manifest row."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir.rstrip("/")

    def process(self, item):
        from apache_beam.io.filesystems import FileSystems

        index, entries = item
        entries = list(entries)
        name = f"shards/{shard_name(index)}"
        final = f"{self.output_dir}/{name}"
        temporary = f"{self.output_dir}/shards/.tmp-{shard_name(index)}"
        started = time.perf_counter()
        with FileSystems.create(temporary) as sink:
            size, sha = write_tar(sink, entries)
        if FileSystems.exists(final):
            FileSystems.delete([final])
        FileSystems.rename([temporary], [final])
        Metrics.distribution(METRICS_NAMESPACE, "write_ms").update(int((time.perf_counter() - started) * 1000))
        yield {"file": name, "records": len(entries), "bytes": size, "sha256": sha,
               "seconds": round(sum(e.duration for e in entries), 3)}
