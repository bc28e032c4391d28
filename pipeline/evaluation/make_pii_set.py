"""`evaluate make-pii-set`: generate a labeled spoken-PII set with TTS voices (flite and espeak-ng)."""
from __future__ import annotations

import json
import os
import random

import soundfile as sf

from pipeline.pii_set import make_utterance
from pipeline.tts import TtsUnavailable, synthesize

HELP = "write a labeled spoken-PII set: TTS voice-assistant requests with PII values in canonical form"


def add_arguments(parser) -> None:
    parser.add_argument("--out", required=True, help="folder to write (audio, manifest.jsonl, labels.jsonl)")
    parser.add_argument("--n", type=int, default=200, help="number of utterances")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (same seed, same set)")


def main(args, extra) -> int:
    if args.n < 1:
        print("error: --n must be at least 1")
        return 2
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "labels.jsonl"), "w", encoding="utf-8") as labels, \
            open(os.path.join(args.out, "manifest.jsonl"), "w", encoding="utf-8") as manifest:
        for index in range(args.n):
            utterance, text = make_utterance(index, rng)
            try:
                audio = synthesize(text, utterance.voice)
            except TtsUnavailable as e:
                print(f"error: {e}")
                return 2
            sf.write(os.path.join(args.out, utterance.audio), audio, 16000, subtype="PCM_16")
            labels.write(json.dumps(utterance.as_json()) + "\n")
            manifest.write(json.dumps({"id": utterance.id, "audio": utterance.audio,
                                       "speaker_id": "tts-" + utterance.voice.replace(":", "-")}) + "\n")
    print(f"wrote {args.n} utterances to {args.out}")
    return 0
