import os
import subprocess
import sys

import numpy as np
import soundfile as sf

from tests.conftest import TEST_SECRET, write_wav
from transforms.identity import Keyring
from transforms.voice import derive_params, median_f0

SR = 16000
SPEAKERS = {"spk-otter-3301": "en-us+m3", "spk-lynx-7720": "en-us+f3"}


def run(args, env_secret=None):
    env = {k: v for k, v in os.environ.items() if k != "DEID_SECRET"}
    if env_secret:
        env["DEID_SECRET"] = env_secret
    return subprocess.run([sys.executable, "-m", "pipeline", "anonymize-voice", *args], capture_output=True,
                          text=True, timeout=600, env=env)


def test_every_file_is_converted_to_the_same_relative_path_with_its_speakers_voice(tmp_path, speech, cfg):
    inputs = tmp_path / "in"
    for speaker, voice in SPEAKERS.items():
        for i, text in enumerate(["Remind me to water the plants tomorrow.", "What is the weather like today?"]):
            audio = speech(text, voice)
            if i == 0:
                write_wav(str(inputs / speaker / f"clip{i}.wav"), audio)
            else:
                os.makedirs(inputs / speaker, exist_ok=True)
                sf.write(str(inputs / speaker / f"clip{i}.flac"), audio, SR)
    (inputs / "spk-lynx-7720" / "broken.wav").write_bytes(b"not audio at all")
    secret_file = tmp_path / "secret"
    secret_file.write_bytes(TEST_SECRET)
    result = run(["--input", str(inputs), "--output", str(tmp_path / "out"), "--secret-file", str(secret_file),
                  "--mode", "speaker"])
    assert result.returncode == 0, result.stderr
    assert "4 files converted" in result.stdout and "1 undecodable_audio" in result.stdout
    keyring = Keyring(TEST_SECRET)
    for speaker in SPEAKERS:
        target = derive_params(keyring.voice_seed("speaker:" + speaker), cfg["voice"]).f0_median_hz
        for i in range(2):
            original, _ = sf.read(str(next((inputs / speaker).glob(f"clip{i}.*"))), dtype="float32")
            converted, rate = sf.read(str(tmp_path / "out" / speaker / f"clip{i}.wav"), dtype="float32")
            assert rate == SR and len(converted) == len(original)
            assert abs(median_f0(converted, SR) / target - 1) < 0.12
    assert not (tmp_path / "out" / "spk-lynx-7720" / "broken.wav").exists()
    # No speaker folder name, secret or file name reaches the messages.
    for text in (result.stdout, result.stderr):
        assert "otter" not in text and "lynx" not in text and TEST_SECRET.decode() not in text


def test_utterance_mode_gives_each_clip_its_own_voice(tmp_path, speech, cfg):
    inputs = tmp_path / "in"
    audio = speech("Call the pharmacy and ask when it opens.", "en-us+m3")
    for name in ("a", "b", "c"):
        write_wav(str(inputs / "spk-x" / f"{name}.wav"), audio)
    result = run(["--input", str(inputs), "--output", str(tmp_path / "out"), "--mode", "utterance"],
                 env_secret=TEST_SECRET.decode())
    assert result.returncode == 0, result.stderr
    converted = [sf.read(str(tmp_path / "out" / "spk-x" / f"{n}.wav"), dtype="float32")[0] for n in "abc"]
    medians = [median_f0(c, SR) for c in converted]
    assert max(medians) - min(medians) > 5 or not np.allclose(converted[0], converted[1], atol=0.05)


def test_missing_secret_and_output_inside_input_are_one_line_errors(tmp_path, speech):
    inputs = tmp_path / "in"
    write_wav(str(inputs / "spk" / "a.wav"), speech("Hello there.", "en-us+m3"))
    no_secret = run(["--input", str(inputs), "--output", str(tmp_path / "out")])
    assert no_secret.returncode == 2 and no_secret.stderr.strip().startswith("error: no secret")
    assert len(no_secret.stderr.strip().splitlines()) == 1
    inside = run(["--input", str(inputs), "--output", str(inputs / "converted"), "--demo-secret"])
    assert inside.returncode == 2 and "outside --input" in inside.stderr
    assert not (inputs / "converted").exists()
