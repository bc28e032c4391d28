"""In-process speech synthesis with CMU Flite (Debian's libflite1, through ctypes), with the time span of
every whitespace-separated token of the input text.

Flite's command line gives the audio but not where each word lies in it; its library keeps the utterance's
relations, so each token's first and last segment give its span. In process, a sentence takes a few
milliseconds, not a process start and a temporary file per call.
"""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

# Debian's 16 kHz English clustergen voices. kal16, a diphone voice, is left out: for a diphone it lacks it
# prints the phone pair to stderr from C, a trace of what was said in the worker's log.
VOICES = ("slt", "rms", "awb")
_HANDLE = ctypes.c_void_p


class FliteUnavailable(RuntimeError):
    pass


class _Wave(ctypes.Structure):
    _fields_ = [("type", ctypes.c_char_p), ("sample_rate", ctypes.c_int), ("num_samples", ctypes.c_int),
                ("num_channels", ctypes.c_int), ("samples", ctypes.POINTER(ctypes.c_short))]


@dataclass(frozen=True)
class Spoken:
    audio: np.ndarray            # float32 mono
    sample_rate: int
    spans: list                  # per input token: (start_s, end_s), or None for a token with no words


class _Library:
    """Flite's library, loaded once per process; its synthesis keeps global state, so calls are serialised."""

    def __init__(self):
        try:
            self.lib = ctypes.CDLL("libflite.so.1", mode=ctypes.RTLD_GLOBAL)
            for dependency in ("libflite_usenglish.so.1", "libflite_cmulex.so.1"):
                ctypes.CDLL(dependency, mode=ctypes.RTLD_GLOBAL)
        except OSError as error:
            raise FliteUnavailable(f"Flite's library is not installed (apt-get install flite): {error}") from None
        lib = self.lib
        lib.flite_init()
        lib.flite_synth_text.restype, lib.flite_synth_text.argtypes = _HANDLE, [ctypes.c_char_p, _HANDLE]
        lib.utt_wave.restype, lib.utt_wave.argtypes = ctypes.POINTER(_Wave), [_HANDLE]
        lib.utt_relation.restype, lib.utt_relation.argtypes = _HANDLE, [_HANDLE, ctypes.c_char_p]
        lib.relation_head.restype, lib.relation_head.argtypes = _HANDLE, [_HANDLE]
        lib.item_next.restype, lib.item_next.argtypes = _HANDLE, [_HANDLE]
        lib.ffeature_float.restype, lib.ffeature_float.argtypes = ctypes.c_float, [_HANDLE, ctypes.c_char_p]
        lib.ffeature_string.restype, lib.ffeature_string.argtypes = ctypes.c_char_p, [_HANDLE, ctypes.c_char_p]
        lib.delete_utterance.argtypes = [_HANDLE]
        self.voices: dict = {}
        self.lock = threading.Lock()
        # Flite's clustergen voices draw their noise excitation from the C library's rand(): seeded before
        # each utterance, the same text and voice give the same samples, whatever ran before.
        self.libc = ctypes.CDLL(None)

    def voice(self, name: str):
        if name not in self.voices:
            if name not in VOICES:
                raise FliteUnavailable(f"unknown Flite voice {name!r} (one of {', '.join(VOICES)})")
            try:
                module = ctypes.CDLL(f"libflite_cmu_us_{name}.so.1", mode=ctypes.RTLD_GLOBAL)
            except OSError as error:
                raise FliteUnavailable(f"Flite voice {name} is not installed: {error}") from None
            register = getattr(module, f"register_cmu_us_{name}")
            register.restype, register.argtypes = _HANDLE, [ctypes.c_char_p]
            self.voices[name] = register(None)
        return self.voices[name]

    def speak(self, tokens: list, voice: str) -> Spoken:
        lib = self.lib
        with self.lock:
            self.libc.srand(1)
            utterance = lib.flite_synth_text(" ".join(tokens).encode("utf-8"), self.voice(voice))
            try:
                wave = lib.utt_wave(utterance).contents
                count = wave.num_samples * wave.num_channels
                samples = np.ctypeslib.as_array(wave.samples, shape=(count,)).astype(np.float32) / 32768.0
                if wave.num_channels > 1:
                    samples = samples.reshape(-1, wave.num_channels).mean(axis=1)
                rate = wave.sample_rate
                spans = []
                token = lib.relation_head(lib.utt_relation(utterance, b"Token"))
                while token:
                    has_words = lib.ffeature_string(token, b"daughter1.name") not in (None, b"0")
                    # A token's words run from the end of the segment before its first one to its last one's end.
                    spans.append((float(lib.ffeature_float(
                        token, b"daughter1.R:SylStructure.daughter1.daughter1.R:Segment.p.end")),
                        float(lib.ffeature_float(
                            token, b"daughtern.R:SylStructure.daughtern.daughtern.R:Segment.end")))
                        if has_words else None)
                    token = lib.item_next(token)
            finally:
                lib.delete_utterance(utterance)
        return Spoken(samples, rate, spans)


_library = None
_library_lock = threading.Lock()


def speak(tokens: list, voice: str) -> Spoken:
    """Flite's reading of the tokens joined by spaces. `spans` has one entry per token when Flite split the
    text the same way (it splits on whitespace); callers check the length."""
    global _library
    with _library_lock:
        if _library is None:
            _library = _Library()
    return _library.speak(tokens, voice)


def check(voices) -> None:
    """Loads the library and each voice now, so that a missing install is one clear error at start-up rather
    than a quarantined record per utterance."""
    for voice in voices:
        speak(["check"], voice)
