"""`demo`: make sample recordings with PII in them and run the pipeline on them with the demo secret."""
from __future__ import annotations

import sys

from pipeline import config
from pipeline.demo import make_samples
from pipeline.runner import PipelineFailed, run_job
from pipeline.secrets import DEMO_SECRET, ENV_VAR
from transforms.identity import InlineSecret

HELP = "create sample recordings and de-identify them (uses the documented demo secret)"


def add_arguments(parser) -> None:
    parser.add_argument("--samples", default="demo_input", help="folder for the generated sample recordings")
    parser.add_argument("--output", default="out/demo", help="output folder (replaced if it holds a run)")
    parser.add_argument("--config", help="YAML file overriding configs/default.yaml")


def main(args, beam_args) -> int:
    cfg = config.load(args.config)
    manifest = make_samples(args.samples)
    print(f"demo: {manifest} written; using the public DEMO secret ({DEMO_SECRET.decode()!r} is in the README). "
          f"Real runs need --secret-file or {ENV_VAR}.")
    try:
        report = run_job(manifest, args.output, cfg, InlineSecret(DEMO_SECRET), "demo", beam_args, overwrite=True)
    except PipelineFailed as failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    print(f"demo: {report['inputs']} inputs, {report['shipped']} shipped, {report['quarantined']} quarantined, "
          f"{report['seconds_in']:.1f} s of audio in, PII removed: {report['pii_entities']}")
    print(f"output: {args.output} (README.md dataset card, shards/, manifest.json, quarantine.jsonl, run_report.json)")
    return 0
