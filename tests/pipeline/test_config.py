import pytest

from pipeline import config
from pipeline.config import ConfigError


def test_defaults_are_valid():
    cfg = config.load()
    assert cfg["asr"]["model"] == "packaged:base"
    assert cfg["audio"]["sample_rate"] == 16000


def test_override_file_merges_over_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("asr:\n  beam_size: 2\nvoice:\n  mode: utterance\n")
    cfg = config.load(str(path))
    assert cfg["asr"]["beam_size"] == 2
    assert cfg["voice"]["mode"] == "utterance"
    assert cfg["asr"]["compute_type"] == "int8"


@pytest.mark.parametrize("text, key", [
    ("asr:\n  beem_size: 2\n", "asr.beem_size"),
    ("nonsense: 1\n", "nonsense"),
    ("asr:\n  beam_size: five\n", "asr.beam_size"),
    ("voice:\n  mode: whisper\n", "voice.mode"),
    ("pii:\n  operators: {PERSON: shout}\n", "pii.operators.PERSON"),
    ("output:\n  max_shard_bytes: 0\n", "output.max_shard_bytes"),
    ("voice:\n  f0_min_hz: 300.0\n", "voice.f0_min_hz"),
    ("voice:\n  max_warp: 0.8\n", "voice.max_warp"),
    ("asr:\n  vad_filter: 1\n", "asr.vad_filter"),
    ("asr:\n  pack_seconds: 45\n", "asr.pack_seconds"),
    ("voice:\n  warp_floor: 1.3\n", "voice.warp_floor"),
    ("asr:\n  pack_records: 0\n", "asr.pack_records"),
    ("asr:\n  batch_size: 0\n", "asr.batch_size"),
    ("asr:\n  encoder_windows: []\n", "asr.encoder_windows"),
    ("asr:\n  encoder_windows: [10.0, 40.0]\n", "asr.encoder_windows"),
    ("asr:\n  encoder_windows: [0]\n", "asr.encoder_windows"),
    ("asr:\n  encoder_windows: [ten]\n", "asr.encoder_windows"),
    ("asr:\n  encoder_windows: 10.0\n", "asr.encoder_windows"),
    ("asr:\n  encoder_margin_s: -1.0\n", "asr.encoder_margin_s"),
    ("asr:\n  unsure_tail_s: -0.5\n", "asr.unsure_tail_s"),
    ("asr:\n  unsure_tail_probability: 1.5\n", "asr.unsure_tail_probability"),
    ("asr:\n  unsure_tail_quiet_db: -3.0\n", "asr.unsure_tail_quiet_db"),
    ("asr:\n  loop_min_repeats: 1\n", "asr.loop_min_repeats"),
    ("asr:\n  loop_min_repeats: 4.5\n", "asr.loop_min_repeats"),
    ("voice:\n  high_band_hz: 500.0\n", "voice.high_band_hz"),
    ("voice:\n  high_band_hz: 9000.0\n", "voice.high_band_hz"),
    ("voice:\n  high_band_tilt_min_db: 1.0\n", "voice.high_band_tilt_min_db"),
    ("voice:\n  noise_floor_dbfs: -20.0\n", "voice.noise_floor_dbfs"),
    ("voice:\n  noise_floor_dbfs: 3\n", "voice.noise_floor_dbfs"),
    ("voice:\n  segment_s: 2.0\n", "voice.segment_s"),
    ("voice:\n  segment_s: -30.0\n", "voice.segment_s"),
    ("audio:\n  sample_rate: 22050\n", "audio.sample_rate"),
    ("voice:\n  tts_voices: [kal16]\n", "voice.tts_voices"),
    ("voice:\n  tts_voices: []\n", "voice.tts_voices"),
])
def test_bad_key_or_value_is_named(tmp_path, text, key):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        config.load(str(path))
    assert f"'{key}'" in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("voices", [["slt", "rms", "awb"], ["slt_hts"], ["slt_hts", "rms"]])
def test_voices_of_either_engine_make_a_bank(tmp_path, voices):
    path = tmp_path / "c.yaml"
    path.write_text(f"voice:\n  tts_voices: {voices}\n")
    assert config.load(str(path))["voice"]["tts_voices"] == voices


def test_invalid_yaml_is_one_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("asr: [unclosed\n")
    with pytest.raises(ConfigError) as error:
        config.load(str(path))
    assert "not valid YAML" in str(error.value)


def test_digest_changes_with_config():
    a = config.load()
    b = config.load(overrides={"asr": {"beam_size": 1}})
    assert config.digest(a) == config.digest(config.load())
    assert config.digest(a) != config.digest(b)
