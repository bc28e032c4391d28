"""`verify`: re-read every file of an output, check it against the manifest and decode every record."""
from __future__ import annotations

from pipeline.verify import verify_output

HELP = "check every shard of an output against manifest.json and decode every record"


def add_arguments(parser) -> None:
    parser.add_argument("--output", required=True, help="output folder of a run (local or gs://)")


def main(args, extra) -> int:
    problems, checked = verify_output(args.output)
    for problem in problems:
        print(f"problem: {problem}")
    if problems:
        print(f"verify: {len(problems)} problem(s) in {args.output}")
        return 1
    print(f"verify: ok, {checked['files']} files and {checked['records']} records checked in {args.output}")
    return 0
