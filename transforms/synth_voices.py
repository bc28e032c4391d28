"""The synthetic voices the resynthesis can speak with, by their name in `voice.tts_voices`: Flite's
clustergen voices in process (transforms.flite), Festival's HTS voice in a festival process
(transforms.festival). Both give the audio and each token's span."""
from __future__ import annotations

from transforms import festival, flite

ENGINES = {**{name: flite for name in flite.VOICES}, **{name: festival for name in festival.VOICES}}
VOICES = tuple(ENGINES)
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
