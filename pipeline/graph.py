"""The pipeline graph, wired top to bottom in one place."""
from __future__ import annotations

import json
import posixpath
import uuid
from dataclasses import dataclass, field

import apache_beam as beam

from pipeline.report import Finalize, SumCounts
from transforms.asr import Transcribe, pack_boundaries, pack_index
from transforms.audio_io import DecodeAudio
from transforms.consent import OPTED_OUT, ConsentFilter, parse_opt_out_line
from transforms.ingest import KeepOnePerKey, ParseManifestLine, ToRecord, entry_from_file, list_audio_files
from transforms.pii import RedactTranscript, VerifyRedaction
from transforms.records import Pack
from transforms.redact_audio import RedactAudio
from transforms.shards import BuildShardEntry, WriteShard, assign_shards
from transforms.stage import QUARANTINE
from transforms.voice import ConvertVoice


@dataclass
class RunSpec:
    input: str
    output: str
    config: dict
    secret: object  # a secret source: .get() -> bytes, resolved on the worker
    local_workers: int = 1
    run_info: dict | None = None
    # Names this run's shared model (asr.share_across_processes), so that two runs on one machine never share.
    machine_tag: str = field(default_factory=lambda: uuid.uuid4().hex)


def is_manifest(path: str) -> bool:
    return path.endswith((".jsonl", ".json", ".ndjson"))


def _stage(pcoll, label: str, dofn):
    """Apply a Stage; returns (main output, quarantine output)."""
    result = pcoll | label >> beam.ParDo(dofn).with_outputs(QUARANTINE, main="ok")
    return result.ok, result[QUARANTINE]


def build(p: beam.Pipeline, spec: RunSpec):
    cfg = spec.config
    key_bytes = cfg["identity"]["key_bytes"]
    voice_mode = cfg["voice"]["mode"]
    quarantines = []

    if is_manifest(spec.input):
        parsed = (p
                  | "ReadManifest" >> beam.io.ReadFromText(spec.input, coder=beam.coders.BytesCoder())
                  | "ParseLines" >> beam.ParDo(ParseManifestLine(posixpath.dirname(spec.input), spec.secret,
                                                                 key_bytes)).with_outputs(QUARANTINE, main="ok"))
        entries = parsed.ok
        quarantines.append(parsed[QUARANTINE])
        inputs = (parsed.ok, parsed[QUARANTINE]) | "AllParsed" >> beam.Flatten()
    else:
        root = spec.input.rstrip("/")
        files = list_audio_files(root, cfg["input"]["audio_extensions"])
        entries = p | "ListFolder" >> beam.Create([entry_from_file(f, root) for f in files])
        inputs = entries

    opted_out_markers = []
    if cfg["consent"]["opt_out"]:
        opt_out_ids = (p
                       | "ReadOptOut" >> beam.io.ReadFromText(cfg["consent"]["opt_out"])
                       | "TrimOptOut" >> beam.Map(parse_opt_out_line)
                       | "DropBlankOptOut" >> beam.Filter(bool)
                       | "OptOutSet" >> beam.combiners.ToSet()
                       | "Freeze" >> beam.Map(frozenset))
        consented = entries | "Consent" >> beam.ParDo(
            ConsentFilter(), beam.pvalue.AsSingleton(opt_out_ids)).with_outputs(OPTED_OUT, main="ok")
        entries = consented.ok
        opted_out_markers.append(consented[OPTED_OUT] | "CountOptedOut" >> beam.Map(lambda _: {"opted_out": 1}))

    records = entries | "Pseudonymise" >> beam.ParDo(ToRecord(spec.secret, key_bytes, voice_mode))
    unique = (records
              | "KeyById" >> beam.Map(lambda r: (r.key, r))
              | "GroupById" >> beam.GroupByKey()
              | "KeepOnePerId" >> beam.ParDo(KeepOnePerKey()).with_outputs(QUARANTINE, main="ok"))
    quarantines.append(unique[QUARANTINE])

    # Packs of records transcribed together, fixed by the sorted keys (see transforms/asr.py). Only the small
    # records travel through this shuffle; audio is read after it.
    boundaries = beam.pvalue.AsSingleton(
        unique.ok
        | "Keys" >> beam.Map(lambda r: r.key)
        | "AllKeys" >> beam.combiners.ToList()
        | "PackBoundaries" >> beam.Map(pack_boundaries, cfg["asr"]["pack_records"]))
    packs = (unique.ok
             | "KeyByPack" >> beam.Map(lambda r, b: (pack_index(r.key, b), r), boundaries)
             | "GroupIntoPacks" >> beam.GroupByKey()
             | "ToPack" >> beam.MapTuple(lambda i, rs: Pack(i, sorted(rs, key=lambda r: r.key))))

    decoded, q = _stage(packs, "Decode", DecodeAudio(cfg["audio"]))
    quarantines.append(q)
    transcribed, q = _stage(decoded, "Transcribe", Transcribe(cfg["asr"], spec.local_workers, spec.machine_tag))
    quarantines.append(q)
    redacted_text, q = _stage(transcribed, "RedactTranscript", RedactTranscript(cfg["pii"], spec.secret, cfg["asr"]))
    quarantines.append(q)
    converted, q = _stage(redacted_text, "ConvertVoice", ConvertVoice(cfg["voice"]))
    quarantines.append(q)
    redacted, q = _stage(converted, "RedactAudio", RedactAudio(cfg["redaction"]))
    quarantines.append(q)
    if cfg["redaction"]["verify"]:
        redacted, q = _stage(redacted, "VerifyRedaction", VerifyRedaction(cfg["asr"], cfg["pii"], spec.local_workers,
                                                                           spec.machine_tag))
        quarantines.append(q)
    shard_entries, q = _stage(redacted, "Encode",
                              BuildShardEntry(cfg["identity"]["metadata_allowlist"], voice_mode,
                                              cfg["output"]["splits"], spec.secret))
    quarantines.append(q)

    out = cfg["output"]
    assignment = beam.pvalue.AsSingleton(
        shard_entries
        | "Sizes" >> beam.Map(lambda e: (e.split, e.key, e.tar_bytes))
        | "AllSizes" >> beam.combiners.ToList()
        | "AssignShards" >> beam.Map(assign_shards, out["max_shard_bytes"], out["max_shard_records"]))
    files = (shard_entries
             | "ToShard" >> beam.Map(lambda e, a: (tuple(a["keys"][e.key]), e), assignment)
             | "GroupByShard" >> beam.GroupByKey()
             | "WriteShards" >> beam.ParDo(WriteShard(spec.output, out["formats"], cfg["audio"]["sample_rate"]),
                                           assignment))

    quarantine = tuple(quarantines) | "AllQuarantined" >> beam.Flatten()
    events = (
        (inputs | "CountInputs" >> beam.Map(lambda _: {"inputs": 1})),
        (decoded | "CountSecondsIn" >> beam.Map(lambda pack: {"seconds_in": sum(r.duration_in for r in pack.records)})),
        (shard_entries | "CountPii" >> beam.Map(lambda e: {"pii": json.loads(e.meta)["pii"]})),
        *opted_out_markers,
    ) | "AllEvents" >> beam.Flatten()
    counts = events | "SumCounts" >> beam.CombineGlobally(SumCounts())

    return (p
            | "Once" >> beam.Create([None])
            | "Finalize" >> beam.ParDo(Finalize(spec.output, cfg, spec.run_info or {}),
                                       beam.pvalue.AsSingleton(counts),
                                       beam.pvalue.AsList(files),
                                       beam.pvalue.AsList(quarantine)))
