"""Same input, configuration and secret: byte-identical shards, manifest and quarantine, whatever the number
of local workers, whether they share one model, or the order of the manifest lines; and an output folder
never mixes two runs."""
from __future__ import annotations

import hashlib
import json
import os
import random

import numpy as np
import pytest
import yaml

from conftest import run_pipeline, with_silence, write_wav

pytestmark = pytest.mark.slow

UTTERANCES = [
    ("det-kestrel-01", "spk-det-a", "en-us+m3", "Call Robert Johnson at 415 555 0132."),
    ("det-kestrel-02", "spk-det-a", "en-us+m3", "Turn off the lights in the hall."),
    ("det-plover-01", "spk-det-b", "en-us+f3", "Email maria at example dot com."),
    ("det-plover-02", "spk-det-b", "en-us+f3", "My name is Jennifer Williams."),
]
# Compared byte for byte; run_report.json may differ (runner, timings) and is not.
COMPARED = ("manifest.json", "quarantine.jsonl")


def write_config(path, max_shard_records: int, **asr) -> None:
    # Packed transcription on: it is where a record's words could depend on which records the runner
    # happened to hand the same worker; shorter encoder windows too, chosen by each window's length.
    asr = {"pack_seconds": 28.0, "encoder_windows": [10.0, 20.0, 30.0], **asr}
    path.write_text(yaml.safe_dump({"output": {"max_shard_records": max_shard_records}, "asr": asr}))


def output_files(output) -> dict:
    """relative path -> sha256 of every shard file and of the compared run files."""
    files = {str(p.relative_to(output)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted((output / "shards").rglob("*")) if p.is_file()}
    for name in COMPARED:
        files[name] = hashlib.sha256((output / name).read_bytes()).hexdigest()
    return files


@pytest.fixture(scope="module")
def runs(tmp_path_factory, speech):
    root = tmp_path_factory.mktemp("determinism")
    lines = []
    for uid, speaker, voice, text in UTTERANCES:
        write_wav(str(root / f"{uid}.wav"), with_silence(speech(text, voice), 1600))
        lines.append(json.dumps({"id": uid, "audio": f"{uid}.wav", "speaker_id": speaker}))
    # Speech under heavy noise: hard enough for Whisper's temperature fallback, which samples at random.
    noisy = speech(UTTERANCES[0][3], UTTERANCES[0][2])
    noisy = noisy + 0.3 * np.random.default_rng(3).standard_normal(len(noisy)).astype(np.float32)
    write_wav(str(root / "det-noisy-01.wav"), np.clip(noisy, -1.0, 1.0))
    lines.append(json.dumps({"id": "det-noisy-01", "audio": "det-noisy-01.wav", "speaker_id": "spk-det-b"}))
    lines.append(json.dumps({"id": "det-missing-audio", "audio": "nowhere.wav", "speaker_id": "spk-det-a"}))
    lines.append('{"id": "det-bad-json", "audio": ')
    (root / "ordered.jsonl").write_text("\n".join(lines) + "\n")
    shuffled = lines[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != lines
    (root / "shuffled.jsonl").write_text("\n".join(shuffled) + "\n")
    config = root / "two_per_shard.yaml"
    write_config(config, 2)
    shared_model = root / "shared_model.yaml"
    write_config(shared_model, 2, share_across_processes=True)
    one_per_shard = root / "one_per_shard.yaml"
    write_config(one_per_shard, 1)
    shared_model_tmp = root / "shared_model_tmp"
    shared_model_tmp.mkdir()

    results = {
        "one_worker": run_pipeline(root / "ordered.jsonl", root / "one_worker", "--direct_num_workers", "1",
                                   config_path=config),
        "two_workers": run_pipeline(root / "ordered.jsonl", root / "two_workers", "--direct_num_workers", "2",
                                    "--direct_running_mode", "multi_processing", config_path=config),
        # Both workers transcribe through one model that lives in one of them.
        "shared_model": run_pipeline(root / "ordered.jsonl", root / "shared_model", "--direct_num_workers", "2",
                                     "--direct_running_mode", "multi_processing", config_path=shared_model,
                                     env=dict(os.environ, TMPDIR=str(shared_model_tmp))),
        # An earlier run with more shards sits in the folder the shuffled run overwrites.
        "previous": run_pipeline(root / "ordered.jsonl", root / "shuffled", config_path=one_per_shard),
    }
    results["previous_files"] = output_files(root / "shuffled") if results["previous"].returncode == 0 else {}
    results["refused"] = run_pipeline(root / "shuffled.jsonl", root / "shuffled", config_path=config)
    results["after_refusal"] = output_files(root / "shuffled") if results["previous"].returncode == 0 else {}
    results["shuffled"] = run_pipeline(root / "shuffled.jsonl", root / "shuffled", "--overwrite",
                                       config_path=config)
    return root, results


def test_all_runs_succeed(runs):
    _, results = runs
    for name in ("one_worker", "two_workers", "shared_model", "previous", "shuffled"):
        assert results[name].returncode == 0, (name, results[name].stderr[-3000:])


def test_shards_manifest_and_quarantine_are_byte_identical_across_workers_and_line_order(runs):
    root, _ = runs
    reference = output_files(root / "one_worker")
    report = json.loads((root / "one_worker" / "run_report.json").read_text())
    assert report["shipped"] == len(UTTERANCES) + 1 and report["quarantined"] == 2
    assert report["pii_entities"].get("PERSON", 0) >= 2
    assert sum(name.startswith("shards/") for name in reference) >= 2
    assert output_files(root / "two_workers") == reference
    assert output_files(root / "shared_model") == reference
    assert output_files(root / "shuffled") == reference


def test_the_shared_model_leaves_nothing_in_the_temporary_folder(runs):
    root, results = runs
    assert results["shared_model"].returncode == 0
    # Beam's MultiProcessShared keeps an address and a lock file for the model's server; the run removes them.
    assert sorted(p.name for p in (root / "shared_model_tmp").iterdir()) == []


def test_a_folder_holding_a_run_is_refused_and_left_as_it_was(runs):
    root, results = runs
    assert results["refused"].returncode == 2
    assert "already holds a run" in results["refused"].stderr
    assert "Traceback" not in results["refused"].stderr
    assert results["after_refusal"] and results["after_refusal"] == results["previous_files"]


def test_overwrite_replaces_the_previous_run_without_leaving_stale_shards(runs):
    root, results = runs
    previous = results["previous_files"]
    reference = output_files(root / "one_worker")
    stale = set(previous) - set(reference)
    assert stale, "the earlier run should have had shards the later one does not write"
    assert output_files(root / "shuffled") == reference
    assert not [p for p in (root / "shuffled").rglob("*") if p.name.startswith(".tmp")]
