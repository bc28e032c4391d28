"""Shards: deterministic WebDataset tars and Hugging Face Parquet files, per split.

Byte-identical output for identical input: records sorted by key, fixed tar
mtime, owner and mode, and shard boundaries decided from the sorted list of
(split, key, size) alone. The record content is the same in every format.
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
from transforms.identity import Keyring, allowed_metadata, unit_floats
from transforms.stage import METRICS_NAMESPACE, Stage

TAR_BLOCK = 512
FORMATS = ("webdataset", "parquet")


@dataclass(frozen=True)
class ShardEntry:
    key: str
    split: str
    flac: bytes
    meta: bytes
    duration: float
    speaker: str

    @property
    def tar_bytes(self) -> int:
        return sum(TAR_BLOCK + -(-len(b) // TAR_BLOCK) * TAR_BLOCK for b in (self.flac, self.meta))


def record_json(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def assign_split(keyring: Keyring, speaker: str, ratios: dict) -> str:
    """Split of a pseudonymous speaker, from a keyed hash: stable across runs and erasures."""
    u = unit_floats(keyring.digest("split", speaker), 1)[0]
    cumulative = 0.0
    names = sorted(ratios)
    for name in names:
        cumulative += ratios[name]
        if u < cumulative:
            return name
    return names[-1]


def assign_shards(sizes: list[tuple[str, str, int]], max_bytes: int, max_records: int) -> dict:
    """Pack records of each split in key order into shards bounded by bytes and by records.

    Returns {"keys": {key: [split, index]}, "shards_per_split": {split: count}}.
    """
    keys: dict = {}
    counts: dict = {}
    current: dict = {}
    for split, key, size in sorted(sizes):
        index, used, count = current.get(split, (0, 0, 0))
        if count and (used + size > max_bytes or count >= max_records):
            index, used, count = index + 1, 0, 0
        keys[key] = [split, index]
        current[split] = (index, used + size, count + 1)
        counts[split] = index + 1
    return {"keys": keys, "shards_per_split": counts}


def tar_name(split: str, index: int) -> str:
    return f"shards/{split}/shard-{index:06d}.tar"


def parquet_name(split: str, index: int, total: int) -> str:
    return f"data/{split}-{index:05d}-of-{total:05d}.parquet"


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


def write_tar(sink, entries: list) -> tuple[int, str]:
    """Stream (key, flac, json) records, sorted by key, into `sink`; returns (bytes written, sha256)."""
    writer = _HashingWriter(sink)
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
        for key, flac, meta in sorted(entries, key=lambda e: e[0]):
            _add_member(tar, f"{key}.flac", flac)
            _add_member(tar, f"{key}.json", meta)
    return writer.size, writer.sha.hexdigest()


def read_tar(data: bytes) -> list[tuple[str, bytes, bytes]]:
    """(key, flac, json) records of a shard; raises ValueError when a record is incomplete."""
    parts: dict = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            key, _, extension = member.name.rpartition(".")
            parts.setdefault(key, {})[extension] = tar.extractfile(member).read()
    records = []
    for key in sorted(parts):
        if set(parts[key]) != {"flac", "json"}:
            raise ValueError(f"record {key} is incomplete")
        records.append((key, parts[key]["flac"], parts[key]["json"]))
    return records


# Hugging Face `datasets` reads these features from the Parquet schema metadata; the audio column decodes to
# 16 kHz arrays. Columns not declared here (words) take their type from the Arrow schema.
HF_FEATURES = {
    "key": {"dtype": "string", "_type": "Value"},
    "audio": {"sampling_rate": 16000, "_type": "Audio"},
    "text": {"dtype": "string", "_type": "Value"},
    "speaker": {"dtype": "string", "_type": "Value"},
    "account": {"dtype": "string", "_type": "Value"},
    "duration": {"dtype": "float64", "_type": "Value"},
    "sample_rate": {"dtype": "int64", "_type": "Value"},
    "language": {"dtype": "string", "_type": "Value"},
    "voice_mode": {"dtype": "string", "_type": "Value"},
    "pii": {"dtype": "string", "_type": "Value"},
    "metadata": {"dtype": "string", "_type": "Value"},
}


def parquet_schema(sample_rate: int):
    import pyarrow as pa

    features = dict(HF_FEATURES, audio={"sampling_rate": sample_rate, "_type": "Audio"})
    word = pa.struct([("word", pa.string()), ("start", pa.float64()), ("end", pa.float64()), ("pii", pa.string())])
    return pa.schema(
        [("key", pa.string()), ("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
         ("text", pa.string()), ("words", pa.list_(word)), ("speaker", pa.string()), ("account", pa.string()),
         ("duration", pa.float64()), ("sample_rate", pa.int64()), ("language", pa.string()),
         ("voice_mode", pa.string()), ("pii", pa.string()), ("metadata", pa.string())],
        metadata={"huggingface": json.dumps({"info": {"features": features}}, sort_keys=True)})


def parquet_row(key: str, flac: bytes, meta: bytes) -> dict:
    """The same record as the tar's, in columns; `pii` and `metadata` stay JSON text."""
    fields = json.loads(meta)
    return {
        "key": key, "audio": {"bytes": flac, "path": f"{key}.flac"}, "text": fields["text"],
        "words": [{"word": w["word"], "start": w["start"], "end": w["end"], "pii": w.get("pii")}
                  for w in fields["words"]],
        "speaker": fields["speaker"], "account": fields.get("account"), "duration": fields["duration"],
        "sample_rate": fields["sample_rate"], "language": fields["language"], "voice_mode": fields["voice_mode"],
        "pii": json.dumps(fields["pii"], sort_keys=True), "metadata": json.dumps(fields["metadata"], sort_keys=True),
    }


def write_parquet(sink, entries: list, sample_rate: int) -> tuple[int, str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema(sample_rate)
    rows = [parquet_row(key, flac, meta) for key, flac, meta in sorted(entries, key=lambda e: e[0])]
    table = pa.Table.from_pylist(rows, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", row_group_size=256)
    data = buffer.getvalue()
    sink.write(data)
    return len(data), hashlib.sha256(data).hexdigest()


def read_parquet(data: bytes) -> list[tuple[str, bytes, bytes]]:
    """(key, flac, row) records of a Parquet file; `row` is the row's JSON for comparison."""
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    return [(row["key"], row["audio"]["bytes"], json.dumps({k: v for k, v in row.items() if k != "audio"},
                                                           sort_keys=True).encode())
            for row in table.to_pylist()]


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
    """FLAC-encode the converted, redacted audio, serialise the JSON half and choose the split."""

    name = "encode"

    def __init__(self, metadata_allowlist: list[str], voice_mode: str, split_ratios: dict, secret_source):
        super().__init__()
        self.allowlist, self.voice_mode = metadata_allowlist, voice_mode
        self.split_ratios, self.secret_source = split_ratios, secret_source

    def setup(self):
        self.keyring = Keyring(self.secret_source.get())

    def apply(self, record):
        fields = shipped_fields(record, self.allowlist, self.voice_mode)
        split = assign_split(self.keyring, record.speaker, self.split_ratios)
        fields["split"] = split
        yield ShardEntry(record.key, split, encode_flac(record.audio, record.sample_rate), record_json(fields),
                         fields["duration"], record.speaker)


def write_file(path: str, writer) -> tuple[int, str]:
    """Write through FileSystems under a temporary name, then rename: a file is whole or absent."""
    from apache_beam.io.filesystems import FileSystems

    folder, _, name = path.rpartition("/")
    temporary = f"{folder}/.tmp-{name}"
    with FileSystems.create(temporary) as sink:
        size, sha = writer(sink)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temporary], [path])
    return size, sha


class WriteShard(beam.DoFn):
    """Writes one shard in every configured format; yields one manifest row per file."""

    def __init__(self, output_dir: str, formats: list[str], sample_rate: int):
        self.output_dir = output_dir.rstrip("/")
        self.formats, self.sample_rate = list(formats), sample_rate

    def process(self, item, assignment):
        (split, index), entries = item
        entries = sorted(entries, key=lambda e: e.key)
        records = [(e.key, e.flac, e.meta) for e in entries]
        common = {"split": split, "records": len(entries), "seconds": round(sum(e.duration for e in entries), 3),
                  "speakers": sorted({e.speaker for e in entries})}
        started = time.perf_counter()
        for fmt in self.formats:
            if fmt == "webdataset":
                name = tar_name(split, index)
                size, sha = write_file(f"{self.output_dir}/{name}", lambda sink: write_tar(sink, records))
            else:
                name = parquet_name(split, index, assignment["shards_per_split"][split])
                size, sha = write_file(f"{self.output_dir}/{name}",
                                       lambda sink: write_parquet(sink, records, self.sample_rate))
            yield {"file": name, "format": fmt, "bytes": size, "sha256": sha, **common}
        Metrics.distribution(METRICS_NAMESPACE, "write_ms").update(int((time.perf_counter() - started) * 1000))


def filter_parquet(data: bytes, keep_keys: set) -> bytes:
    """The same Parquet file without the rows whose key is not in `keep_keys`, written as write_parquet does."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    kept = table.filter(pc.is_in(table["key"], value_set=pa.array(sorted(keep_keys), pa.string())))
    buffer = io.BytesIO()
    pq.write_table(kept, buffer, compression="zstd", row_group_size=256)
    return buffer.getvalue()
