"""Shared fixtures: TTS speech made on the machine, and the heavy models loaded once per session."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from pipeline import config
from pipeline.tts import synthesize

SR = 16000
TEST_SECRET = b"test-secret-7f3c9a1e5b2d4c6f8a0e"

# Utterances for the end-to-end run: distinctive ids so that a leak is easy to find.
E2E_UTTERANCES = [
    {"id": "utt-orchid-4471", "speaker_id": "spk-walrus-8812", "account_id": "acct-quince-3390",
     "voice": "en-us+m3", "text": "Hello, my name is Robert Johnson and my phone number is 415 555 0132.",
     "pii": ["Robert", "Johnson", "4155550132"]},
    {"id": "utt-orchid-4472", "speaker_id": "spk-walrus-8812", "account_id": "acct-quince-3390",
     "voice": "en-us+m3", "text": "Please set an alarm for seven in the morning.", "pii": []},
    {"id": "utt-falcon-9023", "speaker_id": "spk-heron-5567", "account_id": "acct-pewter-1184",
     "voice": "en-us+f3", "text": "This is Jennifer Williams, call me back at 212 555 0199.",
     "pii": ["Jennifer", "Williams", "2125550199"]},
]


@pytest.fixture(scope="session")
def cfg():
    return config.load()


@pytest.fixture(scope="session")
def speech():
    """A function text, voice -> 16 kHz float32 speech, memoised."""
    cache: dict = {}

    def make(text: str, voice: str = "en-us+m3") -> np.ndarray:
        if (text, voice) not in cache:
            cache[(text, voice)] = synthesize(text, voice, SR)
        return cache[(text, voice)]

    return make


@pytest.fixture(scope="session")
def whisper(cfg):
    from transforms.asr import load_whisper

    return load_whisper(cfg["asr"], cpu_threads=2)


@pytest.fixture(scope="session")
def pii_detector(cfg):
    from transforms.pii import PiiDetector

    return PiiDetector(cfg["pii"])


def with_silence(audio: np.ndarray, samples: int) -> np.ndarray:
    """`audio` with `samples` of silence before and after, as a recording starts and ends."""
    quiet = np.zeros(samples, np.float32)
    return np.concatenate([quiet, audio, quiet])


def loud_in(spans: list, duration_s: float, rate: int = SR) -> np.ndarray:
    """`duration_s` of noise at speech level (-20 dBFS) within `spans` ((start, end) seconds) and 40 dB below
    elsewhere: where a test's words are spoken, and the quiet around them."""
    rng = np.random.default_rng(0)
    level = np.full(int(duration_s * rate), 0.001, np.float32)
    for start, end in spans:
        level[int(start * rate):int(end * rate)] = 0.1
    return (rng.standard_normal(len(level)) * level).astype(np.float32)


def write_wav(path, audio, rate=SR, subtype="PCM_16"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, audio, rate, subtype=subtype)


POOL_NAMES = ("19-198-0001.wav", "26-495-0003.wav")


def write_clip_folders(root, speakers, clips_each) -> None:
    """Quiet 0.1 s clips as the evaluations list them: root/set/<speaker>/<i>.wav for each speaker, and a
    LibriSpeech-style pool whose speakers are the names' first parts, root/pool/19-198-0001.wav and 26-495-0003.wav."""
    quiet = np.zeros(1600, np.float32) + 0.01
    for speaker in speakers:
        for i in range(clips_each):
            write_wav(os.path.join(str(root), "set", speaker, f"{i}.wav"), quiet)
    for name in POOL_NAMES:
        write_wav(os.path.join(str(root), "pool", name), quiet)


@pytest.fixture(scope="session")
def e2e(tmp_path_factory, speech):
    """One real run of `python -m pipeline run` on TTS utterances with PII, plus one broken file."""
    root = tmp_path_factory.mktemp("e2e")
    inputs = root / "input"
    lines = []
    for u in E2E_UTTERANCES:
        write_wav(str(inputs / f"{u['id']}.wav"), with_silence(speech(u["text"], u["voice"]), 3200))
        lines.append({"id": u["id"], "audio": f"{u['id']}.wav", "speaker_id": u["speaker_id"],
                      "account_id": u["account_id"], "device_id": "device-serial-ZX81-0042",
                      "device_type": "speaker"})
    (inputs / "garbage.wav").write_bytes(os.urandom(2048))
    lines.append({"id": "utt-broken-0666", "audio": "garbage.wav", "speaker_id": "spk-walrus-8812"})
    # Opted out by account; its audio does not exist, so reading it would quarantine it instead.
    lines.append({"id": "utt-optout-1201", "audio": "never-read.wav", "speaker_id": "spk-gannet-3141",
                  "account_id": "acct-optout-2718"})
    manifest = inputs / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    opt_out = root / "opted_out.txt"
    opt_out.write_text("acct-someone-else\n  acct-optout-2718  \n\nacct-optout-27\n")
    secret_file = root / "secret.txt"
    secret_file.write_bytes(TEST_SECRET)
    output = root / "output"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--input", str(manifest), "--output", str(output),
         "--secret-file", str(secret_file), "--opt-out", str(opt_out)],
        capture_output=True, text=True, timeout=900)
    return {"output": output, "inputs": inputs, "result": result, "lines": lines, "secret": TEST_SECRET,
            "opt_out": opt_out}


def run_pipeline(manifest, output, *extra: str, config_path=None, timeout: int = 1200,
                 env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m pipeline run` on a manifest with TEST_SECRET (from a file), capturing stdout and stderr;
    `env` replaces the environment."""
    secret_file = os.path.join(os.path.dirname(str(output)), "secret.key")
    with open(secret_file, "wb") as f:
        f.write(TEST_SECRET)
    command = [sys.executable, "-m", "pipeline", "run", "--input", str(manifest), "--output", str(output),
               "--secret-file", secret_file, *extra]
    if config_path is not None:
        command += ["--config", str(config_path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def shipped_records(output) -> dict:
    """key -> shipped JSON of every record in every WebDataset shard under `output`."""
    import tarfile
    from pathlib import Path

    records = {}
    for shard in sorted(Path(output).rglob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    meta = json.loads(tar.extractfile(member).read())
                    assert meta["key"] not in records
                    records[meta["key"]] = meta
    return records
