import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.consent import OPTED_OUT, ConsentFilter, is_opted_out, parse_opt_out_line
from transforms.records import SourceEntry


def entry(speaker, account=None, uid="u"):
    return SourceEntry(uid, "/a.wav", speaker, account_id=account)


def test_match_is_exact_on_speaker_or_account():
    opted = frozenset({"acct-1", "spk-9"})
    assert is_opted_out(entry("spk-9"), opted)
    assert is_opted_out(entry("spk-2", "acct-1"), opted)
    assert not is_opted_out(entry("spk-2", "acct-10"), opted)
    assert not is_opted_out(entry("SPK-9"), opted)
    assert not is_opted_out(entry("spk-2"), opted)
    assert parse_opt_out_line("  acct-1 \n") == "acct-1"


def test_filter_in_a_pipeline_splits_kept_and_opted_out():
    with TestPipeline(runner="FnApiRunner") as p:
        ids = p | "Ids" >> beam.Create([frozenset({"acct-1"})])
        result = (p
                  | beam.Create([entry("a", "acct-1", "u1"), entry("b", "acct-2", "u2"), entry("c", None, "u3")])
                  | beam.ParDo(ConsentFilter(), beam.pvalue.AsSingleton(ids)).with_outputs(OPTED_OUT, main="ok"))
        assert_that(result.ok | beam.Map(lambda e: e.source_id), equal_to(["u2", "u3"]), label="kept")
        assert_that(result[OPTED_OUT], equal_to([1]), label="dropped")
