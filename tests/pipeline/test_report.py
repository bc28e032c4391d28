from pipeline.report import SumCounts, add_counts, build_report


def test_counts_sum_nested():
    total = {}
    for event in [{"inputs": 1}, {"inputs": 1, "pii": {"PERSON": 2}}, {"pii": {"PERSON": 1, "US_SSN": 1}}]:
        total = add_counts(total, event)
    assert total == {"inputs": 2, "pii": {"PERSON": 3, "US_SSN": 1}}
    combine = SumCounts()
    merged = combine.merge_accumulators([{"inputs": 2}, {"inputs": 3, "seconds_in": 1.5}])
    assert combine.extract_output(merged) == {"inputs": 5, "seconds_in": 1.5}


def test_report_accounting():
    shards = [{"file": "shards/shard-000000.tar", "records": 3, "seconds": 9.0}]
    quarantine = [{"ref": "a", "stage": "decode", "reason": "silent"}]
    ok = build_report({"inputs": 5, "opted_out": 1, "seconds_in": 12.0}, shards, quarantine, {"runner": "x"})
    assert ok["accounting_ok"] and ok["shipped"] == 3 and ok["quarantined_by_reason"] == {"silent": 1}
    assert ok["hours_out"] == round(9.0 / 3600, 6) and ok["runner"] == "x"
    lost = build_report({"inputs": 6, "opted_out": 1}, shards, quarantine, {})
    assert not lost["accounting_ok"]
