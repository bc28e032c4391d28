"""Which clips the evaluation uses: enrollment and trial clips per speaker, and the attacker's pool."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from transforms.audio_io import resample

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Clip:
    path: str
    root: str          # the folder the clip was listed from: its id is the path relative to it
    speaker: str


def _audio_files(folder: str) -> list[str]:
    found = []
    for parent, _, names in os.walk(folder):
        found += [os.path.join(parent, n) for n in names if n.lower().endswith(AUDIO_EXTENSIONS)]
    return sorted(found)


def speaker_clips(folders: list[str], per_speaker: int = 0) -> dict[str, list[Clip]]:
    """`<speaker>/<clip>` under each folder; speakers of different folders are kept apart."""
    speakers: dict[str, list[Clip]] = {}
    for folder in folders:
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"trials folder {folder} does not exist")
        root = folder.rstrip("/")
        for path in _audio_files(root):
            relative = os.path.relpath(path, root)
            if os.sep not in relative:
                continue
            speaker = relative.split(os.sep)[0]
            speakers.setdefault(f"{os.path.basename(root)}/{speaker}", []).append(Clip(path, root, speaker))
    if per_speaker:
        speakers = {s: clips[:per_speaker] for s, clips in speakers.items()}
    return speakers


def folder_of(speaker: str) -> str:
    """The trials folder a `speaker_clips` key ("<folder>/<speaker>") comes from."""
    return speaker.rpartition("/")[0]


def split_enrollment(speakers: dict[str, list[Clip]], enroll: int) -> tuple[dict, list]:
    """The first `enroll` clips of each speaker enroll them; the rest are trials (speaker, clip)."""
    enrollment, trials = {}, []
    for speaker, clips in sorted(speakers.items()):
        if len(clips) <= enroll:
            raise ValueError(f"speaker folder {speaker} has {len(clips)} clips; at least {enroll + 1} needed")
        enrollment[speaker] = clips[:enroll]
        trials += [(speaker, clip) for clip in clips[enroll:]]
    return enrollment, trials


def pool_clips(folder: str, limit: int = 0) -> list[Clip]:
    """One clip per file; its speaker is the part of the name before the first '-' (LibriSpeech style),
    or its parent folder when the name has no '-'."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"pool folder {folder} does not exist")
    root = folder.rstrip("/")
    clips = []
    for path in _audio_files(root):
        name = os.path.basename(path)
        speaker = name.split("-")[0] if "-" in name else os.path.basename(os.path.dirname(path))
        clips.append(Clip(path, root, speaker))
    return spread(clips, limit)


def spread(items: list, limit: int) -> list:
    """`limit` items spread over the whole list rather than its first ones (0 = all of them)."""
    if not limit or limit >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, limit).astype(int)]


def listed_clips(folders: list[str], limit: int = 0) -> list[Clip]:
    """Every audio file under the folders, its speaker named as `pool_clips` names it (LibriSpeech names, or
    the parent folder: `<speaker>/<clip>` layouts), `limit` of them spread over the listing (0 = all)."""
    for folder in folders:
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"input folder {folder} does not exist")
    return spread([clip for folder in folders for clip in pool_clips(folder)], limit)


def read_clip(path: str, max_seconds: float = 0.0) -> np.ndarray:
    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = resample(samples.mean(axis=1), rate, SAMPLE_RATE)
    if max_seconds:
        mono = mono[: int(max_seconds * SAMPLE_RATE)]
    return mono
