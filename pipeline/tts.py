"""Speech for samples, tests and benchmarks, made on the machine with espeak-ng or flite (no downloads)."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile

import numpy as np
import soundfile as sf

from transforms.audio_io import resample

ESPEAK_VOICES = ["en-us+m3", "en-us+f3", "en-gb+m1", "en-us+f2", "en-gb+f4", "en-us+m7", "en+m2", "en-us+f1"]
FLITE_VOICES = ["kal16", "slt", "rms", "awb"]


class TtsUnavailable(RuntimeError):
    pass


def available_engines() -> list[str]:
    return [name for name in ("espeak-ng", "flite") if shutil.which(name)]


def synthesize(text: str, voice: str, sample_rate: int = 16000, speed: int = 160) -> np.ndarray:
    """Mono float32 speech at `sample_rate`. `voice` is an espeak-ng variant or 'flite:<voice>'."""
    if voice.startswith("flite:"):
        if not shutil.which("flite"):
            raise TtsUnavailable("flite is not installed (apt-get install flite)")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "out.wav")
            subprocess.run(["flite", "-voice", voice.split(":", 1)[1], "-t", text, "-o", path], check=True,
                           capture_output=True)
            samples, rate = sf.read(path, dtype="float32")
    else:
        if not shutil.which("espeak-ng"):
            raise TtsUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")
        result = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], check=True,
                                capture_output=True)
        samples, rate = sf.read(io.BytesIO(result.stdout), dtype="float32")
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    return resample(samples, rate, sample_rate)
