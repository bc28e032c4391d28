"""Command line: `python -m pipeline <command> ...`. Each command lives in pipeline/commands/."""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import re
import sys

import pipeline.commands

from pipeline.config import ConfigError
from pipeline.models import ModelError
from pipeline.secrets import SecretError
from transforms.synth_voices import UNAVAILABLE


def command_names() -> list[str]:
    """Every module in pipeline/commands is a command; `anonymize_voice` is called `anonymize-voice`."""
    return [m.name.replace("_", "-") for m in pkgutil.iter_modules(pipeline.commands.__path__)]

USER_ERRORS = (ConfigError, ModelError, SecretError, *UNAVAILABLE, FileNotFoundError, FileExistsError)


class _DropImportNoise(logging.Filter):
    """Beam warns about optional GCP client libraries at import; that says nothing about the run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


class WorkerLogLines(logging.Filter):
    """Worker processes' log entries reach the local runner as protobuf dumps at INFO and above. Pass on our
    progress lines and every warning, as their plain message; drop the rest, and Beam's note that a local
    worker has no semi-persistent directory."""

    def filter(self, record: logging.LogRecord) -> bool:
        found = re.search(r'message: "((?:[^"\\]|\\.)*)"', record.getMessage())
        if not found:
            return record.levelno >= logging.WARNING
        message = found.group(1)
        if message.startswith("No semi_persistent_directory"):
            return False
        if record.levelno < logging.WARNING and not message.startswith("progress:"):
            return False
        record.msg, record.args = "worker: %s", (message,)
        return True


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropImportNoise())
    quiet = logging.WARNING if not verbose else logging.INFO
    for name in ("apache_beam", "faster_whisper", "presidio-analyzer", "absl", "urllib3", "filelock"):
        logging.getLogger(name).setLevel(quiet)
    if not verbose:
        workers = logging.getLogger("apache_beam.runners.portability.local_job_service")
        workers.setLevel(logging.INFO)
        workers.addFilter(WorkerLogLines())


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m pipeline",
                                  description="De-identify voice recordings into training shards.")
    sub = top.add_subparsers(dest="command", required=True)
    for name in command_names():
        module = importlib.import_module(f"pipeline.commands.{name.replace('-', '_')}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        command.add_argument("--debug", action="store_true", help="show full tracebacks")
        module.add_arguments(command)
        command.set_defaults(handler=module.main)
    return top


def main(argv: list[str] | None = None) -> int:
    setup_logging("--debug" in (argv if argv is not None else sys.argv))
    args, extra = parser().parse_known_args(argv)
    try:
        return args.handler(args, extra)
    except USER_ERRORS as error:
        if args.debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2
