"""The synthetic voices the resynthesis can speak with, by their name in `voice.tts_voices`: Flite's
clustergen voices in process (transforms.flite), which give a wave; Festival's HTS voice, read by a festival
process and its model's trajectories generated in process (transforms.festival). Both give each token's span;
transforms.resynth.read_aloud takes what it needs from either."""
from __future__ import annotations

from transforms import festival, flite, hts_engine, lexicon

ENGINES = {**{name: flite for name in flite.VOICES}, **{name: festival for name in festival.VOICES}}
VOICES = tuple(ENGINES)
# The range each Flite voice's pitch keeps to (Hz), as the resynthesis's pitch tracker is told it, read off
# harvest's tracks of its readings of the trial sets' sentences (the lowest median, rms's, 101 Hz). A
# voice's own range, rather than the tracker's default 71 to 800 Hz, lets it accept more frames as voiced
# without octave errors. The HTS voice's f0 is its model's own.
PITCH_RANGE_HZ = {"slt": (80.0, 320.0), "rms": (60.0, 200.0), "awb": (60.0, 300.0)}
UNAVAILABLE = (flite.FliteUnavailable, festival.FestivalUnavailable, hts_engine.HtsUnavailable,
               lexicon.DictionaryMissing)


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
