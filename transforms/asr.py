"""ASR: faster-whisper on the original audio, with word timestamps."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from transforms.records import Word
from transforms.stage import Stage, log


@dataclass
class Transcript:
    words: list
    language: str


def default_cpu_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def load_whisper(asr_cfg: dict, cpu_threads: int):
    """Build the WhisperModel once per worker process."""
    from faster_whisper import WhisperModel

    from pipeline.models import resolve_whisper

    path, _ = resolve_whisper(asr_cfg["model"], asr_cfg["model_sha256"])
    return WhisperModel(path, device="cpu", compute_type=asr_cfg["compute_type"], cpu_threads=cpu_threads,
                        num_workers=1)


def transcribe(model, audio: np.ndarray, asr_cfg: dict, language: str | None = None) -> Transcript:
    segments, info = model.transcribe(
        audio,
        language=language or asr_cfg["language"] or None,
        beam_size=asr_cfg["beam_size"],
        word_timestamps=True,
        vad_filter=asr_cfg["vad_filter"],
        condition_on_previous_text=False,
        # No temperature fallback: it samples from CTranslate2's process-wide random generator, which
        # cannot be seeded per call, so a hard utterance's text would depend on the run and on what the
        # worker transcribed before. Beam search alone is deterministic.
        temperature=0.0,
    )
    words = []
    for segment in segments:
        for w in segment.words or []:
            text = w.word.strip()
            if text:
                words.append(Word(text=text, start=float(w.start), end=float(w.end),
                                  probability=float(w.probability)))
    return Transcript(words=words, language=info.language or "")


class Transcribe(Stage):
    """faster-whisper, loaded once per worker in setup."""

    name = "asr"

    def __init__(self, asr_cfg: dict, local_workers: int = 1):
        super().__init__()
        self.asr_cfg = asr_cfg
        self.local_workers = local_workers
        self.done = 0
        self.audio_seconds = 0.0

    def setup(self):
        # Cores are counted on the worker, not on the machine that built the graph.
        threads = self.asr_cfg["cpu_threads"] or default_cpu_threads(self.local_workers)
        self.model = load_whisper(self.asr_cfg, threads)

    def apply(self, record):
        transcript = transcribe(self.model, record.audio, self.asr_cfg, record.language)
        record.words = transcript.words
        record.detected_language = transcript.language
        self.done += 1
        self.audio_seconds += record.duration_in
        if self.done % self.asr_cfg["progress_every"] == 0:
            log.info("progress: %d utterances (%.0f s of audio) transcribed by this worker",
                     self.done, self.audio_seconds)
        yield record
