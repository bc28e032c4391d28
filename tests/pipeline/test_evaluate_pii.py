import json
import random
import subprocess
import sys

import numpy as np
import pytest

from pipeline.evaluation.pii import shipped_audio
from pipeline.pii_set import luhn_complete, make_utterance, readable
from transforms.pii import luhn_valid
from transforms.records import Record, Word
from transforms.redact_audio import RedactAudio
from transforms.voice import ConvertVoice, convert, derive_params


def test_generated_values_are_labeled_in_canonical_form():
    first = [make_utterance(i, random.Random(3))[0].as_json() for i in range(5)]
    again = [make_utterance(i, random.Random(3))[0].as_json() for i in range(5)]
    assert first == again
    rng = random.Random(5)
    for index in range(60):
        utterance, text = make_utterance(index, rng)
        for value in utterance.values:
            if value["entity"] == "CREDIT_CARD":
                assert luhn_valid(value["canonical"])
            if value["entity"] == "PHONE_NUMBER":
                assert value["canonical"].isdigit() and len(value["canonical"]) == 10
        assert not any(word in text.split() for word in ["{", "}"])
    assert luhn_valid(luhn_complete("449590896128010"))


@pytest.mark.parametrize("entity, canonical, text, expected", [
    ("PHONE_NUMBER", "4155550132", "call 4-1-5-5-5 5, oh one three two", True),
    ("PHONE_NUMBER", "4155550132", "call [PHONE_NUMBER] now", False),
    ("PHONE_NUMBER", "4155550132", "call 41 then 55", False),
    ("EMAIL_ADDRESS", "john.smith@gmail.com", "mail johnsmithatgmail.com", True),
    ("DATE_OF_BIRTH", "1985-03-15", "born on March 15th", True),
    ("DATE_OF_BIRTH", "1985-03-15", "born on [DATE_OF_BIRTH]", False),
    ("STREET_ADDRESS", "1234 oak street", "to [STREET_ADDRESS] please", False),
    ("PERSON", "maria gonzalez", "this is Maria", True),
])
def test_readable(entity, canonical, text, expected):
    assert readable(entity, canonical, text) is expected


def test_the_evaluated_audio_is_the_audio_a_run_ships(cfg, speech):
    audio = speech("call maria gonzalez tomorrow at noon")
    step = len(audio) / 16000 / 6
    texts = ["call", "[PERSON]", "[PERSON]", "tomorrow", "at", "noon"]
    words = [Word(text, (i + 0.1) * step, (i + 0.9) * step, 0.9, "PERSON" if text == "[PERSON]" else None)
             for i, text in enumerate(texts)]
    record = Record(key="k", audio_uri="", speaker="s", account=None, voice_seed=b"seed", audio=audio.copy(),
                    words=words)
    for stage in (ConvertVoice(cfg["voice"]), RedactAudio(cfg["redaction"])):
        record, = stage.apply(record)
    evaluated = shipped_audio(audio, 16000, b"seed", words, cfg)
    assert np.array_equal(evaluated, record.audio)
    warped = convert(audio, 16000, derive_params(b"seed", cfg["voice"]), cfg["voice"]["frame_period_ms"])
    assert not np.allclose(evaluated, warped, atol=1e-3)


@pytest.mark.slow
def test_evaluate_pii_on_a_small_generated_set(tmp_path):
    made = subprocess.run([sys.executable, "-m", "pipeline", "evaluate", "make-pii-set", "--out", str(tmp_path),
                           "--n", "4", "--seed", "2"], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    labels = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    out = tmp_path / "figures.json"
    result = subprocess.run([sys.executable, "-m", "pipeline", "evaluate", "pii", "--set", str(tmp_path),
                             "--json", str(out)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["utterances"] == 4 and figures["values"] == sum(len(x["values"]) for x in labels)
    assert figures["readable_in_shipped_text"] <= 0.25
    assert figures["non_pii_words_kept"] >= 0.9
    assert figures["machine"]["cpu"] and result.stdout.startswith("machine: ")
    for label in labels:      # no value of the set is printed
        for value in label["values"]:
            assert value["spoken"] not in result.stdout


def test_evaluate_pii_without_a_set_is_one_clear_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pipeline", "evaluate", "pii", "--set", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout.strip().count("\n") == 0 and "make-pii-set" in result.stdout
