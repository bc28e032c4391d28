"""Where the run's secret comes from, and that it never reaches a remote job graph, a message or a log.

Google Secret Manager cannot run here (no network, no credentials): its client
class is replaced by a stand-in that answers like the real one. Everything else
is the real code.
"""
from __future__ import annotations

import pickle
import sys

import pytest

from pipeline import secrets
from pipeline.cli import main as cli_main
from pipeline.secrets import FileSecret, SecretError, SecretManagerSecret, secret_source
from transforms.identity import InlineSecret

SECRET = b"unit-test-secret-4f1d8a2c9e7b"
URI = "projects/deid-test/secrets/run-key/versions/3"


@pytest.fixture(autouse=True)
def no_env_secret(monkeypatch):
    monkeypatch.delenv(secrets.ENV_VAR, raising=False)
    monkeypatch.setattr(secrets, "_fetched", {})


@pytest.fixture
def secret_manager(monkeypatch):
    """Stand-in for SecretManagerServiceClient (the service cannot be reached from tests)."""
    secretmanager = pytest.importorskip("google.cloud.secretmanager",
                                        reason="needs google-cloud-secret-manager: pip install '.[gcp]'")
    calls = []

    class Payload:
        data = SECRET + b"\n"

    class Response:
        payload = Payload()

    class FakeClient:
        def access_secret_version(self, name):
            calls.append(name)
            return Response()

    monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", FakeClient)
    return calls


def test_local_runner_reads_the_file_at_launch(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_bytes(SECRET + b"\n")
    source, label = secret_source(str(path), None, "FnApiRunner")
    assert isinstance(source, InlineSecret) and source.get() == SECRET and label == "file"


@pytest.mark.parametrize("runner", ["DataflowRunner", "apache_beam.runners.dataflow.DataflowRunner"])
def test_remote_runner_refuses_secrets_that_would_travel_in_the_graph(tmp_path, monkeypatch, runner):
    monkeypatch.setenv(secrets.ENV_VAR, SECRET.decode())
    with pytest.raises(SecretError, match="--secret-uri") as env_error:
        secret_source(None, None, runner)
    path = tmp_path / "secret.txt"
    path.write_bytes(SECRET)
    with pytest.raises(SecretError, match="--secret-uri") as file_error:
        secret_source(str(path), None, runner)
    for error in (env_error, file_error):
        assert SECRET.decode() not in str(error.value)


def test_remote_runner_gets_a_cloud_storage_file_as_a_source_read_on_the_worker():
    source, label = secret_source("gs://deid-test-bucket/secret.txt", None, "DataflowRunner")
    assert isinstance(source, FileSecret) and label == "file"
    assert source.path == "gs://deid-test-bucket/secret.txt"


def test_secret_manager_uri_is_checked_and_exclusive(tmp_path):
    with pytest.raises(SecretError, match="projects/P/secrets/S/versions/V"):
        SecretManagerSecret("run-key")
    with pytest.raises(SecretError, match="not both"):
        secret_source(str(tmp_path / "s"), URI, "DataflowRunner")


def test_secret_manager_source_fetches_once_per_process_and_never_pickles_the_secret(secret_manager):
    source, label = secret_source(None, URI, "DataflowRunner")
    assert label == "secret-manager" and secret_manager == []  # nothing fetched at launch for a remote runner
    assert source.get() == SECRET
    assert SecretManagerSecret(URI).get() == SECRET
    assert secret_manager == [URI]  # the second DoFn's source reused the process's copy
    shipped = pickle.dumps(source)
    assert SECRET not in shipped and URI.encode() in shipped
    assert SECRET.decode() not in repr(source)


def test_local_runner_checks_the_secret_manager_version_at_launch(secret_manager):
    source, _ = secret_source(None, URI, "FnApiRunner")
    assert secret_manager == [URI]
    assert source.get() == SECRET


def test_secret_manager_errors_are_one_line_without_the_secret(monkeypatch):
    secretmanager = pytest.importorskip("google.cloud.secretmanager")
    from google.api_core import exceptions

    class DeniedClient:
        def access_secret_version(self, name):
            raise exceptions.PermissionDenied("caller lacks secretmanager.versions.access")

    monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", DeniedClient)
    with pytest.raises(SecretError) as error:
        SecretManagerSecret(URI).get()
    assert str(error.value) == f"secret {URI} cannot be read from Secret Manager (PermissionDenied)"


def test_workers_without_credentials_get_one_line(monkeypatch):
    secretmanager = pytest.importorskip("google.cloud.secretmanager")
    from google.auth import exceptions

    def no_credentials():
        raise exceptions.DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", no_credentials)
    with pytest.raises(SecretError, match=r"cannot be read from Secret Manager \(DefaultCredentialsError\)$"):
        SecretManagerSecret(URI).get()


def test_short_secret_in_secret_manager_is_refused(monkeypatch):
    secretmanager = pytest.importorskip("google.cloud.secretmanager")

    class ShortClient:
        def access_secret_version(self, name):
            return type("Response", (), {"payload": type("Payload", (), {"data": b"short"})()})()

    monkeypatch.setattr(secretmanager, "SecretManagerServiceClient", ShortClient)
    with pytest.raises(SecretError, match="shorter than 16 bytes"):
        SecretManagerSecret(URI).get()


def test_missing_client_library_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.cloud.secretmanager", None)
    cloud = sys.modules.get("google.cloud")
    if cloud is not None and hasattr(cloud, "secretmanager"):
        monkeypatch.delattr(cloud, "secretmanager")
    with pytest.raises(SecretError, match=r"pip install 'deid-speech\[gcp\]'"):
        SecretManagerSecret(URI).get()


def test_run_command_refuses_the_env_secret_for_dataflow_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(secrets.ENV_VAR, SECRET.decode())
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("")
    code = cli_main(["run", "--input", str(manifest), "--output", str(tmp_path / "out"),
                     "--runner=DataflowRunner"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: runner DataflowRunner runs on other machines")
    assert SECRET.decode() not in err


def test_run_job_never_puts_an_inline_secret_in_a_remote_graph(tmp_path, cfg):
    from pipeline.runner import run_job

    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("")
    with pytest.raises(SecretError, match="inside its job graph"):
        run_job(str(manifest), str(tmp_path / "out"), cfg, InlineSecret(SECRET), "env", ["--runner=DataflowRunner"])
