import pytest

from pipeline.models import PACKAGED_WHISPER, ModelError, resolve_whisper, sha256_file


def test_packaged_base_joins_to_the_known_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("DEID_MODEL_CACHE", str(tmp_path))
    path, sha = resolve_whisper("packaged:base")
    assert sha == PACKAGED_WHISPER["packaged:base"]["sha256"]
    assert sha256_file(tmp_path.joinpath(path, "model.bin")) == sha
    assert {"config.json", "tokenizer.json", "vocabulary.json"} <= {p.name for p in tmp_path.joinpath(path).iterdir()}
    assert resolve_whisper("packaged:base") == (path, sha)


def test_a_corrupted_cached_model_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DEID_MODEL_CACHE", str(tmp_path))
    path, _ = resolve_whisper("packaged:base")
    with open(f"{path}/model.bin", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ModelError, match="fails its checksum"):
        resolve_whisper("packaged:base")


def test_unknown_packaged_name_is_a_clear_error():
    with pytest.raises(ModelError, match="not a packaged model"):
        resolve_whisper("packaged:huge")


def test_local_folder_checksum_is_enforced(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"weights")
    path, sha = resolve_whisper(str(tmp_path))
    assert path == str(tmp_path) and len(sha) == 64
    with pytest.raises(ModelError, match="model_sha256"):
        resolve_whisper(str(tmp_path), expected_sha256="0" * 64)
