"""Nothing identifying leaves a run: the secret, original ids, supplied transcripts and injected PII values are
absent from every output file (inside tar members and Parquet columns too) and from the captured logs,
including on the quarantine and bad-line error paths."""
from __future__ import annotations

import io
import json
import re
import tarfile

import numpy as np
import pytest
import yaml

from conftest import TEST_SECRET, run_pipeline, shipped_records, with_silence, write_wav

pytestmark = pytest.mark.slow

SPOKEN = [
    {"id": "leak-utt-marigold-5521", "speaker_id": "leak-spk-gondola-7730", "account_id": "leak-acct-tundra-4408",
     "voice": "en-us+m3", "text": "My name is Robert Johnson and my number is 415 555 0132.",
     "pii": ["Robert", "Johnson", "415 555 0132", "415-555-0132", "4155550132"]},
    {"id": "leak-utt-marigold-5522", "speaker_id": "leak-spk-gondola-7730", "account_id": "leak-acct-tundra-4408",
     "voice": "en-us+m3", "text": "Please call Maria Gonzalez on 646 555 0187.",
     "pii": ["Maria", "Gonzalez", "646 555 0187", "646-555-0187", "6465550187"]},
    {"id": "leak-utt-juniper-9034", "speaker_id": "leak-spk-harbor-1187", "account_id": "leak-acct-quartz-6652",
     "voice": "en-us+f3", "text": "This is Jennifer Williams, my email is jennifer@example.com.",
     "pii": ["Jennifer", "Williams", "jennifer@example.com"]},
]
# Metadata outside the allowlist, carrying identifying values.
PRIVATE_METADATA = {"user_email": "robert.johnson@example.org", "device_id": "leak-device-serial-ZX81-0042",
                    "home_address": "1600 Larkspur Avenue"}
BROKEN_TRANSCRIPT = "Patricia Lopez called from 617 555 0144"
BAD_LINE = ('{"id": "leak-utt-badjson-1618", "speaker_id": "leak-spk-badjson-1618", '
            '"transcript": "Call Susan Miller at 303 555 0177", "audio": ')


@pytest.fixture(scope="module")
def leak_run(tmp_path_factory, speech):
    root = tmp_path_factory.mktemp("no_leaks")
    inputs = root / "input"
    lines = []
    for u in SPOKEN:
        write_wav(str(inputs / f"{u['id']}.wav"), with_silence(speech(u["text"], u["voice"]), 1600))
        lines.append(json.dumps({"id": u["id"], "audio": f"{u['id']}.wav", "speaker_id": u["speaker_id"],
                                 "account_id": u["account_id"], "transcript": u["text"], "device_type": "speaker",
                                 **PRIVATE_METADATA}))
    # Quarantined at decode: not audio at all.
    (inputs / "leak-utt-broken-3141.wav").write_bytes(b"RIFF" + np.random.default_rng(1).bytes(4000))
    lines.append(json.dumps({"id": "leak-utt-broken-3141", "audio": "leak-utt-broken-3141.wav",
                             "speaker_id": "leak-spk-harbor-1187", "account_id": "leak-acct-quartz-6652",
                             "transcript": BROKEN_TRANSCRIPT}))
    # Quarantined at decode: the file is not there.
    lines.append(json.dumps({"id": "leak-utt-absent-2718", "audio": "leak-file-absent-2718.wav",
                             "speaker_id": "leak-spk-absent-2718", "transcript": BROKEN_TRANSCRIPT}))
    # Quarantined at ingest: a line cut short, with an id and PII in it.
    lines.append(BAD_LINE)
    manifest = inputs / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    config = root / "both_formats.yaml"
    config.write_text(yaml.safe_dump({"output": {"formats": ["webdataset", "parquet"]}}))
    output = root / "output"
    result = run_pipeline(manifest, output, config_path=config)
    return {"output": output, "result": result}


def needles() -> list[bytes]:
    values = [TEST_SECRET.decode(), TEST_SECRET.hex(), BROKEN_TRANSCRIPT, "Patricia", "Lopez", "617 555 0144",
              "6175550144", "leak-utt-broken-3141", "leak-utt-absent-2718", "leak-file-absent-2718",
              "leak-utt-badjson-1618", "leak-spk-badjson-1618", "Susan Miller", "303 555 0177",
              "leak-spk-absent-2718", *PRIVATE_METADATA.values()]
    for u in SPOKEN:
        values += [u["id"], u["speaker_id"], u["account_id"], u["text"], *u["pii"]]
    return [v.encode() for v in values]


def haystacks(output, result) -> dict[str, bytes]:
    """Every output file; every member of every tar; every Parquet file as text; the captured logs."""
    import pyarrow.parquet as pq

    found = {"stdout+stderr": (result.stdout + result.stderr).encode()}
    for path in sorted(p for p in output.rglob("*") if p.is_file()):
        found[str(path)] = path.read_bytes()
        if path.suffix == ".tar":
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    found[f"{path}:{member.name}"] = member.name.encode() + tar.extractfile(member).read()
        elif path.suffix == ".parquet":
            table = pq.read_table(io.BytesIO(found[str(path)]))
            found[f"{path}:rows"] = repr(table.to_pylist()).encode()
            found[f"{path}:schema"] = repr(table.schema.metadata).encode()
    return found


def test_the_run_ships_and_quarantines_what_it_should(leak_run):
    result = leak_run["result"]
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((leak_run["output"] / "run_report.json").read_text())
    assert (report["inputs"], report["shipped"], report["quarantined"]) == (len(SPOKEN) + 3, len(SPOKEN), 3)
    assert report["quarantined_by_reason"] == {"audio_not_found": 1, "manifest_line_bad_json": 1,
                                               "undecodable_audio": 1}
    assert list(leak_run["output"].rglob("*.parquet")) and list(leak_run["output"].rglob("*.tar"))


def test_no_secret_id_transcript_or_pii_in_any_output_or_log(leak_run):
    found = haystacks(leak_run["output"], leak_run["result"])
    assert len(found) >= 8
    leaks = []
    for name, data in found.items():
        lowered = data.lower()
        leaks += [(needle, name) for needle in needles() if needle.lower() in lowered]
    assert not leaks


def test_no_phone_number_survives_in_the_digits_of_shipped_text(leak_run):
    """Spoken digits can come back in any grouping ("4-1-5", "415.555"): compare digits only."""
    shipped = shipped_records(leak_run["output"])
    assert len(shipped) == len(SPOKEN)
    numbers = {re.sub(r"\D", "", v) for u in SPOKEN for v in u["pii"]} - {""}
    assert len(numbers) == 2
    for meta in shipped.values():
        digits = re.sub(r"\D", "", meta["text"] + " ".join(w["word"] for w in meta["words"]))
        for number in numbers:
            assert number not in digits and number[-4:] not in digits
