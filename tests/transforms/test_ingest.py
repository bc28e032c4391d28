import json

from transforms.identity import Keyring
from transforms.ingest import entry_from_file, join_uri, parse_manifest_line, to_record
from transforms.records import Quarantined, SourceEntry

RING = Keyring(b"ingest-test-secret-000")


def line(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_parses_a_full_line_and_keeps_extra_fields_as_metadata():
    entry = parse_manifest_line(line(id="u1", audio="a/b.wav", speaker_id="s1", account_id="acc", transcript="hi",
                                     language="en", device_type="speaker"), "/data", RING)
    assert isinstance(entry, SourceEntry)
    assert entry.audio_uri == "/data/a/b.wav"
    assert entry.account_id == "acc" and entry.transcript == "hi" and entry.language == "en"
    assert entry.metadata == {"device_type": "speaker"}


def test_numeric_ids_are_accepted_as_strings():
    entry = parse_manifest_line(line(id=17, audio="x.wav", speaker_id=4), "", RING)
    assert entry.source_id == "17" and entry.speaker_id == "4"


def test_uris_join_relative_paths_only():
    assert join_uri("gs://bucket/set", "a.wav") == "gs://bucket/set/a.wav"
    assert join_uri("/data", "/abs/a.wav") == "/abs/a.wav"
    assert join_uri("/data", "gs://b/a.wav") == "gs://b/a.wav"


def test_bad_lines_are_quarantined_with_specific_reasons():
    cases = {
        b"\xff\xfe not utf8": "manifest_line_not_utf8",
        b"{not json": "manifest_line_bad_json",
        b"[1, 2]": "manifest_line_not_object",
        line(audio="a.wav", speaker_id="s"): "missing_field_id",
        line(id="u", speaker_id="s"): "missing_field_audio",
        line(id="u", audio="a.wav"): "missing_field_speaker_id",
        line(id="u", audio="a.wav", speaker_id="  "): "missing_field_speaker_id",
        line(id="u", audio="a.wav", speaker_id="s", transcript=5): "bad_field_transcript",
    }
    for raw, reason in cases.items():
        result = parse_manifest_line(raw, "", RING)
        assert isinstance(result, Quarantined), raw
        assert result.reason == reason


def test_quarantine_reference_never_holds_the_raw_id():
    result = parse_manifest_line(line(id="secret-utterance-id", speaker_id="s"), "", RING)
    assert result.ref == RING.record_key("secret-utterance-id")
    assert "secret-utterance-id" not in json.dumps(result.as_json())


def test_folder_entry_uses_parent_folder_as_speaker():
    entry = entry_from_file("/in/alice/one.wav", "/in")
    assert entry.speaker_id == "alice" and entry.source_id == "alice/one.wav"


def test_record_carries_only_pseudonyms():
    entry = SourceEntry("utt-raw-1", "/x.wav", "speaker-raw-1", account_id="account-raw-1")
    record = to_record(entry, RING, "speaker")
    dumped = repr(record.__dict__)
    for raw in ("utt-raw-1", "speaker-raw-1", "account-raw-1"):
        assert raw not in dumped
    assert record.speaker == RING.speaker_pseudonym("speaker-raw-1")


def test_voice_seed_follows_the_mode():
    a = SourceEntry("u1", "/x.wav", "spk")
    b = SourceEntry("u2", "/y.wav", "spk")
    assert to_record(a, RING, "speaker").voice_seed == to_record(b, RING, "speaker").voice_seed
    assert to_record(a, RING, "utterance").voice_seed != to_record(b, RING, "utterance").voice_seed
