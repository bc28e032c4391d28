"""Evaluations: each module is a sub-command of `evaluate` (HELP, add_arguments, main)."""
from __future__ import annotations

import json

from pipeline.privacy_eval.metrics import interval_text
from pipeline.report import machine_line


def divergence_line(t: dict) -> str:
    """The report line of `transcript_vs_listener` (privacy_eval.protocol.transcript_divergence)."""
    return (f"pipeline's transcript vs the listener's reading of the originals: {100 * t['wer']:.2f} %"
            f"{interval_text(t, 'wer')}, normalised {100 * t['wer_normalised']:.2f} %"
            f"{interval_text(t, 'wer_normalised')}; {t['clips_differing']} of {t['clips']} clips differ")


def opening_lines(result: dict, *summary: str) -> list:
    """An evaluation report's first lines: the machine, the summary lines, and how far the pipeline's transcripts
    are from the listener's reading when the conversion speaks them."""
    lines = list(summary)
    if "machine" in result:
        lines.insert(0, machine_line(result["machine"]))
    if "transcript_vs_listener" in result:
        lines.append(divergence_line(result["transcript_vs_listener"]))
    return lines


def conversion_line(figures: dict) -> str:
    """The report line of a mode's conversion time."""
    return (f"  conversion                  {figures['conversion_cpu_s_per_audio_s']:.4f} CPU s per audio s "
            f"({figures['conversion_times_faster_than_real_time']:.0f}x faster than real time on one core)")


def publish(result: dict, lines: list, json_path: str | None) -> None:
    """Prints an evaluation's report lines and writes its figures as JSON when asked. The machine goes into both
    (see pipeline.report.machine_description): a WER figure holds for the CPU it was measured on."""
    for line in lines:
        print(line)
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
