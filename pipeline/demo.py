"""Sample input for the demo: a few requests to a voice assistant, spoken by TTS voices, with PII in them."""
from __future__ import annotations

import json
import os

import numpy as np
import soundfile as sf

from pipeline.tts import synthesize

SAMPLES = [
    ("u-0001", "alice", "acct-17", "en-us+f3", "Hey assistant, my name is Maria Gonzalez. Please call me back at 555 867 5309."),
    ("u-0002", "alice", "acct-17", "en-us+f3", "Remind me to buy milk and bread tomorrow morning."),
    ("u-0003", "bob", "acct-42", "en-us+m3", "This is John Smith, my phone number is 415 555 0132."),
    ("u-0004", "bob", "acct-42", "en-us+m3", "What is the weather going to be like this weekend?"),
    ("u-0005", "carol", "acct-99", "flite:slt", "Send a message to David Miller saying I will be late for dinner."),
    ("u-0006", "carol", "acct-99", "flite:slt", "Play some relaxing music in the living room."),
]


def make_samples(folder: str) -> str:
    """Writes the sample recordings and their manifest; returns the manifest path."""
    os.makedirs(folder, exist_ok=True)
    lines = []
    for utterance_id, speaker, account, voice, text in SAMPLES:
        audio = synthesize(text, voice)
        relative = f"{speaker}/{utterance_id}.wav"
        os.makedirs(os.path.join(folder, speaker), exist_ok=True)
        sf.write(os.path.join(folder, relative), np.concatenate([np.zeros(4000, np.float32), audio]), 16000,
                 subtype="PCM_16")
        lines.append({"id": utterance_id, "audio": relative, "speaker_id": speaker, "account_id": account,
                      "device_type": "smart-speaker", "device_id": f"dev-{speaker}", "locale": "en-US"})
    broken = os.path.join(folder, "broken.wav")
    with open(broken, "wb") as f:
        f.write(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    lines.append({"id": "u-0007", "audio": "broken.wav", "speaker_id": "dave"})
    manifest = os.path.join(folder, "manifest.jsonl")
    with open(manifest, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    return manifest
