import io
import json
import tarfile

import numpy as np

from transforms.records import Record, Word
from transforms.shards import ShardEntry, assign_shards, record_json, shipped_fields, write_tar


def test_assignment_is_bounded_and_independent_of_input_order():
    sizes = [(f"{i:04x}", 100) for i in range(25)]
    by_records = assign_shards(sizes, max_bytes=10**9, max_records=10)
    assert sorted(set(by_records.values())) == [0, 1, 2]
    assert sum(1 for v in by_records.values() if v == 0) == 10
    by_bytes = assign_shards(list(reversed(sizes)), max_bytes=350, max_records=1000)
    assert max(by_bytes.values()) == 8 and sum(1 for v in by_bytes.values() if v == 0) == 3
    assert by_bytes == assign_shards(sizes, max_bytes=350, max_records=1000)


def test_an_oversized_record_gets_a_shard_of_its_own():
    assignment = assign_shards([("a", 50), ("b", 500), ("c", 50)], max_bytes=100, max_records=10)
    assert assignment == {"a": 0, "b": 1, "c": 2}


def test_tar_is_deterministic_sorted_and_sized():
    entries = [ShardEntry("bb", b"flac2", b"{}", 1.0), ShardEntry("aa", b"flac1", b'{"x":1}', 2.0)]
    first, second = io.BytesIO(), io.BytesIO()
    size, sha = write_tar(first, entries)
    assert (size, sha) == write_tar(second, list(reversed(entries)))
    assert first.getvalue() == second.getvalue() and size == len(first.getvalue())
    with tarfile.open(fileobj=io.BytesIO(first.getvalue())) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["aa.flac", "aa.json", "bb.flac", "bb.json"]
        assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in members)
    assert sum(e.tar_bytes for e in entries) <= size


def test_shipped_fields_hold_only_redacted_text_and_allowed_metadata():
    record = Record(key="k1", audio_uri="/secret/path/u-1.wav", speaker="spk-1", account="acc-1", voice_seed=b"s",
                    supplied_transcript="my name is Bob", metadata={"device_id": "serial", "locale": "en-US"},
                    audio=np.zeros(16000, np.float32), words=[Word("hi", 0.0, 0.2), Word("[PERSON]", 0.3, 0.6, 1.0,
                                                                                            "PERSON")],
                    text="hi [PERSON]", detected_language="en", pii_counts={"PERSON": 1})
    fields = json.loads(record_json(shipped_fields(record, ["locale"], "speaker")))
    assert fields["text"] == "hi [PERSON]" and fields["metadata"] == {"locale": "en-US"}
    assert fields["words"][1] == {"word": "[PERSON]", "start": 0.3, "end": 0.6, "pii": "PERSON"}
    assert fields["duration"] == 1.0 and fields["language"] == "en" and fields["account"] == "acc-1"
    dumped = json.dumps(fields)
    assert "Bob" not in dumped and "serial" not in dumped and "/secret/path" not in dumped
