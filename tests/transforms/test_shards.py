import io
import json
import tarfile

import numpy as np

from transforms.records import Record, Word
import pytest

from transforms.identity import Keyring
from transforms.shards import (ShardEntry, assign_shards, assign_split, filter_parquet, read_parquet, read_tar,
                               record_json, shipped_fields, write_parquet, write_tar)


def test_assignment_is_bounded_per_split_and_independent_of_input_order():
    sizes = [("train", f"{i:04x}", 100) for i in range(25)] + [("test", f"t{i}", 100) for i in range(3)]
    by_records = assign_shards(sizes, max_bytes=10**9, max_records=10)
    assert by_records["shards_per_split"] == {"train": 3, "test": 1}
    assert sum(1 for split, index in by_records["keys"].values() if (split, index) == ("train", 0)) == 10
    by_bytes = assign_shards(list(reversed(sizes)), max_bytes=350, max_records=1000)
    assert by_bytes["shards_per_split"] == {"train": 9, "test": 1}
    assert by_bytes == assign_shards(sizes, max_bytes=350, max_records=1000)


def test_an_oversized_record_gets_a_shard_of_its_own():
    assignment = assign_shards([("s", "a", 50), ("s", "b", 500), ("s", "c", 50)], max_bytes=100, max_records=10)
    assert assignment["keys"] == {"a": ["s", 0], "b": ["s", 1], "c": ["s", 2]}


def test_split_follows_the_ratios_and_the_secret():
    ring = Keyring(b"split-test-secret-0000")
    ratios = {"train": 0.8, "dev": 0.1, "test": 0.1}
    splits = [assign_split(ring, f"spk-{i}", ratios) for i in range(2000)]
    assert abs(splits.count("train") / 2000 - 0.8) < 0.04 and splits.count("dev") > 120
    assert splits == [assign_split(ring, f"spk-{i}", ratios) for i in range(2000)]
    other = [assign_split(Keyring(b"another-secret-000000"), f"spk-{i}", ratios) for i in range(2000)]
    assert other != splits


def test_tar_is_deterministic_sorted_and_reads_back():
    entries = [("bb", b"flac2", b"{}"), ("aa", b"flac1", b'{"x":1}')]
    first, second = io.BytesIO(), io.BytesIO()
    size, sha = write_tar(first, entries)
    assert (size, sha) == write_tar(second, list(reversed(entries)))
    assert first.getvalue() == second.getvalue() and size == len(first.getvalue())
    with tarfile.open(fileobj=io.BytesIO(first.getvalue())) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["aa.flac", "aa.json", "bb.flac", "bb.json"]
        assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in members)
    assert read_tar(first.getvalue()) == sorted(entries)
    assert sum(ShardEntry(k, "train", f, m, 1.0, "s").tar_bytes for k, f, m in entries) <= size


def test_incomplete_tar_record_is_reported():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("lonely.flac")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(ValueError, match="incomplete"):
        read_tar(buffer.getvalue())


def test_parquet_round_trip_and_filter():
    meta = record_json({"text": "hi", "words": [{"word": "hi", "start": 0.0, "end": 0.2}], "speaker": "spk-1",
                        "duration": 1.0, "sample_rate": 16000, "language": "en", "voice_mode": "speaker",
                        "pii": {}, "metadata": {}})
    sink = io.BytesIO()
    write_parquet(sink, [("k2", b"F2", meta), ("k1", b"F1", meta)], 16000)
    records = read_parquet(sink.getvalue())
    assert [(k, f) for k, f, _ in records] == [("k1", b"F1"), ("k2", b"F2")]
    assert [k for k, _, _ in read_parquet(filter_parquet(sink.getvalue(), {"k2"}))] == ["k2"]
    import pyarrow.parquet as pq
    schema = pq.read_schema(io.BytesIO(sink.getvalue()))
    features = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
    assert features["audio"] == {"sampling_rate": 16000, "_type": "Audio"}


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
