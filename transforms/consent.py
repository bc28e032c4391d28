"""Consent: entries whose account or speaker id is on the opt-out list leave before any audio is read.

Ids are compared exactly (after trimming the line's surrounding whitespace). The list itself is only ever
held in memory as a side input; nothing of it is written or logged.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput

from transforms.records import SourceEntry
from transforms.stage import METRICS_NAMESPACE

OPTED_OUT = "opted_out"


def parse_opt_out_line(line: str) -> str:
    return line.strip()


def is_opted_out(entry: SourceEntry, opted_out: frozenset) -> bool:
    return entry.speaker_id in opted_out or (entry.account_id is not None and entry.account_id in opted_out)


class ConsentFilter(beam.DoFn):
    """Main output: entries that may be used. OPTED_OUT output: one marker per dropped entry, no content."""

    def __init__(self):
        self._dropped = Metrics.counter(METRICS_NAMESPACE, "opted_out")

    def process(self, entry: SourceEntry, opted_out):
        if is_opted_out(entry, opted_out):
            self._dropped.inc()
            yield TaggedOutput(OPTED_OUT, 1)
        else:
            yield entry
