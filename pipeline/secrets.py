"""The run's secret: the key of every pseudonym and pseudo-voice. It is never logged or written."""
from __future__ import annotations

import os

DEMO_SECRET = b"deid-speech-demo-secret-DO-NOT-USE-IN-PRODUCTION"
ENV_VAR = "DEID_SECRET"
MIN_BYTES = 16


class SecretError(ValueError):
    pass


def load_secret(secret_file: str | None, demo: bool = False) -> tuple[bytes, str]:
    """(secret, where it came from). The source label is safe to report; the secret is not."""
    if secret_file:
        from apache_beam.io.filesystems import FileSystems

        try:
            with FileSystems.open(secret_file) as f:
                secret = f.read().strip()
        except (OSError, IOError):
            raise SecretError(f"secret file {secret_file} cannot be read") from None
        source = "file"
    elif os.environ.get(ENV_VAR):
        secret, source = os.environ[ENV_VAR].strip().encode("utf-8"), "env"
    elif demo:
        return DEMO_SECRET, "demo"
    else:
        raise SecretError(f"no secret: pass --secret-file PATH or set {ENV_VAR} "
                          f"(at least {MIN_BYTES} bytes; keep it out of the command line)")
    if len(secret) < MIN_BYTES:
        raise SecretError(f"the secret from the {source} is shorter than {MIN_BYTES} bytes")
    return secret, source
