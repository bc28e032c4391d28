"""`run`: de-identify recordings into shards."""
from __future__ import annotations

import sys

from apache_beam.options.pipeline_options import StandardOptions

from pipeline import beam_options as beam_options_file
from pipeline import config
from pipeline.runner import PipelineFailed, beam_options, run_job
from pipeline.secrets import secret_source

HELP = "de-identify a manifest (.jsonl) or a folder of audio into WebDataset shards"


def add_arguments(parser) -> None:
    parser.add_argument("--input", required=True, help="JSONL manifest or folder of audio (local or gs://)")
    parser.add_argument("--output", required=True, help="output folder (local or gs://)")
    parser.add_argument("--config", help="YAML file overriding configs/default.yaml")
    parser.add_argument("--secret-file", help="file holding the run's secret (else $DEID_SECRET)")
    parser.add_argument("--secret-uri", help="the run's secret in Google Secret Manager: "
                                             "projects/P/secrets/S/versions/V (read on the workers)")
    parser.add_argument("--beam-options", help="YAML file of Beam pipeline options, e.g. configs/dataflow.yaml; "
                                               "Beam flags on the command line override it")
    parser.add_argument("--opt-out", help="file of opted-out account or speaker ids, one per line (local or gs://)")
    parser.add_argument("--overwrite", action="store_true", help="replace a run already in --output")


def main(args, beam_args) -> int:
    cfg = config.load(args.config, overrides={"consent": {"opt_out": args.opt_out}} if args.opt_out else None)
    if args.beam_options:
        beam_args = beam_options_file.load_file(args.beam_options) + beam_args
    runner = beam_options(beam_args)[0].view_as(StandardOptions).runner
    secret, source = secret_source(args.secret_file, args.secret_uri, runner)
    try:
        run_job(args.input, args.output, cfg, secret, source, beam_args, args.overwrite)
    except PipelineFailed as failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    print(f"output: {args.output}")
    return 0
