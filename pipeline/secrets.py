"""The run's secret: the key of every pseudonym and pseudo-voice. It is never logged or written.

It comes from one of three places: Google Secret Manager (--secret-uri), a file
(--secret-file, local or gs://) or the environment variable DEID_SECRET. Local
runners read it at launch and carry it inside the graph (the graph never leaves
the machine). Remote runners get a *source* instead: an object holding only
where the secret lives, whose .get() fetches it on the worker in DoFn.setup, so
the secret is never in the job graph that is uploaded to the service.
"""
from __future__ import annotations

import os
import re
import threading

from transforms.identity import InlineSecret

DEMO_SECRET = b"deid-speech-demo-secret-DO-NOT-USE-IN-PRODUCTION"
ENV_VAR = "DEID_SECRET"
MIN_BYTES = 16
SECRET_URI = re.compile(r"^projects/[^/\s]+/secrets/[^/\s]+/versions/[^/\s]+$")
LOCAL_RUNNERS = {"FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner", "PrismRunner"}

# One fetch per worker process and secret version, shared by every DoFn that needs it.
_fetched: dict[str, bytes] = {}
_fetch_lock = threading.Lock()


class SecretError(ValueError):
    pass


def is_remote_runner(runner: str | None) -> bool:
    """Anything but Beam's local runners ships the graph to other machines."""
    return (runner or "FnApiRunner").rsplit(".", 1)[-1] not in LOCAL_RUNNERS


def _checked(secret: bytes, source: str) -> bytes:
    if len(secret) < MIN_BYTES:
        raise SecretError(f"the secret from the {source} is shorter than {MIN_BYTES} bytes")
    return secret


def _read_file(path: str) -> bytes:
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as f:
            return _checked(f.read().strip(), "file")
    except (OSError, IOError):
        raise SecretError(f"secret file {path} cannot be read") from None


def _access_secret_manager(uri: str) -> bytes:
    try:
        from google.cloud import secretmanager
    except ImportError:
        raise SecretError("--secret-uri needs google-cloud-secret-manager: pip install 'deid-speech[gcp]'") from None
    from google.api_core import exceptions as api_exceptions
    from google.auth import exceptions as auth_exceptions

    try:
        response = secretmanager.SecretManagerServiceClient().access_secret_version(name=uri)
    except (api_exceptions.GoogleAPICallError, auth_exceptions.GoogleAuthError) as error:
        raise SecretError(f"secret {uri} cannot be read from Secret Manager ({type(error).__name__})") from None
    return _checked(response.payload.data.strip(), "Secret Manager")


class SecretManagerSecret:
    """Secret source for remote runners: a Secret Manager version, fetched on the worker."""

    def __init__(self, uri: str):
        if not SECRET_URI.match(uri):
            raise SecretError(f"--secret-uri must look like projects/P/secrets/S/versions/V, got {uri!r}")
        self.uri = uri

    def __repr__(self) -> str:
        return f"SecretManagerSecret({self.uri})"

    def get(self) -> bytes:
        with _fetch_lock:
            if self.uri not in _fetched:
                _fetched[self.uri] = _access_secret_manager(self.uri)
            return _fetched[self.uri]


class FileSecret:
    """Secret source for remote runners: a file in cloud storage, read on the worker."""

    def __init__(self, path: str):
        self.path = path

    def __repr__(self) -> str:
        return f"FileSecret({self.path})"

    def get(self) -> bytes:
        return _read_file(self.path)


def load_secret(secret_file: str | None, demo: bool = False) -> tuple[bytes, str]:
    """(secret, where it came from), read now. The source label is safe to report; the secret is not."""
    if secret_file:
        return _read_file(secret_file), "file"
    if os.environ.get(ENV_VAR):
        return _checked(os.environ[ENV_VAR].strip().encode("utf-8"), "env"), "env"
    if demo:
        return DEMO_SECRET, "demo"
    raise SecretError(f"no secret: pass --secret-uri, --secret-file PATH or set {ENV_VAR} "
                      f"(at least {MIN_BYTES} bytes; keep it out of the command line)")


def secret_source(secret_file: str | None, secret_uri: str | None, runner: str | None):
    """(secret source with .get(), label for the run report), chosen for where the graph will run.

    A remote runner only ever gets a source that fetches on the worker; the local
    file and the environment variable exist on the launching machine only, so
    they are refused there rather than copied into the job graph.
    """
    if secret_file and secret_uri:
        raise SecretError("pass either --secret-file or --secret-uri, not both")
    if secret_uri:
        source = SecretManagerSecret(secret_uri)
        if not is_remote_runner(runner):
            source.get()  # fail at launch, not in every worker
        return source, "secret-manager"
    if not is_remote_runner(runner):
        secret, label = load_secret(secret_file)
        return InlineSecret(secret), label
    if secret_file and "://" in secret_file:
        return FileSecret(secret_file), "file"
    raise SecretError(f"runner {runner} runs on other machines: pass --secret-uri projects/P/secrets/S/versions/V "
                      "or a gs:// --secret-file, so the secret is read on the workers and never enters the job graph")
