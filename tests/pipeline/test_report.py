from pipeline.report import SumCounts, add_counts, build_manifest, build_report


def test_counts_sum_nested():
    total = {}
    for event in [{"inputs": 1}, {"inputs": 1, "pii": {"PERSON": 2}}, {"pii": {"PERSON": 1, "US_SSN": 1}}]:
        total = add_counts(total, event)
    assert total == {"inputs": 2, "pii": {"PERSON": 3, "US_SSN": 1}}
    combine = SumCounts()
    merged = combine.merge_accumulators([{"inputs": 2}, {"inputs": 3, "seconds_in": 1.5}])
    assert combine.extract_output(merged) == {"inputs": 5, "seconds_in": 1.5}


def rows():
    common = {"bytes": 10, "sha256": "x"}
    return [
        {"file": "shards/train/shard-000000.tar", "format": "webdataset", "split": "train", "records": 2,
         "seconds": 6.0, "speakers": ["a", "b"], **common},
        {"file": "shards/test/shard-000000.tar", "format": "webdataset", "split": "test", "records": 1,
         "seconds": 3.0, "speakers": ["c"], **common},
        {"file": "data/train-00000-of-00001.parquet", "format": "parquet", "split": "train", "records": 2,
         "seconds": 6.0, "speakers": ["a", "b"], **common},
    ]


def test_manifest_counts_records_once_whatever_the_formats():
    manifest = build_manifest(rows(), ["webdataset", "parquet"])
    assert manifest["records"] == 3 and manifest["seconds"] == 9.0
    assert manifest["splits"]["train"] == {"records": 2, "seconds": 6.0, "hours": round(6 / 3600, 6), "speakers": 2}
    assert [f["file"] for f in manifest["files"]][0] == "data/train-00000-of-00001.parquet"
    assert all("speakers" not in f for f in manifest["files"])


def test_report_accounting():
    manifest = build_manifest(rows(), ["webdataset", "parquet"])
    quarantine = [{"ref": "a", "stage": "decode", "reason": "silent"}]
    ok = build_report({"inputs": 5, "opted_out": 1, "seconds_in": 12.0}, manifest, quarantine, {"runner": "x"})
    assert ok["accounting_ok"] and ok["shipped"] == 3 and ok["quarantined_by_reason"] == {"silent": 1}
    assert ok["hours_out"] == round(9.0 / 3600, 6) and ok["runner"] == "x"
    lost = build_report({"inputs": 6, "opted_out": 1}, manifest, quarantine, {})
    assert not lost["accounting_ok"]


def test_machine_description_names_the_cpu_and_the_asr_packages():
    from pipeline.report import machine_description, machine_line

    machine = machine_description()
    assert machine["cpu"] and machine["cpus"] >= 1
    assert {"faster-whisper", "ctranslate2"} <= set(machine["packages"])
    line = machine_line(machine)
    assert line.startswith(f"machine: {machine['cpu']}, {machine['cpus']} CPUs")
    assert f"ctranslate2 {machine['packages']['ctranslate2']}" in line
