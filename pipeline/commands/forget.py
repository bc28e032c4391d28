"""`forget`: erase every shipped record derived from given ids from an existing output."""
from __future__ import annotations

from pipeline.erasure import forget, targets_for
from pipeline.secrets import secret_source
from transforms.identity import Keyring

HELP = "remove every shipped record of a speaker, an account or listed ids from an output (erasure request)"


def add_arguments(parser) -> None:
    parser.add_argument("--output", required=True, help="output folder of a run (local or gs://)")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--speaker-id", help="original speaker id")
    who.add_argument("--account-id", help="original account id")
    who.add_argument("--ids-file", help="file of ids, one per line, each matched as utterance, speaker and account id")
    parser.add_argument("--secret-file", help="the run's secret (else $DEID_SECRET)")
    parser.add_argument("--secret-uri", help="the run's secret in Google Secret Manager")


def _ids_from_file(path: str) -> list[str]:
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(path):
        raise FileNotFoundError(f"ids file {path} does not exist")
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return [line.strip() for line in f.read().decode("utf-8").splitlines() if line.strip()]


def main(args, extra) -> int:
    source, _ = secret_source(args.secret_file, args.secret_uri, None)
    keyring = Keyring(source.get())
    targets = targets_for(keyring,
                          speaker_ids=[args.speaker_id] if args.speaker_id else [],
                          account_ids=[args.account_id] if args.account_id else [],
                          any_ids=_ids_from_file(args.ids_file) if args.ids_file else [])
    summary = forget(args.output, targets)
    print(f"forget: {summary['records_removed']} record(s) removed, {len(summary['files_rewritten'])} file(s) "
          f"rewritten in {args.output} (logged in erasure_log.jsonl)")
    return 0
