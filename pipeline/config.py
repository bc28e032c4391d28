"""Configuration: YAML data merged over configs/default.yaml and validated at start-up.

Every key must exist in the defaults and have the same type; a bad key or value
raises ConfigError with a one-line message naming the key.
"""
from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from typing import Any

import yaml

from transforms.synth_voices import VOICES


class ConfigError(ValueError):
    """A configuration problem a user can fix; the message names the key."""


CHOICES = {
    "pii.operator": {"tag", "mask", "pseudonym", "surrogate"},
    "voice.mode": {"speaker", "utterance"},
    "voice.method": {"warp", "resynthesize"},
    "redaction.audio": {"silence", "tone"},
    "asr.compute_type": {"int8", "int8_float32", "int16", "float32", "float16", "int8_float16", "default"},
}

POSITIVE = {
    "audio.sample_rate", "audio.max_duration_s", "audio.max_file_bytes", "asr.beam_size",
    "asr.progress_every", "asr.pack_records", "asr.batch_size", "asr.pack_gap_s", "voice.f0_min_hz",
    "voice.f0_max_hz", "voice.tts_formant_min", "voice.tts_formant_max", "voice.f0_spread_min",
    "voice.f0_spread_max", "voice.formant_min", "voice.formant_max",
    "voice.frame_period_ms", "redaction.tone_hz", "identity.key_bytes", "output.max_shard_bytes",
    "output.max_shard_records",
}

FREE_FORM = {"pii.operators", "output.splits"}
FORMATS = {"webdataset", "parquet"}

RANGES = [("voice.f0_min_hz", "voice.f0_max_hz"), ("voice.f0_spread_min", "voice.f0_spread_max"),
          ("voice.formant_min", "voice.formant_max"), ("voice.tts_formant_min", "voice.tts_formant_max"),
          ("voice.high_band_tilt_min_db", "voice.high_band_tilt_max_db")]


def load_named(name: str) -> dict:
    """A YAML file shipped in configs/ (installed as pipeline.configs)."""
    text = resources.files("pipeline.configs").joinpath(name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def defaults() -> dict:
    return load_named("default.yaml")


def read_yaml_mapping(path: str, what: str = "config file") -> dict:
    """A YAML mapping from a local or gs:// file; any problem is a one-line ConfigError naming `what`."""
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as f:
            data = yaml.safe_load(f.read().decode("utf-8"))
    except (OSError, IOError) as e:
        raise ConfigError(f"{what} {path} cannot be read: {type(e).__name__}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{what} {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a mapping at the top level")
    return data


def _merge(base: Any, override: Any, path: str) -> Any:
    if isinstance(base, dict):
        if not isinstance(override, dict):
            raise ConfigError(f"config key '{path}' must be a mapping")
        free_form = path in FREE_FORM
        if free_form:  # a user's mapping replaces the default one whole (e.g. two splits instead of three)
            return dict(override)
        merged = copy.deepcopy(base)
        for key, value in override.items():
            sub = f"{path}.{key}" if path else str(key)
            if key not in base:
                raise ConfigError(f"unknown config key '{sub}'")
            else:
                merged[key] = _merge(base[key], value, sub)
        return merged
    if isinstance(base, bool) or isinstance(override, bool):
        if not (isinstance(base, bool) and isinstance(override, bool)):
            raise ConfigError(f"config key '{path}' must be {type(base).__name__}, got {override!r}")
        return override
    if isinstance(base, float) and isinstance(override, int):
        return float(override)
    if isinstance(base, list):
        if not isinstance(override, list):
            raise ConfigError(f"config key '{path}' must be a list")
        return list(override)
    if not isinstance(override, type(base)):
        raise ConfigError(f"config key '{path}' must be {type(base).__name__}, got {override!r}")
    return override


def _get(cfg: dict, dotted: str) -> Any:
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate(cfg: dict) -> dict:
    for key, allowed in CHOICES.items():
        if _get(cfg, key) not in allowed:
            raise ConfigError(f"config key '{key}' must be one of {sorted(allowed)}, got {_get(cfg, key)!r}")
    for key in POSITIVE:
        if not _get(cfg, key) > 0:
            raise ConfigError(f"config key '{key}' must be positive, got {_get(cfg, key)!r}")
    for low, high in RANGES:
        if _get(cfg, low) > _get(cfg, high):
            raise ConfigError(f"config key '{low}' must not exceed '{high}'")
    for entity, operator in cfg["pii"]["operators"].items():
        if operator not in CHOICES["pii.operator"]:
            raise ConfigError(f"config key 'pii.operators.{entity}' must be one of "
                              f"{sorted(CHOICES['pii.operator'])}, got {operator!r}")
    formats = cfg["output"]["formats"]
    if not formats or not set(formats) <= FORMATS or len(set(formats)) != len(formats):
        raise ConfigError(f"config key 'output.formats' must be a non-empty list of {sorted(FORMATS)}, got {formats!r}")
    splits = cfg["output"]["splits"]
    for name, ratio in splits.items():
        if not isinstance(name, str) or not name.replace("_", "").isalnum():
            raise ConfigError(f"config key 'output.splits.{name}' must be a plain name (letters, digits, _)")
        if not _is_number(ratio) or ratio <= 0:
            raise ConfigError(f"config key 'output.splits.{name}' must be a positive number, got {ratio!r}")
    if not splits or abs(sum(splits.values()) - 1.0) > 1e-6:
        raise ConfigError(f"config key 'output.splits' ratios must sum to 1, got {sum(splits.values())}")
    voice = cfg["voice"]
    if voice["band_jitter"] < 0:
        raise ConfigError("config key 'voice.band_jitter' must not be negative")
    if voice["max_warp"] != 0 and voice["max_warp"] < 1:
        raise ConfigError("config key 'voice.max_warp' must be 0 (no cap) or at least 1")
    if not 1.0 <= voice["warp_floor"] <= min(voice["formant_max"], 1.0 / voice["formant_min"]):
        raise ConfigError("config key 'voice.warp_floor' must be at least 1 and at most formant_max and "
                          "1/formant_min")
    if voice["high_band_hz"] != 0 and not 1000.0 <= voice["high_band_hz"] < cfg["audio"]["sample_rate"] / 2:
        raise ConfigError("config key 'voice.high_band_hz' must be 0 (off) or between 1000 Hz and half the "
                          "sample rate")
    if not voice["tts_voices"] or not set(voice["tts_voices"]) <= set(VOICES):
        raise ConfigError(f"config key 'voice.tts_voices' must be a non-empty list of {list(VOICES)}, "
                          f"got {voice['tts_voices']!r}")
    if voice["noise_floor_dbfs"] != 0 and not -96.0 <= voice["noise_floor_dbfs"] <= -30.0:
        raise ConfigError("config key 'voice.noise_floor_dbfs' must be 0 (none) or between -96 and -30 dBFS")
    if not 0.0 <= voice["breathiness_max"] <= 0.9:
        raise ConfigError("config key 'voice.breathiness_max' must be between 0 and 0.9")
    if voice["segment_s"] != 0 and voice["segment_s"] < 5.0:
        raise ConfigError("config key 'voice.segment_s' must be 0 (whole records) or at least 5 seconds")
    if cfg["audio"]["sample_rate"] != 16000:
        raise ConfigError("config key 'audio.sample_rate' must be 16000: Whisper hears 16 kHz audio")
    if not 0 <= cfg["asr"]["pack_seconds"] <= 30:
        raise ConfigError("config key 'asr.pack_seconds' must be between 0 (no packing) and 30 (Whisper's window)")
    windows = cfg["asr"]["encoder_windows"]
    if not windows or not all(_is_number(w) and 0 < w <= 30 for w in windows):
        raise ConfigError(f"config key 'asr.encoder_windows' must be a non-empty list of seconds in (0, 30], "
                          f"got {windows!r}")
    if cfg["asr"]["encoder_margin_s"] < 0:
        raise ConfigError("config key 'asr.encoder_margin_s' must not be negative")
    if cfg["asr"]["unsure_tail_s"] < 0:
        raise ConfigError("config key 'asr.unsure_tail_s' must not be negative")
    if not 0.0 <= cfg["asr"]["unsure_tail_probability"] <= 1.0:
        raise ConfigError("config key 'asr.unsure_tail_probability' must lie in [0, 1]")
    repeats = cfg["asr"]["loop_min_repeats"]
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats == 1 or repeats < 0:
        raise ConfigError("config key 'asr.loop_min_repeats' must be 0 (keep every word) or a whole number from 2")
    if cfg["asr"]["unsure_tail_quiet_db"] < 0:
        raise ConfigError("config key 'asr.unsure_tail_quiet_db' must not be negative")
    if cfg["redaction"]["pad_ms"] < 0:
        raise ConfigError("config key 'redaction.pad_ms' must not be negative")
    return cfg


def load(path: str | None = None, overrides: dict | None = None) -> dict:
    """The effective configuration: defaults, then the file at `path`, then `overrides`."""
    cfg = defaults()
    if path:
        cfg = _merge(cfg, read_yaml_mapping(path), "")
    if overrides:
        cfg = _merge(cfg, overrides, "")
    return validate(cfg)


def digest(cfg: dict) -> str:
    """sha256 of the canonical JSON form, recorded in the run report."""
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
