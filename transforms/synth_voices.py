"""The synthetic voices the resynthesis can speak with, by their name in `voice.tts_voices`: Flite's
clustergen voices in process (transforms.flite), Festival's HTS voice in a festival process
(transforms.festival). Both give the audio and each token's span."""
from __future__ import annotations

from transforms import festival, flite

ENGINES = {**{name: flite for name in flite.VOICES}, **{name: festival for name in festival.VOICES}}
VOICES = tuple(ENGINES)
# The range each voice's pitch keeps to (Hz), as the resynthesis's pitch tracker is told it, read off harvest's
# tracks of its readings of the trial sets' sentences (medians 101 Hz for rms to 173 Hz for the HTS voice). A
# voice's own range, rather than the tracker's default 71 to 800 Hz, lets it accept more frames as voiced
# without octave errors.
PITCH_RANGE_HZ = {"slt": (80.0, 320.0), "rms": (60.0, 200.0), "awb": (60.0, 300.0), "slt_hts": (100.0, 400.0)}
UNAVAILABLE = (flite.FliteUnavailable, festival.FestivalUnavailable)


def speak(tokens: list, voice: str) -> flite.Spoken:
    if voice not in ENGINES:
        raise flite.FliteUnavailable(f"unknown synthetic voice {voice!r} (one of {', '.join(VOICES)})")
    return ENGINES[voice].speak(tokens, voice)


def check(voices) -> None:
    """Loads each named voice's engine and voice now, so that a missing install is one clear start-up error."""
    for engine in {ENGINES[voice] for voice in voices}:
        engine.check([voice for voice in voices if ENGINES[voice] is engine])


def describe(voices) -> str:
    """The bank in words, for the dataset card."""
    parts = []
    for engine, label in ((flite, "Flite"), (festival, "Festival HTS")):
        names = [voice.removesuffix("_hts") for voice in voices if ENGINES[voice] is engine]
        if names:
            parts.append(f"{label} {', '.join(names)}")
    return "; ".join(parts)
