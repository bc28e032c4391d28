import os
import tempfile

import numpy as np
import pytest

from transforms import festival, hts_engine
from transforms.festival import VOICES, FestivalUnavailable, read


def test_a_token_without_a_spoken_word_has_no_span_and_quotes_are_text():
    reading = read(["hello", ";", '"quoted"', "back\\slash", "world"], "slt_hts")
    assert reading.spans[1] is None
    assert all(span is not None for i, span in enumerate(reading.spans) if i != 1)
    model = reading.trajectory
    assert np.isfinite(model.mel_cepstrum).all() and (model.f0 > 0).any()


def test_the_same_text_gives_the_same_trajectory():
    first = read(["hello", "world", "again"], "slt_hts").trajectory
    read(["something", "else", "between"], "slt_hts")
    again = read(["hello", "world", "again"], "slt_hts").trajectory
    assert np.array_equal(first.mel_cepstrum, again.mel_cepstrum) and np.array_equal(first.f0, again.f0)


def test_spans_and_phones_are_timed_by_the_model_within_its_frames():
    reading = read("We made a great deal of way during the night".split(), "slt_hts")
    model = reading.trajectory
    assert (np.diff(model.phone_ends_s) > 0).all()
    assert model.phone_ends_s[-1] == pytest.approx(len(model.f0) * model.frame_s)
    starts, ends = zip(*reading.spans)
    assert starts[0] > 0 and all(a < b for a, b in reading.spans)
    assert all(next_start >= end for next_start, end in zip(starts[1:], ends[:-1]))      # a pause may part them
    assert ends[-1] < model.phone_ends_s[-1]        # the closing pause is no word's


def test_the_trajectory_is_what_festivals_own_rendering_of_the_voice_says():
    """Festival's own HTS method (its vocoder, at the model's 32 kHz) on the same text, in a separate festival:
    the same length, the model's f0 where WORLD hears it voiced, and the model's envelope in the spectrum."""
    import subprocess

    import pyworld as pw
    import soundfile as sf

    text = "She did not like to drop the jar"      # no flap and no unknown word: plain Festival reads it alike
    with tempfile.TemporaryDirectory() as folder:
        wave_path = os.path.join(folder, "reading.wav")
        subprocess.run(["festival", "--batch", "(voice_cmu_us_slt_arctic_hts)",
                        f'(utt.save.wave (SynthText "{text}") "{wave_path}" (quote riff))'], check=True,
                       capture_output=True, timeout=120)
        wave, rate = sf.read(wave_path, dtype="float64")
    model = read(text.split(), "slt_hts").trajectory
    assert rate == model.sample_rate and len(wave) == round(len(model.f0) * model.frame_s * rate)
    f0, times = pw.harvest(wave, rate, f0_floor=100.0, f0_ceil=400.0, frame_period=model.frame_s * 1000)
    n = min(len(f0), len(model.f0))
    both = (f0[:n] > 0) & (model.f0[:n] > 0)
    assert both.mean() > 0.4 and np.median(np.abs(np.log(f0[:n][both] / model.f0[:n][both]))) < 0.03
    envelope = pw.cheaptrick(wave, f0, times, rate)
    freqs = np.arange(envelope.shape[1]) * rate / (2 * (envelope.shape[1] - 1))
    band = (freqs > 100) & (freqs < 7000)
    heard = np.log(envelope[:n][both][:, band])
    said = 2 * hts_engine.log_amplitude(model.mel_cepstrum[:n][both], freqs[band], model.alpha, model.sample_rate)
    correlation = [np.corrcoef(h, s)[0, 1] for h, s in zip(heard, said)]
    assert np.median(correlation) > 0.9


def test_an_unknown_voice_is_a_clear_error():
    with pytest.raises(FestivalUnavailable, match="unknown Festival voice 'nobody'"):
        read(["hello"], "nobody")


def test_an_expression_that_fails_is_reported_and_festival_goes_on():
    process = festival._festival()
    with process.lock, pytest.raises(festival._Failed):
        process._ask("(car 1)")
    assert read(["still", "here"], "slt_hts").spans[1] is not None


def test_a_festival_that_died_is_started_again():
    festival._festival().proc.kill()
    festival._festival().proc.wait()
    assert len(read(["back", "again"], "slt_hts").spans) == 2


def _spans_in_a_forked_child(queue):
    queue.put(read(["from", "the", "child"], "slt_hts").spans)


def test_a_forked_child_starts_its_own_festival_and_the_parents_goes_on():
    import multiprocessing

    parent = festival._festival()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_spans_in_a_forked_child, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and len(queue.get(timeout=5)) == 3
    assert festival._festival() is parent and parent.proc.poll() is None
    assert len(read(["parent", "again"], "slt_hts").spans) == 2


def test_the_helpers_cpu_time_is_counted_and_survives_a_restart():
    before = festival.helper_cpu_seconds()
    read(["a", "longer", "sentence", "to", "spend", "some", "time", "on", "reading"] * 8, "slt_hts")
    spent = festival.helper_cpu_seconds()
    assert spent > before
    festival._festival().close()
    assert festival.helper_cpu_seconds() >= spent


def test_the_bank_names_only_installed_voices():
    assert set(VOICES) == {"slt_hts"}
    festival.check(VOICES)


def _segments(text: str) -> list:
    process = festival._festival()
    with process.lock:
        process.select_voice("slt_hts")
        lines = process._ask(f'(mapcar (lambda (s) (format stderr "%s\\n" (item.name s))) '
                             f'(utt.relation.items (SynthText {festival._quoted(text)}) (quote Segment)))')
    return [line for line in lines if line]


def test_t_between_a_vowel_or_r_and_an_unstressed_vowel_of_one_word_is_flapped():
    assert _segments("matter") == ["pau", "m", "ae", "dx", "er", "pau"]
    assert _segments("party")[-4:] == ["r", "dx", "iy", "pau"]


def test_d_and_t_before_a_stressed_vowel_or_across_a_word_boundary_are_kept():
    assert _segments("ladder") == ["pau", "l", "ae", "d", "er", "pau"]
    assert "dx" not in _segments("attack")
    assert "dx" not in _segments("at all")
    assert "dx" not in _segments("time")


def _pronunciation(word: str) -> list:
    process = festival._festival()
    with process.lock:
        process.select_voice("slt_hts")
        lines = process._ask(f'(format stderr "%l\\n" (car (cdr (cdr (lex.lookup {festival._quoted(word)})))))')
    return [phone for phone in lines[0].replace("(", " ").replace(")", " ").split() if not phone.isdigit()]


def test_an_inflection_the_lexicon_lacks_is_read_from_its_stem():
    assert _pronunciation("globes") == ["g", "l", "ow", "b", "z"]
    assert _pronunciation("fringed") == ["f", "r", "ih", "n", "jh", "d"]
    assert _pronunciation("myriads") == ["m", "ih", "r", "iy", "ax", "d", "z"]


def test_a_lower_case_compound_the_lexicon_lacks_is_read_as_its_two_words():
    assert _pronunciation("backstay") == ["b", "ae", "k", "s", "t", "ey"]
    assert _pronunciation("scrollwork") == ["s", "k", "r", "ow", "l", "w", "er", "k"]


def test_words_the_lexicon_has_and_capitalised_unknown_words_are_read_as_before():
    assert _pronunciation("thanked") == ["th", "ae", "ng", "k", "t"]
    assert _pronunciation("Backstay") == ["b", "ae", "k", "s", "t"]


def test_the_reading_of_an_unknown_inflection_is_spoken():
    assert _segments("globes") == ["pau", "g", "l", "ow", "b", "z", "pau"]


def _read_segments(tokens: list) -> list:
    labels, _, _ = festival._festival().labels(tokens, "slt_hts")
    return [label.split("-")[1].split("+")[0] for label in labels]


def test_a_word_festivals_lexicon_lacks_is_read_as_the_current_cmu_dictionary_has_it():
    # Festival's own rules read "headstones" as "heads" + "tones".
    assert _pronunciation("headstones") == ["hh", "eh", "d", "z", "t", "ow", "n", "z"]
    assert _read_segments(["headstones"])[1:-1] == ["hh", "eh", "d", "s", "t", "ow", "n", "z"]
    assert _pronunciation("headstones") == ["hh", "eh", "d", "z", "t", "ow", "n", "z"]
