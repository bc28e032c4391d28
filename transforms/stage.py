"""The thin Beam shell shared by every step: quarantine on rejection, metrics, timing.

A step implements `apply(record)` on plain objects. Whatever it raises becomes
a quarantine record with a reason code; the message of an unexpected error is
never logged or written (it could quote a transcript), only its type. A step
given a Pack applies to each of its records and passes on a Pack of those that
went through.
"""
from __future__ import annotations

import logging
import time

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from transforms.records import Pack, Quarantined, Rejected

QUARANTINE = "quarantine"
METRICS_NAMESPACE = "deid"
WORK_CLOCK = "work_clock"
# Words dropped from transcripts as an unsure tail (transforms.asr.without_unsure_tail), for the run report.
UNSURE_TAIL_WORDS = "unsure_tail_words_dropped"
# Words dropped as the repeats of a repetition loop (transforms.asr.without_loops), likewise.
LOOP_WORDS = "loop_words_dropped"
# A service a stage calls went away (a shared model's serving process): a retry can succeed.
NOT_THE_RECORDS_FAULT = (ConnectionError, EOFError)
log = logging.getLogger("deid")


class Stage(beam.DoFn):
    """Runs `apply` on each record; emits its results, or one quarantine record."""

    name = "stage"

    def __init__(self):
        super().__init__()
        self._timing = Metrics.distribution(METRICS_NAMESPACE, f"{self.name}_ms")
        self._passed = Metrics.counter(METRICS_NAMESPACE, f"{self.name}_ok")
        # Wall-clock (epoch ms) at the start and end of every call: its min and max over all workers bound the
        # run's working phase, which the benchmark sets against start-up and shutdown.
        self._clock = Metrics.distribution(METRICS_NAMESPACE, WORK_CLOCK)

    def apply(self, record):
        raise NotImplementedError

    def quarantine(self, ref: str, reason: str) -> TaggedOutput:
        Metrics.counter(METRICS_NAMESPACE, f"quarantined_{reason}").inc()
        return TaggedOutput(QUARANTINE, Quarantined(ref, self.name, reason))

    def process(self, element):
        if not isinstance(element, Pack):
            yield from self._run(element)
            return
        kept = []
        for record in element.records:
            for output in self._run(record):
                if isinstance(output, TaggedOutput):
                    yield output
                else:
                    kept.append(output)
        if kept:
            yield Pack(element.index, kept)

    def _run(self, record):
        yield from self.guarded([record], lambda: list(self.apply(record)))

    def guarded(self, records: list, work, alone=None):
        """The outputs of `work()`, done for `records` together. If it raises: with `alone` and several
        records, each record is tried again by itself through `alone(record)`, so that one record's fault
        does not cost the others; otherwise one quarantine record for each. Timed as one call."""
        started = time.perf_counter()
        self._clock.update(int(time.time() * 1000))
        try:
            results, error = work(), None
        except NOT_THE_RECORDS_FAULT:
            raise  # the bundle fails and the runner retries it; quarantining would lose good records
        except Exception as caught:  # noqa: BLE001 - a broken record must never take the run down
            results, error = [], caught
        self._timing.update(int((time.perf_counter() - started) * 1000))
        self._clock.update(int(time.time() * 1000))
        if error is None:
            self._passed.inc(len(records))
            yield from results
        elif alone is not None and len(records) > 1:
            for record in records:
                yield from self.guarded([record], lambda record=record: alone(record))
        else:
            if isinstance(error, Rejected):
                reason = error.reason
            else:
                reason = f"error_{type(error).__name__}"
                log.warning("stage %s: %d record(s) quarantined after %s", self.name, len(records),
                            type(error).__name__)
            for record in records:
                yield self.quarantine(record.key, reason)
