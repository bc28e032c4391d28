"""The real pipeline (`python -m pipeline run`, FnApiRunner, real Whisper, presidio, pyworld) on TTS speech."""
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import E2E_UTTERANCES, TEST_SECRET, write_wav
from pipeline import config
from transforms.identity import Keyring
from transforms.voice import derive_params, median_f0

pytestmark = pytest.mark.slow


def shipped_samples(output: Path) -> dict:
    import webdataset as wds

    urls = sorted(str(p) for p in (output / "shards").glob("*/shard-*.tar"))
    samples = {}
    for sample in wds.WebDataset(urls, shardshuffle=False):
        meta = json.loads(sample["json"])
        audio, rate = sf.read(io.BytesIO(sample["flac"]), dtype="float32")
        samples[sample["__key__"]] = {"meta": meta, "audio": audio, "rate": rate}
    return samples


def test_run_succeeds_and_accounts_for_every_input(e2e):
    assert e2e["result"].returncode == 0, e2e["result"].stderr[-2000:]
    report = json.loads((e2e["output"] / "run_report.json").read_text())
    assert report["inputs"] == len(E2E_UTTERANCES) + 2
    assert report["shipped"] == len(E2E_UTTERANCES)
    assert report["quarantined"] == 1 and report["opted_out"] == 1
    assert report["inputs"] == report["shipped"] + report["quarantined"] + report["opted_out"]
    assert report["accounting_ok"] is True
    assert report["pii_entities"].get("PERSON", 0) >= 2
    assert report["hours_in"] > 0 and report["versions"]["apache-beam"]
    first, last = report["timing"]["work_window_epoch_s"]
    # The runner adds the stage's counter to the report (what it counts: tests/pipeline/test_runner.py).
    assert isinstance(report["unsure_tail_words_dropped"], int) and isinstance(report["loop_words_dropped"], int)
    assert 0 < last - first <= report["timing"]["wall_seconds"]
    quarantine = [json.loads(x) for x in (e2e["output"] / "quarantine.jsonl").read_text().splitlines()]
    keyring = Keyring(TEST_SECRET)
    assert quarantine == [{"ref": keyring.record_key("utt-broken-0666"), "stage": "decode",
                           "reason": "undecodable_audio"}]


def test_shards_read_back_with_webdataset_and_match_the_manifest(e2e):
    import hashlib

    samples = shipped_samples(e2e["output"])
    keyring = Keyring(TEST_SECRET)
    assert set(samples) == {keyring.record_key(u["id"]) for u in E2E_UTTERANCES}
    manifest = json.loads((e2e["output"] / "manifest.json").read_text())
    assert manifest["records"] == len(E2E_UTTERANCES)
    for shard in manifest["files"]:
        data = (e2e["output"] / shard["file"]).read_bytes()
        assert len(data) == shard["bytes"] and hashlib.sha256(data).hexdigest() == shard["sha256"]
    for u in E2E_UTTERANCES:
        sample = samples[keyring.record_key(u["id"])]
        meta = sample["meta"]
        assert sample["rate"] == 16000 and meta["sample_rate"] == 16000
        assert abs(meta["duration"] - len(sample["audio"]) / 16000) < 0.01
        assert meta["speaker"] == keyring.speaker_pseudonym(u["speaker_id"])
        assert meta["metadata"] == {"device_type": "speaker"}  # allow-listed; device_id is not
        assert meta["language"] == "en"
        assert meta["text"] and meta["words"]


def test_no_injected_pii_value_is_in_any_shipped_transcript(e2e):
    samples = shipped_samples(e2e["output"])
    keyring = Keyring(TEST_SECRET)
    for u in E2E_UTTERANCES:
        meta = samples[keyring.record_key(u["id"])]["meta"]
        texts = [meta["text"], " ".join(w["word"] for w in meta["words"])]
        for text in texts:
            digits = re.sub(r"\D", "", text)
            for value in u["pii"]:
                if value.isdigit():
                    assert value not in digits and value[-4:] not in digits
                else:
                    assert value.lower() not in text.lower()
        if u["pii"]:
            assert any("pii" in w for w in meta["words"])


def test_pii_spans_are_silent_in_the_shipped_audio(e2e):
    samples = shipped_samples(e2e["output"])
    checked = 0
    for sample in samples.values():
        for word in sample["meta"]["words"]:
            if "pii" in word:
                a, b = int(word["start"] * 16000), int(word["end"] * 16000)
                assert b > a
                assert np.all(sample["audio"][a:b] == 0.0)
                checked += 1
    assert checked >= 4


def test_output_pitch_moves_to_the_pseudo_speaker(e2e):
    samples = shipped_samples(e2e["output"])
    keyring = Keyring(TEST_SECRET)
    voice_cfg = config.load()["voice"]
    u = next(x for x in E2E_UTTERANCES if not x["pii"])
    original, _ = sf.read(e2e["inputs"] / f"{u['id']}.wav", dtype="float32")
    shipped = samples[keyring.record_key(u["id"])]["audio"]
    target = derive_params(keyring.voice_seed("speaker:" + u["speaker_id"]), voice_cfg).f0_median_hz
    source_f0, shipped_f0 = median_f0(original, 16000), median_f0(shipped, 16000)
    assert source_f0 > 0 and shipped_f0 > 0
    assert shipped_f0 / source_f0 == pytest.approx(target / source_f0, rel=0.12)
    assert abs(shipped_f0 / source_f0 - 1.0) > 0.05


def test_nothing_identifying_in_the_output_folder_or_the_logs(e2e):
    needles = [e2e["secret"]]
    for line in e2e["lines"]:
        needles += [line["id"].encode(), line["speaker_id"].encode()]
        needles += [line[field].encode() for field in ("account_id", "device_id") if field in line]
    for u in E2E_UTTERANCES:
        needles.append(u["text"].encode())
        needles += [v.encode() for v in u["pii"] if not v.isdigit()]
    needles += [line.strip().encode() for line in e2e["opt_out"].read_text().splitlines() if line.strip()]
    files = [p for p in e2e["output"].rglob("*") if p.is_file()]
    assert len(files) >= 4
    haystacks = {str(p): p.read_bytes() for p in files}
    haystacks["stdout+stderr"] = (e2e["result"].stdout + e2e["result"].stderr).encode()
    for name, data in haystacks.items():
        lowered = data.lower()
        for needle in needles:
            assert needle.lower() not in lowered, f"{needle!r} found in {name}"


def test_folder_input_uses_parent_folder_as_speaker(tmp_path, speech):
    folder = tmp_path / "in"
    write_wav(str(folder / "speaker-otter" / "a.wav"), speech("Turn the volume down please.", "en-us+f2"))
    write_wav(str(folder / "speaker-otter" / "quiet.wav"), np.zeros(16000, np.float32))
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "pipeline", "run", "--input", str(folder), "--output", str(out)],
                            capture_output=True, text=True, env={**__import__("os").environ,
                                                                  "DEID_SECRET": TEST_SECRET.decode()}, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "run_report.json").read_text())
    assert (report["inputs"], report["shipped"], report["quarantined"]) == (2, 1, 1)
    assert report["quarantined_by_reason"] == {"silent": 1}
    meta = next(iter(shipped_samples(out).values()))["meta"]
    assert meta["speaker"] == Keyring(TEST_SECRET).speaker_pseudonym("speaker-otter")
