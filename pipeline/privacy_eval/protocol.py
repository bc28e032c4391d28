"""The privacy evaluation: anonymize trial, enrollment and pool speech through the pipeline's own code,
score it with a speaker-verification attacker under three threat models, and measure utility.

Threat models (VoicePrivacy Challenge terms):
- ignorant: the attacker enrolls speakers with original speech and tests anonymized trials;
- lazy-informed: the attacker anonymizes its enrollment with the same system under its own secret;
- semi-informed-lite: lazy-informed, scored after an LDA back-end that the attacker fits on pool speakers
  anonymized by itself, each half of a pool clip as a separate utterance with its own pseudo-voice, so
  that the back-end learns which directions survive a change of pseudo-voice.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from pipeline.privacy_eval.corpus import (SAMPLE_RATE, Clip, folder_of, pool_clips, read_clip, speaker_clips,
                                          split_enrollment)
from pipeline.privacy_eval.metrics import (Lda, bootstrap_interval, equal_error_rate, error_rate, pitch_correlation,
                                           unit_rows, word_error_counts)
from transforms.festival import helper_cpu_seconds
from transforms.identity import Keyring
from transforms.ingest import to_record
from transforms.records import SourceEntry
from transforms.voice import anonymize, f0_contour, speaks_transcript

log = logging.getLogger("deid.privacy")


@dataclass
class Options:
    trials: list
    pool: str
    modes: list
    attacker: str = "campp"
    voice_cfg: dict = None
    asr_cfg: dict = None
    enroll: int = 3
    per_speaker: int = 0        # clips per trial speaker (0 = all)
    pool_limit: int = 0         # pool clips (0 = all)
    pool_max_s: float = 6.0     # each pool half is cut to this many seconds
    wer_clips: int = -1         # trial clips transcribed (-1 = all, 0 = no utility)
    jobs: int = 1
    seed: int = 0               # the first secret pair; secret k uses seed + k
    secrets: int = 10           # pairs of secrets (run, attacker) whose scores are pooled


def voice_seed(keyring: Keyring, source_id: str, speaker: str, mode: str) -> bytes:
    """The seed the pipeline would give this clip: made by the same ingest code as a real run."""
    return to_record(SourceEntry(source_id=source_id, audio_uri="", speaker_id=speaker), keyring, mode).voice_seed


def _convert_one(job):
    audio, seed, voice_cfg, words = job
    started = time.process_time() + helper_cpu_seconds()
    converted = anonymize(audio, SAMPLE_RATE, seed, voice_cfg, words)
    return converted, time.process_time() + helper_cpu_seconds() - started


class Converter:
    """Runs the conversion over many clips in worker processes and keeps its CPU time per audio second."""

    def __init__(self, voice_cfg: dict, jobs: int):
        self.voice_cfg = voice_cfg
        self.executor = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else None
        self.cpu_seconds = 0.0
        self.audio_seconds = 0.0

    def convert(self, audios: list, seeds: list, words: list) -> list:
        jobs = [(a, s, self.voice_cfg, w) for a, s, w in zip(audios, seeds, words)]
        results = list(self.executor.map(_convert_one, jobs, chunksize=2) if self.executor
                       else map(_convert_one, jobs))
        self.cpu_seconds += sum(r[1] for r in results)
        self.audio_seconds += sum(len(a) for a in audios) / SAMPLE_RATE
        return [r[0] for r in results]

    def close(self):
        if self.executor:
            self.executor.shutdown()


@dataclass
class TrialScores:
    """Target and non-target scores, each with the index of the trial clip it scores and of the pair of
    secrets it was measured under."""
    target: np.ndarray
    nontarget: np.ndarray
    target_trial: np.ndarray
    nontarget_trial: np.ndarray
    target_secret: np.ndarray
    nontarget_secret: np.ndarray

    @classmethod
    def pooled(cls, parts: list) -> "TrialScores":
        """The scores of several runs over the same trial clips (pair k of secrets for parts[k]), as one set."""
        joined = [np.concatenate([getattr(p, name) for p in parts])
                  for name in ("target", "nontarget", "target_trial", "nontarget_trial")]
        secrets = [np.concatenate([np.full(len(getattr(p, name)), k) for k, p in enumerate(parts)])
                   for name in ("target", "nontarget")]
        return cls(*joined, *secrets)

    def eer(self, trial_counts: np.ndarray | None = None, secret_counts: np.ndarray | None = None) -> float:
        """The EER; with counts (a bootstrap resampling), over trial_counts[i] * secret_counts[k] copies of
        the scores of trial clip i under pair k of secrets."""
        if trial_counts is None:
            return equal_error_rate(self.target, self.nontarget)
        target_copies = trial_counts[self.target_trial]
        nontarget_copies = trial_counts[self.nontarget_trial]
        if secret_counts is not None:
            target_copies = target_copies * secret_counts[self.target_secret]
            nontarget_copies = nontarget_copies * secret_counts[self.nontarget_secret]
        return equal_error_rate(np.repeat(self.target, target_copies), np.repeat(self.nontarget, nontarget_copies))


def _enrollment_scores(enroll_emb: dict, trial_emb: np.ndarray, trial_speakers: list,
                       within_folder: bool = False) -> TrialScores:
    """Target and non-target cosine scores of every trial against every enrolled speaker. `within_folder`
    keeps only the non-target pairs whose two speakers come from the same trials folder (corpus)."""
    speakers = sorted(enroll_emb)
    models = unit_rows(np.stack([unit_rows(enroll_emb[s]).mean(axis=0) for s in speakers]))
    scores = unit_rows(trial_emb) @ models.T
    same = np.array([[t == s for s in speakers] for t in trial_speakers])
    other = ~same
    if within_folder:
        other &= np.array([[folder_of(t) == folder_of(s) for s in speakers] for t in trial_speakers])
    trial = np.repeat(np.arange(len(trial_speakers))[:, None], len(speakers), axis=1)
    return TrialScores(scores[same], scores[other], trial[same], trial[other],
                       np.zeros(same.sum(), dtype=np.int64), np.zeros(other.sum(), dtype=np.int64))


def _eer(enroll_emb: dict, trial_emb: np.ndarray, trial_speakers: list) -> float:
    return _enrollment_scores(enroll_emb, trial_emb, trial_speakers).eer()


def _halves(audio: np.ndarray, max_seconds: float) -> list:
    middle = len(audio) // 2
    limit = int(max_seconds * SAMPLE_RATE)
    return [audio[:middle][:limit], audio[middle:][:limit]]


ATTACKS = ("ignorant", "lazy_informed", "semi_informed_lite")


@dataclass
class Material:
    """What every secret is measured on: the clips, their audio and the original enrollment embeddings."""
    enrollment: dict
    trials: list
    trial_audio: list
    enroll_audio: dict
    pool_halves: list
    original_enroll: dict
    trial_words: list           # each clip's timed words, for a conversion that speaks them again (else empty)
    enroll_words: dict
    pool_words: list


@dataclass
class SecretRun:
    """One pair of secrets (the run's and the attacker's): target and non-target scores per attack."""
    scores: dict
    anon_trials: list
    cpu_seconds: float
    audio_seconds: float


def evaluate(options: Options, attacker) -> dict:
    """Every figure of the evaluation, as a JSON-ready dict (no ids, paths or transcripts in it)."""
    enrollment, trials = split_enrollment(speaker_clips(options.trials, options.per_speaker), options.enroll)
    pool = pool_clips(options.pool, options.pool_limit)
    trial_speakers = [s for s, _ in trials]
    trial_audio = [read_clip(c.path) for _, c in trials]
    enroll_audio = {s: [read_clip(c.path) for c in clips] for s, clips in enrollment.items()}
    pool_halves = [(clip, k, half) for clip in pool for k, half in enumerate(_halves(read_clip(clip.path),
                                                                                      options.pool_max_s))]
    log.info("privacy: %d speakers, %d trial clips, %d pool halves", len(enrollment), len(trials), len(pool_halves))

    def embed(audios):
        return np.stack([attacker.embed(a) for a in audios])

    whisper = None
    if speaks_transcript(options.voice_cfg) or options.wer_clips:
        from transforms.asr import load_whisper

        whisper = load_whisper(options.asr_cfg, cpu_threads=options.jobs)
    readings = Readings(whisper)
    words_of = word_reader(options.voice_cfg, options.asr_cfg, readings)
    material = Material(enrollment, trials, trial_audio, enroll_audio, pool_halves,
                        {s: embed(a) for s, a in enroll_audio.items()},
                        [words_of(a) for a in trial_audio],
                        {s: [words_of(a) for a in audios] for s, audios in enroll_audio.items()},
                        [words_of(h) for _, _, h in pool_halves])
    original_trials = embed(trial_audio)
    result = {
        "attacker": attacker.name, "speakers": len(enrollment), "trial_clips": len(trials),
        "enrollment_clips_per_speaker": options.enroll, "pool_speakers": len({c.speaker for c in pool}),
        "pool_halves": len(pool_halves),
        "trial_audio_s": round(sum(len(a) for a in trial_audio) / SAMPLE_RATE, 1),
        "original": {"eer": _eer(material.original_enroll, original_trials, trial_speakers)},
        "secrets": options.secrets,
        "modes": {},
    }
    references = {}             # figure name -> the text of each WER clip that the listener is scored against
    wer_count = len(trials) if options.wer_clips < 0 else min(options.wer_clips, len(trials))
    if wer_count:
        text_of = listener(readings, options.asr_cfg)
        wer_indices = _spread_over_speakers(trial_speakers)[:wer_count]
        references["wer_vs_original_transcript"] = [text_of(trial_audio[i]) for i in wer_indices]
        if speaks_transcript(options.voice_cfg):
            # The words the conversion was given to speak, as the shard's text carries them: how far the listener's
            # reading is from them tells a consumer how well a shard's audio and text agree, apart from how far
            # Whisper's two readings of the original (the pipeline's windows and its own) differ.
            references["wer_vs_spoken_transcript"] = [" ".join(w.text for w in material.trial_words[i])
                                                      for i in wer_indices]
            result["transcript_vs_listener"] = transcript_divergence(references["wer_vs_original_transcript"],
                                                                     references["wer_vs_spoken_transcript"])
    for mode in options.modes:
        runs = [_one_secret(options, seed, mode, material, embed)
                for seed in range(options.seed, options.seed + options.secrets)]
        figures = {}
        for key in runs[0].scores:      # each attack, and its same-folder variant where there is one
            pooled = TrialScores.pooled([run.scores[key] for run in runs])
            figures[f"eer_{key}"] = pooled.eer()
            figures[f"eer_{key}_ci95"] = bootstrap_interval(lambda secrets, clips: pooled.eer(clips, secrets),
                                                            (len(runs), len(trials)))
        for attack in ATTACKS:
            figures[f"eer_{attack}_per_secret"] = [run.scores[attack].eer() for run in runs]
        timing = sum(run.cpu_seconds for run in runs) / sum(run.audio_seconds for run in runs)
        figures["conversion_cpu_s_per_audio_s"] = timing
        figures["conversion_times_faster_than_real_time"] = 1.0 / timing if timing else float("inf")
        if wer_count:
            anon_text = [text_of(run.anon_trials[i]) for run in runs for i in wer_indices]
            figures.update(word_error_figures(references, anon_text, len(runs)))
            figures["wer_clips"] = wer_count * len(runs)
        correlations = [pitch_correlation(f0_contour(o, SAMPLE_RATE), f0_contour(a, SAMPLE_RATE))
                        for run in runs for o, a in zip(trial_audio, run.anon_trials)]
        figures["pitch_correlation"] = float(np.nanmean(correlations))
        result["modes"][mode] = figures
        log.info("privacy: mode %s done", mode)
    return result


def run_keyring(seed: int) -> Keyring:
    """The run's secret of pair `seed`: the same clip id and speaker get the same pseudo-voice under it in every
    evaluation that converts them."""
    return Keyring(f"privacy-eval-run-{seed}".encode())


def _one_secret(options: Options, seed: int, mode: str, material: Material, embed) -> SecretRun:
    run_keys = run_keyring(seed)
    attacker_keys = Keyring(f"privacy-eval-attacker-{seed}".encode())
    m = material
    converter = Converter(options.voice_cfg, options.jobs)
    try:
        anon_trials = converter.convert(
            m.trial_audio, [voice_seed(run_keys, _clip_id(c), c.speaker, mode) for _, c in m.trials], m.trial_words)
        attacker_enroll = {}
        for s, clips in m.enrollment.items():
            seeds = [voice_seed(attacker_keys, _clip_id(c), c.speaker, mode) for c in clips]
            attacker_enroll[s] = converter.convert(m.enroll_audio[s], seeds, m.enroll_words[s])
        pool_seeds = [voice_seed(attacker_keys, f"{_clip_id(c)}#{k}", c.speaker, "utterance")
                      for c, k, _ in m.pool_halves]
        anon_pool = converter.convert([h for _, _, h in m.pool_halves], pool_seeds, m.pool_words)
    finally:
        converter.close()
    trial_speakers = [s for s, _ in m.trials]
    anon_trial_emb = embed(anon_trials)
    attacker_enroll_emb = {s: embed(a) for s, a in attacker_enroll.items()}
    lda = Lda().fit(embed(anon_pool), [c.speaker for c, _, _ in m.pool_halves])
    enrollments = {
        "ignorant": (m.original_enroll, anon_trial_emb),
        "lazy_informed": (attacker_enroll_emb, anon_trial_emb),
        "semi_informed_lite": ({s: lda.transform(e) for s, e in attacker_enroll_emb.items()},
                               lda.transform(anon_trial_emb)),
    }
    scores = {attack: _enrollment_scores(enroll, trial, trial_speakers)
              for attack, (enroll, trial) in enrollments.items()}
    if _folders_with_impostors(trial_speakers):
        scores.update({f"{attack}_within_folder": _enrollment_scores(enroll, trial, trial_speakers, within_folder=True)
                       for attack, (enroll, trial) in enrollments.items()})
    return SecretRun(scores, anon_trials, converter.cpu_seconds, converter.audio_seconds)


def _folders_with_impostors(trial_speakers: list) -> bool:
    """Whether the trials come from more than one folder, at least one of them with two speakers: only then
    does an EER over same-folder non-targets differ from the pooled one and have pairs to count."""
    speakers = set(trial_speakers)
    folders = {folder_of(s) for s in speakers}
    return len(folders) > 1 and any(sum(folder_of(s) == f for s in speakers) > 1 for f in folders)


def transcript_divergence(listener_reading: list, pipeline_reading: list) -> dict:
    """The pipeline's transcript of the original trial clips scored against the listener's reading of them (its
    encoder windows against Whisper's own 30 s): the part of the WER against the original that is there before
    any voice speaks. It differs by CPU (README, "The word error rate depends on the machine"), so every run
    measures it."""
    figures = {"clips": len(listener_reading)}
    for key, normalised in (("wer", False), ("wer_normalised", True)):
        errors, words = word_error_counts(listener_reading, pipeline_reading, normalised)
        figures[key] = error_rate(errors, words)
        figures[f"{key}_ci95"] = bootstrap_interval(lambda clips: error_rate(errors, words, clips), len(errors))
        if not normalised:
            figures["clips_differing"] = int((errors > 0).sum())
    return figures


class Readings:
    """Whisper's timed words for clips, each clip read once per set of ASR settings: with Whisper's own windows
    in the configuration the pipeline's reading of an original is the listener's, and is not computed twice."""

    def __init__(self, whisper):
        self.whisper = whisper
        self.memo: dict = {}

    def words(self, audio, asr_cfg: dict) -> list:
        from transforms.asr import transcribe

        clip = hashlib.sha1(np.ascontiguousarray(audio).tobytes()).digest()
        key = (clip, json.dumps(asr_cfg, sort_keys=True, default=str))
        if key not in self.memo:
            self.memo[key] = transcribe(self.whisper, audio, asr_cfg, language="en").words
        return self.memo[key]


def word_reader(voice_cfg: dict, asr_cfg: dict, readings: Readings):
    """The timed words the pipeline's transcription step would hand the conversion (its own Whisper
    settings, less an unsure tail and a loop's repeats), or nothing when the conversion does not use them."""
    if not speaks_transcript(voice_cfg):
        return lambda audio: []
    from transforms.asr import WHISPER_RATE, without_invented_words

    return lambda audio: without_invented_words(readings.words(audio, asr_cfg), audio, WHISPER_RATE, asr_cfg)


def listener(readings: Readings, asr_cfg: dict):
    """The listener every WER is measured with: Whisper with the pipeline's settings but its own 30 s windows,
    so that it does not change with the pipeline's speed-ups; audio -> its text."""
    from transforms.asr import plain_whisper

    settings = plain_whisper(asr_cfg)
    return lambda audio: " ".join(w.text for w in readings.words(audio, settings))


def word_error_figures(references: dict, hypotheses: list, secrets: int) -> dict:
    """The WER of `hypotheses` (the listener's reading of every clip under pair 0 of secrets, then under pair
    1, ...) against each named list of reference texts (one per clip), plain and spelling-normalised, each with
    its 95 % interval over resampled pairs of secrets and clips."""
    figures = {}
    for name, reference in references.items():
        clips = len(reference)
        clip = np.tile(np.arange(clips), secrets)
        secret = np.repeat(np.arange(secrets), clips)
        for key, normalised in ((name, False), (f"{name}_normalised", True)):
            errors, words = word_error_counts(reference * secrets, hypotheses, normalised)
            figures[key] = error_rate(errors, words)
            figures[f"{key}_ci95"] = bootstrap_interval(
                lambda secret_counts, clip_counts: error_rate(errors, words,
                                                              secret_counts[secret] * clip_counts[clip]),
                (secrets, clips))
    return figures


def _spread_over_speakers(speakers: list) -> list:
    """Trial indices taking each speaker's first clip, then each one's second, ...: a WER subset then covers
    every speaker, so one pseudo-voice cannot dominate it."""
    rank, seen = {}, {}
    for i, s in enumerate(speakers):
        rank[i] = seen.get(s, 0)
        seen[s] = rank[i] + 1
    return sorted(range(len(speakers)), key=lambda i: (rank[i], i))


def _clip_id(clip: Clip) -> str:
    return clip.path[len(clip.root):].lstrip("/")
