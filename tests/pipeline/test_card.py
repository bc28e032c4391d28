from pipeline.card import _privacy_section, _words_section


def test_privacy_section_shows_every_modes_figures_and_what_they_were_measured_on():
    figures = {"attacker": "campp", "speakers": 8, "secrets": 3, "original": {"eer": 0.006},
               "machine": {"cpu": "Test CPU", "cpus": 2, "instruction_sets": [], "packages": {"ctranslate2": "4.8.5"}},
               "modes": {"speaker": {"eer_ignorant": 0.173, "eer_lazy_informed": 0.325, "eer_semi_informed_lite": 0.19,
                                     "eer_ignorant_per_secret": [0.2, 0.1, 0.22], "eer_ignorant_ci95": [0.151, 0.2],
                                     "wer_vs_original_transcript": 0.04,
                                     "wer_vs_original_transcript_normalised": 0.031,
                                     "wer_vs_spoken_transcript": 0.027, "wer_vs_spoken_transcript_ci95": [0.02, 0.034],
                                     "wer_vs_spoken_transcript_normalised": 0.018,
                                     "pitch_correlation": 0.962, "conversion_times_faster_than_real_time": 32.1},
                         "utterance": {"eer_ignorant": 0.18, "eer_lazy_informed": 0.146,
                                       "eer_semi_informed_lite": 0.103, "pitch_correlation": 0.96,
                                       "conversion_times_faster_than_real_time": 33.0}}}
    section = _privacy_section(figures)
    assert "| figure | mode speaker | mode utterance |" in section
    assert "| EER ignorant | 17.3 % (15.1 to 20.0) | 18.0 % |" in section
    assert "| EER lazy-informed | 32.5 % | 14.6 % |" in section
    assert "| WER vs the original's transcript | 4.0 % | – |" in section  # utterance mode had no WER run
    assert "| the same WER, spelling normalised | 3.1 % | – |" in section
    assert "| WER vs the words the conversion spoke (the transcript's) | 2.7 % (2.0 to 3.4) | – |" in section
    assert "| WER vs the words spoken, spelling normalised | 1.8 % | – |" in section
    assert "| conversion speed, one core | 32x real time | 33x real time |" in section
    assert "0.6 % on the original speech" in section
    assert "| attacker | campp |" in section and "| secrets | 3 |" in section
    assert "| machine | Test CPU, 2 CPUs, no AVX2; ctranslate2 4.8.5 |" in section
    assert "No privacy evaluation" in _privacy_section(None)


def test_words_section_shows_the_conversions_word_error_rate_and_what_it_was_measured_on():
    figures = {"clips": 251, "speakers": 251, "audio_s": 3140.7, "reference_words": 8200, "secrets": 1,
               "machine": {"cpu": "Test CPU", "cpus": 2, "instruction_sets": ["avx2"],
                           "packages": {"ctranslate2": "4.8.5"}},
               "transcript_vs_listener": {"clips": 251, "wer": 0.0221},
               "modes": {"speaker": {"wer_vs_original_transcript": 0.0744,
                                     "wer_vs_original_transcript_ci95": [0.0654, 0.0844],
                                     "wer_vs_original_transcript_normalised": 0.0699,
                                     "wer_vs_spoken_transcript": 0.0647, "wer_vs_spoken_transcript_normalised": 0.0593,
                                     "conversion_times_faster_than_real_time": 27.0}}}
    section = _words_section(figures)
    assert "`python -m pipeline evaluate wer`" in section and "| figure | mode speaker |" in section
    assert "| WER vs the original's transcript | 7.4 % (6.5 to 8.4) |" in section
    assert "| the same WER, spelling normalised | 7.0 % |" in section
    assert "| WER vs the words the conversion spoke (the transcript's) | 6.5 % |" in section
    assert "| conversion speed, one core | 27x real time |" in section
    assert "EER" not in section             # an attacker's figures belong to the privacy section
    assert "| clips | 251 |" in section and "| speakers | 251 |" in section and "| secrets | 1 |" in section
    assert "| machine | Test CPU, 2 CPUs, avx2; ctranslate2 4.8.5 |" in section
    assert "dataset.wer_report" in _words_section(None)


def test_the_voice_line_says_whether_the_audio_is_synthetic_or_the_speakers_own(cfg):
    from pipeline.card import _voice_line

    resynthesized = _voice_line(dict(cfg["voice"], method="resynthesize", mode="utterance"))
    assert "spoken again by a synthetic voice (Festival HTS slt)" in resynthesized
    assert "(Flite slt, rms)" in _voice_line(dict(cfg["voice"], tts_voices=["slt", "rms"]))
    assert "mode `utterance`" in resynthesized and "PII words were not spoken" in resynthesized
    assert "over a white-noise floor at -55 dBFS" in resynthesized
    assert "digital silence" in _voice_line(dict(cfg["voice"], noise_floor_dbfs=0.0))
    warped = _voice_line(dict(cfg["voice"], method="warp"))
    assert "speaker's own voice converted" in warped and "synthetic" not in warped


def test_the_card_says_when_an_unsure_tail_of_the_transcripts_was_dropped(cfg):
    from pipeline.card import _dropped_words_line

    line = _dropped_words_line(cfg["asr"])
    assert "probability under 0.15 in a record's last 1.5 s" in line and "unless that tail held PII" in line
    assert "at least 12.0 dB below the record's speech level" in line
    assert "wrote 5 times or more in a row (a repetition loop) was kept once" in line
    nothing_dropped = dict(cfg["asr"], unsure_tail_s=0.0, loop_min_repeats=0)
    assert _dropped_words_line(nothing_dropped) == "Every word the ASR wrote was kept."
    assert "unless that tail" not in _dropped_words_line(dict(cfg["asr"], unsure_tail_s=0.0))
