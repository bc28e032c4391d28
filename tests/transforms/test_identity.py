import re

import pytest

from transforms.identity import Keyring, allowed_metadata, unit_floats


def test_record_key_is_stable_hex_without_dots():
    ring = Keyring(b"a-secret-of-enough-length")
    key = ring.record_key("utt.001/a.wav")
    assert key == Keyring(b"a-secret-of-enough-length").record_key("utt.001/a.wav")
    assert re.fullmatch(r"[0-9a-f]{32}", key)


def test_pseudonyms_depend_on_the_secret_and_the_domain():
    a, b = Keyring(b"secret-number-one-xx"), Keyring(b"secret-number-two-xx")
    assert a.speaker_pseudonym("alice") != b.speaker_pseudonym("alice")
    assert a.speaker_pseudonym("alice") != a.speaker_pseudonym("bob")
    assert a.speaker_pseudonym("alice")[4:] != a.account_pseudonym("alice")[4:]
    assert a.record_key("alice") not in a.speaker_pseudonym("alice")


def test_secret_is_not_in_repr():
    ring = Keyring(b"very-secret-value-123")
    assert "very-secret" not in repr(ring)


def test_empty_secret_is_refused():
    with pytest.raises(ValueError):
        Keyring(b"")


def test_unit_floats_are_deterministic_and_in_range():
    values = unit_floats(b"seed", 10)
    assert values == unit_floats(b"seed", 10)
    assert values != unit_floats(b"other", 10)
    assert all(0.0 <= v < 1.0 for v in values)
    assert len(set(values)) == 10


def test_metadata_allowlist_drops_everything_else():
    kept = allowed_metadata({"language": "en", "device_id": "serial-1", "locale": "en-US", "nested": {"a": 1}},
                            ["language", "locale", "nested"])
    assert kept == {"language": "en", "locale": "en-US"}
