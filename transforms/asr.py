"""ASR: faster-whisper on the original audio, with word timestamps.

faster-whisper pads every window to 30 s, so a 5 s request costs nearly as
much as 30 s of speech, and one short request cannot keep two threads busy.
A short record is therefore encoded in a shorter window chosen by its own
length (asr.encoder_windows), and the records of one Pack are decoded as a
batch, each in its own window (asr.batch_size). Optionally (asr.pack_seconds)
they are also joined, with a stretch of silence between them, into shared
windows, and each window's words are handed back to the record they fall in;
that is faster still but measured to leave more PII readable.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from bisect import bisect_right
from collections import defaultdict
from contextlib import contextmanager
from itertools import groupby
from dataclasses import dataclass, replace

import numpy as np
from apache_beam.utils.multi_process_shared import MultiProcessShared
from apache_beam.utils.shared import Shared

from transforms.audio_io import LEVEL_HOP_S, frame_levels_db
from transforms.records import Pack, Word
from transforms.stage import Stage, log


WHISPER_RATE = 16000
WHISPER_WINDOW_S = 30.0
WHISPER_STEP_SAMPLES = 320    # the time step of Whisper's word timestamps (20 ms)
FEATURE_FRAMES_PER_S = 100


@dataclass
class Transcript:
    words: list
    language: str


def default_cpu_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def encoder_window_s(duration_s: float, asr_cfg: dict) -> float:
    """The shortest of asr.encoder_windows that holds the audio with asr.encoder_margin_s to spare, else
    Whisper's 30 s. Chosen from the record's own length, so that its words never depend on its neighbours."""
    for window in sorted(asr_cfg["encoder_windows"]):
        if duration_s + asr_cfg["encoder_margin_s"] <= window:
            return float(window)
    return WHISPER_WINDOW_S


# faster-whisper pads every window's features to 3000 frames (30 s) with its pad_or_trim before the
# encoder, whose cost grows faster than linearly with its input (measured: 0.75 s for 30 s, 0.10 s for 10 s
# on 2 threads). CTranslate2's encoder takes shorter inputs, so while a call runs inside
# `encoder_window`, this thread's windows are padded only to the chosen length; elsewhere nothing changes.
_ENCODER_WINDOW = threading.local()


@contextmanager
def encoder_window(seconds: float):
    previous = getattr(_ENCODER_WINDOW, "frames", None)
    _ENCODER_WINDOW.frames = int(round(seconds * FEATURE_FRAMES_PER_S))
    try:
        yield
    finally:
        _ENCODER_WINDOW.frames = previous


def install_window_padding() -> None:
    import faster_whisper.transcribe as library

    if getattr(library.pad_or_trim, "deid_window_padding", False):
        return
    library_pad = library.pad_or_trim

    def pad_to_window(array, length: int = 3000, *, axis: int = -1):
        frames = getattr(_ENCODER_WINDOW, "frames", None)
        if frames:
            # Never below the content: a window only ever loses padding, never speech.
            length = min(length, max(frames, array.shape[axis]))
        return library_pad(array, length, axis=axis)

    pad_to_window.deid_window_padding = True
    library.pad_or_trim = pad_to_window


# faster-whisper computes the log-Mel features of a whole record in one go: for a 10-minute record its STFT
# held about 390 MB at once (every frame's spectrum, in double and then single precision; docs/throughput.md, "Long
# records"). Past FEATURE_CHUNK_FRAMES frames they are computed that many frames at a time, each frame by the
# library's own STFT and filters, and the record-wide clamp applied once at the end, as the library does.
FEATURE_CHUNK_FRAMES = 6000     # 60 s of audio


def chunked_log_mel(extractor, waveform: np.ndarray, padding: int = 160,
                    chunk_frames: int = FEATURE_CHUNK_FRAMES) -> np.ndarray:
    """The features faster-whisper's FeatureExtractor gives `waveform`, computed chunk_frames at a time."""
    n_fft, hop = extractor.n_fft, extractor.hop_length
    half = n_fft // 2
    # One copy of the record: the library's zero padding at the end, then a reflection of n_fft // 2 samples
    # at each edge (numpy's "reflect": the edge sample itself is not repeated).
    padded = np.zeros(len(waveform) + padding + 2 * half, dtype=np.float32)
    padded[half:half + len(waveform)] = waveform
    padded[:half] = padded[2 * half:half:-1]
    padded[-half:] = padded[-half - 2:-2 * half - 2:-1]
    frames = (len(padded) - n_fft) // hop     # the STFT's frames less its last, which the library drops
    window = np.hanning(n_fft + 1)[:-1].astype("float32")
    mel = np.empty((extractor.mel_filters.shape[0], frames), dtype=np.float32)
    for start in range(0, frames, chunk_frames):
        stop = min(start + chunk_frames, frames)
        piece = padded[start * hop:(stop - 1) * hop + n_fft]
        stft = extractor.stft(piece, n_fft, hop, window=window, center=False, return_complex=True).astype("complex64")
        mel[:, start:stop] = extractor.mel_filters @ (np.abs(stft) ** 2)
    # The library's operations, in place.
    np.log10(np.clip(mel, 1e-10, None, out=mel), out=mel)
    np.maximum(mel, mel.max() - 8.0, out=mel)
    mel += 4.0
    mel /= 4.0
    return mel


def install_chunked_features() -> None:
    from faster_whisper.feature_extractor import FeatureExtractor

    if getattr(FeatureExtractor.__call__, "deid_chunked", False):
        return
    library_call = FeatureExtractor.__call__

    def features(self, waveform, padding=160, chunk_length=None):
        if waveform.ndim != 1 or len(waveform) + padding <= FEATURE_CHUNK_FRAMES * self.hop_length:
            return library_call(self, waveform, padding, chunk_length)
        if chunk_length is not None:
            self.n_samples = chunk_length * self.sampling_rate
            self.nb_max_frames = self.n_samples // self.hop_length
        return chunked_log_mel(self, waveform, padding)

    features.deid_chunked = True
    features.library_call = library_call
    FeatureExtractor.__call__ = features


def load_whisper(asr_cfg: dict, cpu_threads: int, parallel_calls: int = 1):
    """A WhisperModel; `parallel_calls` > 1 lets that many threads transcribe at once on one copy of the
    weights (CTranslate2 shares them between its workers on one device)."""
    from faster_whisper import WhisperModel

    from pipeline.models import resolve_whisper

    install_window_padding()
    install_chunked_features()
    path, _ = resolve_whisper(asr_cfg["model"], asr_cfg["model_sha256"])
    return WhisperModel(path, device="cpu", compute_type=asr_cfg["compute_type"], cpu_threads=cpu_threads,
                        num_workers=parallel_calls)


def plain_whisper(asr_cfg: dict) -> dict:
    """The settings with Whisper's own 30 s windows: for measuring instruments (a listener's ASR, the
    naive reference loop) that must not change with the pipeline's speed-ups."""
    return dict(asr_cfg, encoder_windows=[WHISPER_WINDOW_S])


def transcribe(model, audio: np.ndarray, asr_cfg: dict, language: str | None = None) -> Transcript:
    # The segments are decoded lazily, as they are read: the window must hold until the words are out.
    with encoder_window(encoder_window_s(len(audio) / WHISPER_RATE, asr_cfg)):
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
        return Transcript(words=words_of(segments), language=info.language or "")


# Whisper's two ways of writing words that are not in the audio, both seen on this project's evaluation
# material: a repetition loop ("I'm sorry, I'm sorry, ..." 56 times after the last word of a 2.5 s clip) and a
# stock phrase ("I'll see you in the next video." after a 1.7 s one). Its alignment puts such words at one
# instant, end on start; three or more there are dropped. No word of the originals of that material had a
# zero length otherwise (6 of 2253, all in the one stack), and a stack has no span of audio to redact.
STACK_MIN_WORDS = 3


def words_of(segments) -> list:
    """The timed words of faster-whisper's segments, without empty ones and without stacked ones."""
    words = [Word(text=w.word.strip(), start=float(w.start), end=float(w.end), probability=float(w.probability))
             for segment in segments for w in segment.words or [] if w.word.strip()]
    return without_stacks(words)


def without_stacks(words: list, min_words: int = STACK_MIN_WORDS) -> list:
    """`words` less every run of at least `min_words` consecutive zero-length words at one instant."""
    kept = []
    for instant, run in groupby(words, key=lambda word: word.start if word.end == word.start else None):
        run = list(run)
        if instant is None or len(run) < min_words:
            kept += run
    return kept


# Whisper's third way of writing words that are not in the audio: a repetition loop whose words its alignment gives
# lengths, so that no stack shows it. On the evaluation material one clip of 431 has a unit written three times or
# more in a row, and that one is a loop ("Son," seventeen times over speech it could not read, probabilities up to
# 1.0); requests can repeat a word for real ("no, no, no"), hence asr.loop_min_repeats 5 (docs/throughput.md,
# "Repetition loops").
LOOP_UNIT_WORDS = (1, 2, 3)


def _plain(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum() or ch == "'")


def without_loops(words: list, min_repeats: int) -> list:
    """`words` less the repeats of every unit of one to three words said at least `min_repeats` times in a row:
    the unit is kept once (case and punctuation aside, "Son, Son, son." is one unit thrice). A loop holding a PII
    word is kept whole: its span must stay redacted, so this runs after the PII marking. min_repeats 0 keeps
    every word."""
    if min_repeats < 2:
        return words
    plain = [_plain(w.text) for w in words]
    kept, i = [], 0
    while i < len(words):
        for unit in LOOP_UNIT_WORDS:
            # A unit cut short by the end of the words never equals a slice past it, so no bound is needed.
            said = plain[i:i + unit]
            repeats = 1
            while plain[i + repeats * unit:i + (repeats + 1) * unit] == said:
                repeats += 1
            end = i + repeats * unit
            if plain[i] and repeats >= min_repeats and not any(w.pii for w in words[i:end]):
                kept += words[i:i + unit]
                i = end
                break
        else:
            kept.append(words[i])
            i += 1
    return kept


def without_invented_words(words: list, audio: np.ndarray, sample_rate: int, asr_cfg: dict) -> list:
    """`words`, PII marked, as the pipeline ships and speaks them: less an unsure tail, then a loop's repeats."""
    return without_loops(without_unsure_tail(words, audio, sample_rate, asr_cfg), asr_cfg["loop_min_repeats"])


def without_unsure_tail(words: list, audio: np.ndarray, sample_rate: int, asr_cfg: dict) -> list:
    """`words` less their tail from the first word (after the record's first) of probability under
    asr.unsure_tail_probability that starts in the record's last asr.unsure_tail_s seconds over audio at least
    asr.unsure_tail_quiet_db below the record's speech level (the 95th percentile of its frame levels; the
    loudest frame under the word counts).

    A window longer than its record lets Whisper go on past the last word with words of its own, written over
    the silence after the speech ("... by a brook. I'm sure I'm sure I'm", 14 dB and more below the speech level,
    probability 0.13 or less). A real last word Whisper is unsure of is spoken at the speech's level and stays
    (docs/throughput.md, "The unsure tail"). A tail holding a PII word is kept whole: its span must stay redacted,
    so this runs after the PII marking and can only take words out of the text and the speech, never out of a
    redaction. unsure_tail_s 0 keeps every word.
    """
    tail_s = asr_cfg["unsure_tail_s"]
    if tail_s <= 0 or len(words) < 2:
        return words
    duration_s = len(audio) / sample_rate
    for i, word in enumerate(words[1:], start=1):
        if word.probability < asr_cfg["unsure_tail_probability"] and word.start >= duration_s - tail_s:
            levels = frame_levels_db(audio, sample_rate)
            first = min(max(int(word.start / LEVEL_HOP_S), 0), len(levels) - 1)
            last = max(int(np.ceil(word.end / LEVEL_HOP_S)), first + 1)
            if levels[first:last].max() >= np.percentile(levels, 95) - asr_cfg["unsure_tail_quiet_db"]:
                return words        # spoken over speech: a real word, however unsure
            return words if any(w.pii for w in words[i:]) else words[:i]
    return words


# The local runner hands packs to its workers round-robin; a multiple of 4 packs of near-equal size gives
# 1, 2 or 4 workers the same share whatever the input size.
PACKS_MULTIPLE = 4


def even_starts(length: int, parts: int) -> list:
    """Where each of `parts` runs of near-equal size starts in a sequence of `length` (empty runs dropped)."""
    return sorted({length * i // parts for i in range(parts)} - {length})


def pack_boundaries(keys: list, records_per_pack: int) -> list:
    """The first key of every pack but the first, from the sorted keys: a record's pack is found by bisecting
    these. Packs hold at most `records_per_pack` records and differ in size by at most one."""
    ordered = sorted(keys)
    packs = -(-len(ordered) // records_per_pack)
    packs = -(-packs // PACKS_MULTIPLE) * PACKS_MULTIPLE
    return [ordered[i] for i in even_starts(len(ordered), packs)[1:]]


def pack_index(key: str, boundaries: list) -> int:
    return bisect_right(boundaries, key)


def plan_windows(durations: list, languages: list, pack_seconds: float, gap_s: float) -> list:
    """Consecutive records that share a window: at most `pack_seconds` with the gaps, one language.

    A record with no known language (detected per utterance) and a record longer than the window go alone;
    pack_seconds 0 puts every record alone.
    """
    windows, current, length = [], [], 0.0
    for i, (duration, language) in enumerate(zip(durations, languages)):
        fits = (current and language and languages[current[0]] == language
                and length + gap_s + duration <= pack_seconds)
        if fits:
            current.append(i)
            length += gap_s + duration
        else:
            if current:
                windows.append(current)
            current, length = [i], duration
    if current:
        windows.append(current)
    return windows


def join_with_gaps(audios: list, gap_samples: int, align: int = 1) -> tuple:
    """One array of the records separated by silence, and each record's (start, length) in samples, every
    start a multiple of `align` (a gap is lengthened to it). A lone record is its own array, not a copy: a
    long record is transcribed alone, and a copy held it twice."""
    if len(audios) == 1:
        return audios[0], [(0, len(audios[0]))]
    parts, spans, position = [], [], 0
    for i, audio in enumerate(audios):
        if i:
            gap = gap_samples + (-(position + gap_samples)) % align
            parts.append(np.zeros(gap, np.float32))
            position += gap
        parts.append(audio)
        spans.append((position, len(audio)))
        position += len(audio)
    return np.concatenate(parts), spans


def split_words(words: list, spans: list, sample_rate: int) -> list:
    """Each word goes to the record nearest its midpoint (the cut is the middle of a gap), with its times
    made relative to that record and clipped to it, so that a word Whisper placed in a gap is still redacted
    at the record's edge; everything else about the word (its PII mark, its probability) stays."""
    starts = [start / sample_rate for start, _ in spans]
    ends = [(start + length) / sample_rate for start, length in spans]
    cuts = [(ends[i] + starts[i + 1]) / 2.0 for i in range(len(spans) - 1)]
    per_record: list = [[] for _ in spans]
    for word in words:
        i = bisect_right(cuts, (word.start + word.end) / 2.0)
        length = ends[i] - starts[i]
        start = min(max(word.start - starts[i], 0.0), length)
        end = min(max(word.end - starts[i], start), length)
        per_record[i].append(replace(word, start=start, end=end))
    return per_record


def transcribe_batch(model, audios: list, asr_cfg: dict, language: str, window_s: float = WHISPER_WINDOW_S) -> list:
    """Transcripts of audios of at most `window_s`, each in its own Whisper window of that length, decoded
    together.

    faster-whisper's batched pipeline with one clip per audio: no audio hears another (the clips are cut
    apart before the features are made), but the encoder and the beams of the whole batch run as one call,
    which keeps every thread busy where one short request cannot. With timestamp tokens on, as the
    sequential path decodes, the words come out the same.
    """
    from faster_whisper import BatchedInferencePipeline

    rate = WHISPER_RATE
    # The clips are laid out last first. faster-whisper shortens a first word that ends long after "the last
    # speech" (meant for a word stretched over a pause), and its batched pipeline takes the last speech from
    # the clip decoded before, a record that is not this one: that moved the start of a phone number at the
    # head of a record by 3 s, leaving it audible after redaction. Decoded in order but laid out backwards,
    # with the clock starting at the end, every clip's first word ends before "the last speech", so no word
    # is cut and each keeps the times its alignment gave.
    # Each clip starts on Whisper's 20 ms time step, as a record transcribed alone does: from an arbitrary
    # sample, a word of a clip once started 22 ms from where the record alone put it.
    joined, spans = join_with_gaps(audios[::-1], rate, align=WHISPER_STEP_SAMPLES)
    clips = [{"start": start / rate, "end": (start + length) / rate} for start, length in spans[::-1]]
    batched = BatchedInferencePipeline(model)
    batched.last_speech_timestamp = len(joined) / rate
    with encoder_window(window_s):
        segments, info = batched.transcribe(
            joined, language=language, beam_size=asr_cfg["beam_size"], word_timestamps=True,
            clip_timestamps=clips, batch_size=asr_cfg["batch_size"], without_timestamps=False, temperature=0.0)
        words = words_of(segments)
    return [Transcript(own, info.language or language) for own in split_words(words, spans, rate)[::-1]]


def transcribe_pack(model, audios: list, languages: list, asr_cfg: dict) -> list:
    """Transcripts of one pack's records (16 kHz audio), in order.

    Records are first planned into windows (several records share one only when asr.pack_seconds > 0);
    windows of one known language that fit Whisper's 30 s are then decoded asr.batch_size at a time. A
    record that gets no word from a shared window is transcribed alone, so that a request Whisper skipped
    in company is not shipped unheard.
    """
    rate = WHISPER_RATE
    windows = plan_windows([len(a) / rate for a in audios], languages, asr_cfg["pack_seconds"],
                           asr_cfg["pack_gap_s"])
    gap = int(round(asr_cfg["pack_gap_s"] * rate))
    window_audio = [join_with_gaps([audios[i] for i in window], gap) for window in windows]
    window_languages = [languages[window[0]] for window in windows]
    heard = transcribe_in_batches(model, [joined for joined, _ in window_audio], window_languages, asr_cfg)
    transcripts: list = [None] * len(audios)
    for w, window in enumerate(windows):
        language = window_languages[w] or None
        shared = heard[w] if w in heard else transcribe(model, window_audio[w][0], asr_cfg, language)
        if len(window) == 1:
            transcripts[window[0]] = shared
            continue
        for i, words in zip(window, split_words(shared.words, window_audio[w][1], rate)):
            transcripts[i] = (Transcript(words, shared.language) if words
                              else transcribe(model, audios[i], asr_cfg, language))
    return transcripts


def transcribe_in_batches(model, windows: list, languages: list, asr_cfg: dict) -> dict:
    """Transcripts by window index of the windows that can be batched: of one known language, at most 30 s,
    at least two of that language and encoder window. Batches hold at most asr.batch_size and are near-equal
    (6 go as 3 + 3)."""
    groups = defaultdict(list)
    for w, (audio, language) in enumerate(zip(windows, languages)):
        if asr_cfg["batch_size"] > 1 and language and len(audio) <= WHISPER_WINDOW_S * WHISPER_RATE:
            groups[language, encoder_window_s(len(audio) / WHISPER_RATE, asr_cfg)].append(w)
    heard: dict = {}
    for (language, window_s), members in groups.items():
        if len(members) < 2:
            continue
        starts = even_starts(len(members), -(-len(members) // asr_cfg["batch_size"])) + [len(members)]
        for begin, end in zip(starts, starts[1:]):
            batch = members[begin:end]
            heard.update(zip(batch, transcribe_batch(model, [windows[w] for w in batch], asr_cfg, language,
                                                     window_s)))
    return heard


class WhisperService:
    """A loaded model behind calls that take and return plain data, so that it can serve other processes."""

    def __init__(self, asr_cfg: dict, cpu_threads: int, parallel_calls: int = 1):
        self.asr_cfg = asr_cfg
        self.model = load_whisper(asr_cfg, cpu_threads, parallel_calls)

    def transcribe_pack(self, audios: list, languages: list) -> list:
        return transcribe_pack(self.model, audios, languages, self.asr_cfg)

    def process_id(self) -> int:
        return os.getpid()


# One model per worker process, whichever stages and threads ask for it.
_PROCESS_MODELS = Shared()


def shared_model_folder(machine_tag: str) -> str:
    """Where the processes of one run on one machine meet their shared model: Beam's MultiProcessShared
    keeps the server's address and a lock file there, and leaves them when its server ends with its
    process. The run removes the folder when it is over (remove_shared_model_folder)."""
    return os.path.join(tempfile.gettempdir(), f"deid-shared-{machine_tag}")


def remove_shared_model_folder(machine_tag: str) -> None:
    shutil.rmtree(shared_model_folder(machine_tag), ignore_errors=True)


def acquire_whisper(asr_cfg: dict, local_workers: int, machine_tag: str):
    """The WhisperService this process should use.

    With asr.share_across_processes, one model serves every SDK process of the machine (Beam's
    MultiProcessShared, as RunInference does for large models): it runs in whichever process asks first and
    answers the others over a local socket, one thread per caller, one core per call. `machine_tag` names
    the run, so that two runs on one machine never share. Otherwise each process loads its own, sized to
    its share of the cores.
    """
    if asr_cfg["share_across_processes"] and not machine_tag:
        raise ValueError("a model shared across processes needs the run's machine_tag")
    settings = json.dumps({k: asr_cfg[k] for k in ("model", "model_sha256", "compute_type", "cpu_threads")},
                          sort_keys=True)
    digest = hashlib.sha256(settings.encode()).hexdigest()[:16]
    if asr_cfg["share_across_processes"]:
        cores = os.cpu_count() or 1
        folder = shared_model_folder(machine_tag)
        os.makedirs(folder, exist_ok=True)
        return MultiProcessShared(lambda: WhisperService(asr_cfg, asr_cfg["cpu_threads"] or 1, cores),
                                  tag=f"deid-whisper-{digest}-{machine_tag}", path=folder,
                                  always_proxy=True).acquire()
    threads = asr_cfg["cpu_threads"] or default_cpu_threads(local_workers)
    return _PROCESS_MODELS.acquire(lambda: WhisperService(asr_cfg, threads), tag=f"{digest}-{threads}")


class Transcribe(Stage):
    """faster-whisper, loaded once per worker in setup; takes Packs and emits their records."""

    name = "asr"

    def __init__(self, asr_cfg: dict, local_workers: int = 1, machine_tag: str = ""):
        super().__init__()
        self.asr_cfg = asr_cfg
        self.local_workers = local_workers
        self.machine_tag = machine_tag
        self.done = 0
        self.audio_seconds = 0.0

    def setup(self):
        # Cores are counted on the worker, not on the machine that built the graph.
        self.whisper = acquire_whisper(self.asr_cfg, self.local_workers, self.machine_tag)

    def language_of(self, record) -> str:
        return record.language or self.asr_cfg["language"] or ""

    def process(self, pack: Pack):
        records = pack.records
        yield from self.guarded(records, lambda: self.transcribe_together(records),
                                alone=lambda record: self.transcribe_together([record]))

    def transcribe_together(self, members: list) -> list:
        transcripts = self.whisper.transcribe_pack([r.audio for r in members],
                                                   [self.language_of(r) for r in members])
        return [self._done(record, transcript) for record, transcript in zip(members, transcripts)]

    def _done(self, record, transcript: Transcript):
        record.words = transcript.words
        record.detected_language = transcript.language
        self.done += 1
        self.audio_seconds += record.duration_in
        if self.done % self.asr_cfg["progress_every"] == 0:
            log.info("progress: %d utterances (%.0f s of audio) transcribed by this worker",
                     self.done, self.audio_seconds)
        return record
