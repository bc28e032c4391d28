"""Flex Template entry point: `python main.py --input=... --output=... [Beam options]`.

The launcher passes every template parameter as `--name=value`. Template
parameter names use underscores; the run command spells its own flags with
hyphens, so those are renamed here and everything else (the Beam options the
launcher adds) passes through unchanged.
"""
from __future__ import annotations

import sys

RUN_FLAGS = {"input", "output", "config", "secret_uri", "secret_file", "opt_out"}


def run_argv(template_argv: list[str]) -> list[str]:
    """The `run` command line for the launcher's arguments."""
    argv = ["run"]
    for arg in template_argv:
        name, sep, value = arg[2:].partition("=") if arg.startswith("--") else ("", "", "")
        argv.append(f"--{name.replace('_', '-')}{sep}{value}" if name in RUN_FLAGS else arg)
    return argv


if __name__ == "__main__":
    from pipeline.cli import main

    sys.exit(main(run_argv(sys.argv[1:])))
