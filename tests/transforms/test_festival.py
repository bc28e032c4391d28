import numpy as np
import pytest

from transforms import festival
from transforms.festival import VOICES, FestivalUnavailable, speak


def test_a_token_without_a_spoken_word_has_no_span_and_quotes_are_text():
    spoken = speak(["hello", ";", '"quoted"', "back\\slash", "world"], "slt_hts")
    assert spoken.spans[1] is None
    assert all(span is not None for i, span in enumerate(spoken.spans) if i != 1)
    assert np.abs(spoken.audio).max() > 0.05 and np.isfinite(spoken.audio).all()


def test_the_same_text_gives_the_same_samples():
    first = speak(["hello", "world", "again"], "slt_hts")
    speak(["something", "else", "between"], "slt_hts")
    assert np.array_equal(first.audio, speak(["hello", "world", "again"], "slt_hts").audio)


def test_an_unknown_voice_is_a_clear_error():
    with pytest.raises(FestivalUnavailable, match="unknown Festival voice 'nobody'"):
        speak(["hello"], "nobody")


def test_an_expression_that_fails_is_reported_and_festival_goes_on():
    process = festival._festival()
    with process.lock, pytest.raises(festival._Failed):
        process._ask("(car 1)")
    assert speak(["still", "here"], "slt_hts").spans[1] is not None


def test_a_festival_that_died_is_started_again():
    festival._festival().proc.kill()
    festival._festival().proc.wait()
    assert len(speak(["back", "again"], "slt_hts").spans) == 2


def test_no_wave_is_left_on_disk_while_festival_runs(tmp_path, monkeypatch):
    # A process that ends with os._exit runs no exit handler, and one killed mid-utterance runs no cleanup at
    # all: the wave must have no name on disk even at the moment Festival has just written it.
    festival._festival().close()
    monkeypatch.setattr(festival.tempfile, "tempdir", str(tmp_path))
    seen_after_writing = []
    ask = festival._Process._ask

    def ask_and_look(process, scheme):
        lines = ask(process, scheme)
        seen_after_writing.append(list(tmp_path.iterdir()))
        return lines

    monkeypatch.setattr(festival._Process, "_ask", ask_and_look)
    assert len(speak(["nothing", "left", "behind"], "slt_hts").spans) == 3
    assert seen_after_writing and all(seen == [] for seen in seen_after_writing)
    assert list(tmp_path.iterdir()) == []


def _spans_in_a_forked_child(queue):
    queue.put(speak(["from", "the", "child"], "slt_hts").spans)


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
    assert len(speak(["parent", "again"], "slt_hts").spans) == 2


def test_the_helpers_cpu_time_is_counted_and_survives_a_restart():
    before = festival.helper_cpu_seconds()
    speak(["a", "longer", "sentence", "to", "spend", "some", "time", "on", "synthesis"] * 4, "slt_hts")
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
