"""`bench`: audio seconds per wall second of the naive ASR loop and of the pipeline with 1 and N workers."""
from __future__ import annotations

import json

from pipeline import config
from pipeline.bench import format_results, run_benchmark

HELP = "throughput benchmark: naive faster-whisper loop vs the pipeline with 1 and N local workers"


def add_arguments(parser) -> None:
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of TTS speech to make (default 10)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", help="folder holding a manifest.jsonl to use instead of generated speech")
    source.add_argument("--one-record", action="store_true",
                        help="join the generated speech into one record (the cost of a long input)")
    parser.add_argument("--workers", default="1,2", help="comma-separated local worker counts (default 1,2)")
    parser.add_argument("--config", help="YAML file overriding configs/default.yaml")
    parser.add_argument("--json", help="write the figures to this JSON file")


def main(args, extra) -> int:
    cfg = config.load(args.config)
    workers = [int(x) for x in args.workers.split(",") if x.strip()]
    results = run_benchmark(args.minutes, args.input, workers, cfg, args.config, args.one_record)
    print(format_results(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2, sort_keys=True)
    return 0
