"""The HTS engine's parameter generation in process, through Debian's libhtsengine1 (hts_engine API 1.10): from
the full-context labels Festival writes for an utterance to every frame's mel-cepstrum and f0 and every phone's
end, without the engine's vocoder.

Festival used to render its HTS voice itself: an MLSA filter run on every sample at the model's 32 kHz, three
quarters of Festival's time, whose wave the pipeline then resampled to 16 kHz and analysed again with WORLD (DIO
for f0, CheapTrick for the envelope) before resynthesising it. The model's own trajectories are what that analysis
estimated; taken directly they cost a fraction, and the envelope and the voicing are the model's rather than an
estimate of them (docs/voice-conversion.md, "The HTS voice's own parameters").
"""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

LIBRARY = "libHTSEngine.so.1"
# Room for each of the library's structs, which its own *_initialize functions fill in. In hts_engine API 1.10
# the largest, the model set, takes about a hundred bytes.
_STRUCT_BYTES = 4096
# As Festival runs the engine: a frame is voiced when its voiced weight is over one half, global variance at full
# weight, the speaking rate the model's own.
MSD_THRESHOLD = 0.5
GV_WEIGHT = 1.0
SPEED = 1.0


class HtsUnavailable(RuntimeError):
    pass


@dataclass
class Trajectory:
    """What the model says for one utterance, frame by frame."""
    mel_cepstrum: np.ndarray    # (frames, order + 1): log amplitude as sum of c_m cos(m * warped frequency)
    f0: np.ndarray              # (frames,) Hz, 0 where unvoiced
    phone_ends_s: np.ndarray    # end of each label's phone, in seconds from the start
    frame_s: float
    alpha: float                # the frequency warp of the mel-cepstrum
    sample_rate: int            # the model's rate, which the warp refers to


def log_amplitude(mel_cepstrum: np.ndarray, freqs_hz: np.ndarray, alpha: float, sample_rate: int) -> np.ndarray:
    """Natural log of the amplitude response at `freqs_hz` of each row (the engine's filter is
    exp(sum of c_m z~^-m), z~ the first-order all-pass of warp alpha), evaluated directly at any frequency.
    The product is einsum's, not BLAS's: numpy's BLAS wakes a thread pool whose spinning threads cost more CPU
    than the product itself (the conversion's CPU time doubled, measured) and take it from other workers."""
    omega = 2.0 * np.pi * np.asarray(freqs_hz, dtype=np.float64) / sample_rate
    warped = omega + 2.0 * np.arctan(alpha * np.sin(omega) / (1.0 - alpha * np.cos(omega)))
    return np.einsum("fm,mk->fk", mel_cepstrum, np.cos(np.outer(np.arange(mel_cepstrum.shape[1]), warped)))


def _library() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError:
        raise HtsUnavailable("the HTS engine library is not installed (apt-get install libhtsengine1)") from None
    size_t, ptr, char = ctypes.c_size_t, ctypes.c_void_p, ctypes.c_char
    doubles = ctypes.POINTER(ctypes.c_double)
    signatures = {
        "HTS_ModelSet_load": (char, [ptr, ctypes.POINTER(ctypes.c_char_p), size_t]),
        "HTS_ModelSet_get_nstream": (size_t, [ptr]),
        "HTS_ModelSet_get_nstate": (size_t, [ptr]),
        "HTS_ModelSet_get_sampling_frequency": (size_t, [ptr]),
        "HTS_ModelSet_get_fperiod": (size_t, [ptr]),
        "HTS_ModelSet_get_vector_length": (size_t, [ptr, size_t]),
        "HTS_ModelSet_is_msd": (char, [ptr, size_t]),
        "HTS_ModelSet_get_option": (ctypes.c_char_p, [ptr, size_t]),
        "HTS_Label_load_from_strings": (None, [ptr, size_t, size_t, ctypes.POINTER(ctypes.c_char_p), size_t]),
        "HTS_SStreamSet_create": (char, [ptr, ptr, ptr, char, ctypes.c_double, doubles,
                                         ctypes.POINTER(doubles), ctypes.POINTER(doubles)]),
        "HTS_SStreamSet_get_total_state": (size_t, [ptr]),
        "HTS_SStreamSet_get_duration": (size_t, [ptr, size_t]),
        "HTS_PStreamSet_create": (char, [ptr, ptr, doubles, doubles]),
        "HTS_PStreamSet_get_total_frame": (size_t, [ptr]),
        "HTS_PStreamSet_get_parameter_vector": (doubles, [ptr, size_t, size_t]),
        "HTS_PStreamSet_get_msd_flag": (char, [ptr, size_t, size_t]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes
    for name in ("ModelSet", "Label", "SStreamSet", "PStreamSet"):
        getattr(lib, f"HTS_{name}_initialize").argtypes = [ptr]
        getattr(lib, f"HTS_{name}_clear").argtypes = [ptr]
    return lib


def _true(flag: bytes) -> bool:
    return flag != b"\x00"


class Model:
    """One HTS voice (an .htsvoice file) loaded in this process; calls are serialised."""

    def __init__(self, path: str):
        self.lib = lib = _library()
        self.models = ctypes.create_string_buffer(_STRUCT_BYTES)
        lib.HTS_ModelSet_initialize(self.models)
        if not _true(lib.HTS_ModelSet_load(self.models, (ctypes.c_char_p * 1)(path.encode()), 1)):
            raise HtsUnavailable("the HTS voice could not be loaded")
        streams = lib.HTS_ModelSet_get_nstream(self.models)
        msd = [_true(lib.HTS_ModelSet_is_msd(self.models, s)) for s in range(streams)]
        if streams != 2 or sorted(msd) != [False, True]:
            raise HtsUnavailable("the HTS voice is not one spectrum stream and one f0 stream")
        self.spectrum_stream, self.f0_stream = msd.index(False), msd.index(True)
        options = dict(item.split("=", 1) for item in
                       (lib.HTS_ModelSet_get_option(self.models, self.spectrum_stream) or b"").decode().split(",")
                       if "=" in item)
        if float(options.get("GAMMA", 0)) != 0 or options.get("LN_GAIN", "0") != "0":
            raise HtsUnavailable("only mel-cepstral HTS voices (gamma 0) are supported")
        self.alpha = float(options.get("ALPHA", 0.0))
        self.order = lib.HTS_ModelSet_get_vector_length(self.models, self.spectrum_stream) - 1
        self.states = lib.HTS_ModelSet_get_nstate(self.models)
        self.sample_rate = lib.HTS_ModelSet_get_sampling_frequency(self.models)
        self.frame_period = lib.HTS_ModelSet_get_fperiod(self.models)          # in samples
        self.frame_s = self.frame_period / self.sample_rate
        weights = (ctypes.c_double * streams)(*([1.0] * streams))
        self._weights = weights                                    # kept alive: the engine reads through them
        self._duration_weight = (ctypes.c_double * 1)(1.0)
        self._stream_weights = (ctypes.POINTER(ctypes.c_double) * 1)(weights)
        self._msd_threshold = (ctypes.c_double * streams)(*([MSD_THRESHOLD] * streams))
        self._gv_weight = (ctypes.c_double * streams)(*([GV_WEIGHT] * streams))
        self.lock = threading.Lock()

    def generate(self, labels: list) -> Trajectory:
        """The model's trajectories for an utterance's full-context labels (times in them are not used)."""
        lib = self.lib
        label, states, parameters = (ctypes.create_string_buffer(_STRUCT_BYTES) for _ in range(3))
        lines = (ctypes.c_char_p * len(labels))(*[line.encode("utf-8") for line in labels])
        with self.lock:
            lib.HTS_Label_initialize(label)
            lib.HTS_SStreamSet_initialize(states)
            lib.HTS_PStreamSet_initialize(parameters)
            try:
                lib.HTS_Label_load_from_strings(label, self.sample_rate, self.frame_period, lines, len(labels))
                if not _true(lib.HTS_SStreamSet_create(states, self.models, label, b"\x00", SPEED,
                                                       self._duration_weight, self._stream_weights,
                                                       self._stream_weights)):
                    raise RuntimeError("the HTS engine refused the utterance's labels")
                durations = np.array([lib.HTS_SStreamSet_get_duration(states, i)
                                      for i in range(lib.HTS_SStreamSet_get_total_state(states))])
                if not _true(lib.HTS_PStreamSet_create(parameters, states, self._msd_threshold, self._gv_weight)):
                    raise RuntimeError("the HTS engine could not generate the utterance's parameters")
                frames = lib.HTS_PStreamSet_get_total_frame(parameters)
                cepstrum = np.empty((frames, self.order + 1))
                f0 = np.zeros(frames)
                voiced_frames = 0       # the f0 stream holds a value for voiced frames only, in order
                for t in range(frames):
                    row = lib.HTS_PStreamSet_get_parameter_vector(parameters, self.spectrum_stream, t)
                    cepstrum[t] = np.ctypeslib.as_array(row, (self.order + 1,))
                    if _true(lib.HTS_PStreamSet_get_msd_flag(parameters, self.f0_stream, t)):
                        f0[t] = np.exp(lib.HTS_PStreamSet_get_parameter_vector(parameters, self.f0_stream,
                                                                                 voiced_frames)[0])
                        voiced_frames += 1
            finally:
                lib.HTS_PStreamSet_clear(parameters)
                lib.HTS_SStreamSet_clear(states)
                lib.HTS_Label_clear(label)
        phone_ends = np.cumsum(durations.reshape(-1, self.states).sum(axis=1)) * self.frame_s
        return Trajectory(cepstrum, f0, phone_ends, self.frame_s, self.alpha, self.sample_rate)
