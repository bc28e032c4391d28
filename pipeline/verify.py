"""Verification of an output folder against its manifest: sizes, checksums, and every record decodes."""
from __future__ import annotations

import hashlib
import io
import json

import soundfile as sf

from transforms.shards import read_parquet, read_tar


def _read(path: str) -> bytes | None:
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return f.read()


def _check_records(records: list, fmt: str) -> str | None:
    for key, flac, meta in records:
        audio, rate = sf.read(io.BytesIO(flac), dtype="float32")
        if len(audio) == 0 or rate <= 0:
            return f"record {key} has no audio"
        fields = json.loads(meta)
        if fields.get("key", key) != key:
            return f"record {key} has a mismatched key"
    return None


def verify_output(output: str) -> tuple[list[str], dict]:
    """(problems, summary). An empty problem list means every file and record checks out."""
    root = output.rstrip("/")
    raw = _read(f"{root}/manifest.json")
    if raw is None:
        return [f"{root}/manifest.json is missing"], {}
    manifest = json.loads(raw)
    problems: list[str] = []
    checked = {"files": 0, "records": 0}
    for row in manifest["files"]:
        data = _read(f"{root}/{row['file']}")
        if data is None:
            problems.append(f"{row['file']}: missing")
            continue
        if len(data) != row["bytes"]:
            problems.append(f"{row['file']}: {len(data)} bytes, manifest says {row['bytes']}")
        if hashlib.sha256(data).hexdigest() != row["sha256"]:
            problems.append(f"{row['file']}: sha256 does not match the manifest")
            continue
        try:
            records = read_tar(data) if row["format"] == "webdataset" else read_parquet(data)
            problem = _check_records(records, row["format"])
        except Exception as error:  # noqa: BLE001 - any decoding failure is a finding, not a crash
            problem = f"cannot be decoded ({type(error).__name__})"
        if problem:
            problems.append(f"{row['file']}: {problem}")
        elif len(records) != row["records"]:
            problems.append(f"{row['file']}: {len(records)} records, manifest says {row['records']}")
        checked["files"] += 1
        checked["records"] += len(records) if not problem else 0
    return problems, checked
