"""Broken and unusual input, run once through the real pipeline: every input is shipped or quarantined
with its specific reason, the run never crashes, and the accounting is exact."""
from __future__ import annotations

import gzip
import io
import json
import os
import struct
from dataclasses import dataclass, field

import numpy as np
import pytest
import soundfile as sf

from conftest import SR, TEST_SECRET, run_pipeline, shipped_records, with_silence, write_wav
from transforms.audio_io import AudioLimits, decode_stream
from transforms.identity import Keyring
from transforms.records import Rejected

pytestmark = pytest.mark.slow

SHIPPED = "shipped"
LONG_SECONDS = 2 * 3600


@dataclass
class Case:
    """One input: the manifest line as bytes, what should become of it, and the ref it is reported under."""
    name: str
    line: bytes
    expected: str                  # SHIPPED or a quarantine reason
    ref: str
    seconds: float | None = None   # expected shipped duration, when shipped
    extra: dict = field(default_factory=dict)


def wav_header(frames: int, rate: int = SR, channels: int = 1) -> bytes:
    """A 16-bit PCM WAV header that declares `frames` frames."""
    data_bytes = frames * channels * 2
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16)
            + b"data" + struct.pack("<I", data_bytes))


def write_sparse(path, header: bytes, total_bytes: int) -> None:
    """A file of `total_bytes` whose content after the header is a hole: costs no disk and no time."""
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(total_bytes)


def encoded(audio: np.ndarray, rate: int, fmt: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def resampled(audio: np.ndarray, rate: int) -> np.ndarray:
    from transforms.audio_io import resample

    return resample(audio, SR, rate)


def build_corpus(root, speech) -> tuple[list[Case], bytes]:
    """Write the audio files and the manifest; return the cases and the manifest bytes."""
    keyring = Keyring(TEST_SECRET)
    audio_dir = root / "audio"
    audio_dir.mkdir(parents=True)
    rng = np.random.default_rng(20240611)
    voice = with_silence(speech("Turn on the kitchen lights.", "en-us+f3"), 1600)
    seconds = len(voice) / SR
    cases: list[Case] = []

    def line_for(case_id, audio, speaker="spk-bad-input", **more) -> bytes:
        obj = {"id": case_id, "audio": audio, "speaker_id": speaker, **more}
        return json.dumps(obj).encode()

    def audio_case(name: str, payload: bytes | None, expected: str, secs: float | None = None,
                   audio_path: str | None = None):
        path = audio_path or f"audio/{name}"
        if payload is not None:
            (root / path).write_bytes(payload)
        case_id = f"bad/{name}"
        cases.append(Case(name, line_for(case_id, path), expected, keyring.record_key(case_id),
                          secs if expected == SHIPPED else None))

    pcm16 = encoded(voice, SR, "WAV", "PCM_16")
    # Files that cannot be audio.
    audio_case("empty.wav", b"", "empty_file")
    audio_case("zero_samples.wav", encoded(np.zeros(0, np.float32), SR, "WAV", "PCM_16"), "no_samples")
    audio_case("truncated_header.wav", pcm16[:20], "undecodable_audio")
    audio_case("random_bytes.wav", rng.bytes(8192), "undecodable_audio")
    audio_case("notes.txt", b"turn on the kitchen lights\n" * 40, "undecodable_audio")
    audio_case("text_named.wav", b"this is a text file, not a recording\n" * 40, "undecodable_audio")
    audio_case("gzip_named.wav.gz", gzip.compress(pcm16), "undecodable_audio")
    # Formats and containers that are fine, whatever their name says.
    audio_case("flac_named.wav", encoded(voice, SR, "FLAC", "PCM_16"), SHIPPED, seconds)
    audio_case("wav_named.ogg", pcm16, SHIPPED, seconds)
    audio_case("vorbis.ogg", encoded(voice, SR, "OGG", "VORBIS"), SHIPPED, seconds)
    audio_case("pcm_u8.wav", encoded(voice, SR, "WAV", "PCM_U8"), SHIPPED, seconds)
    audio_case("pcm_24.wav", encoded(voice, SR, "WAV", "PCM_24"), SHIPPED, seconds)
    audio_case("float32.wav", encoded(voice, SR, "WAV", "FLOAT"), SHIPPED, seconds)
    audio_case("float_peak_8.wav", encoded(voice * (8.0 / np.abs(voice).max()), SR, "WAV", "FLOAT"), SHIPPED,
               seconds)
    audio_case("stereo.wav", encoded(np.stack([voice, 0.5 * voice], axis=1), SR, "WAV", "PCM_16"), SHIPPED,
               seconds)
    six = np.zeros((len(voice), 6), np.float32)
    six[:, 2] = voice  # dialogue on the centre channel of a 5.1 layout
    audio_case("six_channel.wav", encoded(six, SR, "WAV", "PCM_16"), SHIPPED, seconds)
    for rate in (8000, 22050, 44100, 48000):
        audio_case(f"rate_{rate}.wav", encoded(resampled(voice, rate), rate, "WAV", "PCM_16"), SHIPPED, seconds)
    # The header declares the whole utterance but the file stops after one second.
    audio_case("truncated_data.wav", pcm16[:44 + 2 * SR], SHIPPED, 1.0)
    audio_case("take [1] final*.wav", pcm16, SHIPPED, seconds)
    # Sample values.
    nan = voice.copy()
    nan[SR // 2] = np.nan
    audio_case("nan.wav", encoded(nan, SR, "WAV", "FLOAT"), "non_finite_samples")
    inf = voice.copy()
    inf[SR // 3] = np.inf
    audio_case("inf.wav", encoded(inf, SR, "WAV", "FLOAT"), "non_finite_samples")
    audio_case("digital_silence.wav", encoded(np.zeros(2 * SR, np.float32), SR, "WAV", "PCM_16"), "silent")
    audio_case("whisper_quiet.wav", encoded(voice * 1e-4, SR, "WAV", "FLOAT"), "silent")
    noise = (0.1 * rng.standard_normal(2 * SR)).astype(np.float32)
    audio_case("white_noise.wav", encoded(noise, SR, "WAV", "PCM_16"), SHIPPED, 2.0)
    audio_case("fifty_ms.wav", encoded(voice[SR // 2: SR // 2 + SR // 20], SR, "WAV", "PCM_16"), "too_short")
    # Size and length limits (default configuration): sparse files, so they cost neither disk nor time.
    write_sparse(audio_dir / "two_hours.wav", wav_header(LONG_SECONDS * SR), 44 + LONG_SECONDS * SR * 2)
    audio_case("two_hours.wav", None, "too_long")
    write_sparse(audio_dir / "over_max_bytes.wav", wav_header(0x7FFFFFF0 // 2), (1 << 30) + 1)
    audio_case("over_max_bytes.wav", None, "file_too_large")
    # Paths that are not regular files.
    audio_case("missing.wav", None, "audio_not_found")
    (audio_dir / "a_directory.wav").mkdir()
    audio_case("a_directory.wav", None, "audio_unreadable")
    os.symlink(audio_dir / "loop_b.wav", audio_dir / "loop_a.wav")
    os.symlink(audio_dir / "loop_a.wav", audio_dir / "loop_b.wav")
    audio_case("loop_a.wav", None, "audio_not_found")
    os.mkfifo(audio_dir / "named_pipe.wav")  # opening it would block forever
    audio_case("named_pipe.wav", None, "empty_file")
    audio_case("dev_zero", None, "empty_file", audio_path="/dev/zero")  # reading it would never end

    # Manifest lines.
    write_wav(str(audio_dir / "good.wav"), voice)

    def manifest_case(name: str, line: bytes, expected: str, ref_id: str | None = None):
        ref = keyring.record_key(ref_id) if ref_id is not None else keyring.line_ref(line)
        cases.append(Case(name, line, expected, ref, seconds if expected == SHIPPED else None))

    manifest_case("missing_audio", line_for("line/missing-audio", None), "missing_field_audio",
                  "line/missing-audio")
    manifest_case("missing_speaker", json.dumps({"id": "line/missing-speaker", "audio": "audio/good.wav"}).encode(),
                  "missing_field_speaker_id", "line/missing-speaker")
    manifest_case("missing_id", json.dumps({"audio": "audio/good.wav", "speaker_id": "s"}).encode(),
                  "missing_field_id")
    manifest_case("blank_id", line_for("   ", "audio/good.wav"), "missing_field_id")
    manifest_case("audio_is_number", line_for("line/audio-number", 42), "missing_field_audio", "line/audio-number")
    manifest_case("transcript_not_text", line_for("line/transcript-list", "audio/good.wav", transcript=["a"]),
                  "bad_field_transcript", "line/transcript-list")
    manifest_case("bad_json", b'{"id": "line/bad-json", "audio": "audio/good.wav", "speaker_id": ',
                  "manifest_line_bad_json")
    manifest_case("nan_in_json", b'{"id": "line/nan", "audio": "audio/good.wav", "speaker_id": "s", "locale": NaN}',
                  "manifest_line_bad_json")
    manifest_case("huge_integer_id", b'{"id": ' + b"7" * 5000 + b', "audio": "audio/good.wav", "speaker_id": "s"}',
                  "manifest_line_bad_json")
    manifest_case("deep_nesting", b'{"id": "line/deep", "audio": "audio/good.wav", "speaker_id": "s", "x": '
                  + b"[" * 200000 + b"]" * 200000 + b"}", "manifest_line_bad_json")
    manifest_case("json_array", b'["line/array", "audio/good.wav", "s"]', "manifest_line_not_object")
    manifest_case("not_utf8", b'{"id": "line/latin1-\xe9\xff", "audio": "audio/good.wav", "speaker_id": "s"}',
                  "manifest_line_not_utf8")
    manifest_case("lone_surrogate", b'{"id": "line/\\ud800", "audio": "audio/good.wav", "speaker_id": "s"}',
                  "manifest_line_bad_unicode")
    manifest_case("unknown_fields", line_for("line/unknown-fields", "audio/good.wav", colour="teal",
                                             nested={"a": [1, 2, {"b": None}]}, device_type={"not": "scalar"}),
                  SHIPPED, "line/unknown-fields")
    manifest_case("huge_metadata", line_for("line/huge-metadata", "audio/good.wav", blob="x" * 2_000_000,
                                            locale="en-US"), SHIPPED, "line/huge-metadata")
    manifest_case("dots_and_slashes", line_for("../line/./with.dots/and\\slashes..wav", "audio/good.wav"),
                  SHIPPED, "../line/./with.dots/and\\slashes..wav")
    manifest_case("numeric_ids", b'{"id": 123456789, "audio": "audio/good.wav", "speaker_id": 42}', SHIPPED,
                  "123456789")
    manifest_case("crlf", line_for("line/crlf", "audio/good.wav") + b"\r", SHIPPED, "line/crlf")
    manifest_case("byte_order_mark", "\ufeff".encode() + line_for("line/bom", "audio/good.wav"), SHIPPED,
                  "line/bom")
    manifest_case("absolute_path", line_for("line/absolute", str(audio_dir / "good.wav")), SHIPPED, "line/absolute")
    # Two lines, one id, different audio: one ships, the other is quarantined under the same ref.
    manifest_case("duplicate_first", line_for("line/duplicate", "audio/good.wav"), SHIPPED, "line/duplicate")
    manifest_case("duplicate_second", line_for("line/duplicate", "audio/stereo.wav"), "duplicate_id",
                  "line/duplicate")

    # The byte-order mark belongs at the very start of the file; blank lines are not inputs.
    bom = next(c for c in cases if c.name == "byte_order_mark")
    ordered = [bom] + [c for c in cases if c is not bom]
    manifest = b"\n".join(c.line for c in ordered[:10]) + b"\n\n   \n\t\n" + b"\n".join(c.line for c in ordered[10:])
    return cases, manifest + b"\n"


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory, speech):
    root = tmp_path_factory.mktemp("bad_input")
    cases, manifest = build_corpus(root, speech)
    (root / "manifest.jsonl").write_bytes(manifest)
    result = run_pipeline(root / "manifest.jsonl", root / "output")
    return {"cases": cases, "result": result, "output": root / "output", "root": root}


def outcomes(output) -> tuple[dict, list[dict]]:
    shipped = shipped_records(output)
    quarantine = [json.loads(x) for x in (output / "quarantine.jsonl").read_text().splitlines()]
    return shipped, quarantine


def test_run_finishes_and_accounts_for_every_input_exactly(bad_run):
    result = bad_run["result"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    cases = bad_run["cases"]
    assert len(cases) >= 30
    report = json.loads((bad_run["output"] / "run_report.json").read_text())
    expected_shipped = sum(c.expected == SHIPPED for c in cases)
    assert report["inputs"] == len(cases)  # blank lines are not inputs
    assert (report["shipped"], report["quarantined"], report["opted_out"]) == \
        (expected_shipped, len(cases) - expected_shipped, 0)
    assert report["accounting_ok"] is True
    reasons: dict = {}
    for c in cases:
        if c.expected != SHIPPED:
            reasons[c.expected] = reasons.get(c.expected, 0) + 1
    assert report["quarantined_by_reason"] == reasons


def test_every_input_ends_where_expected(bad_run):
    shipped, quarantine = outcomes(bad_run["output"])
    quarantined_refs = {}
    for q in quarantine:
        quarantined_refs.setdefault(q["ref"], []).append(q["reason"])
    wrong = []
    for c in bad_run["cases"]:
        if c.expected == SHIPPED:
            ok = c.ref in shipped
        else:
            ok = c.expected in quarantined_refs.get(c.ref, [])
        if not ok:
            wrong.append((c.name, c.expected, "shipped" if c.ref in shipped else quarantined_refs.get(c.ref)))
    assert not wrong
    expected_keys = {c.ref for c in bad_run["cases"] if c.expected == SHIPPED}
    assert set(shipped) == expected_keys


def test_shipped_records_have_the_duration_of_their_input(bad_run):
    shipped, _ = outcomes(bad_run["output"])
    for c in bad_run["cases"]:
        if c.expected == SHIPPED:
            meta = shipped[c.ref]
            assert meta["sample_rate"] == 16000
            assert meta["duration"] == pytest.approx(c.seconds, abs=0.03), c.name


def test_metadata_outside_the_allowlist_never_ships(bad_run):
    shipped, _ = outcomes(bad_run["output"])
    by_name = {c.name: c for c in bad_run["cases"]}
    assert shipped[by_name["unknown_fields"].ref]["metadata"] == {}
    assert shipped[by_name["huge_metadata"].ref]["metadata"] == {"locale": "en-US"}


def test_an_over_long_file_is_rejected_from_its_header_alone(tmp_path):
    """The two-hour file is refused after reading a few kilobytes, never decoded into memory."""
    path = tmp_path / "long.wav"
    write_sparse(path, wav_header(LONG_SECONDS * SR), 44 + LONG_SECONDS * SR * 2)

    class CountingReader(io.FileIO):
        read_bytes = 0

        def read(self, size=-1):
            data = super().read(size)
            CountingReader.read_bytes += len(data)
            return data

        def readinto(self, buffer):
            n = super().readinto(buffer)
            CountingReader.read_bytes += n or 0
            return n

    with CountingReader(path, "rb") as stream, pytest.raises(Rejected) as rejected:
        decode_stream(stream, AudioLimits())
    assert rejected.value.reason == "too_long"
    assert 0 < CountingReader.read_bytes < 65536
