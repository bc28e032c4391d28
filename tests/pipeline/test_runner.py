import tempfile

import apache_beam as beam

from conftest import loud_in

from pipeline.runner import counter_total
from transforms.identity import InlineSecret
from transforms.pii import RedactTranscript
from transforms.records import Record, Word
from transforms.stage import LOOP_WORDS, UNSURE_TAIL_WORDS


def test_words_dropped_as_an_unsure_tail_or_a_loops_repeats_are_counted_for_the_report(cfg, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the local runner's own temporary folders
    said = "set a timer. go go go go go Thank you so much."
    words = [Word(t, 0.2 * i, 0.2 * i + 0.15) for i, t in enumerate(said.split())]
    words[8].probability = 0.05     # "Thank", 1.6 s into a 2.5 s record, over silence
    records = [Record(key=f"k{i}", audio_uri="", speaker="s", account=None, voice_seed=b"", words=list(words),
                      audio=loud_in([(0.0, 1.5)], 2.5)) for i in range(2)]
    pipeline = beam.Pipeline(runner="DirectRunner")
    _ = (pipeline | beam.Create(records)
         | beam.ParDo(RedactTranscript(cfg["pii"], InlineSecret(b"k1"), cfg["asr"])).with_outputs("quarantine",
                                                                                               main="ok"))
    result = pipeline.run()
    result.wait_until_finish()
    assert counter_total(result, UNSURE_TAIL_WORDS) == 2 * 4
    assert counter_total(result, LOOP_WORDS) == 2 * 4
    assert counter_total(result, "no_such_counter") == 0
