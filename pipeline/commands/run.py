"""`run`: de-identify recordings into shards."""
from __future__ import annotations

import sys

from pipeline import config
from pipeline.runner import PipelineFailed, run_job
from pipeline.secrets import load_secret

HELP = "de-identify a manifest (.jsonl) or a folder of audio into WebDataset shards"


def add_arguments(parser) -> None:
    parser.add_argument("--input", required=True, help="JSONL manifest or folder of audio (local or gs://)")
    parser.add_argument("--output", required=True, help="output folder (local or gs://)")
    parser.add_argument("--config", help="YAML file overriding configs/default.yaml")
    parser.add_argument("--secret-file", help="file holding the run's secret (else $DEID_SECRET)")
    parser.add_argument("--overwrite", action="store_true", help="replace a run already in --output")


def main(args, beam_args) -> int:
    cfg = config.load(args.config)
    secret, source = load_secret(args.secret_file)
    try:
        run_job(args.input, args.output, cfg, secret, source, beam_args, args.overwrite)
    except PipelineFailed as failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    print(f"output: {args.output}")
    return 0
