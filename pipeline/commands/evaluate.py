"""`evaluate <what>`: measurements of what the pipeline hides and keeps (see pipeline/evaluation/)."""
from __future__ import annotations

import importlib
import pkgutil

import pipeline.evaluation

HELP = "measure privacy and utility (sub-commands: one per module in pipeline/evaluation)"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="evaluation", required=True)
    for info in pkgutil.iter_modules(pipeline.evaluation.__path__):
        module = importlib.import_module(f"pipeline.evaluation.{info.name}")
        name = info.name.replace("_", "-")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(evaluation_main=module.main)


def main(args, extra) -> int:
    return args.evaluation_main(args, extra)
