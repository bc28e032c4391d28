"""`anonymize-voice`: convert a folder of audio to pseudo-voices, to listen to before a large run or to
test with your own attackers. Same decoding, seeds and conversion as the pipeline, no redaction. With the
`resynthesize` method the words come from the pipeline's Whisper (its asr settings), as in a run."""
from __future__ import annotations

import os
import sys
from collections import Counter

import soundfile as sf

from pipeline import config
from pipeline.secrets import load_secret
from transforms.audio_io import AudioLimits, decode_audio
from transforms.identity import Keyring
from transforms.ingest import entry_from_file, list_audio_files, to_record
from transforms.records import Rejected
from transforms.voice import anonymize, speaks_transcript

HELP = "convert every audio file under --input to its pseudo-voice, as .wav under --output (speaker = parent folder)"


def add_arguments(parser) -> None:
    parser.add_argument("--input", required=True, help="folder of audio; a file's parent folder is its speaker")
    parser.add_argument("--output", required=True, help="folder for the converted .wav files (same relative paths)")
    parser.add_argument("--secret-file", help="file holding the secret (else $DEID_SECRET); the same secret and "
                                              "mode as a run give the same pseudo-voices")
    parser.add_argument("--demo-secret", action="store_true", help="use the public demo secret (listening only)")
    parser.add_argument("--mode", choices=["speaker", "utterance"], help="default: voice.mode of the config")
    parser.add_argument("--config", help="YAML file overriding configs/default.yaml")


def main(args, extra) -> int:
    cfg = config.load(args.config)
    mode = args.mode or cfg["voice"]["mode"]
    root = os.path.abspath(args.input)
    output = os.path.abspath(args.output)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"input folder {args.input} does not exist")
    if output == root or output.startswith(root + os.sep):
        print("error: --output must be outside --input (the originals are never overwritten)", file=sys.stderr)
        return 2
    secret, _ = load_secret(args.secret_file, demo=args.demo_secret)
    keyring = Keyring(secret)
    limits = AudioLimits.from_config(cfg["audio"])
    files = list_audio_files(root, cfg["input"]["audio_extensions"])
    words_of = _word_reader(cfg)
    skipped: Counter = Counter()
    seconds = 0.0
    for path in files:
        record = to_record(entry_from_file(path, root), keyring, mode)
        try:
            with open(path, "rb") as f:
                decoded = decode_audio(f.read(), limits)
        except Rejected as rejected:
            skipped[rejected.reason] += 1
            continue
        converted = anonymize(decoded.samples, limits.sample_rate, record.voice_seed, cfg["voice"],
                              words_of(decoded.samples))
        target = os.path.join(output, os.path.splitext(os.path.relpath(path, root))[0] + ".wav")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        sf.write(target, converted, limits.sample_rate, subtype="PCM_16")
        seconds += len(converted) / limits.sample_rate
    print(f"anonymize-voice: {len(files) - sum(skipped.values())} files converted ({seconds:.1f} s of audio, "
          f"mode {mode}) into {args.output}")
    if skipped:
        print("skipped (not converted): " + ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())))
    return 0


def _word_reader(cfg: dict):
    """The timed words the conversion speaks again (method resynthesize), or none (method warp)."""
    if not speaks_transcript(cfg["voice"]):
        return lambda audio: []
    from transforms.asr import default_cpu_threads, load_whisper, transcribe

    whisper = load_whisper(cfg["asr"], cpu_threads=cfg["asr"]["cpu_threads"] or default_cpu_threads(1))
    return lambda audio: transcribe(whisper, audio, cfg["asr"]).words
