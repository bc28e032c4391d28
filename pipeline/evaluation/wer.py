"""`evaluate wer`: what the voice conversion costs in words on any folder of speech, without an attacker."""
from __future__ import annotations

import os
import sys

from pipeline import config
from pipeline.evaluation import conversion_line, opening_lines, publish
from pipeline.privacy_eval.metrics import interval_text
from pipeline.report import machine_description

HELP = ("word error rate of the pipeline's voice conversion on any folder of speech (Whisper's reading of the "
        "converted clips against its reading of the originals)")


def add_arguments(parser) -> None:
    parser.add_argument("--input", nargs="+", required=True, metavar="DIR",
                        help="folders of audio (.wav, .flac, .ogg), any depth; a clip's speaker is its parent "
                             "folder, or the part of a LibriSpeech-style name before its first '-'")
    parser.add_argument("--clips", type=int, default=0, help="use N clips spread over the listing (0 = all)")
    parser.add_argument("--mode", nargs="+", choices=["speaker", "utterance"], default=None,
                        help="pseudo-voice per speaker or per utterance (default: voice.mode of the config)")
    parser.add_argument("--config", help="YAML file overriding configs/default.yaml (its voice and asr sections)")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 1)), help="worker processes")
    parser.add_argument("--seed", type=int, default=0,
                        help="the first secret, named as `evaluate privacy` names its run's secrets")
    parser.add_argument("--secrets", type=int, default=1,
                        help="secrets measured, the clips converted under each: every speaker draws its own "
                             "pseudo-voice, so with many speakers one secret draws many voices")
    parser.add_argument("--json", metavar="OUT", help="also write the figures to this JSON file")


def _percent(value: float) -> str:
    return f"{100 * value:.2f} %"


def report_lines(result: dict) -> list[str]:
    lines = opening_lines(result, f"{result['clips']} clips of {result['speakers']} speakers "
                                  f"({result['audio_s']:.0f} s, {result['reference_words']} words in the listener's "
                                  f"reading of the originals), {result['secrets']} secret(s); 95 % intervals over "
                                  f"resampled secrets and clips in parentheses")
    for mode, f in result["modes"].items():
        lines.append(f"mode {mode}:")
        for name, label in (("wer_vs_original_transcript", "WER vs original transcript"),
                            ("wer_vs_spoken_transcript", "WER vs the words spoken")):
            if name in f:
                lines.append(f"  {label:<27} {_percent(f[name])}{interval_text(f, name)}; normalised "
                             f"{_percent(f[name + '_normalised'])}{interval_text(f, name + '_normalised')}")
        lines.append(conversion_line(f))
    return lines


def main(args, extra) -> int:
    from pipeline.privacy_eval.utility import WordOptions, evaluate_words

    cfg = config.load(args.config)
    options = WordOptions(inputs=args.input, modes=args.mode or [cfg["voice"]["mode"]], voice_cfg=cfg["voice"],
                          asr_cfg=cfg["asr"], clips=max(0, args.clips), jobs=max(1, args.jobs), seed=args.seed,
                          secrets=max(1, args.secrets))
    try:
        result = evaluate_words(options)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result["machine"] = machine_description()
    publish(result, report_lines(result), args.json)
    return 0
