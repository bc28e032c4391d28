"""Erasure on request: remove every shipped record derived from given ids from an existing output.

The ids are turned into the run's keyed pseudonyms (same secret as the run); records are matched on their
key, speaker or account pseudonym. Affected files are rewritten under a temporary name and swapped in;
manifest.json and the dataset card are rewritten from the new contents; erasure_log.jsonl records what was
removed by pseudonymous key only. A second erasure of the same ids finds nothing and changes nothing.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from pipeline.card import load_figures, render_card
from pipeline.report import build_manifest, dump_json
from transforms.identity import Keyring
from transforms.shards import filter_parquet, parquet_name, read_tar, write_file, write_tar


@dataclass
class ErasureTargets:
    record_keys: set = field(default_factory=set)
    speakers: set = field(default_factory=set)
    accounts: set = field(default_factory=set)

    def matches(self, key: str, speaker: str | None, account: str | None) -> bool:
        return key in self.record_keys or speaker in self.speakers or (account is not None and account in self.accounts)


def targets_for(keyring: Keyring, speaker_ids=(), account_ids=(), any_ids=()) -> ErasureTargets:
    """`any_ids` (from an ids file) are matched as utterance, speaker and account ids alike."""
    targets = ErasureTargets()
    for value in speaker_ids:
        targets.speakers.add(keyring.speaker_pseudonym(value))
    for value in account_ids:
        targets.accounts.add(keyring.account_pseudonym(value))
    for value in any_ids:
        targets.record_keys.add(keyring.record_key(value))
        targets.speakers.add(keyring.speaker_pseudonym(value))
        targets.accounts.add(keyring.account_pseudonym(value))
    return targets


def _read(path: str) -> bytes:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path, compression_type="uncompressed") as f:
        return f.read()


def _tar_records(data: bytes) -> list[dict]:
    return [{"key": key, "flac": flac, "meta": meta, "fields": json.loads(meta)} for key, flac, meta in read_tar(data)]


def _parquet_records(data: bytes) -> list[dict]:
    import io

    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data), columns=["key", "speaker", "account", "duration"])
    return [{"key": r["key"], "fields": r} for r in table.to_pylist()]


def forget(output: str, targets: ErasureTargets) -> dict:
    root = output.rstrip("/")
    manifest = json.loads(_read(f"{root}/manifest.json"))
    report = json.loads(_read(f"{root}/run_report.json"))
    rows, removed, rewritten = [], set(), []
    for row in manifest["files"]:
        path = f"{root}/{row['file']}"
        data = _read(path)
        records = _tar_records(data) if row["format"] == "webdataset" else _parquet_records(data)
        keep = [r for r in records if not targets.matches(r["key"], r["fields"].get("speaker"),
                                                          r["fields"].get("account"))]
        gone = {r["key"] for r in records} - {r["key"] for r in keep}
        new_row = dict(row, speakers=sorted({r["fields"]["speaker"] for r in keep}))
        if gone:
            removed |= gone
            if row["format"] == "webdataset":
                size, sha = write_file(path, lambda sink: write_tar(
                    sink, [(r["key"], r["flac"], r["meta"]) for r in keep]))
            else:
                payload = filter_parquet(data, {r["key"] for r in keep})
                size, sha = write_file(path, lambda sink: _write_bytes(sink, payload))
            new_row.update(bytes=size, sha256=sha, records=len(keep),
                           seconds=round(sum(r["fields"]["duration"] for r in keep), 3))
            rewritten.append(row["file"])
        rows.append(new_row)
    rows = _drop_empty_files(root, rows)
    summary = {"records_removed": len(removed), "files_rewritten": sorted(rewritten)}
    if removed:
        new_manifest = build_manifest(rows, manifest["formats"])
        new_manifest["erasures"] = manifest.get("erasures", 0) + 1
        write_file(f"{root}/manifest.json", lambda sink: _write_bytes(sink, dump_json(new_manifest)))
        cfg = report["config"]
        report_now = dict(report, shipped=new_manifest["records"], splits=new_manifest["splits"])
        # A run from before dataset.wer_report existed has none in its recorded configuration.
        card = render_card(new_manifest, report_now, cfg, load_figures(cfg["dataset"]["privacy_report"]),
                           load_figures(cfg["dataset"].get("wer_report", "")))
        write_file(f"{root}/README.md", lambda sink: _write_bytes(sink, card.encode()))
    log_line = json.dumps({"removed_keys": sorted(removed), **summary}, sort_keys=True) + "\n"
    _append(f"{root}/erasure_log.jsonl", log_line.encode())
    return summary


def _drop_empty_files(root: str, rows: list[dict]) -> list[dict]:
    """Delete files left without records (datasets cannot read an empty Parquet file) and renumber the Parquet
    files of a split so that their `-of-N` names stay true."""
    from apache_beam.io.filesystems import FileSystems

    empty = [row for row in rows if row["records"] == 0]
    if not empty:
        return rows
    FileSystems.delete([f"{root}/{row['file']}" for row in empty])
    kept = [row for row in rows if row["records"] > 0]
    for split in sorted({row["split"] for row in empty if row["format"] == "parquet"}):
        files = sorted((row for row in kept if row["format"] == "parquet" and row["split"] == split),
                       key=lambda row: row["file"])
        for index, row in enumerate(files):
            name = parquet_name(split, index, len(files))
            FileSystems.rename([f"{root}/{row['file']}"], [f"{root}/{name}"])
            row["file"] = name
    return kept


def _write_bytes(sink, payload: bytes) -> tuple[int, str]:
    sink.write(payload)
    return len(payload), hashlib.sha256(payload).hexdigest()


def _append(path: str, payload: bytes) -> None:
    from apache_beam.io.filesystems import FileSystems

    previous = _read(path) if FileSystems.exists(path) else b""
    write_file(path, lambda sink: _write_bytes(sink, previous + payload))
