"""`evaluate privacy`: how well the voice conversion hides speakers from a speaker-verification attacker,
and what it costs in words and pitch."""
from __future__ import annotations

import os
import sys

from pipeline import config
from pipeline.evaluation import conversion_line, opening_lines, publish
from pipeline.privacy_eval.metrics import interval_text
from pipeline.report import machine_description

HELP = ("equal error rates of a speaker-verification attacker (ignorant, lazy-informed, semi-informed-lite) "
        "on speech anonymized by the pipeline's conversion, word error rate and pitch correlation")


def add_arguments(parser) -> None:
    parser.add_argument("--trials", nargs="+", required=True, metavar="DIR",
                        help="folders of <speaker>/<clip> audio: the speakers to protect")
    parser.add_argument("--pool", required=True, metavar="DIR",
                        help="clips of other speakers (name <speaker>-...), halved, for the attacker's back-end")
    parser.add_argument("--mode", nargs="+", choices=["speaker", "utterance"], default=None,
                        help="pseudo-voice per speaker or per utterance (default: voice.mode of the config)")
    parser.add_argument("--attacker", default="campp", choices=["campp", "ecapa", "resemblyzer"])
    parser.add_argument("--config", help="YAML file overriding configs/default.yaml (its voice section is used)")
    parser.add_argument("--enroll", type=int, default=3, help="enrollment clips per speaker (the rest are trials)")
    parser.add_argument("--per-speaker", type=int, default=0, help="use only the first N clips per speaker")
    parser.add_argument("--pool-limit", type=int, default=0, help="use only N pool clips, spread over the pool")
    parser.add_argument("--pool-seconds", type=float, default=6.0, help="each pool half is cut to this length")
    parser.add_argument("--wer-clips", type=int, default=-1,
                        help="trial clips transcribed for the word error rate, taken round-robin over speakers "
                             "(-1 all, 0 none)")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 1)), help="worker processes")
    parser.add_argument("--seed", type=int, default=0, help="picks the first pair of secrets (run's, attacker's)")
    parser.add_argument("--secrets", type=int, default=10,
                        help="pairs of secrets measured, their scores pooled: with few trial speakers one pair "
                             "draws few pseudo-voices, and its EER moves by tens of points with the draw "
                             "(docs/voice-conversion.md, \"How sure these figures are\")")
    parser.add_argument("--json", metavar="OUT", help="also write the figures to this JSON file")


def _percent(value: float) -> str:
    return f"{100 * value:5.1f} %"


def report_lines(result: dict) -> list[str]:
    lines = opening_lines(result, f"attacker {result['attacker']}: {result['speakers']} speakers, "
                                  f"{result['trial_clips']} trial clips ({result['trial_audio_s']:.0f} s), "
                                  f"{result['enrollment_clips_per_speaker']} enrollment clips each, pool "
                                  f"{result['pool_speakers']} speakers / {result['pool_halves']} halves",
                          f"original speech EER           {_percent(result['original']['eer'])}")
    for mode, f in result["modes"].items():
        lines.append(f"mode {mode} ({result['secrets']} pairs of secrets, scores pooled; per pair in brackets; "
                     f"95 % interval over resampled pairs and trial clips in parentheses):")
        for attack, label in (("ignorant", "ignorant"), ("lazy_informed", "lazy-informed"),
                              ("semi_informed_lite", "semi-informed-lite")):
            per_secret = ", ".join(_percent(e).strip() for e in f[f"eer_{attack}_per_secret"])
            lines.append(f"  EER {label:<24}{_percent(f['eer_' + attack])}{interval_text(f, 'eer_' + attack)}  "
                         f"[{per_secret}]")
            if f"eer_{attack}_within_folder" in f:
                lines.append(f"      non-targets of the same trials folder only: "
                             f"{_percent(f[f'eer_{attack}_within_folder']).strip()}"
                             f"{interval_text(f, f'eer_{attack}_within_folder')}")
        if "wer_vs_original_transcript" in f:
            lines.append(f"  WER vs original transcript  {_percent(f['wer_vs_original_transcript'])}"
                         f"{interval_text(f, 'wer_vs_original_transcript')}; "
                         f"{f['wer_clips']} converted clips over the secrets")
        if "wer_vs_original_transcript_normalised" in f:
            lines.append(f"  WER, spelling normalised    {_percent(f['wer_vs_original_transcript_normalised'])}"
                         f"{interval_text(f, 'wer_vs_original_transcript_normalised')}")
        if "wer_vs_spoken_transcript" in f:
            lines.append(f"  WER vs the words spoken     {_percent(f['wer_vs_spoken_transcript'])}"
                         f"{interval_text(f, 'wer_vs_spoken_transcript')}; normalised "
                         f"{_percent(f['wer_vs_spoken_transcript_normalised']).strip()}"
                         f"{interval_text(f, 'wer_vs_spoken_transcript_normalised')}")
        lines += [f"  pitch correlation           {f['pitch_correlation']:.3f}", conversion_line(f)]
    return lines


def main(args, extra) -> int:
    from pipeline.privacy_eval.attackers import AttackerUnavailable, load_attacker
    from pipeline.privacy_eval.protocol import Options, evaluate

    cfg = config.load(args.config)
    options = Options(trials=args.trials, pool=args.pool, modes=args.mode or [cfg["voice"]["mode"]],
                      attacker=args.attacker, voice_cfg=cfg["voice"], asr_cfg=cfg["asr"], enroll=args.enroll,
                      per_speaker=args.per_speaker, pool_limit=args.pool_limit, pool_max_s=args.pool_seconds,
                      wer_clips=args.wer_clips, jobs=max(1, args.jobs), seed=args.seed, secrets=max(1, args.secrets))
    try:
        attacker = load_attacker(args.attacker, threads=options.jobs)
        result = evaluate(options, attacker)
    except (AttackerUnavailable, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result["machine"] = machine_description()
    publish(result, report_lines(result), args.json)
    return 0
