import json

import soundfile as sf

from pipeline.bench import SENTENCES, format_results, make_speech, phases, utterance_plan
from pipeline.tts import ESPEAK_VOICES, FLITE_VOICES


def test_phases_split_the_wall_time_around_the_working_window():
    split = phases(launched_epoch=1000.0, wall=80.0, window=[1009.0, 1069.0], audio_seconds=600.0)
    assert split == {"start_up_s": 9.0, "work_s": 60.0, "shutdown_s": 11.0, "work_speed": 10.0}
    assert split["start_up_s"] + split["work_s"] + split["shutdown_s"] == 80.0


def test_a_run_without_a_working_window_has_no_phases():
    assert phases(1000.0, 80.0, None, 600.0) is None


def test_the_printed_results_name_the_machine_and_each_phase():
    run = {"workers": 2, "speed": 7.5, "wall_seconds": 80.0, "shipped": 3, "peak_rss_mb": {"1": 900.0},
           "phases": phases(1000.0, 80.0, [1009.0, 1069.0], 600.0), "stage_seconds_per_audio_second": {"asr": 0.1}}
    machine = {"cpu": "Test CPU", "cpus": 2, "instruction_sets": ["avx2"], "packages": {"ctranslate2": "4.8.5"}}
    results = {"machine": machine, "naive": {"audio_seconds": 600.0, "speed": 6.0, "peak_rss_mb": {"loop": 600}},
               "pipeline": [run], "ratios": {"pipeline_2w_over_naive": 1.25}}
    text = format_results(results)
    assert text.splitlines()[0] == "machine: Test CPU, 2 CPUs, avx2; ctranslate2 4.8.5"
    assert "start-up 9.0 s, work 60.0 s (10.00 audio s / wall s), shutdown 11.0 s" in text


def test_benchmark_utterances_do_not_repeat_a_voice_with_the_same_text():
    voices = len(ESPEAK_VOICES) + len(FLITE_VOICES)
    plans = [utterance_plan(i) for i in range(voices * len(SENTENCES))]
    assert len(set(plans)) == len(plans)
    assert len({voice for voice, _ in plans}) == voices and len({text for _, text in plans}) == len(SENTENCES)


def test_one_record_joins_the_generated_speech_into_a_single_input(tmp_path):
    manifest, seconds = make_speech(str(tmp_path / "one"), 0.2, one_record=True)
    lines = [json.loads(line) for line in open(manifest)]
    assert len(lines) == 1 and seconds >= 12.0
    info = sf.info(str(tmp_path / "one" / lines[0]["audio"]))
    assert abs(info.frames / info.samplerate - seconds) < 0.01
    _, apart = make_speech(str(tmp_path / "apart"), 0.2)
    assert abs(apart - seconds) < 0.01 and len(open(tmp_path / "apart" / "manifest.jsonl").readlines()) > 1
