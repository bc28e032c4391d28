"""The command line: errors a user can cause (one clear line, exit code 2, before any work starts), and what
reaches the console."""
import logging
import os
import subprocess
import sys

import pytest

from pipeline.cli import WorkerLogLines


def run_cli(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "DEID_SECRET"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"id": "a", "audio": "a.wav", "speaker_id": "s"}\n')
    return path


def one_error_line(result):
    lines = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert result.returncode == 2, result.stderr[-1000:]
    assert len(lines) == 1 and "Traceback" not in result.stderr
    return lines[0]


def test_run_without_a_secret_stops(manifest, tmp_path):
    line = one_error_line(run_cli("run", "--input", str(manifest), "--output", str(tmp_path / "o")))
    assert "no secret" in line and "--secret-file" in line
    assert not (tmp_path / "o").exists()


def test_short_secret_is_refused(manifest, tmp_path):
    line = one_error_line(run_cli("run", "--input", str(manifest), "--output", str(tmp_path / "o"),
                                  env_extra={"DEID_SECRET": "short"}))
    assert "shorter than" in line and "short\n" not in line


def test_bad_config_key_is_named(manifest, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("asr:\n  beam_sise: 3\n")
    line = one_error_line(run_cli("run", "--input", str(manifest), "--output", str(tmp_path / "o"), "--config",
                                  str(bad), env_extra={"DEID_SECRET": "x" * 32}))
    assert "'asr.beam_sise'" in line


def test_missing_input_is_named(tmp_path):
    line = one_error_line(run_cli("run", "--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o"),
                                  env_extra={"DEID_SECRET": "x" * 32}))
    assert "nope.jsonl" in line


def test_output_holding_a_run_is_refused(manifest, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    line = one_error_line(run_cli("run", "--input", str(manifest), "--output", str(out),
                                  env_extra={"DEID_SECRET": "x" * 32}))
    assert "already holds a run" in line and "--overwrite" in line
    assert (out / "manifest.json").read_text() == "{}"


def _worker_record(level, message: str) -> logging.LogRecord:
    # The local runner logs each worker entry as 'Worker: %s' of the entry's protobuf text.
    entry = f'severity: INFO timestamp {{ seconds: 1 }} message: "{message}" log_location: "x.py:1"'
    return logging.LogRecord("apache_beam.runners.portability.local_job_service", level, "f", 1, "Worker: %s",
                             (entry,), None)


def test_worker_progress_lines_and_warnings_reach_the_console_as_plain_text():
    lines = WorkerLogLines()
    progress = _worker_record(logging.INFO, "progress: 25 utterances (200 s of audio) transcribed by this worker")
    assert lines.filter(progress) and progress.getMessage() == (
        "worker: progress: 25 utterances (200 s of audio) transcribed by this worker")
    warning = _worker_record(logging.WARNING, "stage asr: record quarantined after ValueError")
    assert lines.filter(warning) and warning.getMessage() == "worker: stage asr: record quarantined after ValueError"
    assert not lines.filter(_worker_record(logging.INFO, "Creating state cache with size 0"))
    assert not lines.filter(_worker_record(logging.WARNING, "No semi_persistent_directory found: User objects"))
