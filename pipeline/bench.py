"""Throughput benchmark: the naive faster-whisper loop against the whole pipeline with 1 and N workers.

Everything runs on the same audio. Pipeline runs are separate processes (`python -m pipeline run`), so their
wall time includes start-up and model loading; the naive loop's excludes its one model load, which makes the
comparison conservative for the pipeline. Peak resident memory is read from /proc (VmHWM) of every process of
a run while it runs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

from pipeline.report import machine_description, machine_line
from pipeline.tts import ESPEAK_VOICES, FLITE_VOICES, synthesize

SENTENCES = [
    "Set a timer for twenty minutes and remind me to check the oven.",
    "What is the weather going to be like in Chicago tomorrow afternoon?",
    "Add milk, eggs and two loaves of bread to my shopping list.",
    "Call my sister and tell her I will be there around seven thirty.",
    "Play some quiet piano music in the living room please.",
    "How many kilometres are there between Paris and Berlin?",
    "Turn off all the lights downstairs except the one in the kitchen.",
    "My name is Daniel Carter and my phone number is 555 014 2298.",
    "Schedule a dentist appointment for next Tuesday at nine in the morning.",
    "Read me the latest headlines about the football championship.",
    "Send a message to Olivia saying the meeting moved to Thursday.",
    "What time does the pharmacy on Main Street close tonight?",
]


def utterance_plan(index: int) -> tuple[str, str]:
    """The voice and text of the benchmark's utterance `index`. The sentence pair moves on by one each time
    the voices come round, so no (voice, text) repeats within len(voices) * len(SENTENCES) utterances."""
    voices = ESPEAK_VOICES + [f"flite:{v}" for v in FLITE_VOICES]
    first = index + index // len(voices)
    return voices[index % len(voices)], " ".join(SENTENCES[(first + j) % len(SENTENCES)] for j in range(2))


def make_speech(folder: str, minutes: float, sample_rate: int = 16000, one_record: bool = False) -> tuple[str, float]:
    """Writes varied TTS utterances totalling at least `minutes`; returns (manifest path, audio seconds).
    `one_record` joins them into a single record, for measuring what one long input costs."""
    os.makedirs(folder, exist_ok=True)
    total, lines, audios, i = 0.0, [], [], 0
    while total < minutes * 60.0:
        voice, text = utterance_plan(i)
        audio = synthesize(text, voice, sample_rate)
        audio = np.concatenate([np.zeros(sample_rate // 4, np.float32), audio, np.zeros(sample_rate // 4, np.float32)])
        name = f"utt{i:05d}.wav"
        if one_record:
            audios.append(audio)
        else:
            sf.write(os.path.join(folder, name), audio, sample_rate, subtype="PCM_16")
            lines.append({"id": f"bench-{i:05d}", "audio": name, "speaker_id": f"voice-{voice}"})
        total += len(audio) / sample_rate
        i += 1
    if one_record:
        sf.write(os.path.join(folder, "long.wav"), np.concatenate(audios), sample_rate, subtype="PCM_16")
        lines = [{"id": "bench-long", "audio": "long.wav", "speaker_id": "voice-mixed"}]
    manifest = os.path.join(folder, "manifest.jsonl")
    with open(manifest, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(line) + "\n" for line in lines)
    return manifest, total


def audio_files(manifest: str) -> list[str]:
    base = os.path.dirname(manifest)
    with open(manifest, encoding="utf-8") as f:
        return [os.path.join(base, json.loads(line)["audio"]) for line in f if line.strip()]


def naive_loop(manifest: str, asr_cfg: dict) -> dict:
    """faster-whisper with the pipeline's model and settings, in a plain loop in this process (Whisper's own
    30 s windows: shorter encoder windows are the pipeline's, like its batches)."""
    from transforms.asr import default_cpu_threads, load_whisper, plain_whisper, transcribe

    model = load_whisper(asr_cfg, asr_cfg["cpu_threads"] or default_cpu_threads(1))
    plain = plain_whisper(asr_cfg)
    seconds = 0.0
    started = time.perf_counter()
    for path in audio_files(manifest):
        audio, rate = sf.read(path, dtype="float32")
        seconds += len(audio) / rate
        transcribe(model, audio, plain)
    wall = time.perf_counter() - started
    return {"audio_seconds": round(seconds, 2), "wall_seconds": round(wall, 2), "speed": round(seconds / wall, 2),
            "peak_rss_mb": {"loop": round(_own_peak_rss_mb(), 1)}}


def _own_peak_rss_mb() -> float:
    return _vm_hwm_mb(os.getpid()) or 0.0


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from the parent ids in /proc/<pid>/stat."""
    parents: dict = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def pipeline_run(manifest: str, output: str, workers: int, config_path: str | None, secret: str) -> dict:
    command = [sys.executable, "-m", "pipeline", "run", "--input", manifest, "--output", output, "--overwrite",
               "--runner", "FnApiRunner", "--direct_num_workers", str(workers)]
    if workers > 1:
        command += ["--direct_running_mode", "multi_processing"]
    if config_path:
        command += ["--config", config_path]
    peaks: dict = {}
    launched_epoch = time.time()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "DEID_SECRET": secret})
    while process.poll() is None:
        for pid in [process.pid] + _descendants(process.pid):
            peak = _vm_hwm_mb(pid)
            if peak is not None:
                peaks[pid] = max(peaks.get(pid, 0.0), peak)
        time.sleep(0.2)
    wall = time.perf_counter() - started
    stderr = process.stderr.read()
    if process.returncode != 0:
        raise RuntimeError(f"pipeline run with {workers} worker(s) failed: {stderr.strip().splitlines()[-1:]}")
    with open(os.path.join(output, "run_report.json"), encoding="utf-8") as f:
        report = json.load(f)
    seconds = report["seconds_in"]
    stages = report.get("timing", {}).get("stage_seconds", {})
    return {"workers": workers, "audio_seconds": seconds, "wall_seconds": round(wall, 2),
            "speed": round(seconds / wall, 2), "shipped": report["shipped"], "quarantined": report["quarantined"],
            "phases": phases(launched_epoch, wall, report.get("timing", {}).get("work_window_epoch_s"), seconds),
            "stage_seconds_per_audio_second": {k: round(v / seconds, 4) for k, v in stages.items()},
            "peak_rss_mb": {str(pid): round(mb, 1) for pid, mb in sorted(peaks.items())}}


def phases(launched_epoch: float, wall: float, window: list | None, audio_seconds: float) -> dict | None:
    """Start-up (launch to the first record any stage works on), work (first to last), and shutdown (the
    rest: shards, manifest, exit) in seconds, with the audio rate of the working phase alone."""
    if not window:
        return None
    first, last = window
    work = max(last - first, 1e-9)
    return {"start_up_s": round(first - launched_epoch, 2), "work_s": round(work, 2),
            "shutdown_s": round(launched_epoch + wall - last, 2), "work_speed": round(audio_seconds / work, 2)}


def run_benchmark(minutes: float, input_dir: str | None, workers: list[int], cfg: dict,
                  config_path: str | None, one_record: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="deid-bench-") as tmp:
        if input_dir:
            manifest = os.path.join(input_dir, "manifest.jsonl")
            if not os.path.exists(manifest):
                raise FileNotFoundError(f"{manifest} does not exist (make one with --minutes and no --input)")
        else:
            manifest, _ = make_speech(os.path.join(tmp, "speech"), minutes, one_record=one_record)
        secret = "bench-secret-" + os.urandom(16).hex()
        results = {"machine": {**machine_description(), "python": sys.version.split()[0]},
                   "naive": naive_loop(manifest, cfg["asr"]), "pipeline": []}
        for n in workers:
            results["pipeline"].append(pipeline_run(manifest, os.path.join(tmp, f"out-{n}"), n, config_path, secret))
    naive = results["naive"]["speed"]
    speeds = {r["workers"]: r["speed"] for r in results["pipeline"]}
    results["ratios"] = {f"pipeline_{n}w_over_naive": round(s / naive, 3) for n, s in speeds.items()}
    if 1 in speeds:
        for n, s in speeds.items():
            if n != 1:
                results["ratios"][f"{n}w_over_1w"] = round(s / speeds[1], 3)
    return results


def format_results(results: dict) -> str:
    naive = results["naive"]
    lines = [machine_line(results["machine"]), f"audio: {naive['audio_seconds']:.0f} s",
             f"naive faster-whisper loop: {naive['speed']:.2f} audio s / wall s "
             f"(peak RSS {naive['peak_rss_mb']['loop']:.0f} MB)"]
    for run in results["pipeline"]:
        peaks = ", ".join(f"{mb:.0f}" for mb in run["peak_rss_mb"].values())
        lines.append(f"pipeline, {run['workers']} worker(s): {run['speed']:.2f} audio s / wall s "
                     f"({run['wall_seconds']:.1f} s wall, {run['shipped']} shipped); peak RSS per process MB: {peaks}")
        if run["phases"]:
            p = run["phases"]
            lines.append(f"  start-up {p['start_up_s']:.1f} s, work {p['work_s']:.1f} s "
                         f"({p['work_speed']:.2f} audio s / wall s), shutdown {p['shutdown_s']:.1f} s")
        stages = ", ".join(f"{k} {v:.4f}" for k, v in run["stage_seconds_per_audio_second"].items())
        lines.append(f"  stage seconds per audio second (summed over workers): {stages}")
    lines += [f"{name}: {value:.3f}" for name, value in results["ratios"].items()]
    return "\n".join(lines)
