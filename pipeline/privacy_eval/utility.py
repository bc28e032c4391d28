"""What the conversion costs in words on any speech: every clip of some folders converted as the privacy
evaluation converts its trials (the same pseudo-voices for the same clip ids and secrets) and read back by the
same listener. No attacker is involved, so it runs on the core install, on a sample of a team's own recordings
as on held-out speech whose sentences never shaped the voice (docs/voice-conversion.md, "Held-out speech")."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from pipeline.privacy_eval.corpus import AUDIO_EXTENSIONS, SAMPLE_RATE, listed_clips, read_clip
from pipeline.privacy_eval.metrics import words_of as written_words
from pipeline.privacy_eval.protocol import (Converter, Readings, _clip_id, listener, run_keyring,
                                            transcript_divergence, voice_seed, word_error_figures, word_reader)
from transforms.voice import speaks_transcript

log = logging.getLogger("deid.privacy")


@dataclass
class WordOptions:
    inputs: list
    modes: list
    voice_cfg: dict
    asr_cfg: dict
    clips: int = 0          # clips spread over the listing (0 = all)
    jobs: int = 1
    seed: int = 0           # the first secret; secret k uses seed + k, named as the privacy evaluation names it
    secrets: int = 1


def evaluate_words(options: WordOptions) -> dict:
    """Every figure, as a JSON-ready dict (no ids, paths or transcripts in it)."""
    from transforms.asr import load_whisper

    clips = listed_clips(options.inputs, options.clips)
    if not clips:
        raise ValueError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {' '.join(options.inputs)}")
    audio = [read_clip(c.path) for c in clips]
    log.info("words: %d clips of %d speakers", len(clips), len({c.speaker for c in clips}))
    whisper = load_whisper(options.asr_cfg, cpu_threads=options.jobs)
    readings = Readings(whisper)
    text_of = listener(readings, options.asr_cfg)
    references = {"wer_vs_original_transcript": [text_of(a) for a in audio]}
    words_of = word_reader(options.voice_cfg, options.asr_cfg, readings)
    words = [words_of(a) for a in audio]
    result = {"clips": len(clips), "speakers": len({c.speaker for c in clips}),
              "audio_s": round(sum(len(a) for a in audio) / SAMPLE_RATE, 1),
              "reference_words": sum(len(written_words(t)) for t in references["wer_vs_original_transcript"]),
              "secrets": options.secrets, "modes": {}}
    log.info("words: the originals read by the listener and by the pipeline's settings")
    if speaks_transcript(options.voice_cfg):
        references["wer_vs_spoken_transcript"] = [" ".join(w.text for w in ws) for ws in words]
        result["transcript_vs_listener"] = transcript_divergence(references["wer_vs_original_transcript"],
                                                                 references["wer_vs_spoken_transcript"])
    for mode in options.modes:
        converter = Converter(options.voice_cfg, options.jobs)
        hypotheses = []
        try:
            for seed in range(options.seed, options.seed + options.secrets):
                seeds = [voice_seed(run_keyring(seed), _clip_id(c), c.speaker, mode) for c in clips]
                hypotheses += [text_of(a) for a in converter.convert(audio, seeds, words)]
                log.info("words: mode %s, secret %d of %d converted and read", mode, seed - options.seed + 1,
                         options.secrets)
        finally:
            converter.close()
        figures = word_error_figures(references, hypotheses, options.secrets)
        timing = converter.cpu_seconds / converter.audio_seconds
        figures["conversion_cpu_s_per_audio_s"] = timing
        figures["conversion_times_faster_than_real_time"] = 1.0 / timing if timing else float("inf")
        result["modes"][mode] = figures
    return result
