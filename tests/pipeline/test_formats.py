"""Output formats with their real consumers (webdataset, Hugging Face datasets), splits, verify and forget."""
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import TEST_SECRET, write_wav
from transforms.identity import Keyring

pytestmark = pytest.mark.slow
HF_SPLIT_NAMES = {"dev": "validation"}  # datasets reads a "dev" file name as its "validation" split

SPEAKERS = {  # speaker id -> (account id, TTS voice, utterances)
    "spk-lynx-1001": ("acct-lynx", "en-us+m3", ["Turn off the lights in the hallway.", "Set a timer for ten minutes."]),
    "spk-ibis-2002": ("acct-ibis", "en-us+f3", ["What is on my calendar tomorrow?"]),
    "spk-mole-3003": ("acct-mole", "en-gb+m1", ["Play the news from this morning."]),
    "spk-newt-4004": ("acct-newt", "flite:slt", ["How tall is the tallest mountain?"]),
    "spk-yak-5005": ("acct-yak", "en-us+f2", ["Add eggs to the shopping list."]),
}


def run_cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "DEID_SECRET": TEST_SECRET.decode(), **env})


@pytest.fixture(scope="module")
def both_formats(tmp_path_factory, speech):
    root = tmp_path_factory.mktemp("formats")
    lines = []
    for speaker, (account, voice, texts) in SPEAKERS.items():
        for i, text in enumerate(texts):
            uid = f"{speaker}-u{i}"
            write_wav(str(root / "in" / f"{uid}.wav"), speech(text, voice))
            lines.append({"id": uid, "audio": f"{uid}.wav", "speaker_id": speaker, "account_id": account})
    (root / "in" / "m.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    # An `evaluate wer --json` report, as a run quotes it in its card.
    (root / "wer.json").write_text(json.dumps({"clips": 251, "secrets": 1, "modes": {
        "speaker": {"wer_vs_original_transcript": 0.0744, "wer_vs_original_transcript_ci95": [0.0654, 0.0844]}}}))
    (root / "cfg.yaml").write_text("output:\n  formats: [webdataset, parquet]\n"
                                   "  splits: {train: 0.5, dev: 0.25, test: 0.25}\n  max_shard_records: 2\n"
                                   f"dataset:\n  wer_report: {json.dumps(str(root / 'wer.json'))}\n")
    result = run_cli("run", "--input", str(root / "in" / "m.jsonl"), "--output", str(root / "out"),
                     "--config", str(root / "cfg.yaml"))
    assert result.returncode == 0, result.stderr[-2000:]
    return root / "out", lines


def webdataset_records(out):
    import webdataset as wds

    urls = sorted(str(p) for p in (out / "shards").glob("*/shard-*.tar"))
    return {s["__key__"]: (json.loads(s["json"]), s["flac"], s["__url__"].split("/")[-2])
            for s in wds.WebDataset(urls, shardshuffle=False)}


def test_webdataset_and_parquet_hold_the_same_records(both_formats):
    from datasets import load_dataset

    out, lines = both_formats
    tars = webdataset_records(out)
    assert len(tars) == len(lines)
    ds = load_dataset("parquet", data_dir=str(out / "data"))
    rows = {row["key"]: (row, split) for split in ds for row in ds[split]}
    assert set(rows) == set(tars)
    for key, (meta, flac, split) in tars.items():
        row, row_split = rows[key]
        assert split == meta["split"]
        assert row_split == HF_SPLIT_NAMES.get(split, split)
        assert row["text"] == meta["text"] and row["speaker"] == meta["speaker"]
        assert [w["word"] for w in row["words"]] == [w["word"] for w in meta["words"]]
        assert row["audio"]["sampling_rate"] == 16000
        tar_audio, _ = sf.read(io.BytesIO(flac), dtype="float32")
        np.testing.assert_allclose(np.asarray(row["audio"]["array"], np.float32), tar_audio, atol=1e-6)


def test_no_speaker_is_in_two_splits_and_split_follows_the_keyed_speaker(both_formats):
    out, lines = both_formats
    tars = webdataset_records(out)
    split_of_speaker = {}
    for meta, _, split in tars.values():
        assert split_of_speaker.setdefault(meta["speaker"], split) == split
    keyring = Keyring(TEST_SECRET)
    from transforms.shards import assign_split
    for speaker in SPEAKERS:
        pseudonym = keyring.speaker_pseudonym(speaker)
        assert split_of_speaker[pseudonym] == assign_split(keyring, pseudonym, {"train": 0.5, "dev": 0.25,
                                                                                 "test": 0.25})


def test_manifest_and_card_describe_every_file(both_formats):
    out, lines = both_formats
    manifest = json.loads((out / "manifest.json").read_text())
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.suffix in (".tar", ".parquet"))
    assert sorted(f["file"] for f in manifest["files"]) == on_disk
    assert manifest["records"] == len(lines)
    assert sum(s["records"] for s in manifest["splits"].values()) == len(lines)
    assert all(f["records"] <= 2 for f in manifest["files"])
    parquet = [f["file"] for f in manifest["files"] if f["format"] == "parquet"]
    for name in parquet:
        split = name.split("/")[1].split("-")[0]
        total = sum(1 for f in parquet if f.split("/")[1].startswith(split + "-"))
        assert name.endswith(f"-of-{total:05d}.parquet")
    card = (out / "README.md").read_text()
    for split, summary in manifest["splits"].items():
        assert f"| {split} | {summary['records']} |" in card
    assert "load_dataset" in card and "wds.WebDataset" in card and "internal use only" in card
    assert "| WER vs the original's transcript | 7.4 % (6.5 to 8.4) |" in card       # dataset.wer_report


def test_verify_passes_then_catches_a_flipped_byte_and_a_missing_shard(both_formats, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(both_formats[0], out)
    ok = run_cli("verify", "--output", str(out))
    assert ok.returncode == 0 and "verify: ok" in ok.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    flipped, missing = manifest["files"][0]["file"], manifest["files"][-1]["file"]
    data = bytearray((out / flipped).read_bytes())
    data[len(data) // 2] ^= 0x01
    (out / flipped).write_bytes(bytes(data))
    (out / missing).unlink()
    bad = run_cli("verify", "--output", str(out))
    assert bad.returncode == 1
    assert f"problem: {flipped}: sha256" in bad.stdout and f"problem: {missing}: missing" in bad.stdout


def test_forget_a_speaker_rewrites_atomically_and_twice_is_harmless(both_formats, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(both_formats[0], out)
    gone = Keyring(TEST_SECRET).speaker_pseudonym("spk-lynx-1001")
    before = webdataset_records(out)
    assert sum(1 for m, _, _ in before.values() if m["speaker"] == gone) == 2
    first = run_cli("forget", "--output", str(out), "--speaker-id", "spk-lynx-1001")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "2 record(s) removed" in first.stdout
    after = webdataset_records(out)
    assert len(after) == len(before) - 2 and all(m["speaker"] != gone for m, _, _ in after.values())
    from datasets import load_dataset
    ds = load_dataset("parquet", data_dir=str(out / "data"))
    assert sum(len(ds[s]) for s in ds) == len(after)
    assert all(row["speaker"] != gone for s in ds for row in ds[s])
    assert run_cli("verify", "--output", str(out)).returncode == 0
    manifest_once = (out / "manifest.json").read_bytes()
    second = run_cli("forget", "--output", str(out), "--speaker-id", "spk-lynx-1001")
    assert second.returncode == 0 and "0 record(s) removed" in second.stdout
    assert (out / "manifest.json").read_bytes() == manifest_once
    log = [json.loads(x) for x in (out / "erasure_log.jsonl").read_text().splitlines()]
    assert [entry["records_removed"] for entry in log] == [2, 0]
    assert "spk-lynx-1001" not in (out / "erasure_log.jsonl").read_text()
    assert not list(out.rglob(".tmp-*"))
    card = (out / "README.md").read_text()
    assert f"**Records**: {len(after)} " in card
    assert "| WER vs the original's transcript | 7.4 % (6.5 to 8.4) |" in card       # the card keeps its report


def test_forget_by_account_and_ids_file(both_formats, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(both_formats[0], out)
    by_account = run_cli("forget", "--output", str(out), "--account-id", "acct-ibis")
    assert "1 record(s) removed" in by_account.stdout
    ids = tmp_path / "ids.txt"
    ids.write_text("spk-mole-3003-u0\nspk-yak-5005\n")
    by_ids = run_cli("forget", "--output", str(out), "--ids-file", str(ids))
    assert "2 record(s) removed" in by_ids.stdout
    assert len(webdataset_records(out)) == 6 - 1 - 2
