import json
import os
import subprocess
import sys

import pytest

from pipeline.privacy_eval.corpus import listed_clips
from pipeline.privacy_eval.protocol import word_error_figures
from tests.conftest import write_clip_folders, write_wav


def test_word_error_figures_pool_the_secrets_against_each_reference():
    references = {"wer_vs_original_transcript": ["turn on the lights", "a b"],
                  "wer_vs_spoken_transcript": ["turn on the light", "a b"]}
    # Clip 0 and clip 1 under the first secret, then under the second.
    hypotheses = ["turn on the light", "a b", "turn off the lights", "a c"]
    figures = word_error_figures(references, hypotheses, secrets=2)
    assert figures["wer_vs_original_transcript"] == pytest.approx(3 / 12)
    assert figures["wer_vs_spoken_transcript"] == pytest.approx(3 / 12)   # "off", "lights" and "c"
    assert figures["wer_vs_original_transcript_normalised"] == pytest.approx(3 / 12)
    for key in ("wer_vs_original_transcript", "wer_vs_spoken_transcript_normalised"):
        low, high = figures[key + "_ci95"]
        assert 0.0 <= low <= figures[key] <= high
    # One secret with no errors at all: the interval resamples the secrets too, so it reaches 0.
    perfect = word_error_figures({"w": ["a b c d"] * 3}, ["a b c d"] * 3 + ["x y z w"] * 3, secrets=2)
    assert perfect["w"] == pytest.approx(0.5) and perfect["w_ci95"][0] == 0.0 and perfect["w_ci95"][1] == 1.0


def test_listed_clips_name_speakers_by_folder_or_librispeech_name_and_spread_a_subset(tmp_path):
    write_clip_folders(tmp_path, ("p1", "p2"), 3)
    clips = listed_clips([str(tmp_path / "set"), str(tmp_path / "pool")])
    assert [c.speaker for c in clips] == ["p1"] * 3 + ["p2"] * 3 + ["19", "26"]
    subset = listed_clips([str(tmp_path / "set"), str(tmp_path / "pool")], limit=3)
    assert [c.speaker for c in subset] == ["p1", "p2", "26"]     # first, middle and last of the listing
    assert len(listed_clips([str(tmp_path / "set")], limit=50)) == 6
    with pytest.raises(FileNotFoundError, match="input folder"):
        listed_clips([str(tmp_path / "missing")])


def _run(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "pipeline", "evaluate", "wer", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_wer_command_refuses_a_folder_without_audio_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _run("--input", str(tmp_path / "empty"), "--jobs", "1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: no audio files")


@pytest.mark.slow
def test_wer_command_reports_the_conversions_word_error_rate_and_nothing_it_heard(tmp_path, speech):
    sentences = ["Set an alarm for six thirty tomorrow morning.", "Play the news from the radio station."]
    for voice in ("en-us+m3", "flite:slt"):
        for i, text in enumerate(sentences):
            write_wav(str(tmp_path / "own" / voice.replace(":", "_").replace("+", "_") / f"{i}.wav"),
                      speech(text, voice))
    write_wav(str(tmp_path / "books" / "7-11-0001.wav"),
              speech("How long does it take to drive to the airport?", "en-us+f3"))
    out = tmp_path / "wer.json"
    result = _run("--input", str(tmp_path / "own"), str(tmp_path / "books"), "--secrets", "2", "--jobs", "1",
                  "--json", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["clips"] == 5 and figures["speakers"] == 3 and figures["secrets"] == 2
    assert figures["reference_words"] > 20
    f = figures["modes"]["speaker"]
    for key in ("wer_vs_original_transcript", "wer_vs_original_transcript_normalised",
                "wer_vs_spoken_transcript", "wer_vs_spoken_transcript_normalised"):
        low, high = f[key + "_ci95"]
        assert 0.0 <= low <= f[key] <= high
    # Clear synthetic speech read again by the HTS voice keeps most of its words: a broken conversion (noise,
    # silence, the wrong words) reads near 100 %.
    assert f["wer_vs_original_transcript_normalised"] < 0.25     # 7.5 % measured
    assert f["conversion_times_faster_than_real_time"] > 1
    assert figures["transcript_vs_listener"]["clips"] == 5
    assert result.stdout.startswith("machine: ") and "WER vs the words spoken" in result.stdout
    for text in (result.stdout, result.stderr, out.read_text()):
        assert "en_us_m3" not in text and "flite_slt" not in text      # no speaker (folder) name
        assert "alarm" not in text.lower() and "airport" not in text.lower()   # no transcript
